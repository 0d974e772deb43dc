//! `periodic` metric readers: every `interval`, weir's metrics — read from the same recorder
//! `/metrics` renders, through the same level and views — are exported as one OTLP metrics
//! request, and once more when the reader stops.
//!
//! Counters become monotonic sums, gauges gauges, histograms explicit-bucket histograms,
//! under the Collector's instrument names (without Prometheus' `_total`). Temporality is
//! cumulative unless `temporality_preference` asks for `delta` (or `low_memory`, which is
//! delta for counters and histograms, as the SDK's); delta points are the difference from
//! the previous export.

use super::export::{encode, Sink};
use super::{key_value, scope, str_value, Resource};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::config::telemetry::PeriodicReader;
use weir_core::pdata::now_unix_nano;
use weir_core::telemetry::{Family, MetricsView};
use weir_core::Signal;

/// Starts a periodic reader; it exports once more and ends when `stop` is cancelled.
pub fn start_periodic(
    reader: &PeriodicReader,
    view: MetricsView,
    resource: Arc<Resource>,
    stop: CancellationToken,
) -> Result<JoinHandle<()>, String> {
    let otlp = reader.exporter.otlp.clone();
    let sink = Sink::new(otlp.as_ref(), Signal::Metrics)?;
    let delta = otlp.as_ref().and_then(|o| o.temporality_preference.as_deref()).is_some_and(|t| t != "cumulative");
    let (interval, timeout) = (reader.interval(), reader.timeout());
    Ok(tokio::spawn(async move {
        let mut previous = Previous::default();
        let start = start_nanos();
        loop {
            let stopping = tokio::select! {
                _ = stop.cancelled() => true,
                _ = tokio::time::sleep(interval) => false,
            };
            let request = to_otlp(&view.families(), &resource, start, delta.then_some(&mut previous));
            let points = count_points(&request);
            let json = {
                let r = request.clone();
                move || serde_json::to_string(&r).unwrap_or_default()
            };
            let _ = tokio::time::timeout(timeout, sink.send(Signal::Metrics, encode(&request), points, json)).await;
            if stopping {
                return;
            }
        }
    }))
}

fn start_nanos() -> u64 {
    let uptime = weir_core::telemetry::uptime().as_nanos() as u64;
    now_unix_nano().saturating_sub(uptime)
}

/// A series' labels, as rendered.
type Labels = Vec<(String, String)>;

/// A histogram series being gathered: labels (less `le`), `(bound, cumulative count)`
/// buckets, sum, count.
type HistogramSeries = (Labels, Vec<(f64, f64)>, f64, f64);

/// Cumulative values of the previous export, per metric and label set (for delta).
#[derive(Default)]
pub struct Previous {
    values: HashMap<(String, Labels), Vec<f64>>,
    at: u64,
}

fn count_points(r: &ExportMetricsServiceRequest) -> usize {
    let mut n = 0;
    for rm in &r.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                n += match &m.data {
                    Some(metric::Data::Sum(s)) => s.data_points.len(),
                    Some(metric::Data::Gauge(g)) => g.data_points.len(),
                    Some(metric::Data::Histogram(h)) => h.data_points.len(),
                    _ => 0,
                };
            }
        }
    }
    n
}

