#!/usr/bin/env python3
"""Throughput and CPU of the kafka exporter and receiver, bytes forwarded untouched vs rewritten.

    export:  weir-loadgen --(OTLP/gRPC, 512 spans/request)--> weir A (otlp → kafka exporter) --> tansu
    receive: tansu --> weir B (kafka receiver, group from earliest → nop exporter)

Modes of weir A's kafka exporter (each on its own topic, 4 partitions):
  untouched    otlp_proto, no partitioning: every message is a received request, byte for byte
  by_trace_id  otlp_proto, partition_traces_by_id: one message per trace, spans copied by range
  json         otlp_json: every request re-encoded as OTLP/JSON (prost decode + serde)

Per mode and run: --total spans sent as fast as the load generator goes; export = from the first
request until weir A's otelcol_exporter_sent_spans has them all (every message acknowledged by the
broker); receive = from weir B's first accepted span (after joining the group) until its
otelcol_receiver_accepted_spans has them all.
CPU-seconds are weir's own (/proc/PID/stat), not the broker's or the load generator's; all three
share the machine's cores. A fresh in-memory tansu per run. Prints a Markdown table of medians.
usage: bench/kafka.py [--runs 3] [--total 500000] [--no-build]
needs: cargo build --release -p weir -p weir-loadgen (done here); tansu (cargo install tansu --locked --features dynostore)
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, Proc, cpu_seconds, free_port, metric_sum, wait_port  # noqa: E402

MODES = {
    "untouched": "",
    "by_trace_id": ", partition_traces_by_id: true",
    "json": ", encoding: otlp_json",
}
ENCODING = {"untouched": "otlp_proto", "by_trace_id": "otlp_proto", "json": "otlp_json"}


def tansu_binary():
    found = shutil.which("tansu") or os.path.expanduser("~/.cargo/bin/tansu")
    if not os.path.exists(found):
        sys.exit("tansu not found: cargo install tansu --locked --features dynostore")
    return found


def start_tansu(tmp):
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "OTEL_EXPORTER_OTLP_ENDPOINT"}
    p = Proc([tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
              "--storage-engine", "memory://tansu/", "--silent"], env=env, log=os.path.join(tmp, "tansu.log"))
    wait_port(port)
    return p, f"127.0.0.1:{port}"


def start(tmp, name, receivers, exporters, pipeline):
    health, metrics = free_port(), free_port()
    path = os.path.join(tmp, f"{name}.yaml")
    with open(path, "w") as f:
        f.write(f"""
receivers:
{receivers}
exporters:
{exporters}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{health}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{metrics}" }}, logs: {{ level: warn }} }}
  pipelines:
    traces: {pipeline}
