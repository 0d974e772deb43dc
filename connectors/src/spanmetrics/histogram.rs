//! The duration histograms of one series: explicit bounds, or base-2 exponential buckets.

/// The finest scale an exponential histogram starts at (as the Collector's go-expohisto).
const MAX_SCALE: i32 = 20;

/// One series' duration distribution.
#[derive(Debug, Clone)]
pub enum Histogram {
    Explicit(Explicit),
    Exponential(Exponential),
}

impl Histogram {
    /// Records `value`; `bounds` are the explicit bounds every series shares.
    #[inline]
    pub fn record(&mut self, bounds: &[f64], value: f64) {
        match self {
            Histogram::Explicit(h) => h.record_in(bounds, value),
            Histogram::Exponential(h) => h.record(value),
        }
    }
}

/// Counts per explicit bucket; bucket `i` holds values in `(bounds[i-1], bounds[i]]`, the
/// last one values above every bound.
#[derive(Debug, Clone)]
pub struct Explicit {
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Explicit {
    pub fn new(bounds: usize) -> Explicit {
        Explicit { counts: vec![0; bounds + 1], sum: 0.0, count: 0 }
    }

    /// Records `value` with the series' shared `bounds`.
    #[inline]
    pub fn record_in(&mut self, bounds: &[f64], value: f64) {
        let i = bounds.partition_point(|b| *b < value);
        self.counts[i] += 1;
        self.sum += value;
        self.count += 1;
    }
}

/// A base-2 exponential histogram of non-negative values (durations): bucket `i` at scale
/// `s` holds values in `(2^(i/2^s), 2^((i+1)/2^s)]`. It starts at scale 20 and halves its
/// resolution whenever the buckets in use would exceed `max_size`.
#[derive(Debug, Clone)]
pub struct Exponential {
    pub scale: i32,
    pub zero_count: u64,
    pub offset: i32,
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    max_size: usize,
}

impl Exponential {
    pub fn new(max_size: usize) -> Exponential {
        Exponential {
            scale: MAX_SCALE,
            zero_count: 0,
            offset: 0,
            counts: Vec::new(),
            sum: 0.0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            max_size: max_size.max(2),
        }
    }

    /// The bucket index of `value` (> 0) at `scale`.
    pub fn index(value: f64, scale: i32) -> i32 {
        let idx = (value.log2() * 2f64.powi(scale)).ceil() - 1.0;
        idx.clamp(i32::MIN as f64, i32::MAX as f64) as i32
    }

    pub fn record(&mut self, value: f64) {
        self.sum += value;
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if value <= 0.0 {
            self.zero_count += 1;
            return;
        }
        let mut idx = Self::index(value, self.scale);
        if self.counts.is_empty() {
            self.offset = idx;
            self.counts.push(1);
            return;
        }
        let last = self.offset + self.counts.len() as i32 - 1;
        let (lo, hi) = (self.offset.min(idx), last.max(idx));
        let mut change = 0;
        while ((hi >> change) as i64 - (lo >> change) as i64 + 1) as usize > self.max_size {
            change += 1;
        }
        if change > 0 {
            self.downscale(change);
            idx >>= change;
        }
        if idx < self.offset {
            let grow = (self.offset - idx) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = idx;
        }
        let i = (idx - self.offset) as usize;
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
    }

    /// Halves the resolution `change` times, merging neighbouring buckets.
    fn downscale(&mut self, change: i32) {
        let new_offset = self.offset >> change;
        let mut merged: Vec<u64> = Vec::with_capacity(self.counts.len());
        for (j, c) in self.counts.iter().enumerate() {
            let k = (((self.offset + j as i32) >> change) - new_offset) as usize;
            if k >= merged.len() {
                merged.resize(k + 1, 0);
            }
            merged[k] += c;
        }
        self.counts = merged;
        self.offset = new_offset;
        self.scale -= change;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_buckets_include_their_upper_bound() {
        let bounds = [2.0, 4.0, 10.0];
        let mut h = Explicit::new(bounds.len());
        for v in [0.5, 2.0, 2.5, 4.0, 9.9, 10.0, 11.0, 1e9] {
            h.record_in(&bounds, v);
        }
        assert_eq!(h.counts, [2, 2, 2, 2]);
        assert_eq!(h.count, 8);
    }

    #[test]
    fn exponential_index_matches_the_data_model() {
        // At scale 0 the base is 2: (1, 2] is bucket 0, (2, 4] bucket 1, (0.5, 1] bucket -1.
        assert_eq!(Exponential::index(2.0, 0), 0);
        assert_eq!(Exponential::index(3.0, 0), 1);
        assert_eq!(Exponential::index(4.0, 0), 1);
        assert_eq!(Exponential::index(1.0, 0), -1);
        // At scale 1 the base is √2: 2 is the upper bound of bucket 1.
        assert_eq!(Exponential::index(2.0, 1), 1);
    }

    #[test]
    fn exponential_downscales_to_stay_within_max_size() {
        let mut h = Exponential::new(4);
        for v in [1.0, 10.0, 100.0, 1000.0, 0.0] {
            h.record(v);
        }
        assert!(h.counts.len() <= 4, "{:?}", h.counts);
        assert_eq!(h.counts.iter().sum::<u64>(), 4);
        assert_eq!(h.zero_count, 1);
        // Every value still lies in the bucket it was counted in.
        let base = 2f64.powf(2f64.powi(-h.scale));
        for v in [1.0f64, 10.0, 100.0, 1000.0] {
            let i = Exponential::index(v, h.scale);
            assert!(base.powi(i) < v && v <= base.powi(i + 1) * (1.0 + 1e-9), "{v} in bucket {i} at scale {}", h.scale);
            assert!(i >= h.offset && i < h.offset + h.counts.len() as i32);
        }
        assert_eq!((h.min, h.max, h.count), (0.0, 1000.0, 5));
    }
}
