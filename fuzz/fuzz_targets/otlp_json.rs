//! Any bytes as an OTLP/JSON request of any signal: `json::decode` must accept or refuse
//! without panicking, and what it accepts must be valid protobuf that encodes back to JSON
//! and decodes again to the same number of items.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_core::pdata::json;
use weir_core::{Payload, Signal};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let signal = Signal::ALL[usize::from(selector) % Signal::ALL.len()];
    let Ok(payload) = json::decode(signal, body) else { return };
    let checked = Payload::new(signal, payload.bytes().clone()).expect("decode produced invalid protobuf");
    assert_eq!(checked.items(), payload.items(), "item counts disagree");
    let encoded = json::encode(&payload).expect("a decoded request encodes back to JSON");
    let again = json::decode(signal, encoded.as_bytes()).expect("encoded JSON decodes");
    assert_eq!(again.items(), payload.items(), "the JSON round trip changed the item count");
});