/// The OTLP request for `families`. With `previous`, sums and histograms are deltas since
/// the last call.
pub fn to_otlp(
    families: &[Family],
    resource: &Resource,
    start: u64,
    mut previous: Option<&mut Previous>,
) -> ExportMetricsServiceRequest {
    let now = now_unix_nano();
    let delta_start = previous.as_ref().map(|p| if p.at == 0 { start } else { p.at });
    let temporality =
        if previous.is_some() { AggregationTemporality::Delta } else { AggregationTemporality::Cumulative };
    let point_start = delta_start.unwrap_or(start);
    let mut metrics = Vec::new();
    for f in families {
        let name = f.base_name().to_string();
        let attrs = |labels: &[(String, String)]| -> Vec<_> {
            labels.iter().filter(|(k, _)| k != "le").map(|(k, v)| key_value(k, str_value(v))).collect()
        };
        let mut diff = |labels: &[(String, String)], values: Vec<f64>| -> Vec<f64> {
            match previous.as_deref_mut() {
                None => values,
                Some(p) => {
                    let old = p.values.insert((name.clone(), labels.to_vec()), values.clone()).unwrap_or_default();
                    values.iter().enumerate().map(|(i, v)| (v - old.get(i).copied().unwrap_or(0.0)).max(0.0)).collect()
                }
            }
        };
        let number = |labels: &[(String, String)], start: u64, value: f64| NumberDataPoint {
            attributes: attrs(labels),
            start_time_unix_nano: start,
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsDouble(value)),
            ..Default::default()
        };
        let data = match f.kind.as_str() {
            "counter" => {
                let points = f
                    .samples
                    .iter()
                    .map(|s| number(&s.labels, point_start, diff(&s.labels, vec![s.value])[0]))
                    .collect();
                metric::Data::Sum(Sum {
                    data_points: points,
                    aggregation_temporality: temporality as i32,
                    is_monotonic: true,
                })
            }
            "histogram" => {
                // Group `_bucket`, `_sum` and `_count` samples by their labels (less `le`).
                let mut series: Vec<HistogramSeries> = Vec::new();
                for s in &f.samples {
                    let key: Labels = s.labels.iter().filter(|(k, _)| k != "le").cloned().collect();
                    let i = match series.iter().position(|(k, ..)| *k == key) {
                        Some(i) => i,
                        None => {
                            series.push((key, Vec::new(), 0.0, 0.0));
                            series.len() - 1
                        }
                    };
                    let entry = &mut series[i];
                    if s.name.ends_with("_bucket") {
                        let le = s.labels.iter().find(|(k, _)| k == "le").map(|(_, v)| v.as_str()).unwrap_or("+Inf");
                        let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::INFINITY) };
                        entry.1.push((bound, s.value));
                    } else if s.name.ends_with("_sum") {
                        entry.2 = s.value;
                    } else if s.name.ends_with("_count") {
                        entry.3 = s.value;
                    }
                }
                let points = series
                    .into_iter()
                    .map(|(labels, mut buckets, sum, count)| {
                        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                        if buckets.last().is_none_or(|b| b.0.is_finite()) {
                            buckets.push((f64::INFINITY, count));
                        }
                        // Prometheus buckets are cumulative (`le`); OTLP's are per bucket.
                        let mut per_bucket = Vec::with_capacity(buckets.len());
                        let mut below = 0.0;
                        for (_, c) in &buckets {
                            per_bucket.push((c - below).max(0.0));
                            below = *c;
                        }
                        let mut values = vec![count, sum];
                        values.extend(per_bucket);
                        let values = diff(&labels, values);
                        HistogramDataPoint {
                            attributes: attrs(&labels),
                            start_time_unix_nano: point_start,
                            time_unix_nano: now,
                            count: values[0] as u64,
                            sum: Some(values[1]),
                            bucket_counts: values[2..].iter().map(|c| *c as u64).collect(),
                            explicit_bounds: buckets.iter().map(|b| b.0).filter(|b| b.is_finite()).collect(),
                            ..Default::default()
                        }
                    })
                    .collect();
                metric::Data::Histogram(Histogram { data_points: points, aggregation_temporality: temporality as i32 })
            }
            _ => {
                // Gauges have no start time.
                let points = f.samples.iter().map(|s| number(&s.labels, 0, s.value)).collect();
                metric::Data::Gauge(Gauge { data_points: points })
            }
        };
        metrics.push(Metric { name, description: f.help.clone(), data: Some(data), ..Default::default() });
    }
    if let Some(p) = previous {
        p.at = now;
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource.to_proto()),
            scope_metrics: vec![ScopeMetrics { scope: Some(scope()), metrics, schema_url: String::new() }],
            schema_url: resource.schema_url.clone(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::config::telemetry::ResourceConfig;
    use weir_core::telemetry::parse_text;

    const TEXT: &str = "# HELP otelcol_receiver_accepted_spans_total Items.\n# TYPE otelcol_receiver_accepted_spans_total counter\n\
        otelcol_receiver_accepted_spans_total{receiver=\"otlp\",transport=\"grpc\"} 5\n\n\
        # TYPE q gauge\nq{exporter=\"e\"} 3\n\n\
        # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"10\"} 3\nh_bucket{le=\"+Inf\"} 4\nh_sum 30\nh_count 4\n";

    #[test]
    fn counters_gauges_and_histograms_become_otlp_metrics() {
        let r = to_otlp(&parse_text(TEXT), &Resource::new(&ResourceConfig::default()), 1, None);
        let metrics = &r.resource_metrics[0].scope_metrics[0].metrics;
        assert_eq!(metrics[0].name, "otelcol_receiver_accepted_spans", "no _total, as the instrument is named");
        let Some(metric::Data::Sum(sum)) = &metrics[0].data else { panic!("a sum") };
        assert!(sum.is_monotonic);
        assert_eq!(sum.data_points[0].value, Some(number_data_point::Value::AsDouble(5.0)));
        assert_eq!(sum.data_points[0].attributes.len(), 2);
        assert!(matches!(metrics[1].data, Some(metric::Data::Gauge(_))));
        let Some(metric::Data::Histogram(h)) = &metrics[2].data else { panic!("a histogram") };
        assert_eq!(h.data_points[0].explicit_bounds, [1.0, 10.0]);
        assert_eq!(h.data_points[0].bucket_counts, [1, 2, 1], "per bucket, not cumulative");
        assert_eq!((h.data_points[0].count, h.data_points[0].sum), (4, Some(30.0)));
        let service =
            r.resource_metrics[0].resource.as_ref().unwrap().attributes.iter().find(|a| a.key == "service.name");
        assert_eq!(service.and_then(|a| a.value.clone()), Some(str_value("weir")));
    }

    #[test]
    fn delta_temporality_reports_the_difference() {
        let resource = Resource::new(&ResourceConfig::default());
        let mut previous = Previous::default();
        let _ = to_otlp(&parse_text(TEXT), &resource, 1, Some(&mut previous));
        let r = to_otlp(&parse_text(&TEXT.replace("} 5", "} 8")), &resource, 1, Some(&mut previous));
        let Some(metric::Data::Sum(sum)) = &r.resource_metrics[0].scope_metrics[0].metrics[0].data else { panic!() };
        assert_eq!(sum.aggregation_temporality, AggregationTemporality::Delta as i32);
        assert_eq!(sum.data_points[0].value, Some(number_data_point::Value::AsDouble(3.0)));
    }
}
