//! `probabilistic_sampler` settings, with the Collector's keys, defaults and defaulting rules.

use serde::Deserialize;
use weir_core::ComponentConfig;

/// Settings of the `probabilistic_sampler` processor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbabilisticSamplerConfig {
    /// Percentage of items (spans, log records) to keep. Required. `0` keeps none (except
    /// items whose priority asks for it), `100` or more keeps all, as in the Collector. The
    /// smallest positive value is 2^-56 × 100; in `hash_seed` mode the percentage is scaled
    /// to 14 bits (multiples of 100/16384 ≈ 0.0061%, rounded down, as the Collector does).
    pub sampling_percentage: Option<f32>,

    /// Seed of the `hash_seed` mode's hash. Default `0`. Every collector of one tier must use
    /// the same seed to keep the same traces; tiers with different seeds decide independently.
    /// Setting it (non-zero) selects `hash_seed` when `mode` is not set.
    pub hash_seed: u32,

    /// How items are chosen: `hash_seed` (the Collector's historical FNV hash of the trace id
    /// and seed, 14 bits), `equalizing` (OpenTelemetry consistent sampling: the trace id's
    /// low 56 bits or `rv` against the threshold of `sampling_percentage`; an item that
    /// arrives with a stricter threshold keeps it) or `proportional` (consistent sampling
    /// that multiplies the arriving probability by `sampling_percentage`). Unset: `hash_seed`,
    /// as the Collector defaults it.
    pub mode: Option<SamplerMode>,

    /// What happens to an item whose randomness cannot be determined (no trace id, a missing
    /// `from_attribute`, a malformed or inconsistent `th` / `rv`, or in `hash_seed` mode an
    /// item that already carries `th` or `rv`): `true` (default) drops it, `false` keeps it.
    pub fail_closed: bool,

    /// Hex digits used to write the threshold (`ot=th` on spans, `sampling.threshold` on
    /// logs) in `equalizing` and `proportional` modes, 1–14. Default `4`. More digits are used
    /// near 0% and 100% so the relative precision holds (OpenTelemetry's algorithm).
    pub sampling_precision: u32,

    /// Logs: where the randomness comes from, `traceID` (default; records without a trace id
    /// fall back to `from_attribute` in `hash_seed` mode) or `record` (the `from_attribute`
    /// attribute; implies `hash_seed` mode).
    pub attribute_source: AttributeSource,

    /// Logs, `hash_seed` mode: the log record attribute hashed as randomness (e.g. a request
    /// id) when `attribute_source` is `record`, or when a record has no trace id.
    pub from_attribute: String,

    /// Logs: a log record attribute holding the record's own sampling percentage (an int or
    /// double): `0` drops the record, `100` or more keeps it, a value in between replaces
    /// `sampling_percentage` for that record. Spans always read the OpenTracing
    /// `sampling.priority` attribute instead (`0` drops, a positive value keeps).
    pub sampling_priority: String,
}

/// `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerMode {
    HashSeed,
    Equalizing,
    Proportional,
}

impl SamplerMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SamplerMode::HashSeed => "hash_seed",
            SamplerMode::Equalizing => "equalizing",
            SamplerMode::Proportional => "proportional",
        }
    }
}

/// `attribute_source`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum AttributeSource {
    #[default]
    #[serde(rename = "traceID")]
    TraceId,
    #[serde(rename = "record")]
    Record,
}

impl Default for ProbabilisticSamplerConfig {
    fn default() -> Self {
        ProbabilisticSamplerConfig {
            sampling_percentage: None,
            hash_seed: 0,
            mode: None,
            fail_closed: true,
            sampling_precision: 4,
            attribute_source: AttributeSource::TraceId,
            from_attribute: String::new(),
            sampling_priority: String::new(),
        }
    }
}

impl ProbabilisticSamplerConfig {
    /// The mode in effect: `mode` when set, else `hash_seed`. (The Collector also forces
    /// `hash_seed` for a non-zero seed and for logs read from a record attribute; with
    /// `hash_seed` as the default those rules change nothing.)
    pub fn effective_mode(&self) -> SamplerMode {
        self.mode.unwrap_or(SamplerMode::HashSeed)
    }

    /// The percentage, clamped to 100 (the Collector treats larger values as 100).
    pub fn percentage(&self) -> f32 {
        self.sampling_percentage.unwrap_or(0.0).min(100.0)
    }
}

