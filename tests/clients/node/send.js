// Sends traces, logs and metrics to an OTLP/HTTP endpoint with the OpenTelemetry JS SDK's
// JSON exporters, then prints what it sent as one JSON object on stdout.
// Usage: node send.js BASE_URL [TRACES]    (BASE_URL like http://127.0.0.1:4318)
'use strict';
const { TracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-http');
const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const api = require('@opentelemetry/api');

async function main() {
  const base = process.argv[2];
  const traces = parseInt(process.argv[3] || '20', 10);
  const resource = resourceFromAttributes({ 'service.name': 'node-client', 'deployment.environment': 'e2e' });
  const sent = { spans: [], logs: [], metrics: [] };

  const tp = new TracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${base}/v1/traces` }) })],
  });
  const tracer = tp.getTracer('weir-e2e-node', '1.0.0');
  const lp = new LoggerProvider({
    resource,
    processors: [new BatchLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${base}/v1/logs` }) })],
  });
  const logger = lp.getLogger('weir-e2e-node');
  const reader = new PeriodicExportingMetricReader({
    exporter: new OTLPMetricExporter({ url: `${base}/v1/metrics` }),
    exportIntervalMillis: 60000,
  });
  const mp = new MeterProvider({ resource, readers: [reader] });
  const counter = mp.getMeter('weir-e2e-node').createCounter('node.requests');

  for (let i = 0; i < traces; i++) {
    const root = tracer.startSpan(`GET /rooms/${i}`, { kind: api.SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'room.id': i } });
    const ctx = api.trace.setSpan(api.context.active(), root);
    const child = tracer.startSpan('redis GET', { kind: api.SpanKind.CLIENT, attributes: { 'db.system': 'redis', 'attempt': i % 3 } }, ctx);
    if (i % 5 === 0) child.setStatus({ code: api.SpanStatusCode.ERROR, message: 'cache miss storm' });
    child.end();
    root.end();
    for (const s of [root, child]) {
      const sc = s.spanContext();
      sent.spans.push({ trace_id: sc.traceId, span_id: sc.spanId, name: s.name, attributes: s.attributes });
    }
    logger.emit({ body: `room ${i} opened`, severityText: 'INFO', severityNumber: 9, attributes: { 'room.id': i } });
    sent.logs.push({ body: `room ${i} opened` });
    counter.add(1, { route: '/rooms' });
  }
  sent.metrics.push({ name: 'node.requests', sum: traces });
  await tp.forceFlush();
  await lp.forceFlush();
  await reader.forceFlush();
  await Promise.all([tp.shutdown(), lp.shutdown(), mp.shutdown()]);
  process.stdout.write(JSON.stringify(sent) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
