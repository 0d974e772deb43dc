//! The per-item decision of `probabilistic_sampler`, the Collector's rules on weir's
//! consistent-probability helpers ([`weir_core::sampling`]).
//!
//! Every item goes through the same steps, whatever its signal:
//!
//! 1. **Randomness** R (56 bits) and where it came from (the `policy` label of the metrics):
//!    `hash_seed` hashes the trace id (or a log attribute) with the seed ([`hash_randomness`]);
//!    `equalizing` / `proportional` take `rv` (`sampling.randomness` on logs) or the trace id's
//!    low 56 bits. The item's arriving sampling state (`th`, `rv`) is parsed alongside.
//! 2. **Problems**: malformed `th`/`rv`, no randomness at all, an arriving `th` that the
//!    randomness contradicts (R < th: it should not have been sampled; the `th` is erased),
//!    and in `hash_seed` mode an item that already carries `th` or `rv` (the Collector leaves
//!    those alone). With a problem the threshold is "never" under `fail_closed`, else 0.
//! 3. **Threshold** T of the mode: `hash_seed` and `equalizing` a fixed T (an arriving larger
//!    `th` wins in `equalizing`); `proportional` T for p_in × ratio.
//! 4. **Priority** overrides T: spans' `sampling.priority` (0 never, positive always), logs'
//!    `sampling_priority` attribute (0 never, ≥ 100 always, else that percentage).
//! 5. **Decision**: keep iff R ≥ T. A kept item records T (never lowering an arriving `th`)
//!    and, in `hash_seed` mode, the hash randomness as `rv`.

use super::config::{AttributeSource, ProbabilisticSamplerConfig, SamplerMode};
use weir_core::pdata::AnyValue;
use weir_core::sampling::{self, MAX_56};

/// The threshold that keeps nothing: no 56-bit randomness reaches it.
pub(crate) const NEVER: u64 = MAX_56;

/// The randomness assumed for an item without any (the Collector's
/// `AllProbabilitiesRandomness`): it passes every threshold but "never".
const ANY_RANDOMNESS: u64 = MAX_56 - 1;

/// `hash_seed` scales percentages to 2^14 buckets.
const HASH_BUCKETS: u32 = 1 << 14;

/// The Collector's `hash_seed` randomness of `bytes`: FNV-1a (32 bits) over the seed as four
/// little-endian bytes followed by `bytes`. The low 14 bits h give the decision (keep iff
/// h < percentage × 16384 / 100); they are laid out as a 56-bit R = (16383 − h) << 42 | … so
/// that the same decision reads R ≥ T with T = (16384 − scaled percentage) << 42, and R can be
/// written as `rv`. The 28 middle bits mix the 18 unused hash bits, the low 14 repeat h.
pub(crate) fn hash_randomness(bytes: &[u8], seed: u32) -> u64 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    let mut h = OFFSET;
    for b in seed.to_le_bytes().iter().chain(bytes) {
        h ^= u32::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    let hashed = u64::from(h & (HASH_BUCKETS - 1));
    let unused18 = u64::from(h >> 14);
    let mixed28 = unused18 ^ (unused18 << 10);
    ((u64::from(HASH_BUCKETS) - 1 - hashed) << 42) | (mixed28 << 14) | hashed
}

/// The `hash_seed` rejection threshold for a percentage: the Collector computes the accepted
/// buckets in 32-bit floating point and rounds down (`uint32(pct * 163.84)`); reproduced
/// exactly so decisions agree bit for bit. `None` when no bucket is accepted.
pub(crate) fn hash_threshold(percentage: f32) -> Option<u64> {
    let scaled = (percentage * (HASH_BUCKETS as f32 / 100.0)) as u32;
    (scaled > 0).then(|| u64::from(HASH_BUCKETS - scaled.min(HASH_BUCKETS)) << 42)
}

/// Where an item's randomness came from: the `policy` label of the sampled-count metrics,
/// with the Collector's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// `hash_seed` over the trace id.
    TraceIdHash,
    /// The trace id's low 56 bits.
    TraceIdW3c,
    /// An explicit `rv` / `sampling.randomness`.
    SamplingRandomness,
    /// None could be found.
    MissingRandomness,
    /// The item's priority decided.
    SamplingPriority,
    /// `hash_seed` over the `from_attribute` log attribute (labelled with its name).
    Attribute,
}

