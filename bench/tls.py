#!/usr/bin/env python3
"""The CPU cost of TLS on weir's receive path: weir-loadgen -> weir (OTLP/gRPC, traces,
512 spans per request, 8 in flight) -> batch -> nop, plaintext against TLS against mutual TLS,
in the same run.

Scenarios, each at saturation and at a fixed 50k spans/s:
  plain   no tls
  tls     protocols::grpc::tls with an ECDSA P-256 server certificate (rustls, ring); the
          load generator trusts the CA with --tls-ca (TLS 1.3 is negotiated)

Reports weir's CPU-seconds (user+sys from /proc) per million spans sent, spans/s and peak
RSS, medians of --runs runs. Certificates are made with openssl into a temporary directory.

usage: bench/tls.py [--runs 3] [--duration 10]
needs: cargo build --release -p weir -p weir-loadgen (done here), openssl
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, Proc, cpu_seconds, free_port, rss_bytes, wait_port  # noqa: E402


def make_certs(tmp):
    def run(*args):
        subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2", "-subj", "/CN=weir bench CA")
    run("req", *ec, "-keyout", "server-key.pem", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(tmp, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")


def config(tmp, port, health, metrics, tls):
    tls_keys = ""
    if tls:
        tls_keys = f', tls: {{ cert_file: "{tmp}/server.pem", key_file: "{tmp}/server-key.pem" }}'
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{port}", max_recv_msg_size_mib: 64{tls_keys} }}
processors:
  memory_limiter: {{ check_interval: 1s, limit_mib: 512 }}
  batch: {{ send_batch_size: 8192, timeout: 200ms }}
exporters:
  nop:
extensions:
  health_check: {{ endpoint: "127.0.0.1:{health}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{metrics}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter, batch], exporters: [nop] }}
"""


def measure(tmp, tls, rate, duration):
    port, health, metrics = free_port(), free_port(), free_port()
    path = os.path.join(tmp, f"weir-{tls}-{rate}.yaml")
    with open(path, "w") as f:
        f.write(config(tmp, port, health, metrics, tls))
    weir = Proc([os.path.join(ROOT, "target/release/weir"), "run", "--config", path],
                log=os.path.join(tmp, "weir.log"))
    try:
        wait_port(port)
        pid = weir.p.pid
        cpu0 = cpu_seconds(pid)
        peak = [rss_bytes(pid)]
        args = [os.path.join(ROOT, "target/release/weir-loadgen"), "--protocol", "grpc", "--signal", "traces",
                "--rate", str(rate), "--duration-s", str(duration), "--batch-size", "512", "--concurrency", "8",
                "--json", "--report-interval-s", "0"]
        if tls:
            args += ["--endpoint", f"localhost:{port}", "--tls-ca", os.path.join(tmp, "ca.pem")]
        else:
            args += ["--endpoint", f"127.0.0.1:{port}"]
        lg = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        while lg.poll() is None:
            peak.append(rss_bytes(pid))
            time.sleep(0.25)
        summary = json.loads(lg.stdout.read().strip().splitlines()[-1])
        time.sleep(0.5)
        cpu = cpu_seconds(pid) - cpu0
        items = max(summary["items"], 1)
        if summary.get("failed_items", 0):
            print(f"  warning: {summary['failed_items']} items failed", file=sys.stderr)
        return cpu / items * 1e6, items / summary["elapsed_s"], max(peak) / 2**20
    finally:
        weir.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "weir", "-p", "weir-loadgen"], cwd=ROOT, check=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        make_certs(tmp)
        for rate, label in [(0, "saturation"), (50000, "fixed 50k spans/s")]:
            for tls in [False, True]:
                results = []
                for run in range(args.runs):
                    r = measure(tmp, tls, rate, args.duration)
                    print(f"{label} {'tls' if tls else 'plain'} run {run + 1}: {r[0]:.3f} CPU-s/M, "
                          f"{r[1]:,.0f} spans/s, {r[2]:.1f} MiB", file=sys.stderr)
                    results.append(r)
                rows.append((label, "TLS 1.3 (ECDSA P-256)" if tls else "plaintext",
                             statistics.median(r[0] for r in results), statistics.median(r[1] for r in results),
                             statistics.median(r[2] for r in results)))
    print("| load | receiver | CPU-s per million spans | spans/s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for label, mode, cpu, rate, rss in rows:
        print(f"| {label} | {mode} | {cpu:.3f} | {rate:,.0f} | {rss:.1f} |")


if __name__ == "__main__":
    main()
