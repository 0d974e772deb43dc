#!/usr/bin/env python3
"""Side-by-side end-to-end benchmark: weir against a peer collector (rotel) on the same load,
in the same run, on this machine.

Scenarios (traces, OTLP/gRPC in, 512 spans per request, ~370-byte spans):
  discard   receive -> batch -> discard, load generator at full speed (saturation)
  forward   receive -> batch -> OTLP/gRPC export (gzip on both sides: rotel always gzips)
            to a sink (a weir with the nop exporter, not measured); spans count when the sink
            has them. weir's sending queue is set to 20 requests: with 8192-span batches the
            Collector-default 1000 would let the queue hold gigabytes while the sink lags.
weir runs with memory_limiter (512 MiB) in front of batch, as the Collector recommends.
  fixed50k  receive -> batch -> discard at a fixed 50k spans/s: CPU and peak RSS
  lbforward receive -> batch -> loadbalancing (routing_key traceID, 3 static backends, no
            compression: every batch is split by trace id into 3 parts and each part sent to its
            backend) to the sink, which listens on 0.0.0.0 and is reached as 127.0.0.2/3/4;
            rotel does its plain forward to the sink (it has no load balancer; always gzip)

For each run it reports the system-under-test's CPU-seconds (user+sys, from /proc) per million
spans delivered by the load generator, spans/s, and peak RSS. Prints a Markdown table of medians
over --runs runs.

usage: bench/compare.py [--runs 3] [--duration 15] [--peers-dir ~/.cache/weir-peers]
needs: cargo build --release -p weir -p weir-loadgen (done here), ../shared/infra/peers.sh
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open")


TAIL = """
  tail_sampling:
    decision_wait: 5s
    num_traces: 200000
    policies:
      - {{ name: errors, type: status_code, status_code: {{ status_codes: [ERROR] }} }}
      - {{ name: ten-percent, type: probabilistic, probabilistic: {{ sampling_percentage: 10 }} }}"""

# The default pipeline's policy: a budget of 10% of the adaptive100k load.
ADAPTIVE = """
  tail_sampling:
    decision_wait: 5s
    num_traces: 200000
    policies:
      - { name: budget, type: adaptive, adaptive: { target_spans_per_sec: 10000 } }"""

# Scenario → the tail_sampling section weir runs with (none: no tail_sampling).
TAIL_SECTIONS = {"tail100k": TAIL.format(), "tailsat": TAIL.format(), "adaptive100k": ADAPTIVE}


def weir_config(grpc_port, exporter_id, exporter, health, metrics, tail=None, bind="127.0.0.1"):
    processors = "memory_limiter, tail_sampling, batch" if tail else "memory_limiter, batch"
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "{bind}:{grpc_port}" }}
processors:
  memory_limiter: {{ check_interval: 100ms, limit_mib: 512 }}
  batch: {{ send_batch_size: 8192, timeout: 200ms }}{tail or ""}
exporters:
  {exporter_id}: {exporter}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{health}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{metrics}" }}, logs: {{ level: warn }} }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [{processors}], exporters: [{exporter_id}] }}
"""


class Proc:
    def __init__(self, args, env=None, log=None):
        self.log = open(log or os.devnull, "w")
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def start_weir(tmp, name, exporter_id, exporter, tail=None, bind="127.0.0.1"):
    port, health, metrics = free_port(), free_port(), free_port()
    path = os.path.join(tmp, f"{name}.yaml")
    with open(path, "w") as f:
        f.write(weir_config(port, exporter_id, exporter, health, metrics, tail, bind))
    p = Proc([os.path.join(ROOT, "target/release/weir"), "run", "--config", path], log=os.path.join(tmp, f"{name}.log"))
    wait_port(port)
    p.metrics_port = metrics
    return p, port


def sink_spans(metrics_port):
    """Spans the sink weir has received so far (its otelcol_receiver_accepted_spans_total)."""
    import urllib.request
    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    return sum(float(line.split()[-1]) for line in body.splitlines()
               if line.startswith("otelcol_receiver_accepted_spans_total"))