impl Policy {
    pub(crate) const ALL: [Policy; 6] = [
        Policy::TraceIdHash,
        Policy::TraceIdW3c,
        Policy::SamplingRandomness,
        Policy::MissingRandomness,
        Policy::SamplingPriority,
        Policy::Attribute,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The label value; `attribute` is the `from_attribute` name.
    pub(crate) fn label(self, attribute: &str) -> String {
        match self {
            Policy::TraceIdHash => "trace_id_hash".into(),
            Policy::TraceIdW3c => "trace_id_w3c".into(),
            Policy::SamplingRandomness => "sampling_randomness".into(),
            Policy::MissingRandomness => "missing_randomness".into(),
            Policy::SamplingPriority => "sampling_priority".into(),
            Policy::Attribute => attribute.into(),
        }
    }
}

/// The thresholds of the configured mode.
#[derive(Debug, Clone, Copy)]
enum Method {
    /// 0%, or a `hash_seed` percentage below one bucket: only priority keeps anything.
    Never,
    HashSeed {
        seed: u32,
        threshold: u64,
    },
    Equalizing {
        threshold: u64,
    },
    Proportional {
        ratio: f64,
        precision: u32,
    },
}

/// What an item arrived with, read from the wire by the processor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrived<'a> {
    /// The trace id (empty or all zeros: none).
    pub trace_id: &'a [u8],
    /// Arriving `th` and `rv`, or the value that was malformed.
    pub state: Result<(Option<u64>, Option<u64>), sampling::MalformedSampling>,
    /// The item's priority as a number, if it has one the signal reads.
    pub priority: Option<f64>,
    /// Logs: the `from_attribute` value, if present.
    pub attribute: Option<AnyValue<'a>>,
}

/// The outcome for one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub sampled: bool,
    pub policy: Policy,
    /// What a kept item must record; `None`: leave it as it arrived.
    pub record: Option<Record>,
}

/// The sampling state a kept item leaves with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    /// `th` to write (already the larger of the arriving one and this stage's).
    pub threshold: u64,
    /// `rv` to add (`hash_seed` mode).
    pub randomness: Option<u64>,
    /// The arriving `th` was inconsistent and must be replaced, not kept.
    pub replace_threshold: bool,
}

/// Which signal's priority rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Spans,
    Logs,
}

/// The decision rules of one configured processor.
#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    method: Method,
    fail_closed: bool,
    precision: u32,
    /// Logs in `hash_seed` mode: hash the trace id (`attribute_source: traceID`).
    logs_use_trace_id: bool,
    /// Logs in `hash_seed` mode: hash this attribute when there is no trace id to hash.
    logs_use_attribute: bool,
}

impl Sampler {
    pub(crate) fn new(c: &ProbabilisticSamplerConfig) -> Sampler {
        let pct = c.percentage();
        let ratio = (f64::from(pct) / 100.0).max(1.0 / MAX_56 as f64);
        let method = if pct <= 0.0 {
            Method::Never
        } else {
            match c.effective_mode() {
                SamplerMode::HashSeed => match hash_threshold(pct) {
                    Some(threshold) => Method::HashSeed { seed: c.hash_seed, threshold },
                    None => Method::Never,
                },
                SamplerMode::Equalizing => Method::Equalizing {
                    threshold: sampling::threshold_with_precision(ratio, c.sampling_precision).unwrap_or(NEVER),
                },
                SamplerMode::Proportional => Method::Proportional { ratio, precision: c.sampling_precision },
            }
        };
        Sampler {
            method,
            fail_closed: c.fail_closed,
            precision: c.sampling_precision,
            logs_use_trace_id: c.attribute_source == AttributeSource::TraceId,
            logs_use_attribute: !c.from_attribute.is_empty(),
        }
    }

    /// The fixed threshold kept spans get when they arrive without sampling state, if the
    /// mode has one (used to prepare their tracestate once).
    pub(crate) fn fixed_threshold(&self) -> Option<u64> {
        match self.method {
            Method::HashSeed { threshold, .. } | Method::Equalizing { threshold } => Some(threshold),
            Method::Never | Method::Proportional { .. } => None,
        }
    }

