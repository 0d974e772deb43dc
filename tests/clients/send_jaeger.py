"""Sends spans to weir's `jaeger` receiver with the OpenTelemetry Jaeger exporters (1.21.0), and
prints what was sent as JSON, with times as the exporter puts them on the wire.

Usage: send_jaeger.py --protocol {thrift_compact,thrift_binary,thrift_http,grpc} --port N

- thrift_compact: the exporter's agent client (thrift compact over UDP, `emitBatch`);
- thrift_binary: the same agent client with the generated `Agent.Client` on the thrift binary
  protocol (the exporter itself only speaks compact to agents);
- thrift_http: the exporter's collector client (thrift binary, POST /api/traces);
- grpc: the protobuf exporter (api_v2 `CollectorService/PostSpans`).

Runs in tests/clients/.venv-protobuf3 (requirements-protobuf3.txt).
"""

import argparse
import json
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags


finished = []


class Recorder(SpanProcessor):
    """Keeps every ended span, as the exporter was given it."""

    def on_end(self, span):
        finished.append(span)


def wire_times(protocol, start, end):
    """(start, end) in ns as the Collector reads them from what the exporter sent."""
    if protocol == "grpc":
        from opentelemetry.exporter.jaeger.proto.grpc.translate import (
            _duration_from_two_time_stamps,
            _proto_timestamp_from_epoch_nanos,
        )

        s = _proto_timestamp_from_epoch_nanos(start)
        e = _proto_timestamp_from_epoch_nanos(end)
        d = _duration_from_two_time_stamps(s, e)
        s_ns = s.seconds * 10**9 + s.nanos
        return s_ns, s_ns + d.seconds * 10**9 + d.nanos
    from opentelemetry.exporter.jaeger.thrift.translate import _nsec_to_usec_round

    s_us = _nsec_to_usec_round(start)
    d_us = _nsec_to_usec_round(end - start)
    return s_us * 1000, (s_us + d_us) * 1000


def event_time(protocol, t):
    if protocol == "grpc":
        from opentelemetry.exporter.jaeger.proto.grpc.translate import _proto_timestamp_from_epoch_nanos

        ts = _proto_timestamp_from_epoch_nanos(t)
        return ts.seconds * 10**9 + ts.nanos
    from opentelemetry.exporter.jaeger.thrift.translate import _nsec_to_usec_round

    return _nsec_to_usec_round(t) * 1000


def exporter(protocol, port):
    if protocol == "grpc":
        from opentelemetry.exporter.jaeger.proto.grpc import JaegerExporter

        return JaegerExporter(collector_endpoint=f"127.0.0.1:{port}", insecure=True)
    from opentelemetry.exporter.jaeger.thrift import JaegerExporter

    if protocol == "thrift_http":
        return JaegerExporter(collector_endpoint=f"http://127.0.0.1:{port}/api/traces")
    e = JaegerExporter(agent_host_name="127.0.0.1", agent_port=port)
    if protocol == "thrift_binary":
        from opentelemetry.exporter.jaeger.thrift.gen.agent import Agent
        from thrift.protocol import TBinaryProtocol

        client = e._agent_client  # pylint: disable=protected-access
        client.client = Agent.Client(iprot=TBinaryProtocol.TBinaryProtocol(trans=client.buffer))
    return e


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--protocol", required=True)
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    service = f"jaeger-{args.protocol}"
    resource = Resource.create({"service.name": service, "deployment.environment": "test", "host.name": "box-1"})
    provider = TracerProvider(resource=resource)
    trace.set_tracer_provider(provider)
    provider.add_span_processor(Recorder())
    provider.add_span_processor(SimpleSpanProcessor(exporter(args.protocol, args.port)))
    tracer = provider.get_tracer("weir.e2e", "1.2.3")

    other = SpanContext(
        trace_id=0x0102030405060708090A0B0C0D0E0F10, span_id=0x1112131415161718, is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with tracer.start_as_current_span("checkout", kind=SpanKind.SERVER, links=[Link(other)]) as root:
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
    # The spans as the SDK made them, read back from the exporter's input.
    for s in finished:
        ctx = s.get_span_context()
        start, end = wire_times(args.protocol, s.start_time, s.end_time)
        sent.append(
            {
                "trace_id": f"{ctx.trace_id:032x}",
                "span_id": f"{ctx.span_id:016x}",
                "parent_span_id": f"{s.parent.span_id:016x}" if s.parent else "",
                "name": s.name,
                "kind": s.kind.name.lower(),
                "start": start,
                "end": end,
                "flags": int(ctx.trace_flags),
                "attributes": {k: (str(v) if isinstance(v, tuple) else v) for k, v in s.attributes.items()},
                "resource": dict(s.resource.attributes),
                "scope": [s.instrumentation_scope.name, s.instrumentation_scope.version],
                "status": [s.status.status_code.name, s.status.description],
                "events": [
                    {"name": e.name, "time": event_time(args.protocol, e.timestamp), "attributes": dict(e.attributes)}
                    for e in s.events
                ],
                "links": [{"trace_id": f"{l.context.trace_id:032x}", "span_id": f"{l.context.span_id:016x}"} for l in s.links],
            }
        )
    json.dump({"service": service, "spans": sent}, sys.stdout)


if __name__ == "__main__":
    main()