""")
    p = Proc([os.path.join(ROOT, "target/release/weir"), "run", "--config", path], log=os.path.join(tmp, f"{name}.log"))
    wait_port(health)
    p.metrics_port = metrics
    return p


def bytes_forwarded(proc, payload):
    """otelcol_kafka_exporter_bytes with payload="untouched" or "rewritten"."""
    import urllib.request
    body = urllib.request.urlopen(f"http://127.0.0.1:{proc.metrics_port}/metrics", timeout=5).read().decode()
    return sum(float(line.split()[-1]) for line in body.splitlines()
               if line.startswith("otelcol_kafka_exporter_bytes") and f'payload="{payload}"' in line)


def wait_metric(proc, name, target, timeout=300):
    end = time.time() + timeout
    while time.time() < end:
        if metric_sum(proc.metrics_port, name) >= target:
            return time.time()
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not reach {target}")


def create_topic(brokers, topic):
    # tansu does not create topics on first use (the exporter would retry until it exists).
    subprocess.run([tansu_binary(), "topic", "create", topic, "--partitions", "4", "--broker", f"tcp://{brokers}"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_mode(tmp, brokers, mode, total):
    topic = f"bench_{mode}"
    create_topic(brokers, topic)
    grpc = free_port()
    a = start(tmp, f"export-{mode}", f'  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:{grpc}" }} }} }}',
              f"  kafka: {{ brokers: [{brokers}], traces: {{ topic: {topic} }}{MODES[mode]} }}",
              "{ receivers: [otlp], exporters: [kafka] }")
    try:
        cpu0, t0 = cpu_seconds(a.p.pid), time.time()
        lg = subprocess.run(
            [os.path.join(ROOT, "target/release/weir-loadgen"), "--endpoint", f"127.0.0.1:{grpc}", "--protocol", "grpc",
             "--signal", "traces", "--rate", "0", "--total", str(total), "--batch-size", "512", "--concurrency", "8",
             "--json", "--report-interval-s", "0"], capture_output=True, text=True, check=True)
        json.loads(lg.stdout.strip().splitlines()[-1])  # the load generator finished cleanly
        accepted = metric_sum(a.metrics_port, "otelcol_receiver_accepted_spans")
        t1 = wait_metric(a, "otelcol_exporter_sent_spans", accepted)
        export_cpu = cpu_seconds(a.p.pid) - cpu0
        untouched = bytes_forwarded(a, "untouched")
        rewritten = bytes_forwarded(a, "rewritten")
        messages = metric_sum(a.metrics_port, "otelcol_kafka_exporter_messages")
    finally:
        a.stop()
    b = start(tmp, f"receive-{mode}",
              f"  kafka: {{ brokers: [{brokers}], traces: {{ topic: {topic}, encoding: {ENCODING[mode]} }}, "
              f"group_id: bench-{mode}, initial_offset: earliest }}",
              "  nop: {}", "{ receivers: [kafka], exporters: [nop] }")
    try:
        # From the first span taken (after the group join and assignment) to the last.
        t2 = wait_metric(b, "otelcol_receiver_accepted_spans", 1)
        cpu2 = cpu_seconds(b.p.pid)
        t3 = wait_metric(b, "otelcol_receiver_accepted_spans", accepted)
        receive_cpu = cpu_seconds(b.p.pid) - cpu2
    finally:
        b.stop()
    m = accepted / 1e6
    return {
        "export_spans_s": accepted / (t1 - t0), "export_cpu_per_m": export_cpu / m,
        "receive_spans_s": accepted / (t3 - t2), "receive_cpu_per_m": receive_cpu / m,
        "messages": messages, "untouched_mb": untouched / 1e6, "rewritten_mb": rewritten / 1e6,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--total", type=int, default=500_000)
    ap.add_argument("--no-build", action="store_true", help="use the release binaries already in target/")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "weir", "-p", "weir-loadgen"], cwd=ROOT, check=True)
    results = {mode: [] for mode in MODES}
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            tansu, brokers = start_tansu(tmp)
            try:
                for mode in MODES:
                    r = run_mode(tmp, brokers, mode, args.total)
                    print(f"run {run + 1} {mode}: {r}", file=sys.stderr)
                    results[mode].append(r)
            finally:
                tansu.stop()
    med = lambda mode, k: statistics.median(r[k] for r in results[mode])  # noqa: E731
    print(f"| mode | export spans/s | export CPU-s per M spans | receive spans/s | receive CPU-s per M spans "
          f"| messages | MB untouched | MB rewritten |")
    print("|---|---|---|---|---|---|---|---|")
    for mode in MODES:
        print(f"| {mode} | {med(mode, 'export_spans_s'):,.0f} | {med(mode, 'export_cpu_per_m'):.2f} "
              f"| {med(mode, 'receive_spans_s'):,.0f} | {med(mode, 'receive_cpu_per_m'):.2f} "
              f"| {med(mode, 'messages'):,.0f} | {med(mode, 'untouched_mb'):.1f} | {med(mode, 'rewritten_mb'):.1f} |")


if __name__ == "__main__":
    main()