impl ComponentConfig for ProbabilisticSamplerConfig {
    fn validate(&self) -> Result<(), String> {
        let Some(pct) = self.sampling_percentage else {
            return Err(
                "sampling_percentage is required: the percentage of spans or log records to keep (0-100)".into()
            );
        };
        if !pct.is_finite() {
            return Err(format!("sampling_percentage must be a number between 0 and 100, got {pct}"));
        }
        if pct < 0.0 {
            return Err(format!("sampling_percentage must be between 0 and 100, got {pct}"));
        }
        if pct > 0.0 && f64::from(pct) / 100.0 < 1.0 / weir_core::sampling::MAX_56 as f64 {
            return Err(format!(
                "sampling_percentage {pct} is too small: the smallest positive percentage is 2^-56 x 100"
            ));
        }
        if !(1..=14).contains(&self.sampling_precision) {
            return Err(format!(
                "sampling_precision must be between 1 and 14 hex digits, got {}",
                self.sampling_precision
            ));
        }
        match self.mode {
            Some(mode @ (SamplerMode::Equalizing | SamplerMode::Proportional)) => {
                let why = "equalizing and proportional take their randomness from the trace id (or rv / \
                           sampling.randomness)";
                if self.hash_seed != 0 {
                    return Err(format!(
                        "hash_seed is only used in mode hash_seed ({why}); remove hash_seed or set mode: hash_seed \
                         (mode is {})",
                        mode.as_str()
                    ));
                }
                if self.attribute_source == AttributeSource::Record {
                    return Err(format!(
                        "attribute_source: record needs mode hash_seed ({why}); remove mode or set attribute_source: \
                         traceID (mode is {})",
                        mode.as_str()
                    ));
                }
                if !self.from_attribute.is_empty() {
                    return Err(format!(
                        "from_attribute is only used in mode hash_seed ({why}); remove from_attribute or set mode: \
                         hash_seed (mode is {})",
                        mode.as_str()
                    ));
                }
            }
            Some(SamplerMode::HashSeed) | None => {}
        }
        if self.attribute_source == AttributeSource::Record && self.from_attribute.is_empty() {
            return Err("attribute_source: record needs from_attribute, the log record attribute to sample by".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut ProbabilisticSamplerConfig)) -> ProbabilisticSamplerConfig {
        let mut c = ProbabilisticSamplerConfig { sampling_percentage: Some(10.0), ..Default::default() };
        f(&mut c);
        c
    }

    fn error(f: impl FnOnce(&mut ProbabilisticSamplerConfig)) -> String {
        with(f).validate().expect_err("the configuration is rejected")
    }

    #[test]
    fn defaults_match_the_collector() {
        let c = with(|_| {});
        assert_eq!(c.hash_seed, 0);
        assert_eq!(c.mode, None);
        assert_eq!(c.effective_mode(), SamplerMode::HashSeed, "unset mode is hash_seed");
        assert!(c.fail_closed);
        assert_eq!(c.sampling_precision, 4);
        assert_eq!(c.attribute_source, AttributeSource::TraceId);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn sampling_percentage_is_required() {
        let e = error(|c| c.sampling_percentage = None);
        assert!(e.starts_with("sampling_percentage is required"), "{e}");
    }

    #[test]
    fn percentage_out_of_range_is_rejected() {
        assert!(error(|c| c.sampling_percentage = Some(-1.0)).contains("between 0 and 100, got -1"));
        assert!(error(|c| c.sampling_percentage = Some(f32::NAN)).contains("must be a number"));
        assert!(error(|c| c.sampling_percentage = Some(f32::INFINITY)).contains("must be a number"));
        assert!(error(|c| c.sampling_percentage = Some(1e-16)).contains("too small"));
    }

    #[test]
    fn zero_and_above_one_hundred_are_accepted_as_the_collector_does() {
        assert_eq!(with(|c| c.sampling_percentage = Some(0.0)).validate(), Ok(()));
        let c = with(|c| c.sampling_percentage = Some(250.0));
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.percentage(), 100.0);
    }

    #[test]
    fn sampling_precision_must_be_1_to_14_digits() {
        assert!(error(|c| c.sampling_precision = 0).contains("sampling_precision must be between 1 and 14"));
        assert!(error(|c| c.sampling_precision = 15).contains("got 15"));
        assert_eq!(with(|c| c.sampling_precision = 14).validate(), Ok(()));
    }

    #[test]
    fn hash_seed_with_a_consistent_mode_is_rejected() {
        let e = error(|c| {
            c.hash_seed = 7;
            c.mode = Some(SamplerMode::Equalizing);
        });
        assert!(e.starts_with("hash_seed is only used in mode hash_seed"), "{e}");
        assert!(e.contains("mode is equalizing"), "{e}");
        assert_eq!(
            with(|c| {
                c.hash_seed = 7;
                c.mode = Some(SamplerMode::HashSeed);
            })
            .validate(),
            Ok(())
        );
    }

    #[test]
    fn record_attributes_need_hash_seed_mode_and_an_attribute() {
        let e = error(|c| {
            c.mode = Some(SamplerMode::Proportional);
            c.attribute_source = AttributeSource::Record;
            c.from_attribute = "request.id".into();
        });
        assert!(e.starts_with("attribute_source: record needs mode hash_seed"), "{e}");
        let e = error(|c| {
            c.mode = Some(SamplerMode::Equalizing);
            c.from_attribute = "request.id".into();
        });
        assert!(e.starts_with("from_attribute is only used in mode hash_seed"), "{e}");
        let e = error(|c| c.attribute_source = AttributeSource::Record);
        assert!(e.starts_with("attribute_source: record needs from_attribute"), "{e}");
    }

    fn parse(text: &str) -> Result<ProbabilisticSamplerConfig, String> {
        weir_core::testing::parse_config(text)
    }

    #[test]
    fn keys_and_values_are_parsed_with_the_collector_spelling() {
        let c =
            parse("{sampling_percentage: 25, mode: equalizing, fail_closed: false, sampling_precision: 6}").unwrap();
        assert_eq!(c.sampling_percentage, Some(25.0));
        assert_eq!(c.mode, Some(SamplerMode::Equalizing));
        assert!(!c.fail_closed);
        assert_eq!(c.sampling_precision, 6);
        let c = parse(
            "{sampling_percentage: 12.5, attribute_source: record, from_attribute: request.id, \
             sampling_priority: priority, hash_seed: 22}",
        )
        .unwrap();
        assert_eq!(c.attribute_source, AttributeSource::Record);
        assert_eq!(c.from_attribute, "request.id");
        assert_eq!(c.sampling_priority, "priority");
        assert_eq!(c.hash_seed, 22);
        assert!(parse("{sampling_percentage: 5, attribute_source: traceID}").is_ok());
        let e = parse("{sampling_percentage: 5, mode: consistent}").unwrap_err();
        assert!(e.contains("consistent"), "{e}");
        let e = parse("{sampling_percentage: 5, samplingpercentage: 5}").unwrap_err();
        assert!(e.contains("samplingpercentage"), "{e}");
    }
}
