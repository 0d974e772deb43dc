//! `memory_limiter` settings, with the Collector's keys, defaults and validation messages.

use serde::Deserialize;
use std::time::Duration;
use weir_core::ComponentConfig;

const MIB: u64 = 1024 * 1024;

/// Settings of the `memory_limiter` processor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryLimiterConfig {
    /// How often the process's memory use (its resident set size) is measured. Required,
    /// greater than zero; `1s` is a good start. Refusing starts and stops only at a
    /// measurement, so a spike between two measurements must fit under the hard limit.
    #[serde(with = "weir_core::config::duration")]
    pub check_interval: Duration,

    /// Hard limit in MiB. Data is refused from the soft limit on, `limit_mib −
    /// spike_limit_mib`. One of `limit_mib` and `limit_percentage` is required; `limit_mib`
    /// takes precedence.
    pub limit_mib: u64,

    /// Headroom below the hard limit, in MiB, for growth between two measurements. Default
    /// 20% of `limit_mib`; must be smaller than `limit_mib`.
    pub spike_limit_mib: u64,

    /// Hard limit as a percentage (1 to 100) of the memory available to the process: the
    /// cgroup limit when there is one (a container's memory limit), else the machine's
    /// total memory.
    pub limit_percentage: u32,

    /// Headroom as a percentage of the same total. Default 20% of the hard limit; must be
    /// smaller than `limit_percentage`.
    pub spike_limit_percentage: u32,

    /// Accepted for compatibility with Collector configurations and ignored: the Collector
    /// forces Go garbage collections while limited; Rust has no garbage collector, memory is
    /// returned as soon as data leaves the pipeline. Default `10s`; must not be shorter than
    /// `min_gc_interval_when_hard_limited`.
    #[serde(with = "weir_core::config::duration")]
    pub min_gc_interval_when_soft_limited: Duration,

    /// Accepted and ignored, as `min_gc_interval_when_soft_limited`. Default `0`.
    #[serde(with = "weir_core::config::duration")]
    pub min_gc_interval_when_hard_limited: Duration,

    /// Accepted and ignored (newer Collectors: cap on the back-off between ineffective forced
    /// garbage collections). Default `30s`.
    #[serde(with = "weir_core::config::duration")]
    pub max_gc_interval_when_soft_limited: Duration,

    /// Accepted and ignored, as `max_gc_interval_when_soft_limited`. Default `30s`.
    #[serde(with = "weir_core::config::duration")]
    pub max_gc_interval_when_hard_limited: Duration,
}

impl Default for MemoryLimiterConfig {
    fn default() -> Self {
        MemoryLimiterConfig {
            check_interval: Duration::ZERO,
            limit_mib: 0,
            spike_limit_mib: 0,
            limit_percentage: 0,
            spike_limit_percentage: 0,
            min_gc_interval_when_soft_limited: Duration::from_secs(10),
            min_gc_interval_when_hard_limited: Duration::ZERO,
            max_gc_interval_when_soft_limited: Duration::from_secs(30),
            max_gc_interval_when_hard_limited: Duration::from_secs(30),
        }
    }
}

impl ComponentConfig for MemoryLimiterConfig {
    fn validate(&self) -> Result<(), String> {
        // Same checks, order and messages as the Collector.
        let fail = |m: &str| Err(m.to_string());
        if self.check_interval.is_zero() {
            return fail("'check_interval' must be greater than zero");
        }
        if self.min_gc_interval_when_soft_limited < self.min_gc_interval_when_hard_limited {
            return fail(
                "'min_gc_interval_when_soft_limited' should be larger than 'min_gc_interval_when_hard_limited'",
            );
        }
        if self.limit_mib == 0 && self.limit_percentage == 0 {
            return fail("'limit_mib' or 'limit_percentage' must be greater than zero");
        }
        if self.limit_percentage > 100 || self.spike_limit_percentage > 100 {
            return fail(
                "'limit_percentage' and 'spike_limit_percentage' must be greater than zero and less than or equal to hundred",
            );
        }
        if self.limit_mib > 0 && self.limit_mib <= self.spike_limit_mib {
            return fail("'spike_limit_mib' must be smaller than 'limit_mib'");
        }
        if self.limit_percentage > 0 && self.limit_percentage <= self.spike_limit_percentage {
            return fail("'spike_limit_percentage' must be smaller than 'limit_percentage'");
        }
        Ok(())
    }
}

/// The limits in bytes a configuration resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// `limit_mib` (or the percentage of total memory).
    pub(crate) hard: u64,
    /// Refusing starts at this usage: hard − spike.
    pub(crate) soft: u64,
}

impl Limits {
    /// Resolves the configured limits; `total_memory` is only asked for with
    /// `limit_percentage` (and without `limit_mib`).
    pub(crate) fn resolve(
        c: &MemoryLimiterConfig,
        total_memory: impl FnOnce() -> Option<u64>,
    ) -> Result<Limits, String> {
        let (hard, spike) = if c.limit_mib > 0 {
            (c.limit_mib.saturating_mul(MIB), c.spike_limit_mib.saturating_mul(MIB))
        } else {
            let total = total_memory().ok_or(
                "cannot determine the total memory (cgroup limit or /proc/meminfo) for 'limit_percentage'; \
                 use 'limit_mib' instead",
            )?;
            (percent_of(total, c.limit_percentage), percent_of(total, c.spike_limit_percentage))
        };
        // An unset spike limit is 20% of the hard limit, as in the Collector.
        let spike = if spike == 0 { hard / 5 } else { spike };
        Ok(Limits { hard, soft: hard.saturating_sub(spike) })
    }
}

