"""Sends spans to weir's `zipkin` receiver with the OpenTelemetry Zipkin exporters (1.21.0,
v2 JSON or v2 protobuf over HTTP), and prints what was sent as JSON, with times as the exporter
puts them on the wire (microseconds).

Usage: send_zipkin.py --protocol {json,proto} --port N

Runs in tests/clients/.venv-protobuf3 (requirements-protobuf3.txt).
"""

import argparse
import json
import sys

import sample_trace


def usec(ns):
    return (ns + 500) // 1000


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--protocol", required=True)
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    if args.protocol == "proto":
        from opentelemetry.exporter.zipkin.proto.http import ZipkinExporter
    else:
        from opentelemetry.exporter.zipkin.json import ZipkinExporter
    service = f"zipkin-{args.protocol}"
    exporter = ZipkinExporter(endpoint=f"http://127.0.0.1:{args.port}/api/v2/spans")
    finished = sample_trace.send(service, exporter, link=False)

    sent = []
    for s in finished:
        start = usec(s.start_time)
        attributes = {}
        for k, v in s.attributes.items():
            if isinstance(v, bool):
                attributes[k] = str(v).lower()
            elif isinstance(v, tuple):
                attributes[k] = json.dumps([str(x) for x in v], separators=(",", ":"))
            else:
                attributes[k] = str(v)
        sent.append(
            {
                **sample_trace.ids(s),
                "name": s.name,
                "kind": s.kind.name.lower(),
                "start": start * 1000,
                "end": (start + usec(s.end_time - s.start_time)) * 1000,
                "attributes": attributes,
                "resource": dict(s.resource.attributes),
                "scope": [s.instrumentation_scope.name, s.instrumentation_scope.version],
                "status": [s.status.status_code.name, s.status.description],
                "events": [
                    {"value": json.dumps({e.name: dict(e.attributes)}, sort_keys=True), "time": usec(e.timestamp) * 1000}
                    for e in s.events
                ],
            }
        )
    json.dump({"service": service, "spans": sent}, sys.stdout)


if __name__ == "__main__":
    main()
