#!/usr/bin/env python3
"""End-to-end benchmark of the clickhouse exporter: weir-loadgen -> weir -> ClickHouse.

The server is the ClickHouse 26.x engine (chDB) behind tests/clients/clickhouse_chdb_http.py,
a single-threaded Python front: it is the bottleneck, so this measures weir's own cost, not
ClickHouse's speed. Per run: a fresh shim (temporary data dir, free port) and a fresh weir
(release build; otlp/gRPC -> batch 8192/200ms -> clickhouse, create_schema, compression none,
async_insert); weir-loadgen sends --spans spans (512 per request, ~370-byte spans) as fast as
weir accepts them; the run ends when count() of otel_traces reaches --spans.

Reports per run and as medians: rows/s (spans in ClickHouse / wall time from the first request
to the last row), weir's CPU-seconds (user+sys from /proc) per million spans written, the
shim's CPU-seconds per million (for scale), and weir's peak RSS.

With --rotel it runs rotel's clickhouse exporter on the same load against the same kind of shim
(rotel from ../shared/infra/peers.sh).

usage: bench/clickhouse.py [--runs 3] [--spans 300000] [--rotel]
needs: cargo build --release -p weir -p weir-loadgen; python3 -m pip install chdb-core
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, cpu_seconds, free_port, rss_bytes, wait_port  # noqa: E402

SHIM = os.path.join(ROOT, "tests", "clients", "clickhouse_chdb_http.py")
WEIR = os.path.join(ROOT, "target", "release", "weir")
LOADGEN = os.path.join(ROOT, "target", "release", "weir-loadgen")


def ch_query(port, sql):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=sql.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read().decode().strip()


def count_rows(port, table):
    try:
        return int(ch_query(port, f"SELECT count() FROM {table}"))
    except Exception:
        return -1


def start_shim(tmp):
    port = free_port()
    log = open(os.path.join(tmp, "shim.log"), "w")
    p = subprocess.Popen([sys.executable, SHIM, str(port), os.path.join(tmp, "chdb")], stdout=log, stderr=log)
    end = time.time() + 60
    while time.time() < end:
        try:
            if ch_query(port, "SELECT 1") == "1":
                return p, port
        except Exception:
            time.sleep(0.2)
    raise SystemExit("the chDB shim did not start (pip install chdb-core?)")


def start_weir(tmp, ch_port):
    grpc, health, metrics = free_port(), free_port(), free_port()
    config = f"""
receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:{grpc}" }} }} }}
processors:
  batch: {{ send_batch_size: 8192, timeout: 200ms }}