    /// Decides one item.
    pub(crate) fn decide(&self, item: &Arrived<'_>, signal: Signal) -> Decision {
        let has_trace_id = item.trace_id.iter().any(|b| *b != 0);
        // Step 1: randomness, the arriving state this stage may update (`None`: leave the
        // item alone), and whether something is wrong.
        let mut problem = false;
        let (randomness, policy, mut state) = match self.method {
            Method::HashSeed { seed, .. } => {
                let (r, policy) = if has_trace_id && (signal == Signal::Spans || self.logs_use_trace_id) {
                    (Some(hash_randomness(item.trace_id, seed)), Policy::TraceIdHash)
                } else {
                    match attribute_bytes(item.attribute).filter(|_| signal == Signal::Logs && self.logs_use_attribute)
                    {
                        Some(bytes) => (Some(hash_randomness(&bytes, seed)), Policy::Attribute),
                        None => (None, Policy::MissingRandomness),
                    }
                };
                match item.state {
                    // The item already carries consistent-sampling state: not this mode's to
                    // change (the Collector reports "equalizing or proportional mode
                    // recommended").
                    Ok((None, None)) => (r, policy, Some(State { threshold: None, set_randomness: r })),
                    Ok(_) | Err(_) => {
                        problem = true;
                        (r, policy, None)
                    }
                }
            }
            Method::Equalizing { .. } | Method::Proportional { .. } => match item.state {
                Err(_) => {
                    problem = true;
                    (None, Policy::MissingRandomness, None)
                }
                Ok((th, Some(rv))) => {
                    (Some(rv), Policy::SamplingRandomness, Some(State { threshold: th, set_randomness: None }))
                }
                Ok((th, None)) => {
                    let state = Some(State { threshold: th, set_randomness: None });
                    if has_trace_id {
                        (Some(sampling::randomness(item.trace_id, "")), Policy::TraceIdW3c, state)
                    } else {
                        (None, Policy::MissingRandomness, state)
                    }
                }
            },
            Method::Never => match item.state {
                Ok((th, _)) => (
                    Some(ANY_RANDOMNESS),
                    Policy::SamplingPriority,
                    Some(State { threshold: th, set_randomness: None }),
                ),
                Err(_) => {
                    problem = true;
                    (Some(ANY_RANDOMNESS), Policy::SamplingPriority, None)
                }
            },
        };
        // Step 2: consistency.
        let mut replace_threshold = false;
        if !problem {
            match (randomness, state.as_mut()) {
                (None, _) => problem = true,
                (Some(r), Some(s)) if s.threshold.is_some_and(|t| r < t) => {
                    // The arriving `th` says this item should not have been sampled: erase it.
                    s.threshold = None;
                    replace_threshold = true;
                    problem = true;
                }
                _ => {}
            }
        }
        // Step 3: this stage's threshold.
        let arriving = state.as_ref().and_then(|s| s.threshold);
        let mut threshold = if problem {
            if self.fail_closed {
                NEVER
            } else {
                0
            }
        } else {
            match self.method {
                Method::Never => NEVER,
                Method::HashSeed { threshold, .. } => threshold,
                Method::Equalizing { threshold } => arriving.map_or(threshold, |t| t.max(threshold)),
                Method::Proportional { ratio, precision } => {
                    let incoming = arriving.map_or(1.0, |t| (MAX_56 - t) as f64 / MAX_56 as f64);
                    sampling::threshold_with_precision(incoming * ratio, precision).unwrap_or(NEVER)
                }
            }
        };
        // Step 4: priority.
        let mut policy = policy;
        if let Some(t) = item.priority.and_then(|p| self.priority_threshold(p, signal)) {
            threshold = t;
            policy = Policy::SamplingPriority;
        }
        // Step 5: decide, and what a kept item records.
        let sampled = threshold < NEVER && randomness.unwrap_or(ANY_RANDOMNESS) >= threshold;
        let record = match (sampled, state) {
            (true, Some(s)) => Some(Record {
                threshold: s.threshold.map_or(threshold, |t| t.max(threshold)),
                randomness: s.set_randomness,
                replace_threshold,
            }),
            _ => None,
        };
        Decision { sampled, policy, record }
    }

    /// The threshold a priority value imposes, if any.
    fn priority_threshold(&self, p: f64, signal: Signal) -> Option<u64> {
        match signal {
            // OpenTracing's `sampling.priority`: 0 drops, positive keeps, negative defers.
            Signal::Spans if p == 0.0 => Some(NEVER),
            Signal::Spans if p > 0.0 => Some(0),
            Signal::Spans => None,
            // A per-record percentage.
            Signal::Logs if p == 0.0 => Some(NEVER),
            Signal::Logs if p >= 100.0 => Some(0),
            Signal::Logs if p > 0.0 => sampling::threshold_with_precision(p / 100.0, self.precision),
            Signal::Logs => None,
        }
    }
}

/// The sampling state of an item as this stage will leave it.
#[derive(Debug, Clone, Copy)]
struct State {
    threshold: Option<u64>,
    set_randomness: Option<u64>,
}

/// The bytes the Collector hashes for an attribute value: a bytes value as it is, others as
/// their string form. Arrays and maps (JSON in the Collector) and empty values have none.
fn attribute_bytes(value: Option<AnyValue<'_>>) -> Option<Vec<u8>> {
    let bytes = match value? {
        AnyValue::String(s) => s.as_bytes().to_vec(),
        AnyValue::Bytes(b) => b.to_vec(),
        AnyValue::Int(i) => i.to_string().into_bytes(),
        AnyValue::Bool(b) => b.to_string().into_bytes(),
        AnyValue::Double(d) => d.to_string().into_bytes(),
        AnyValue::Empty | AnyValue::Array(_) | AnyValue::KvList(_) => return None,
    };
    (!bytes.is_empty()).then_some(bytes)
}
