"""Reads what weir's `parquet` exporter wrote, with pyarrow or with DuckDB, and prints it as one
JSON object on stdout, for tests/e2e_parquet.rs to compare with what was sent.

usage: read_parquet.py pyarrow|duckdb|check DIR
  pyarrow, duckdb: DIR is the exporter's `path`; prints spans, logs, metrics (and, for duckdb,
                   the README's example queries)
  check:           opens every *.parquet under DIR with pyarrow; prints files and rows
"""
import glob
import json
import os
import sys


def stringify(v):
    return v if isinstance(v, str) else json.dumps(v)


def empty(root, signal):
    return not glob.glob(os.path.join(root, signal, "**", "*.parquet"), recursive=True)


def with_pyarrow(root):
    import pyarrow.dataset as ds

    import pyarrow as pa

    def rows(signal, columns):
        if empty(root, signal):
            return []
        d = ds.dataset(os.path.join(root, signal), format="parquet", partitioning="hive")
        t = d.to_table(columns=columns)
        if "timestamp" in columns:  # as integer nanoseconds: Python datetimes stop at microseconds
            i = t.schema.get_field_index("timestamp")
            t = t.set_column(i, "timestamp", t.column(i).cast(pa.int64()))
        if "events" in columns:  # event names only (their timestamps are nanoseconds too)
            import pyarrow.compute as pc
            i = t.schema.get_field_index("events")
            events = t.column(i).combine_chunks()
            names = pc.struct_field(events.values, "name")
            t = t.set_column(i, "events", pa.ListArray.from_arrays(events.offsets, names))
        return t.to_pylist()

    out = {}
    out["spans"] = [
        {
            "trace_id": r["trace_id"], "span_id": r["span_id"], "parent_span_id": r["parent_span_id"],
            "name": r["span_name"], "kind": r["span_kind"], "service": r["service_name"],
            "status_code": r["status_code"], "status_message": r["status_message"],
            "duration_ns": r["duration_ns"], "adjusted_count": r["adjusted_count"],
            "sampling_threshold": r["sampling_threshold"],
            "attributes": dict(r["span_attributes"]), "resource": dict(r["resource_attributes"]),
            "scope": [r["scope_name"], r["scope_version"]],
            "events": r["events"],
            "partition": [str(r["date"]), str(r["hour"]).zfill(2)],
            "start_ns": r["timestamp"],
        }
        for r in rows("traces", ["trace_id", "span_id", "parent_span_id", "span_name", "span_kind", "service_name",
                                 "status_code", "status_message", "duration_ns", "adjusted_count", "sampling_threshold",
                                 "span_attributes",
                                 "resource_attributes", "scope_name", "scope_version", "events", "date", "hour",
                                 "timestamp"])
    ]
    out["logs"] = [
        {"body": r["body"], "service": r["service_name"], "severity_text": r["severity_text"],
         "severity_number": r["severity_number"], "trace_id": r["trace_id"], "attributes": dict(r["log_attributes"])}
        for r in rows("logs", ["body", "service_name", "severity_text", "severity_number", "trace_id", "log_attributes"])
    ]
    out["metrics"] = [
        {"name": r["metric_name"], "type": r["metric_type"], "service": r["service_name"], "value": r["value"],
         "count": r["count"], "sum": r["sum"], "temporality": r["aggregation_temporality"],
         "attributes": dict(r["attributes"])}
        for r in rows("metrics", ["metric_name", "metric_type", "service_name", "value", "count", "sum",
                                  "aggregation_temporality", "attributes"])
    ]
    return out


def with_duckdb(root):
    import duckdb

    con = duckdb.connect()
    for signal in ("traces", "logs", "metrics"):
        if not empty(root, signal):
            pattern = os.path.join(root, signal, "**", "*.parquet")
            con.execute(f"CREATE VIEW {signal} AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)")

    def query(sql):
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    out = {}
    out["spans"] = [] if empty(root, "traces") else [
        dict(r, attributes=json.loads(r["attributes"]), resource=json.loads(r["resource"]),
             partition=[str(r.pop("date")), str(r.pop("hour")).zfill(2)])
        for r in query("""
            SELECT trace_id, span_id, parent_span_id, span_name AS name, span_kind AS kind, service_name AS service,
                   status_code, status_message, duration_ns, adjusted_count, sampling_threshold,
                   to_json(span_attributes)::VARCHAR AS attributes, to_json(resource_attributes)::VARCHAR AS resource,
                   [scope_name, scope_version] AS scope, [e.name FOR e IN events] AS events,
                   date, hour, epoch_ns(timestamp) AS start_ns
            FROM traces""")
    ]
    out["logs"] = [] if empty(root, "logs") else [
        dict(r, attributes=json.loads(r["attributes"]))
        for r in query("""
            SELECT body, service_name AS service, severity_text, severity_number, trace_id,
                   to_json(log_attributes)::VARCHAR AS attributes
            FROM logs""")
    ]
    out["metrics"] = [] if empty(root, "metrics") else [
        dict(r, attributes=json.loads(r["attributes"]))
        for r in query("""
            SELECT metric_name AS name, metric_type AS type, service_name AS service, value, count, sum,
                   aggregation_temporality AS temporality, to_json(attributes)::VARCHAR AS attributes
            FROM metrics""")
    ]
    # The README's example queries, so they are known to run.
    out["queries"] = {} if empty(root, "traces") else {
        "error_rate": query("""
            SELECT service_name, count(*) FILTER (WHERE status_code = 'Error') / count(*) AS error_rate
            FROM traces GROUP BY service_name ORDER BY service_name"""),
        "p99": query("""
            SELECT service_name, span_name, quantile_cont(duration_ns / 1e6, 0.99) AS p99_ms, count(*) AS spans
            FROM traces GROUP BY ALL ORDER BY p99_ms DESC"""),
        "requests": query("""
            SELECT service_name, sum(adjusted_count) AS estimated_requests, count(*) AS stored_spans
            FROM traces WHERE span_kind = 'Server' GROUP BY service_name ORDER BY service_name"""),
    }
    return out


def check(root):
    import pyarrow.parquet as pq

    files = sorted(glob.glob(os.path.join(root, "**", "*.parquet"), recursive=True))
    rows = sum(pq.read_table(f).num_rows for f in files)
    tmp = sorted(glob.glob(os.path.join(root, "**", ".*.tmp"), recursive=True))
    return {"files": len(files), "rows": rows, "tmp": len(tmp)}


def main():
    engine, root = sys.argv[1], sys.argv[2]
    out = {"pyarrow": with_pyarrow, "duckdb": with_duckdb, "check": check}[engine](root)
    json.dump(out, sys.stdout, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
