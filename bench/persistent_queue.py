#!/usr/bin/env python3
"""Cost of the persistent sending queue against the in-memory queue, on the same load.

    weir-loadgen --(OTLP/gRPC)--> weir under test (memory_limiter, batch, otlp exporter)
                 --(OTLP/gRPC)--> sink weir (nop exporter, not measured)

Modes of the exporter's sending_queue (sizer: bytes, queue_size: 256 MiB in every mode):
  memory       the in-memory queue
  disk         storage: file_storage (fsync: false): written to the page cache before the ack
  disk+fsync   storage: file_storage with fsync: true: group-committed fsync before the ack

Scenarios: fixed   100k spans/s for --duration s: CPU-seconds of the weir under test per
                   million spans the sink received; MB/s passed to write(2) (/proc/PID/io
                   wchar, sockets included: the difference to `memory` is the queue's writes)
                   and MB/s that reached storage (write_bytes: without fsync, records acked
                   and deleted before the kernel's writeback never reach the disk)
           max     the load generator at full speed: spans/s the sink received

Prints a Markdown table of medians over --runs runs.
usage: bench/persistent_queue.py [--runs 3] [--duration 10]
needs: cargo build --release -p weir -p weir-loadgen (done here)
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, Proc, free_port, measure, start_weir, wait_port  # noqa: E402

MODES = {
    "memory": ("", ""),
    "disk": (", storage: file_storage", "file_storage: { directory: \"QUEUE\", fsync: false }"),
    "disk+fsync": (", storage: file_storage", "file_storage: { directory: \"QUEUE\", fsync: true }"),
}


def sut_config(grpc, sink, health, metrics, storage_key, storage_ext):
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}" }}
processors:
  memory_limiter: {{ check_interval: 100ms, limit_mib: 512 }}
  batch: {{ send_batch_size: 8192, timeout: 200ms }}
exporters:
  otlp:
    endpoint: "127.0.0.1:{sink}"
    compression: none
    sending_queue: {{ sizer: bytes, queue_size: 268435456{storage_key} }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{health}" }}
  {storage_ext or "# no storage"}
service:
  extensions: [health_check{", file_storage" if storage_ext else ""}]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{metrics}" }}, logs: {{ level: warn }} }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter, batch], exporters: [otlp] }}
"""


def io_bytes(pid, field):
    """A /proc/PID/io counter: write_bytes (storage I/O) or wchar (bytes passed to write(2),
    sockets included: the difference between modes is what the queue wrote)."""
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def run(tmp, mode, rate, duration):
    sink, sink_port = start_weir(tmp, f"sink-{mode}", "nop", "{}")
    queue = tempfile.mkdtemp(dir=tmp)
    key, ext = MODES[mode]
    grpc, health, metrics = free_port(), free_port(), free_port()
    path = os.path.join(tmp, "sut.yaml")
    with open(path, "w") as f:
        f.write(sut_config(grpc, sink_port, health, metrics, key, ext.replace("QUEUE", queue)))
    sut = Proc([os.path.join(ROOT, "target/release/weir"), "run", "--config", path], log=os.path.join(tmp, "sut.log"))
    try:
        wait_port(grpc)
        w0, c0 = io_bytes(sut.p.pid, "write_bytes"), io_bytes(sut.p.pid, "wchar")
        cpu_per_m, spans_per_s, rss = measure(sut.p.pid, grpc, rate, duration, sink_metrics=sink.metrics_port)
        storage = (io_bytes(sut.p.pid, "write_bytes") - w0) / 2**20 / duration
        written = (io_bytes(sut.p.pid, "wchar") - c0) / 2**20 / duration
        return cpu_per_m, spans_per_s, rss, storage, written
    finally:
        sut.stop()
        sink.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "weir", "-p", "weir-loadgen"], cwd=ROOT, check=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in MODES:
            fixed = [run(tmp, mode, 100_000, args.duration) for _ in range(args.runs)]
            peak = [run(tmp, mode, 0, args.duration) for _ in range(args.runs)]
            med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
            row = (mode, med(fixed, 0), med(fixed, 4), med(fixed, 3), med(fixed, 2), med(peak, 1), med(peak, 0))
            print(f"{mode}: fixed runs {fixed}; max runs {peak}", file=sys.stderr)
            rows.append(row)
    print("| queue | CPU-s / M spans at 100k/s | write(2) MB/s at 100k/s | storage I/O MB/s at 100k/s "
          "| peak RSS MiB at 100k/s | max spans/s | CPU-s / M spans at max |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.2f} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.0f} | {r[5]:,.0f} | {r[6]:.2f} |")


if __name__ == "__main__":
    main()
