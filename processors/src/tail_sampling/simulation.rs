//! What `weir simulate` reads out of `tail_sampling` after a replay: per policy, the traces
//! it decided and kept; per `adaptive` policy and key, traces and spans in and kept and the
//! estimate of the true count from adjusted counts.
//!
//! Collection is off unless the processor was built by a factory made with
//! [`super::TailSamplingFactory::reporting_to`] (by `weir simulate`): each processor it builds
//! counts, and deposits its report in the shared [`Reports`] when its input closes. A running
//! daemon's factory never collects.

use super::adaptive::KeyStats;
use super::policy::{Outcome, Policy, TraceFacts};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Where the processors of one replay deposit their reports.
#[derive(Clone, Default)]
pub struct Reports(Arc<Mutex<Vec<Report>>>);

impl Reports {
    /// The reports deposited so far.
    pub fn take(&self) -> Vec<Report> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn push(&self, report: Report) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(report);
    }
}

/// One `tail_sampling` processor's replay.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The processor's id (`tail_sampling/…`).
    pub processor: String,
    /// Per top-level policy, in order.
    pub policies: Vec<(String, PolicyStats)>,
    /// Per `adaptive` policy (by name, nested ones included): per key.
    pub keys: Vec<(String, BTreeMap<String, KeyStats>)>,
}

/// One top-level policy's counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyStats {
    /// Traces it evaluated, and their spans and error traces.
    pub traces_in: u64,
    pub spans_in: u64,
    pub errors_in: u64,
    /// Traces it sampled (its own result), whatever the final decision.
    pub traces_sampled: u64,
    /// Traces kept because of it (the deciding policy), their spans and error traces.
    pub traces_kept: u64,
    pub spans_kept: u64,
    pub errors_kept: u64,
    /// Late spans forwarded because it decided their trace.
    pub late_spans_kept: u64,
}

pub(crate) fn record(stats: &mut [PolicyStats], t: &TraceFacts<'_>, results: &[Outcome], chosen: Option<usize>) {
    let spans = t.span_count();
    let error = t.fields().any(|f| f.is_ok_and(|f| f.status_code == 2)) as u64;
    for (i, o) in results.iter().enumerate() {
        let s = &mut stats[i];
        s.traces_in += 1;
        s.spans_in += spans;
        s.errors_in += error;
        s.traces_sampled += o.decision.is_sampled() as u64;
        if chosen == Some(i) {
            s.traces_kept += 1;
            s.spans_kept += spans;
            s.errors_kept += error;
        }
    }
}

pub(crate) fn deposit(reports: &Reports, processor: &str, policies: &mut [Policy], stats: Vec<PolicyStats>) {
    let mut report = Report {
        processor: processor.to_string(),
        policies: policies.iter().map(|p| p.name.clone()).zip(stats).collect(),
        keys: Vec::new(),
    };
    for p in policies.iter_mut() {
        p.for_each_adaptive(&mut |a| {
            if let Some(keys) = a.stats() {
                report.keys.push((a.name().to_string(), keys.iter().map(|(k, v)| (k.clone(), v.clone())).collect()));
            }
        });
    }
    reports.push(report);
}
