#!/usr/bin/env bash
# streaming-app benchmarks on this machine, with release binaries:
#   1. idle WebSocket connections held and the app's RSS per connection;
#   2. fan-out: deliveries per second and delivery latency (p50/p99), big rooms;
#   3. instrumentation overhead: app CPU per chat message and throughput with telemetry off,
#      at 100% and at 1% head sampling (traces exported to a weir with a nop exporter).
#
#   streaming-app/bench.sh            # SKIP_BUILD=1 to use the binaries in target/release
#
# Environment: CONNS (connections for 1; default: the fd limit minus a margin, at most
# 100000), DURATION (10 s per run). The simulator and the app share the machine's cores, so
# these are end-to-end numbers for one box.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/target/release"
DURATION=${DURATION:-10}
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -p weir -p streaming-app --bins)
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS=$(ulimit -n)
CONNS=${CONNS:-$(( FDS - 1000 < 100000 ? FDS - 1000 : 100000 ))}
WORK=$(mktemp -d -t streaming-bench.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
start_app() { # port args...
  local port=$1; shift
  "$BIN/streaming-app" --listen "127.0.0.1:$port" "$@" >"$WORK/app.out" 2>>"$WORK/app.log" &
  app_pid=$!
  pids+=("$app_pid")
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && return; sleep 0.1; done
  echo "app did not start; see $WORK/app.log" >&2; exit 1
}
stop_app() { kill -TERM "$app_pid"; wait "$app_pid" 2>/dev/null || true; }
field() { python3 -c "import json,sys; d=json.load(open('$1')); print(d['$2'])"; }

echo "== 1. idle connections: $CONNS (fd limit $FDS)"
port=$(free_port)
start_app "$port" --no-telemetry
"$BIN/viewer-sim" --target "http://127.0.0.1:$port" --bench connections --connections "$CONNS" \
  --source-ips $(( CONNS / 25000 + 1 )) --rooms 100 --app-pid "$app_pid" --no-telemetry --hold-s 2 \
  >"$WORK/conns.json" 2>>"$WORK/sim.log"
stop_app
cat "$WORK/conns.json"

echo "== 2. fan-out: 1000 viewers in 2 rooms (500 per room), 1 message/s each, ${DURATION}s"
port=$(free_port)
start_app "$port" --no-telemetry
"$BIN/viewer-sim" --target "http://127.0.0.1:$port" --bench fanout --viewers 1000 --rooms 2 --msg-rate 1 \
  --duration-s "$DURATION" --no-telemetry --json >"$WORK/fanout.json" 2>>"$WORK/sim.log"
stop_app
python3 -c "import json; d=json.load(open('$WORK/fanout.json')); print('   deliveries/s %(received_per_s).0f  sent %(messages_sent)d  received %(messages_received)d  p50 %(latency_p50_ms).1f ms  p99 %(latency_p99_ms).1f ms  max %(latency_max_ms).1f ms  out of order %(out_of_order)d' % d)"

echo "== 3. instrumentation overhead: 400 viewers in 200 rooms, 40 messages/s each, ${DURATION}s"
grpc=$(free_port); health=$(free_port); metrics=$(free_port)
cat >"$WORK/weir.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:$grpc" }
exporters:
  nop: {}
extensions:
  health_check: { endpoint: "127.0.0.1:$health" }
service:
  extensions: [health_check]
  telemetry: { metrics: { address: "127.0.0.1:$metrics" } }
  pipelines:
    traces: { receivers: [otlp], exporters: [nop] }
    metrics: { receivers: [otlp], exporters: [nop] }
    logs: { receivers: [otlp], exporters: [nop] }
YAML
"$BIN/weir" run --config "$WORK/weir.yaml" >"$WORK/weir.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$health/" 2>/dev/null && break; sleep 0.1; done
printf '   %-22s %10s %12s %16s %10s\n' mode "msgs/s" "delivered/s" "app CPU µs/msg" "p99 ms"
for mode in off always_on traceidratio:0.01; do
  port=$(free_port)
  export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$grpc"
  case $mode in
    off) start_app "$port" --no-telemetry ;;
    always_on) OTEL_TRACES_SAMPLER=always_on start_app "$port" ;;
    traceidratio:*) OTEL_TRACES_SAMPLER=traceidratio OTEL_TRACES_SAMPLER_ARG=${mode#*:} start_app "$port" ;;
  esac
  t0=$(cpu_ticks "$app_pid")
  "$BIN/viewer-sim" --target "http://127.0.0.1:$port" --bench fanout --viewers 400 --rooms 200 --msg-rate 40 \
    --duration-s "$DURATION" --no-telemetry --json >"$WORK/overhead-$mode.json" 2>>"$WORK/sim.log"
  t1=$(cpu_ticks "$app_pid")
  stop_app
  python3 - "$WORK/overhead-$mode.json" "$mode" "$t0" "$t1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ticks = int(sys.argv[4]) - int(sys.argv[3])
us = ticks * 10_000 / max(d["messages_sent"], 1)
print(f"   {sys.argv[2]:<22} {d['sent_per_s']:10.0f} {d['received_per_s']:12.0f} {us:16.1f} {d['latency_p99_ms']:10.1f}")
PY
done
echo "== raw results and logs: $WORK"
