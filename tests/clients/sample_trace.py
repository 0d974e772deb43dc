"""The trace the Jaeger and Zipkin client scripts send: five spans of every kind, with typed
attributes, an event, a link, and OK / ERROR statuses, made by the OpenTelemetry Python SDK."""

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags


class _Recorder(SpanProcessor):
    """Keeps every ended span, as the exporter was given it."""

    def __init__(self):
        self.finished = []

    def on_end(self, span):
        self.finished.append(span)


def send(service, exporter, link=True):
    """Sends the trace through `exporter` (one export per span); returns the SDK's spans."""
    resource = Resource.create({"service.name": service, "deployment.environment": "test", "host.name": "box-1"})
    provider = TracerProvider(resource=resource)
    recorder = _Recorder()
    provider.add_span_processor(recorder)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("weir.e2e", "1.2.3")
    other = SpanContext(
        trace_id=0x0102030405060708090A0B0C0D0E0F10, span_id=0x1112131415161718, is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    links = [Link(other)] if link else []
    with tracer.start_as_current_span("checkout", kind=SpanKind.SERVER, links=links) as root:
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
    return recorder.finished


def ids(span):
    """The span's trace, span and parent ids as hex ("" for no parent)."""
    ctx = span.get_span_context()
    return {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else "",
    }