fn percent_of(total: u64, percent: u32) -> u64 {
    // u128: `total × percent` may not fit in 64 bits; the result always does (percent ≤ 100).
    u64::try_from(u128::from(total) * u128::from(percent) / 100).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> MemoryLimiterConfig {
        MemoryLimiterConfig { check_interval: Duration::from_secs(1), limit_mib: 4000, ..Default::default() }
    }

    fn with(f: impl FnOnce(&mut MemoryLimiterConfig)) -> Result<(), String> {
        let mut c = valid();
        f(&mut c);
        c.validate()
    }

    #[test]
    fn a_limit_and_an_interval_are_enough() {
        assert_eq!(valid().validate(), Ok(()));
        assert_eq!(
            with(|c| {
                c.limit_mib = 0;
                c.limit_percentage = 80;
                c.spike_limit_percentage = 20;
            }),
            Ok(())
        );
    }

    #[test]
    fn check_interval_is_required() {
        assert_eq!(
            with(|c| c.check_interval = Duration::ZERO).unwrap_err(),
            "'check_interval' must be greater than zero"
        );
        assert_eq!(
            MemoryLimiterConfig::default().validate().unwrap_err(),
            "'check_interval' must be greater than zero"
        );
    }

    #[test]
    fn one_limit_is_required() {
        assert_eq!(
            with(|c| c.limit_mib = 0).unwrap_err(),
            "'limit_mib' or 'limit_percentage' must be greater than zero"
        );
    }

    #[test]
    fn percentages_above_hundred_are_rejected() {
        let msg =
            "'limit_percentage' and 'spike_limit_percentage' must be greater than zero and less than or equal to hundred";
        assert_eq!(with(|c| c.limit_percentage = 101).unwrap_err(), msg);
        assert_eq!(with(|c| c.spike_limit_percentage = 101).unwrap_err(), msg);
    }

    #[test]
    fn spike_must_be_below_the_limit() {
        assert_eq!(
            with(|c| c.spike_limit_mib = 4000).unwrap_err(),
            "'spike_limit_mib' must be smaller than 'limit_mib'"
        );
        assert_eq!(
            with(|c| {
                c.limit_mib = 0;
                c.limit_percentage = 50;
                c.spike_limit_percentage = 50;
            })
            .unwrap_err(),
            "'spike_limit_percentage' must be smaller than 'limit_percentage'"
        );
    }

    #[test]
    fn gc_intervals_are_checked_for_compatibility() {
        assert_eq!(
            with(|c| c.min_gc_interval_when_hard_limited = Duration::from_secs(11)).unwrap_err(),
            "'min_gc_interval_when_soft_limited' should be larger than 'min_gc_interval_when_hard_limited'"
        );
    }

    #[test]
    fn spike_defaults_to_a_fifth_of_the_limit() {
        let l = Limits::resolve(&valid(), || panic!("total memory is not needed with limit_mib")).unwrap();
        assert_eq!(l, Limits { hard: 4000 * MIB, soft: 3200 * MIB });
    }

    #[test]
    fn explicit_spike_sets_the_soft_limit() {
        let c = MemoryLimiterConfig { spike_limit_mib: 500, ..valid() };
        assert_eq!(Limits::resolve(&c, || None).unwrap(), Limits { hard: 4000 * MIB, soft: 3500 * MIB });
    }

    #[test]
    fn limit_mib_takes_precedence_over_percentage() {
        let c = MemoryLimiterConfig { limit_percentage: 50, ..valid() };
        assert_eq!(Limits::resolve(&c, || Some(1 << 40)).unwrap().hard, 4000 * MIB);
    }

    #[test]
    fn percentages_are_of_the_total_memory() {
        let c = MemoryLimiterConfig { limit_mib: 0, limit_percentage: 80, spike_limit_percentage: 25, ..valid() };
        let l = Limits::resolve(&c, || Some(8000 * MIB)).unwrap();
        assert_eq!(l, Limits { hard: 6400 * MIB, soft: 4400 * MIB });
    }

    #[test]
    fn percentage_spike_defaults_to_a_fifth_of_the_limit() {
        let c = MemoryLimiterConfig { limit_mib: 0, limit_percentage: 50, ..valid() };
        let l = Limits::resolve(&c, || Some(1000 * MIB)).unwrap();
        assert_eq!(l, Limits { hard: 500 * MIB, soft: 400 * MIB });
    }

    #[test]
    fn percentage_without_a_known_total_is_an_error() {
        let c = MemoryLimiterConfig { limit_mib: 0, limit_percentage: 50, ..valid() };
        let e = Limits::resolve(&c, || None).unwrap_err();
        assert!(e.contains("'limit_mib'"), "{e}");
    }

    #[test]
    fn durations_and_limits_deserialize_from_yaml() {
        let yaml = "check_interval: 1s\nlimit_mib: 100\nmin_gc_interval_when_soft_limited: 5s\n";
        let node = weir_core::config::yaml::parse(yaml, &|_| None).unwrap();
        let c: MemoryLimiterConfig = node.deserialize().unwrap();
        assert_eq!(c.check_interval, Duration::from_secs(1));
        assert_eq!(c.limit_mib, 100);
        assert_eq!(c.min_gc_interval_when_soft_limited, Duration::from_secs(5));
        assert_eq!(c.max_gc_interval_when_hard_limited, Duration::from_secs(30));
    }
}
