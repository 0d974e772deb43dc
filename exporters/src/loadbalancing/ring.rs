//! The Collector's consistent-hash ring, position for position, so that a weir agent and a
//! Collector agent given the same backend list send each key to the same backend.
//!
//! - The ring has 36,000 positions (360 degrees with two decimals).
//! - Each endpoint string (as the resolver gives it: `host:port` for `static`, the address
//!   with `:port` only when `port` is set for `dns`) takes 100 points: point `i` is
//!   `crc32_ieee(endpoint ‖ byte(i)) % 36000`. Endpoints are placed in resolver order (sorted);
//!   a point already taken is skipped, so the first endpoint keeps it.
//! - A key's position is `crc32_ieee(key) % 36000`; its backend is the first point at or
//!   after that position, wrapping around to the first point.

/// Positions on the ring.
pub const MAX_POSITIONS: u32 = 36_000;
/// Points per endpoint.
pub const DEFAULT_WEIGHT: usize = 100;

/// An immutable ring over a list of endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HashRing {
    /// (position, index into `endpoints`), by position.
    items: Vec<(u32, u32)>,
    endpoints: Vec<String>,
}

/// The positions of one endpoint's points.
pub fn positions_for(endpoint: &str, points: usize) -> impl Iterator<Item = u32> + '_ {
    (0..points).map(move |i| {
        let mut h = crc32fast::Hasher::new();
        h.update(endpoint.as_bytes());
        h.update(&[i as u8]);
        h.finalize() % MAX_POSITIONS
    })
}

/// The position of a routing key.
#[inline]
pub fn position_of(key: &[u8]) -> u32 {
    crc32fast::hash(key) % MAX_POSITIONS
}

impl HashRing {
    /// The ring of `endpoints`, [`DEFAULT_WEIGHT`] points each.
    pub fn new(endpoints: &[String]) -> HashRing {
        HashRing::with_weight(endpoints, DEFAULT_WEIGHT)
    }

    pub fn with_weight(endpoints: &[String], weight: usize) -> HashRing {
        let mut taken = std::collections::HashSet::new();
        let mut items = Vec::with_capacity(endpoints.len() * weight);
        for (i, e) in endpoints.iter().enumerate() {
            for pos in positions_for(e, weight) {
                if taken.insert(pos) {
                    items.push((pos, i as u32));
                }
            }
        }
        items.sort_unstable();
        HashRing { items, endpoints: endpoints.to_vec() }
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The (position, endpoint) points, by position.
    pub fn points(&self) -> impl Iterator<Item = (u32, &str)> {
        self.items.iter().map(|(p, i)| (*p, self.endpoints[*i as usize].as_str()))
    }

    /// The index (into [`HashRing::endpoints`]) of the backend of `key`; `None` on an empty
    /// ring.
    #[inline]
    pub fn index_for(&self, key: &[u8]) -> Option<usize> {
        self.index_at(position_of(key))
    }

    /// The backend of the first point at or after `pos`, wrapping around.
    #[inline]
    pub fn index_at(&self, pos: u32) -> Option<usize> {
        let first = self.items.first()?;
        let i = self.items.partition_point(|(p, _)| *p < pos);
        Some(self.items.get(i).unwrap_or(first).1 as usize)
    }

    /// The endpoint of `key`.
    pub fn endpoint_for(&self, key: &[u8]) -> Option<&str> {
        self.index_for(key).map(|i| self.endpoints[i].as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(endpoints: &[&str], weight: usize) -> HashRing {
        HashRing::with_weight(&endpoints.iter().map(|s| s.to_string()).collect::<Vec<_>>(), weight)
    }

    // The vectors below are the Collector's (`consistent_hashing_test.go`).

    #[test]
    fn positions_match_the_collectors_for_one_endpoint() {
        let r = ring(&["endpoint-1"], 5);
        let got: Vec<(u32, &str)> = r.points().collect();
        assert_eq!(
            got,
            [
                (1401, "endpoint-1"),
                (4175, "endpoint-1"),
                (14133, "endpoint-1"),
                (17836, "endpoint-1"),
                (21667, "endpoint-1")
            ]
        );
    }

    #[test]
    fn a_duplicate_endpoint_adds_no_points() {
        assert_eq!(ring(&["endpoint-1", "endpoint-1"], 5).points().count(), 5);
    }

    #[test]
    fn positions_match_the_collectors_for_two_endpoints() {
        let r = ring(&["endpoint-1", "endpoint-2"], 5);
        let got: Vec<(u32, &str)> = r.points().collect();
        assert_eq!(
            got,
            [
                (1401, "endpoint-1"),
                (4175, "endpoint-1"),
                (10240, "endpoint-2"),
                (14133, "endpoint-1"),
                (15002, "endpoint-2"),
                (17836, "endpoint-1"),
                (21263, "endpoint-2"),
                (21667, "endpoint-1"),
                (26806, "endpoint-2"),
                (27020, "endpoint-2"),
            ]
        );
    }

    #[test]
    fn the_default_ring_has_a_hundred_points_per_endpoint() {
        let r = HashRing::new(&["endpoint-1".to_string(), "endpoint-2".to_string()]);
        assert_eq!(r.points().count(), 2 * DEFAULT_WEIGHT);
    }

    #[test]
    fn keys_go_where_the_collector_sends_them() {
        let r = HashRing::new(&["endpoint-1".to_string(), "endpoint-2".to_string()]);
        assert_eq!(r.endpoint_for(&[1, 2, 0, 0]), Some("endpoint-1"));
        assert_eq!(r.endpoint_for(&[128, 128, 0, 0]), Some("endpoint-2"));
        assert_eq!(r.endpoint_for(b"ad-service-7"), Some("endpoint-1"));
        assert_eq!(r.endpoint_for(b"get-recommendations-1"), Some("endpoint-2"));
    }

    #[test]
    fn a_position_finds_the_next_point_and_wraps_around() {
        // The Collector's binary search vectors, over points at these positions.
        let positions = [14, 25, 33, 47, 56, 121, 134, 158, 240, 270, 350];
        let r = HashRing {
            items: positions.iter().enumerate().map(|(i, p)| (*p, i as u32)).collect(),
            endpoints: positions.iter().map(|p| p.to_string()).collect(),
        };
        for (asked, expected) in [(85, 121), (14, 14), (351, 14), (270, 270), (271, 350)] {
            let i = r.index_at(asked).unwrap();
            assert_eq!(positions[i], expected, "position {asked}");
        }
    }

    #[test]
    fn an_empty_ring_has_no_backend() {
        assert_eq!(HashRing::new(&[]).index_for(b"x"), None);
    }

    #[test]
    fn removing_a_backend_moves_only_its_keys() {
        let three: Vec<String> = ["a:4317", "b:4317", "c:4317"].iter().map(|s| s.to_string()).collect();
        let two: Vec<String> = ["a:4317", "b:4317"].iter().map(|s| s.to_string()).collect();
        let (r3, r2) = (HashRing::new(&three), HashRing::new(&two));
        let mut moved = 0;
        for k in 0u32..10_000 {
            let key = k.to_be_bytes();
            let before = r3.endpoint_for(&key).unwrap();
            let after = r2.endpoint_for(&key).unwrap();
            if before != "c:4317" {
                assert_eq!(before, after, "a key of a remaining backend stays");
            } else {
                moved += 1;
            }
        }
        assert!((2_000..4_700).contains(&moved), "about a third moves: {moved}");
    }
}
