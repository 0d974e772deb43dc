//! The cases of the Collector's `processor_test.go` and `tracking/tracker_test.go` (inputs and
//! expected outputs from there), the config fixtures' rules, and the byte-level guarantees.

use super::*;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum,
};
use prost::Message;

const NO_VALUE: u32 = 1;
const T: u64 = 1_700_000_000_000_000_000;

fn config(yaml: &str) -> CumulativeToDeltaConfig {
    weir_core::testing::parse_config(yaml).expect("valid config")
}

fn processor(yaml: &str) -> CumulativeToDelta {
    // Started now: the upstream cases' points have no start time, so `auto` holds back first points.
    CumulativeToDelta::new("cumulativetodelta".into(), &config(yaml), now_unix_nano()).expect("builds")
}

fn sum(name: &str, values: &[f64], cumulative: bool, monotonic: bool, flags: &[u32]) -> Metric {
    let data_points = values
        .iter()
        .enumerate()
        .map(|(i, v)| NumberDataPoint {
            time_unix_nano: T,
            value: Some(number_data_point::Value::AsDouble(*v)),
            flags: flags.get(i).copied().unwrap_or(0),
            ..Default::default()
        })
        .collect();
    Metric {
        name: name.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points,
            aggregation_temporality: if cumulative { 2 } else { 1 },
            is_monotonic: monotonic,
        })),
        ..Default::default()
    }
}

struct H<'a> {
    counts: &'a [u64],
    sums: &'a [f64],
    buckets: &'a [&'a [u64]],
    flags: &'a [u32],
    min_max: bool,
}

fn histogram(name: &str, h: H<'_>, cumulative: bool) -> Metric {
    let data_points = h
        .counts
        .iter()
        .enumerate()
        .map(|(i, c)| HistogramDataPoint {
            time_unix_nano: T,
            count: *c,
            sum: h.sums.get(i).copied(),
            bucket_counts: h.buckets[i].to_vec(),
            flags: h.flags.get(i).copied().unwrap_or(0),
            min: h.min_max.then_some(2.0),
            max: h.min_max.then_some(800.0),
            ..Default::default()
        })
        .collect();
    Metric {
        name: name.into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points,
            aggregation_temporality: if cumulative { 2 } else { 1 },
        })),
        ..Default::default()
    }
}

fn request(metrics: Vec<Metric>) -> Payload {
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Metrics, req.encode_to_vec().into()).expect("valid request")
}

fn run(p: &mut CumulativeToDelta, input: &Payload) -> Vec<Metric> {
    let out = match p.process(input).expect("processes") {
        None => input.bytes().to_vec(),
        Some(rebuilt) => rebuilt.bytes().to_vec(),
    };
    let req = ExportMetricsServiceRequest::decode(&out[..]).expect("decodes");
    req.resource_metrics.into_iter().flat_map(|r| r.scope_metrics).flat_map(|s| s.metrics).collect()
}

/// `(temporality, values)` of a sum.
fn sum_values(m: &Metric) -> (i32, Vec<f64>) {
    let Some(metric::Data::Sum(s)) = &m.data else { panic!("{} is not a sum", m.name) };
    let values = s
        .data_points
        .iter()
        .map(|p| match p.value {
            Some(number_data_point::Value::AsDouble(v)) => v,
            Some(number_data_point::Value::AsInt(v)) => v as f64,
            None => panic!("no value"),
        })
        .collect();
    (s.aggregation_temporality, values)
}

