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

import sample_trace


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
    finished = sample_trace.send(service, exporter(args.protocol, args.port))

    sent = []
    # The spans as the SDK made them, read back from the exporter's input.
    for s in finished:
        start, end = wire_times(args.protocol, s.start_time, s.end_time)
        sent.append(
            {
                **sample_trace.ids(s),
                "name": s.name,
                "kind": s.kind.name.lower(),
                "start": start,
                "end": end,
                "flags": int(s.get_span_context().trace_flags),
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
