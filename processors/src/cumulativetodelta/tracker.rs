//! The state of every series: its last point, and the delta of the next one against it, as the
//! Collector's `tracking.MetricTracker` computes it.

use super::config::InitialValue;
use std::collections::HashMap;

/// The value of one point of a converted series.
#[derive(Debug, Clone, PartialEq)]
pub enum PointValue {
    Int(i64),
    Double(f64),
    Histogram(HistogramValue),
}

/// A histogram point's count, sum and bucket counts.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramValue {
    pub count: u64,
    pub sum: f64,
    pub buckets: Vec<u64>,
}

/// What to send for a point: its new start time (`0`: none) and its delta.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    pub start: u64,
    pub value: PointValue,
}

struct State {
    observed: u64,
    value: PointValue,
}

/// The last point of every series, by identity (resource, scope, metric, point attributes,
/// start time: the bytes [`super::Identity`] builds).
pub struct Tracker {
    initial_value: InitialValue,
    /// When the processor started (Unix nanoseconds): `auto` sends a first point only for a
    /// series that started after it.
    started: u64,
    states: HashMap<Box<[u8]>, State>,
    /// At most this many series; the points of a new series beyond it are not sent.
    max_streams: usize,
    /// Points not sent because the series table was full.
    overflow: u64,
}

impl Tracker {
    pub fn new(initial_value: InitialValue, started: u64, max_streams: usize) -> Tracker {
        Tracker { initial_value, started, states: HashMap::new(), max_streams, overflow: 0 }
    }

    /// How many points so far were not sent because the series table was full.
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// The number of series with state.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether no series has state.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The delta of the point `value`, observed at `observed`, of the series `identity` whose
    /// start time is `start`; `None` when nothing is to be sent (a first point the
    /// `initial_value` rule holds back, a reset of a sum, a histogram whose buckets changed, a
    /// new series when `max_streams` series are tracked already).
    /// The point becomes the series' last point either way.
    pub fn convert(&mut self, identity: &[u8], start: u64, observed: u64, mut value: PointValue) -> Option<Delta> {
        let Some(state) = self.states.get_mut(identity) else {
            if self.states.len() >= self.max_streams {
                self.overflow += 1;
                return None;
            }
            self.states.insert(identity.into(), State { observed, value: value.clone() });
            return match self.initial_value {
                InitialValue::Auto if start >= self.started && observed != start => Some(Delta { start, value }),
                InitialValue::Auto | InitialValue::Drop => None,
                InitialValue::Keep => Some(Delta { start: 0, value }),
            };
        };
        let valid;
        let delta = match (&mut value, &state.value) {
            (PointValue::Int(v), PointValue::Int(prev)) => {
                valid = *v >= *prev;
                PointValue::Int(v.wrapping_sub(*prev))
            }
            (PointValue::Double(v), PointValue::Double(prev)) => {
                valid = *v >= *prev;
                PointValue::Double(*v - prev)
            }
            (PointValue::Histogram(v), PointValue::Histogram(prev)) => {
                if v.sum.is_nan() {
                    v.sum = prev.sum;
                }
                valid = v.buckets.len() == prev.buckets.len();
                let mut d = v.clone();
                // A count that went down is a reset: the point is sent as it is.
                if valid && d.count >= prev.count {
                    d.count -= prev.count;
                    d.sum -= prev.sum;
                    for (b, p) in d.buckets.iter_mut().zip(&prev.buckets) {
                        *b = b.wrapping_sub(*p);
                    }
                }
                PointValue::Histogram(d)
            }
            // The identity includes the metric and value types, so this does not happen; if it
            // did, the point would start the series again.
            (v, _) => {
                valid = false;
                v.clone()
            }
        };
        let start = state.observed;
        *state = State { observed, value };
        valid.then_some(Delta { start, value: delta })
    }

    /// Forgets every series whose last point was observed before `stale_before`.
    pub fn remove_stale(&mut self, stale_before: u64) {
        self.states.retain(|_, s| s.observed >= stale_before);
    }
}