def start_rotel(tmp, name, peers, forward_port=None):
    port, http = free_port(), free_port()
    args = [os.path.join(peers, "rotel/rotel-agent"), "start", "--otlp-grpc-endpoint", f"127.0.0.1:{port}",
            "--otlp-http-endpoint", f"127.0.0.1:{http}", "--batch-max-size", "8192", "--batch-timeout", "200ms"]
    if forward_port:
        args += ["--exporter", "otlp", "--otlp-exporter-endpoint", f"http://127.0.0.1:{forward_port}"]
    else:
        args += ["--exporter", "blackhole"]
    p = Proc(args, log=os.path.join(tmp, f"{name}.log"))
    wait_port(port)
    return p, port


def metric_sum(metrics_port, name):
    import urllib.request
    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    return sum(float(line.split()[-1]) for line in body.splitlines() if line.startswith(name))


def decision_buckets(metrics_port):
    """(upper bound, cumulative count) of the decision-latency histogram."""
    import urllib.request
    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    out = []
    for line in body.splitlines():
        if line.startswith("otelcol_processor_tail_sampling_sampling_decision_latency_bucket"):
            le = line.split('le="')[1].split('"')[0]
            out.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    return sorted(out)


def decided_within(metrics_port, seconds):
    b = decision_buckets(metrics_port)
    total = b[-1][1] if b else 0
    within = max((c for le, c in b if le <= seconds), default=0)
    return within / total if total else float("nan")


def decision_p99(metrics_port):
    b = decision_buckets(metrics_port)
    total = b[-1][1] if b else 0
    return next((le for le, c in b if total and c >= 0.99 * total), None)


