//! Any text as an OTTL statement or condition: parsing and compiling must accept or refuse it
//! with an error, never panic or hang; what compiles runs on a real OTLP request of its signal
//! (the `otlp_views` seeds, encoded by the Python SDK) and must leave a request that is still
//! valid OTLP.
//!
//! The first byte picks the signal (bits 0–1), the context within it (bits 2–3) and whether
//! the text is a `transform` statement or a `filter` condition (bit 7).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use weir_core::{Payload, Signal};
use weir_ottl::{filter, transform, Conditions, ContextKind, ErrorMode, FilterSpec, Outcome, RunStats, StatementGroup};

/// One request of each signal, in `Signal::ALL` order.
fn requests() -> &'static [Payload; 3] {
    static REQUESTS: OnceLock<[Payload; 3]> = OnceLock::new();
    REQUESTS.get_or_init(|| {
        let seeds: [&[u8]; 3] = [
            include_bytes!("../seeds/otlp_views/traces.bin"),
            include_bytes!("../seeds/otlp_views/metrics.bin"),
            include_bytes!("../seeds/otlp_views/logs.bin"),
        ];
        seeds.map(|seed| {
            let signal = Signal::ALL[usize::from(seed[0])];
            Payload::new(signal, Bytes::from_static(&seed[1..])).expect("the seeds are valid requests")
        })
    })
}

fn contexts(signal: Signal) -> &'static [ContextKind] {
    use ContextKind::*;
    match signal {
        Signal::Traces => &[Resource, Scope, Span, SpanEvent],
        Signal::Metrics => &[Resource, Scope, Metric, DataPoint],
        Signal::Logs => &[Resource, Scope, Log, Log],
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, text)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let payload = &requests()[usize::from(selector & 3) % 3];
    let signal = payload.signal();
    let context = contexts(signal)[usize::from(selector >> 2) & 3];
    let mut stats = RunStats::default();
    let outcome = if selector & 0x80 == 0 {
        let Ok(group) =
            StatementGroup::compile(Some(context), &[], &[text.to_string()], ErrorMode::Ignore, &[context])
        else {
            return;
        };
        transform(payload, &[group], &mut stats)
    } else {
        let Ok(conditions) = Conditions::compile(&[text.to_string()], context, ErrorMode::Ignore) else { return };
        let spec = match context {
            ContextKind::SpanEvent | ContextKind::DataPoint => {
                FilterSpec { items: Conditions::default(), children: conditions }
            }
            _ => FilterSpec { items: conditions, children: Conditions::default() },
        };
        filter(payload, &spec, &mut stats)
    };
    if let Ok(Outcome::Rebuilt(rebuilt)) = outcome {
        let again = Payload::new(signal, rebuilt.bytes().clone()).expect("a rebuilt request is valid OTLP");
        assert_eq!(again.items(), rebuilt.items(), "a rebuilt request counts its items right");
    }
});
