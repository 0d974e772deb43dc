#!/usr/bin/env bash
# One-command demo: weir with the default pipeline (../pipelines.yaml), streaming-app exporting
# its traces, metrics and logs to it, and viewer-sim driving the app for N seconds (with a few
# injected errors, slow requests and disconnect storms). Then prints what weir received and
# kept: its own /metrics, and the files its default exporters wrote.
#
#   streaming-app/demo.sh [SECONDS]        # default 20
#
# Environment: VIEWERS (50), ROOMS (5), MSG_RATE (2 per viewer per second), PROFILE (debug or
# release), SKIP_BUILD=1 (use the binaries already in target/), WEIR_CONFIG (another pipeline
# file instead of ../pipelines.yaml), and the ports: OTLP_PORT (4317), OTLP_HTTP_PORT (4318), HEALTH_PORT (13133),
# METRICS_PORT (8888), APP_PORT (8080). Everything runs in a temporary directory, printed at
# the end; weir's Parquet output goes to its data/ folder.
set -euo pipefail

DURATION=${1:-20}
VIEWERS=${VIEWERS:-50}
ROOMS=${ROOMS:-5}
MSG_RATE=${MSG_RATE:-2}
PROFILE=${PROFILE:-debug}
OTLP_PORT=${OTLP_PORT:-4317}
OTLP_HTTP_PORT=${OTLP_HTTP_PORT:-4318}
HEALTH_PORT=${HEALTH_PORT:-13133}
METRICS_PORT=${METRICS_PORT:-8888}
APP_PORT=${APP_PORT:-8080}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/target/$PROFILE"
profile_flag=()
[ "$PROFILE" = release ] && profile_flag=(--release)

CONFIG=${WEIR_CONFIG:-$ROOT/pipelines.yaml}
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  echo "== building weir and streaming-app ($PROFILE)"
  (cd "$ROOT" && cargo build "${profile_flag[@]}" -p weir -p streaming-app --bins)
fi

WORK=$(mktemp -d -t weir-demo.XXXXXX)
cd "$WORK"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_for() { # url what
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$2 did not come up at $1; see $WORK" >&2
  exit 1
}

echo "== starting weir (default pipeline) in $WORK"
export WEIR_OTLP_GRPC_ENDPOINT=localhost:$OTLP_PORT WEIR_OTLP_HTTP_ENDPOINT=localhost:$OTLP_HTTP_PORT
export WEIR_HEALTH_ENDPOINT=localhost:$HEALTH_PORT WEIR_METRICS_ENDPOINT=localhost:$METRICS_PORT
"$BIN/weir" run --config "$CONFIG" >weir.log 2>&1 &
weir_pid=$!
pids+=("$weir_pid")
wait_for "http://localhost:$HEALTH_PORT/" weir

export OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:$OTLP_PORT
echo "== starting streaming-app on 127.0.0.1:$APP_PORT (telemetry to $OTEL_EXPORTER_OTLP_ENDPOINT)"
"$BIN/streaming-app" --listen "127.0.0.1:$APP_PORT" >app.out 2>app.log &
app_pid=$!
pids+=("$app_pid")
wait_for "http://127.0.0.1:$APP_PORT/healthz" streaming-app

echo "== viewer-sim: $VIEWERS viewers, $ROOMS rooms, ${DURATION}s"
"$BIN/viewer-sim" --target "http://127.0.0.1:$APP_PORT" --viewers "$VIEWERS" --rooms "$ROOMS" \
  --duration-s "$DURATION" --msg-rate "$MSG_RATE" --error-rate 0.02 --slow-rate 0.02 --slow-ms 250 \
  --disconnect-storm-every-s "$(( DURATION > 10 ? DURATION / 3 : 5 ))" --storm-fraction 0.3 2>sim.log | sed 's/^/   /'

echo "== app stats"
curl -fsS "http://127.0.0.1:$APP_PORT/stats" | sed 's/^/   /'; echo

# SIGTERM flushes the app's telemetry; give weir's batch processor time to pass it on.
kill -TERM "$app_pid"; wait "$app_pid" || true
sleep 2

echo "== what weir received and sent (http://localhost:$METRICS_PORT/metrics)"
curl -fsS "http://localhost:$METRICS_PORT/metrics" \
  | grep -E '^otelcol_(receiver_(accepted|refused)|exporter_(sent|send_failed))_' | sort | sed 's/^/   /' || true

kill -TERM "$weir_pid"; wait "$weir_pid" || true
pids=()

if [ -d data ]; then
  echo "== what weir kept: Parquet files under $WORK/data"
  find data -type f -name '*.parquet' -printf '   %p  %s bytes\n' | sort
  if python3 -c 'import pyarrow' 2>/dev/null; then
    python3 - <<'PY'
import pathlib, pyarrow.parquet as pq
rows = {}
for f in pathlib.Path("data").rglob("*.parquet"):
    signal = f.relative_to("data").parts[0]
    rows[signal] = rows.get(signal, 0) + pq.ParquetFile(f).metadata.num_rows
for signal, n in sorted(rows.items()):
    print(f"   {signal}: {n} rows")
PY
  fi
else
  echo "== weir's pipeline wrote no data/ folder (its exporters: see $CONFIG)"
fi
echo "== logs: $WORK/{weir.log,app.log,sim.log}"