def measure(pid, port, rate, duration, sink_metrics=None, sut_metrics=None):
    """Runs the load against port and returns (cpu-s per million, spans/s, peak RSS MiB).

    With a sink, spans count when the sink has them, and the measurement waits until the
    system under test has forwarded everything it accepted (so queued work is not missed).
    """
    cpu0 = cpu_seconds(pid)
    sunk0 = sink_spans(sink_metrics) if sink_metrics else 0
    peak = [rss_bytes(pid)]
    t0 = time.time()
    lg = subprocess.Popen(
        [os.path.join(ROOT, "target/release/weir-loadgen"), "--endpoint", f"127.0.0.1:{port}", "--protocol", "grpc",
         "--signal", "traces", "--rate", str(rate), "--duration-s", str(duration), "--batch-size", "512",
         "--concurrency", "8", "--json", "--report-interval-s", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    per_span = []
    while lg.poll() is None:
        peak.append(rss_bytes(pid))
        if sut_metrics:
            spans = metric_sum(sut_metrics, "otelcol_processor_tail_sampling_buffered_spans")
            if spans > 0:
                per_span.append(metric_sum(sut_metrics, "otelcol_processor_tail_sampling_buffered_bytes") / spans)
        time.sleep(0.25)
    if per_span:
        print(f"  tail_sampling buffer: {statistics.median(per_span):.0f} bytes per buffered span (median)",
              file=sys.stderr)
    summary = json.loads(lg.stdout.read().strip().splitlines()[-1])
    if sink_metrics:
        last, stable_since = -1, time.time()
        while time.time() - stable_since < 1.5 and time.time() - t0 < duration + 120:
            peak.append(rss_bytes(pid))
            now = sink_spans(sink_metrics)
            if now != last:
                last, stable_since = now, time.time()
            time.sleep(0.25)
        items = max(last - sunk0, 1)
        elapsed = stable_since - t0
    elif sut_metrics:
        # Tail sampling holds spans for decision_wait: wait until everything is decided.
        end = time.time() + 30
        while time.time() < end and metric_sum(sut_metrics, "otelcol_processor_tail_sampling_buffered_spans") > 0:
            time.sleep(0.25)
        print(f"  tail_sampling decisions within decision_wait + 100 ms: {decided_within(sut_metrics, 5.1):.4%}; "
              f"p99 first span -> decision <= {decision_p99(sut_metrics)} s", file=sys.stderr)
        items = max(summary["items"], 1)
        elapsed = summary["elapsed_s"]
    else:
        time.sleep(0.5)  # let the last batch drain
        items = max(summary["items"], 1)
        elapsed = summary["elapsed_s"]
    cpu = cpu_seconds(pid) - cpu0
    return cpu / items * 1e6, items / elapsed, max(peak) / 2**20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--peers-dir", default=os.path.expanduser("~/.cache/weir-peers"))
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--scenarios", default="discard,forward,fixed50k",
                    help="comma-separated: discard, forward, fixed50k, lbforward, tail100k, adaptive100k, tailsat "
                         "(tail scenarios run weir with tail_sampling; rotel, which has none, "
                         "runs the same load into its blackhole for reference)")
    args = ap.parse_args()
    if not args.skip_build:
        subprocess.run(["cargo", "build", "--release", "-p", "weir", "-p", "weir-loadgen"], cwd=ROOT, check=True)
    subprocess.run([os.path.join(ROOT, "../shared/infra/peers.sh"), args.peers_dir], check=True,
                   stdout=subprocess.DEVNULL)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for system in ("weir", "rotel"):
                for scenario in args.scenarios.split(","):
                    sink = None
                    if scenario in ("forward", "lbforward"):
                        sink, sink_port = start_weir(tmp, "sink", "nop", "{}", bind="0.0.0.0")
                    if system == "weir":
                        if scenario == "lbforward":
                            backends = ", ".join(f"127.0.0.{i}:{sink_port}" for i in (2, 3, 4))
                            p, port = start_weir(tmp, f"sut-{scenario}", "loadbalancing",
                                                 f'{{ routing_key: traceID, resolver: {{ static: {{ hostnames: [{backends}] }} }}, '
                                                 f'protocol: {{ otlp: {{ compression: none, sending_queue: {{ queue_size: 20 }} }} }}, '
                                                 f'sending_queue: {{ queue_size: 20 }} }}')
                        elif scenario == "forward":
                            p, port = start_weir(tmp, f"sut-{scenario}", "otlp",
                                                 f'{{ endpoint: "127.0.0.1:{sink_port}", compression: gzip, '
                                                 f'sending_queue: {{ queue_size: 20 }} }}')
                        else:
                            p, port = start_weir(tmp, f"sut-{scenario}", "nop", "{}", tail=TAIL_SECTIONS.get(scenario))
                    else:
                        p, port = start_rotel(tmp, f"rotel-{scenario}", args.peers_dir,
                                              sink_port if sink else None)
                    time.sleep(1)
                    rate = {"fixed50k": 50_000, "tail100k": 100_000, "adaptive100k": 100_000}.get(scenario, 0)
                    try:
                        tail = system == "weir" and scenario in TAIL_SECTIONS
                        r = measure(p.p.pid, port, rate, args.duration, sink.metrics_port if sink else None,
                                    p.metrics_port if tail else None)
                    finally:
                        p.stop()
                        if sink:
                            sink.stop()
                    results.setdefault((scenario, system), []).append(r)
                    print(f"run {run + 1} {scenario:9} {system:6} cpu-s/M={r[0]:.2f} spans/s={r[1]:.0f} "
                          f"peak-rss={r[2]:.1f}MiB", file=sys.stderr, flush=True)
    print("| scenario | system | CPU-s per million spans (median) | spans/s (median) | peak RSS MiB (median) | runs |")
    print("|---|---|---|---|---|---|")
    for (scenario, system), rs in sorted(results.items()):
        med = [statistics.median(x[i] for x in rs) for i in range(3)]
        print(f"| {scenario} | {system} | {med[0]:.2f} | {med[1]:.0f} | {med[2]:.1f} | {len(rs)} |")
    for scenario in args.scenarios.split(","):
        w, r = results.get((scenario, "weir")), results.get((scenario, "rotel"))
        if w and r:
            ratio = statistics.median(x[0] for x in w) / statistics.median(x[0] for x in r)
            print(f"\n{scenario}: weir uses {ratio:.2f}x rotel's CPU per span")


if __name__ == "__main__":
    main()