fn hist_points(m: &Metric) -> (i32, &[HistogramDataPoint]) {
    let Some(metric::Data::Histogram(h)) = &m.data else { panic!("{} is not a histogram", m.name) };
    (h.aggregation_temporality, &h.data_points)
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

#[test]
fn upstream_sum_cases() {
    // (name, config, metrics in, expected (name, temporality, values) out)
    type Case<'a> = (&'a str, &'a str, Vec<Metric>, Vec<(&'a str, i32, Vec<f64>)>);
    let cases: Vec<Case> = vec![
        (
            "convert_nothing",
            "exclude: { match_type: regexp, metrics: ['.*'] }",
            vec![sum("metric_1", &[100.0], true, true, &[]), sum("metric_2", &[4.0], true, true, &[])],
            vec![("metric_1", 2, vec![100.0]), ("metric_2", 2, vec![4.0])],
        ),
        (
            "one_positive",
            "include: { match_type: strict, metrics: [metric_1] }",
            vec![
                sum("metric_1", &[0.0, 100.0, 200.0, 500.0], true, true, &[]),
                sum("metric_2", &[4.0], true, true, &[]),
            ],
            vec![("metric_1", 1, vec![100.0, 100.0, 300.0]), ("metric_2", 2, vec![4.0])],
        ),
        (
            "nan_value",
            "include: { match_type: regexp, metrics: ['_1'] }",
            vec![
                sum("metric_1", &[0.0, 100.0, 200.0, f64::NAN], true, true, &[]),
                sum("metric_2", &[4.0], true, true, &[]),
            ],
            vec![("metric_1", 1, vec![100.0, 100.0, f64::NAN]), ("metric_2", 2, vec![4.0])],
        ),
        (
            "nodata",
            "{}",
            vec![
                sum("metric_1", &[0.0, 100.0, 0.0, 200.0, 400.0], true, true, &[0, 0, NO_VALUE, 0, 0]),
                sum("metric_2", &[0.0, 100.0, 0.0, 0.0, 400.0], true, true, &[0, 0, NO_VALUE, NO_VALUE, 0]),
            ],
            vec![("metric_1", 1, vec![100.0, 100.0, 200.0]), ("metric_2", 1, vec![100.0, 300.0])],
        ),
        (
            "exclude_precedence",
            "include: { match_type: regexp, metrics: ['.*'] }\nexclude: { match_type: regexp, metrics: ['.*'] }",
            vec![sum("metric_1", &[100.0], true, true, &[]), sum("metric_2", &[4.0], true, true, &[])],
            vec![("metric_1", 2, vec![100.0]), ("metric_2", 2, vec![4.0])],
        ),
        (
            "all",
            "include: { match_type: regexp, metrics: ['.*'] }",
            vec![
                sum("metric_1", &[0.0, 100.0, 200.0, 500.0], true, true, &[]),
                sum("metric_2", &[0.0, 4.0, 5.0], true, true, &[]),
            ],
            vec![("metric_1", 1, vec![100.0, 100.0, 300.0]), ("metric_2", 1, vec![4.0, 1.0])],
        ),
        (
            "remove_metric_1",
            "include: { match_type: regexp, metrics: ['.*'] }\nexclude: { match_type: strict, metrics: [metric_1] }",
            vec![
                sum("metric_1", &[100.0, 200.0, 500.0], true, true, &[]),
                sum("metric_2", &[0.0, 4.0, 5.0], true, true, &[]),
            ],
            vec![("metric_1", 2, vec![100.0, 200.0, 500.0]), ("metric_2", 1, vec![4.0, 1.0])],
        ),
        (
            "remove_non_monotonic",
            "include: { match_type: regexp, metrics: ['.*'] }",
            vec![
                sum("metric_1", &[0.0, 100.0, 200.0, 500.0], true, true, &[]),
                sum("metric_2", &[4.0, 5.0], true, false, &[]),
            ],
            vec![("metric_1", 1, vec![100.0, 100.0, 300.0]), ("metric_2", 2, vec![4.0, 5.0])],
        ),
        (
            "restart_detected",
            "include: { match_type: regexp, metrics: ['.*'] }",
            vec![sum("metric_1", &[100.0, 105.0, 120.0, 100.0, 110.0], true, true, &[])],
            vec![("metric_1", 1, vec![5.0, 15.0, 10.0])],
        ),
    ];
    for (name, yaml, input, expected) in cases {
        let out = run(&mut processor(yaml), &request(input));
        let got: Vec<(String, i32, Vec<f64>)> =
            out.iter().map(|m| (m.name.clone(), sum_values(m).0, sum_values(m).1)).collect();
        assert_eq!(got.len(), expected.len(), "{name}: {got:?}");
        for ((gn, gt, gv), (en, et, ev)) in got.iter().zip(&expected) {
            assert!(gn == en && gt == et && same(gv, ev), "{name}: got {gn} {gt} {gv:?}, expected {en} {et} {ev:?}");
        }
    }
}

