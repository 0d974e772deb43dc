"""Sends traces, logs and metrics to weir with the OpenTelemetry Python SDK's OTLP exporters,
then prints what it sent as one JSON object on stdout.

usage: send_python.py --protocol grpc|http --endpoint URL [--traces N] [--ca-file PEM] [--token T]
  grpc: --endpoint http://127.0.0.1:4317      http: --endpoint http://127.0.0.1:4318
  TLS:  --endpoint https://127.0.0.1:PORT --ca-file ca.pem (the server's CA)
  --token T sends "authorization: Bearer T" with every export.
  --header NAME=VALUE (repeatable) sends that header / gRPC metadata with every export.
  --resource KEY=VALUE (repeatable) adds a resource attribute.
"""
import argparse
import json
import logging
import os
import sys

from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


def exporters(protocol, endpoint, ca_file=None, token=None, extra_headers=None):
    headers = dict(extra_headers or {})
    if token:
        headers["authorization"] = f"Bearer {token}"
    headers = headers or None
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        kw = dict(endpoint=endpoint, headers=headers)
        if ca_file:
            import grpc
            with open(ca_file, "rb") as f:
                kw["credentials"] = grpc.ssl_channel_credentials(root_certificates=f.read())
            kw["insecure"] = False
        else:
            kw["insecure"] = True
        return OTLPSpanExporter(**kw), OTLPLogExporter(**kw), OTLPMetricExporter(**kw)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    kw = dict(headers=headers)
    if ca_file:
        kw["certificate_file"] = ca_file
        # requests lets these variables override a session's own CA file (psf/requests#3829).
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
        os.environ.pop("CURL_CA_BUNDLE", None)
    return (OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", **kw),
            OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", **kw),
            OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", **kw))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", choices=["grpc", "http"], required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--traces", type=int, default=20)
    ap.add_argument("--service", default="python-client")
    ap.add_argument("--ca-file", help="PEM file of the CA that signed the server's certificate (TLS)")
    ap.add_argument("--token", help="bearer token sent in the authorization header")
    ap.add_argument("--header", action="append", default=[], help="NAME=VALUE sent with every export")
    ap.add_argument("--resource", action="append", default=[], help="KEY=VALUE resource attribute")
    args = ap.parse_args()

    extra = dict(h.split("=", 1) for h in args.header)
    attrs = {"service.name": args.service, "deployment.environment": "e2e"}
    attrs.update(dict(r.split("=", 1) for r in args.resource))
    resource = Resource.create(attrs)
    span_exp, log_exp, metric_exp = exporters(args.protocol, args.endpoint, args.ca_file, args.token, extra)
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(span_exp))
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(log_exp))
    reader = PeriodicExportingMetricReader(metric_exp, export_interval_millis=60_000)
    mp = MeterProvider(resource=resource, metric_readers=[reader])

    tracer = tp.get_tracer("weir-e2e-python", "1.0.0")
    logger = lp.get_logger("weir-e2e-python")
    counter = mp.get_meter("weir-e2e-python").create_counter("python.requests")
    hist = mp.get_meter("weir-e2e-python").create_histogram("python.latency", unit="ms")
    sent = {"spans": [], "logs": [], "metrics": []}
    for i in range(args.traces):
        with tracer.start_as_current_span(f"POST /rooms/{i}/messages", kind=SpanKind.SERVER,
                                          attributes={"http.request.method": "POST", "room.id": i}) as root:
            with tracer.start_as_current_span("chat fan-out", kind=SpanKind.INTERNAL,
                                              attributes={"fanout.viewers": 10 * i, "ratio": 0.5}) as child:
                if i % 4 == 0:
                    child.set_status(Status(StatusCode.ERROR, "viewer gone"))
                    child.add_event("exception", {"exception.message": "viewer gone"})
        for s in (root, child):
            ctx = s.get_span_context()
            sent["spans"].append({"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x"),
                                  "name": s.name, "attributes": dict(s.attributes)})
        body = f"message {i} delivered"
        logger.emit(LogRecord(body=body, severity_text="INFO", severity_number=SeverityNumber.INFO,
                              attributes={"room.id": i}))
        sent["logs"].append({"body": body})
        counter.add(1, {"route": "/messages"})
        hist.record(1.5 * i, {"route": "/messages"})
    sent["metrics"].append({"name": "python.requests", "sum": args.traces})
    sent["metrics"].append({"name": "python.latency", "count": args.traces})
    ok = tp.force_flush(10_000) and lp.force_flush(10_000) and reader.force_flush(10_000)
    tp.shutdown(); lp.shutdown(); mp.shutdown()
    if not ok:
        print("flush failed", file=sys.stderr)
        sys.exit(1)
    json.dump(sent, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
