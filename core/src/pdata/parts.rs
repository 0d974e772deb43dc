//! Splitting one request into several by destination without decoding it: each item (span,
//! log record, metric) is handed to the part of its destination, which copies its byte range
//! under copies of its resource and scope headers ([`Regroup`]). A request whose items all go
//! to one destination comes back as it is, sharing its bytes.
//!
//! The loadbalancing exporter splits by backend with it, the routing connector by route.
//! A metric whose data points go to several destinations is rewritten once per destination
//! with only its points ([`metric_with_points`]), its other fields copied byte for byte.

use super::edit::{copy_fields, write_bytes_field};
use super::proto;
use super::views::MetricKind;
use super::{Payload, Regroup, ResourceGroupView, ScopeGroupView, WireError};

/// One destination's part under construction.
struct Part<'a> {
    regroup: Regroup<'a>,
    items: usize,
    /// The resource and scope group last opened in it (indices in the request).
    rg: usize,
    sg: usize,
}

/// The parts of one request by destination index (`0..destinations`), opened as items
/// arrive. Items must be added in request order.
pub struct Parts<'a> {
    parts: Vec<Option<Part<'a>>>,
}

impl<'a> Parts<'a> {
    pub fn new(destinations: usize) -> Parts<'a> {
        Parts { parts: (0..destinations).map(|_| None).collect() }
    }

    /// Adds `item` (the `s`-th scope group `sg` of the `r`-th resource group `rg`) to the part
    /// of `destination`, counting `items` items (1, or a metric's data points).
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        destination: usize,
        r: usize,
        rg: ResourceGroupView<'a>,
        s: usize,
        sg: ScopeGroupView<'a>,
        item: &'a [u8],
        items: usize,
    ) -> Result<(), WireError> {
        let part = self.parts[destination].get_or_insert_with(|| Part {
            regroup: Regroup::new(),
            items: 0,
            rg: usize::MAX,
            sg: usize::MAX,
        });
        if part.rg != r {
            part.regroup.push_resource(rg)?;
            part.rg = r;
            part.sg = usize::MAX;
        }
        if part.sg != s {
            part.regroup.push_scope(sg)?;
            part.sg = s;
        }
        part.regroup.push_item(item);
        part.items += items;
        Ok(())
    }

    /// The parts by destination, in destination order; the whole `payload` when only one
    /// destination got anything.
    pub fn finish(self, payload: &Payload) -> Vec<(usize, Payload)> {
        let used: Vec<usize> = self.parts.iter().enumerate().filter(|(_, p)| p.is_some()).map(|(i, _)| i).collect();
        if used.len() == 1 {
            return vec![(used[0], payload.clone())];
        }
        self.parts
            .into_iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let mut p = p?;
                Some((i, Payload::from_counted(payload.signal(), p.regroup.finish(), p.items)))
            })
            .collect()
    }
}

/// The `Metric` field that holds data of `kind`.
pub fn metric_data_field(kind: MetricKind) -> u32 {
    match kind {
        MetricKind::Gauge | MetricKind::Empty => proto::metric::GAUGE,
        MetricKind::Sum => proto::metric::SUM,
        MetricKind::Histogram => proto::metric::HISTOGRAM,
        MetricKind::ExponentialHistogram => proto::metric::EXPONENTIAL_HISTOGRAM,
        MetricKind::Summary => proto::metric::SUMMARY,
    }
}

/// `metric` with only `points` in its data message `data` (of kind `kind`, as
/// `MetricView::data` reads it); every other field copied byte for byte.
pub fn metric_with_points(
    metric: &[u8],
    kind: MetricKind,
    data: &[u8],
    points: &[&[u8]],
) -> Result<Vec<u8>, WireError> {
    let field = metric_data_field(kind);
    let mut d = Vec::with_capacity(data.len());
    copy_fields(&mut d, data, |f| f.number != proto::DATA_POINTS)?;
    for p in points {
        write_bytes_field(&mut d, proto::DATA_POINTS, p);
    }
    let mut out = Vec::with_capacity(metric.len());
    copy_fields(&mut out, metric, |f| f.number != field)?;
    write_bytes_field(&mut out, field, &d);
    Ok(out)
}