exporters:
  clickhouse:
    endpoint: http://127.0.0.1:{ch_port}
    database: bench
    compression: none
    # The shim runs one query at a time: with 10 concurrent inserts queued behind each other,
    # the default 5s would expire on inserts that still succeed, and their retries would be
    # written twice (at-least-once). A real server runs the inserts concurrently.
    timeout: 60s
    sending_queue: {{ queue_size: 20 }}
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{health}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{metrics}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [batch], exporters: [clickhouse] }}
"""
    path = os.path.join(tmp, "weir.yaml")
    with open(path, "w") as f:
        f.write(config)
    log = open(os.path.join(tmp, "weir.log"), "w")
    p = subprocess.Popen([WEIR, "run", "--config", path], stdout=log, stderr=log)
    wait_port(grpc)
    return p, grpc, "bench.otel_traces"


def start_rotel(tmp, ch_port, peers_dir):
    grpc, http = free_port(), free_port()
    rotel = os.path.join(peers_dir, "rotel", "rotel-agent")
    args = [rotel, "start", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc}", "--otlp-http-endpoint",
            f"127.0.0.1:{http}", "--exporter", "clickhouse", "--clickhouse-exporter-endpoint",
            f"http://127.0.0.1:{ch_port}", "--clickhouse-exporter-database", "bench",
            "--clickhouse-exporter-compression", "none"]
    log = open(os.path.join(tmp, "rotel.log"), "w")
    p = subprocess.Popen(args, stdout=log, stderr=log)
    wait_port(grpc)
    return p, grpc, "bench.otel_traces"


def run_once(system, spans, peers_dir):
    with tempfile.TemporaryDirectory() as tmp:
        shim, ch_port = start_shim(tmp)
        sut = None
        try:
            if system == "weir":
                sut, grpc, table = start_weir(tmp, ch_port)
            else:
                # rotel does not create tables: let a weir create them (one request), then empty them.
                w, wgrpc, table = start_weir(tmp, ch_port)
                subprocess.run([LOADGEN, "--endpoint", f"127.0.0.1:{wgrpc}", "--total", "512",
                                "--report-interval-s", "0"], capture_output=True, timeout=120)
                end = time.time() + 60
                while count_rows(ch_port, table) < 512 and time.time() < end:
                    time.sleep(0.2)
                w.terminate()
                w.wait()
                ch_query(ch_port, f"TRUNCATE TABLE {table}")
                sut, grpc, table = start_rotel(tmp, ch_port, peers_dir)
            time.sleep(0.5)
            cpu0, shim_cpu0, t0 = cpu_seconds(sut.pid), cpu_seconds(shim.pid), time.time()
            gen = subprocess.run(
                [LOADGEN, "--endpoint", f"127.0.0.1:{grpc}", "--protocol", "grpc", "--total", str(spans),
                 "--batch-size", "512", "--concurrency", "4", "--report-interval-s", "0", "--json",
                 "--max-retries", "1000"],
                capture_output=True, text=True, timeout=900)
            sent = json.loads(gen.stdout.strip().splitlines()[-1]) if gen.stdout.strip() else {}
            peak = 0
            deadline = time.time() + 600
            rows = 0
            while time.time() < deadline:
                peak = max(peak, rss_bytes(sut.pid))
                rows = count_rows(ch_port, table)
                if rows >= spans:
                    break
                time.sleep(0.2)
            t1 = time.time()
            time.sleep(1)
            rows = count_rows(ch_port, table)
            cpu = cpu_seconds(sut.pid) - cpu0
            shim_cpu = cpu_seconds(shim.pid) - shim_cpu0
            return {
                "system": system,
                "rows": rows,
                # loadgen reuses a pool of requests, so span ids repeat: rows beyond those sent are
                # rows written twice.
                "duplicates": rows - spans,
                "sent": sent.get("sent_items", sent.get("items", None)),
                "rows_per_s": rows / (t1 - t0),
                "cpu_s_per_million": cpu / max(rows, 1) * 1e6,
                "shim_cpu_s_per_million": shim_cpu / max(rows, 1) * 1e6,
                "peak_rss_mib": peak / 2**20,
            }
        finally:
            if sut:
                sut.terminate()
                sut.wait()
            shim.kill()
            shim.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--spans", type=int, default=300_000)
    ap.add_argument("--rotel", action="store_true")
    ap.add_argument("--peers-dir", default=os.path.expanduser("~/.cache/weir-peers"))
    a = ap.parse_args()
    systems = ["weir"] + (["rotel"] if a.rotel else [])
    results = {s: [] for s in systems}
    for i in range(a.runs):
        for s in systems:
            r = run_once(s, a.spans, a.peers_dir)
            print(json.dumps(r), flush=True)
            results[s].append(r)
    print("\n| system | rows in ClickHouse | duplicates | rows/s | CPU-s per million spans (system under test) | shim CPU-s per million | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for s, rs in results.items():
        med = lambda k: statistics.median(r[k] for r in rs)  # noqa: E731
        print(f"| {s} | {int(med('rows'))} | {int(med('duplicates'))} | {med('rows_per_s'):,.0f} | {med('cpu_s_per_million'):.2f} | "
              f"{med('shim_cpu_s_per_million'):.1f} | {med('peak_rss_mib'):.1f} |")


if __name__ == "__main__":
    main()
