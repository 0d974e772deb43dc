//! Any bytes as an OTLP protobuf request of any signal: `Payload::new` must accept or refuse
//! without panicking, and a payload it accepts must be readable through every view, split
//! without losing items, and convertible to OTLP/JSON.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use weir_core::pdata::views::{AnyValue, Attributes, DataPointView};
use weir_core::{Payload, Signal};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let signal = Signal::ALL[usize::from(selector) % Signal::ALL.len()];
    let Ok(payload) = Payload::new(signal, Bytes::copy_from_slice(body)) else { return };
    walk(&payload);
    // Splitting keeps every item (max_items from the selector's upper bits, at least 1).
    let max_items = usize::from(selector >> 2) + 1;
    if let Ok(parts) = payload.split(max_items) {
        let total: usize = parts.iter().map(Payload::items).sum();
        assert_eq!(total, payload.items(), "split lost or invented items");
        for part in &parts {
            walk(part);
        }
    }
    let _ = weir_core::pdata::json::encode(&payload);
});

/// Reads every field every view offers.
fn walk(payload: &Payload) {
    for rg in payload.view().resources() {
        let Ok(rg) = rg else { return };
        let _ = rg.schema_url();
        if let Ok(resource) = rg.resource() {
            let _ = resource.service_name();
            attributes(resource.attributes(), 0);
        }
        for sg in rg.scopes() {
            let Ok(sg) = sg else { break };
            let _ = sg.schema_url();
            if let Ok(scope) = sg.scope() {
                let _ = (scope.name(), scope.version());
                attributes(scope.attributes(), 0);
            }
            match payload.signal() {
                Signal::Traces => {
                    for span in sg.spans().flatten() {
                        let _ = span.fields();
                        let _ = (span.trace_id(), span.span_id(), span.parent_span_id(), span.name());
                        let _ = (span.kind(), span.status_code(), span.event_and_link_counts());
                        let _ = (span.trace_state(), span.flags(), span.dropped_attributes_count());
                        let _ = span.status().map(|s| (s.code(), s.message()));
                        attributes(span.attributes(), 0);
                        for event in span.events().flatten() {
                            let _ = (event.time_unix_nano(), event.name(), event.dropped_attributes_count());
                            attributes(event.attributes(), 0);
                        }
                        for link in span.links().flatten() {
                            let _ = (link.trace_id(), link.span_id(), link.trace_state(), link.flags());
                            attributes(link.attributes(), 0);
                        }
                    }
                }
                Signal::Logs => {
                    for record in sg.log_records().flatten() {
                        let _ = record.fields();
                        let _ = (record.body(), record.severity_number(), record.dropped_attributes_count());
                        attributes(record.attributes(), 0);
                    }
                }
                Signal::Metrics => {
                    for metric in sg.metrics().flatten() {
                        let _ = (metric.name(), metric.description(), metric.unit(), metric.data());
                        let _ = metric.data_point_count();
                        if let Ok(points) = metric.data_points() {
                            for _ in points {}
                        }
                        if let Ok(data) = metric.typed_data() {
                            let _ = (data.aggregation_temporality(), data.is_monotonic());
                            for point in data.data_points().flatten() {
                                data_point(point);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Reads every field of a data point of any kind.
fn data_point(point: DataPointView<'_>) {
    let _ = (point.start_time_unix_nano(), point.time_unix_nano(), point.flags());
    attributes(point.attributes(), 0);
    for exemplar in point.exemplars().flatten() {
        let _ = (exemplar.time_unix_nano(), exemplar.value(), exemplar.span_id(), exemplar.trace_id());
        attributes(exemplar.filtered_attributes(), 0);
    }
    match point {
        DataPointView::Number(p) => {
            let _ = p.fields();
        }
        DataPointView::Histogram(p) => {
            let _ = (p.fields(), p.bucket_counts().count(), p.explicit_bounds().count());
        }
        DataPointView::ExponentialHistogram(p) => {
            let _ = p.fields();
            for buckets in [p.positive(), p.negative()].into_iter().flatten() {
                let _ = (buckets.offset(), buckets.bucket_counts().count());
            }
        }
        DataPointView::Summary(p) => {
            let _ = p.fields();
            for q in p.quantile_values().flatten() {
                let _ = q.get();
            }
        }
    }
}

/// Walks attributes and nested values (bounded depth, as a hostile request can nest deeply).
fn attributes(attrs: Attributes<'_>, depth: usize) {
    for kv in attrs.iter() {
        let Ok((_key, value)) = kv else { return };
        let _ = (value.as_str(), value.as_i64(), value.as_bool(), value.as_f64());
        if let Ok(AnyValue::KvList(list)) = value.get() {
            if depth < 8 {
                attributes(Attributes::key_value_list(list), depth + 1);
            }
        }
        if let Some(array) = value.as_array() {
            for element in array.values().flatten() {
                let _ = (element.get(), element.as_bytes());
            }
        }
    }
}
