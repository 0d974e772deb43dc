"""Sends cumulative metrics with the OpenTelemetry Python SDK (OTLP/gRPC, the SDK's default
cumulative temporality): a counter with two attribute sets and a histogram, exported once per
round, then prints what it added in each round as one JSON object on stdout.

usage: send_cumulative.py --endpoint http://127.0.0.1:4317 [--rounds N]
"""
import argparse
import json

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()

    exporter = OTLPMetricExporter(endpoint=args.endpoint, insecure=True)
    # A long interval: the script exports each round itself with force_flush.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create({"service.name": "cumulative-client"}), metric_readers=[reader])
    meter = provider.get_meter("weir.e2e")
    counter = meter.create_counter("chat.messages", unit="1")
    histogram = meter.create_histogram("chat.latency", unit="ms")

    rounds = []
    for r in range(args.rounds):
        added = {"room-a": 0, "room-b": 0, "latency_count": 0, "latency_sum": 0.0}
        for i in range(3 + r):
            counter.add(i + 1, {"room": "room-a"})
            added["room-a"] += i + 1
        counter.add(10 * (r + 1), {"room": "room-b"})
        added["room-b"] += 10 * (r + 1)
        for v in [5.0 * (r + 1), 120.0, 7.5]:
            histogram.record(v)
            added["latency_count"] += 1
            added["latency_sum"] += v
        if not provider.force_flush(timeout_millis=10_000):
            raise SystemExit("force_flush failed")
        rounds.append(added)
    provider.shutdown()
    print(json.dumps({"rounds": rounds}))


if __name__ == "__main__":
    main()
