"""Sends spans to weir's `zipkin` receiver with the OpenTelemetry Zipkin exporters (1.21.0,
v2 JSON or v2 protobuf over HTTP), and prints what was sent as JSON, with times as the exporter
puts them on the wire (microseconds).

Usage: send_zipkin.py --protocol {json,proto} --port N

Runs in tests/clients/.venv-protobuf3 (requirements-protobuf3.txt).
"""

import argparse
import json
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

finished = []


class Recorder(SpanProcessor):
    """Keeps every ended span, as the exporter was given it."""

    def on_end(self, span):
        finished.append(span)


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
    resource = Resource.create({"service.name": service, "deployment.environment": "test", "host.name": "box-1"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(Recorder())
    provider.add_span_processor(
        SimpleSpanProcessor(ZipkinExporter(endpoint=f"http://127.0.0.1:{args.port}/api/v2/spans"))
    )
    tracer = provider.get_tracer("weir.e2e", "1.2.3")
    with tracer.start_as_current_span("checkout", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.method", "POST")
        root.set_attribute("http.status_code", 200)
        root.set_attribute("retry", False)
        root.set_attribute("ratio", 0.25)
        root.set_attribute("tags", ("a", "b"))
        root.add_event("cart.loaded", {"items": 3, "note": "ok"})
        root.set_status(Status(StatusCode.OK))
        with tracer.start_as_current_span("charge", kind=SpanKind.CLIENT) as child:
            child.set_attribute("peer.service", "payments")
            child.set_status(Status(StatusCode.ERROR, "card declined"))
        with tracer.start_as_current_span("enqueue", kind=SpanKind.PRODUCER):
            pass
        with tracer.start_as_current_span("consume", kind=SpanKind.CONSUMER):
            pass
        with tracer.start_as_current_span("compute"):
            pass
    provider.shutdown()

    sent = []
    for s in finished:
        ctx = s.get_span_context()
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
                "trace_id": f"{ctx.trace_id:032x}",
                "span_id": f"{ctx.span_id:016x}",
                "parent_span_id": f"{s.parent.span_id:016x}" if s.parent else "",
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