#[test]
fn upstream_histogram_cases() {
    let b = |v: &[&'static [u64]]| v.to_vec();
    // min_and_max: metric_1 converted (min and max removed), metric_2 untouched.
    let mut p = processor("include: { match_type: strict, metrics: [metric_1] }");
    let out = run(
        &mut p,
        &request(vec![
            histogram(
                "metric_1",
                H {
                    counts: &[0, 100, 200, 500],
                    sums: &[0.0, 100.0, 200.0, 500.0],
                    buckets: &b(&[&[0, 0, 0], &[50, 25, 25], &[100, 50, 50], &[250, 125, 125]]),
                    flags: &[],
                    min_max: true,
                },
                true,
            ),
            histogram(
                "metric_2",
                H { counts: &[4], sums: &[4.0], buckets: &[&[4, 4, 4]], flags: &[], min_max: true },
                true,
            ),
        ]),
    );
    let (t1, p1) = hist_points(&out[0]);
    assert_eq!(t1, 1);
    assert_eq!(p1.iter().map(|p| p.count).collect::<Vec<_>>(), [100, 100, 300]);
    assert_eq!(p1.iter().map(|p| p.sum).collect::<Vec<_>>(), [Some(100.0), Some(100.0), Some(300.0)]);
    assert_eq!(
        p1.iter().map(|p| p.bucket_counts.clone()).collect::<Vec<_>>(),
        [vec![50, 25, 25], vec![50, 25, 25], vec![150, 75, 75]]
    );
    assert!(p1.iter().all(|p| p.min.is_none() && p.max.is_none()));
    let (t2, p2) = hist_points(&out[1]);
    assert_eq!(t2, 2);
    assert_eq!((p2[0].count, p2[0].min, p2[0].max), (4, Some(2.0), Some(800.0)));

    // nan_sum: the NaN point keeps its NaN sum; the next delta is against the last real sum.
    let mut p = processor("include: { match_type: strict, metrics: [metric_1] }");
    let out = run(
        &mut p,
        &request(vec![histogram(
            "metric_1",
            H {
                counts: &[0, 100, 200, 500],
                sums: &[0.0, 100.0, f64::NAN, 500.0],
                buckets: &b(&[&[0, 0, 0], &[50, 25, 25], &[100, 50, 50], &[250, 125, 125]]),
                flags: &[],
                min_max: false,
            },
            true,
        )]),
    );
    let sums: Vec<f64> = hist_points(&out[0]).1.iter().map(|p| p.sum.expect("sum")).collect();
    assert!(same(&sums, &[100.0, f64::NAN, 400.0]), "{sums:?}");

    // novalue: flagged points go without touching the state.
    let mut p = processor("{}");
    let out = run(
        &mut p,
        &request(vec![
            histogram(
                "metric_1",
                H {
                    counts: &[0, 100, 0, 500],
                    sums: &[0.0, 100.0, 0.0, 500.0],
                    buckets: &b(&[&[0, 0, 0], &[50, 25, 25], &[0, 0, 0], &[250, 125, 125]]),
                    flags: &[0, 0, NO_VALUE, 0],
                    min_max: false,
                },
                true,
            ),
            histogram(
                "metric_2",
                H {
                    counts: &[0, 2, 0, 0, 16],
                    sums: &[0.0, 3.0, 0.0, 0.0, 81.0],
                    buckets: &b(&[&[0, 0, 0], &[1, 1, 1], &[0, 0, 0], &[0, 0, 0], &[21, 40, 20]]),
                    flags: &[0, 0, NO_VALUE, NO_VALUE, 0],
                    min_max: false,
                },
                true,
            ),
        ]),
    );
    let (_, p1) = hist_points(&out[0]);
    assert_eq!(p1.iter().map(|p| (p.count, p.sum)).collect::<Vec<_>>(), [(100, Some(100.0)), (400, Some(400.0))]);
    assert_eq!(p1[1].bucket_counts, [200, 100, 100]);
    let (_, p2) = hist_points(&out[1]);
    assert_eq!(p2.iter().map(|p| (p.count, p.sum)).collect::<Vec<_>>(), [(2, Some(3.0)), (14, Some(78.0))]);
    assert_eq!(p2[1].bucket_counts, [20, 39, 19]);

    // without sums: no sum appears.
    let mut p = processor("include: { match_type: strict, metrics: [metric_1] }");
    let out = run(
        &mut p,
        &request(vec![histogram(
            "metric_1",
            H {
                counts: &[0, 100, 200, 500],
                sums: &[],
                buckets: &b(&[&[0, 0, 0], &[50, 25, 25], &[100, 50, 50], &[250, 125, 125]]),
                flags: &[],
                min_max: false,
            },
            true,
        )]),
    );
    assert!(hist_points(&out[0]).1.iter().all(|p| p.sum.is_none()));
}

#[test]
fn metric_type_filters() {
    let mixed = || {
        request(vec![
            sum("metric_1", &[0.0, 100.0, 200.0, 500.0], true, true, &[]),
            histogram(
                "metric_2",
                H {
                    counts: &[0, 100, 200],
                    sums: &[0.0, 100.0, 200.0],
                    buckets: &[&[0, 0], &[50, 50], &[100, 100]],
                    flags: &[],
                    min_max: false,
                },
                true,
            ),
        ])
    };
    // exclude_sum_metrics: the histogram converts, the sum stays.
    let out = run(&mut processor("exclude: { metric_types: [sum] }"), &mixed());
    assert_eq!(sum_values(&out[0]).0, 2);
    assert_eq!(hist_points(&out[1]).0, 1);
    assert_eq!(hist_points(&out[1]).1.len(), 2);
    // include_histogram_metrics: the same, from the other side (types are case-insensitive).
    let out = run(&mut processor("include: { metric_types: [Histogram] }"), &mixed());
    assert_eq!(sum_values(&out[0]), (2, vec![0.0, 100.0, 200.0, 500.0]));
    assert_eq!(hist_points(&out[1]).0, 1);
}

#[test]
fn config_rules_as_upstream() {
    let err = |yaml: &str| {
        weir_core::testing::parse_config::<CumulativeToDeltaConfig>(yaml).expect_err("invalid").to_string()
    };
    assert_eq!(err("include: { metrics: [metric1] }"), "match_type must be set if metrics are supplied");
    assert_eq!(err("include: { match_type: strict, metrics: }"), "metrics must be supplied if match_type is set");
    assert_eq!(
        err("include: { match_type: regexp, metrics: [a], metric_types: [gauge] }"),
        "found invalid metric type in include.metric_types: gauge. Valid values are [sum histogram]"
    );
    assert_eq!(
        err("exclude: { match_type: regexp, metrics: [b], metric_types: [Invalid] }"),
        "found invalid metric type in exclude.metric_types: Invalid. Valid values are [sum histogram]"
    );
    assert!(err("include: { match_type: regexp, metrics: ['('] }").contains("include.metrics"));
    assert_eq!(err("max_streams: 0"), "max_streams must be at least 1");
    assert_eq!(config("{}").max_streams, 1_000_000);
    let c = config("max_staleness: 10s\ninitial_value: drop");
    assert_eq!((c.max_staleness, c.initial_value), (Duration::from_secs(10), InitialValue::Drop));
    assert!(weir_core::testing::parse_config::<CumulativeToDeltaConfig>("initial_value: sometimes").is_err());
}

/// `tracker_test.go`'s first-point rules.
#[test]
fn initial_value_rules() {
    let started = 1_000;
    let id = b"series";
    let first = |mode, start, observed| {
        Tracker::new(mode, started, 10).convert(id, start, observed, PointValue::Int(100)).map(|d| d.start)
    };
    // auto: sent only when the series started after weir and the point is not its start.
    assert_eq!(first(InitialValue::Auto, 0, 2_000), None, "unset start time");
    assert_eq!(first(InitialValue::Auto, 1_500, 1_500), None, "start equals observed");
    assert_eq!(first(InitialValue::Auto, 500, 2_000), None, "started before weir");
    assert_eq!(first(InitialValue::Auto, 1_500, 2_000), Some(1_500));
    assert_eq!(first(InitialValue::Keep, 500, 2_000), Some(0), "keep sends it without a start time");
    assert_eq!(first(InitialValue::Drop, 1_500, 2_000), None);
    // Later points: start is the previous point's time; lower values are resets.
    let mut t = Tracker::new(InitialValue::Drop, started, 10);
    assert_eq!(t.convert(id, 0, 10, PointValue::Int(100)), None);
    assert_eq!(t.convert(id, 0, 20, PointValue::Int(150)), Some(Delta { start: 10, value: PointValue::Int(50) }));
    assert_eq!(t.convert(id, 0, 30, PointValue::Int(30)), None, "reset");
    assert_eq!(t.convert(id, 0, 40, PointValue::Int(45)), Some(Delta { start: 30, value: PointValue::Int(15) }));
    t.remove_stale(41);
    assert_eq!(t.len(), 0);
    // A full table: new series are not tracked nor sent, known ones go on.
    let mut t = Tracker::new(InitialValue::Keep, started, 2);
    assert!(t.convert(b"a", 0, 10, PointValue::Int(1)).is_some());
    assert!(t.convert(b"b", 0, 10, PointValue::Int(1)).is_some());
    assert_eq!(t.convert(b"c", 0, 10, PointValue::Int(1)), None);
    assert_eq!((t.len(), t.overflow()), (2, 1));
    assert_eq!(t.convert(b"a", 0, 20, PointValue::Int(3)), Some(Delta { start: 10, value: PointValue::Int(2) }));
}

#[test]
fn series_are_told_apart_by_attributes_and_start_time_but_not_attribute_order() {
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    };
    let point = |attrs: Vec<KeyValue>, start: u64, time: u64, v: i64| NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(number_data_point::Value::AsInt(v)),
        ..Default::default()
    };
    let metric = |points| Metric {
        name: "requests".into(),
        unit: "1".into(),
        data: Some(metric::Data::Sum(Sum { data_points: points, aggregation_temporality: 2, is_monotonic: true })),
        ..Default::default()
    };
    let mut p = processor("initial_value: drop");
    let first = request(vec![metric(vec![
        point(vec![kv("a", "1"), kv("b", "2")], 5, 10, 100),
        point(vec![kv("a", "9")], 5, 10, 7),
    ])]);
    assert!(run(&mut p, &first).is_empty(), "every first point is held back with drop");
    assert_eq!(p.series(), 2);
    let second = request(vec![metric(vec![
        point(vec![kv("b", "2"), kv("a", "1")], 5, 20, 130),
        point(vec![kv("a", "9")], 6, 20, 9),
    ])]);
    let out = run(&mut p, &second);
    let Some(metric::Data::Sum(s)) = &out[0].data else { panic!() };
    assert_eq!(s.data_points.len(), 1, "the point with a new start time is a new series");
    assert_eq!(s.data_points[0].value, Some(number_data_point::Value::AsInt(30)));
    assert_eq!((s.data_points[0].start_time_unix_nano, s.data_points[0].time_unix_nano), (10, 20));
    assert_eq!(s.data_points[0].attributes, vec![kv("b", "2"), kv("a", "1")], "attributes as received");
    assert_eq!(p.series(), 3);
}

#[test]
fn nothing_to_convert_is_forwarded_as_the_same_bytes() {
    let gauge = Metric {
        name: "g".into(),
        data: Some(metric::Data::Gauge(Gauge { data_points: vec![NumberDataPoint::default()] })),
        ..Default::default()
    };
    let input = request(vec![gauge, sum("delta", &[1.0], false, true, &[])]);
    assert!(processor("{}").process(&input).expect("processes").is_none());
    // A malformed request is an error, not a panic.
    let bad = Payload::from_counted(Signal::Metrics, bytes::Bytes::from_static(&[0x0a, 0x05, 0x12]), 1);
    assert!(processor("{}").process(&bad).is_err());
}
