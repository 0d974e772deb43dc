//! `viewer-sim` command line: simulated viewers against a running `streaming-app`, with fault
//! knobs; prints a summary (human-readable, or one JSON object with `--json`).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use streaming_app::sim::{self, SimConfig};

/// Simulated viewers for streaming-app: register, log in, join rooms, chat over WebSocket,
/// like and gift, with injected errors, slow dependencies and disconnect storms. Instrumented:
/// traces start here and continue in the app (OTEL_* variables as for the app).
#[derive(Debug, Parser)]
#[command(name = "viewer-sim", version, about)]
struct Args {
    /// Base URL of the app.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// Concurrent viewers.
    #[arg(long, default_value_t = 10)]
    viewers: usize,
    /// Rooms (viewers are spread over them).
    #[arg(long, default_value_t = 2)]
    rooms: usize,
    /// Seconds of chatting.
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
    /// Chat messages per second per viewer.
    #[arg(long, default_value_t = 1.0)]
    msg_rate: f64,
    /// Share (0..1) of actions that fail on purpose: GET /fault/error (500) or a WebSocket
    /// message of an unknown type; both leave ERROR spans.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share (0..1) of chat messages that ask the app for a slow dependency (latency outliers).
    #[arg(long, default_value_t = 0.0)]
    slow_rate: f64,
    /// Delay of the slow dependency, in milliseconds.
    #[arg(long, default_value_t = 300)]
    slow_ms: u64,
    /// Every this many seconds, --storm-fraction of the viewers drop their WebSocket and reconnect.
    #[arg(long)]
    disconnect_storm_every_s: Option<f64>,
    /// Share (0..1) of viewers each storm disconnects.
    #[arg(long, default_value_t = 0.5)]
    storm_fraction: f64,
    /// Share (0..1) of actions that are likes or gifts.
    #[arg(long, default_value_t = 0.1)]
    reaction_rate: f64,
    /// Benchmark instead of simulating: `connections` opens and holds --connections idle
    /// WebSockets and reports the app's RSS per connection (needs --app-pid); `fanout` is the
    /// simulation with no reactions or faults, reporting deliveries/s and delivery latency.
    #[arg(long, value_enum)]
    bench: Option<Bench>,
    /// --bench connections: connections to open.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// --bench connections: spread the client sockets over 127.0.0.1 ..= 127.0.0.N.
    #[arg(long, default_value_t = 4)]
    source_ips: u8,
    /// --bench connections: connection attempts in flight at once.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// --bench connections: seconds to hold the connections once open.
    #[arg(long, default_value_t = 2.0)]
    hold_s: f64,
    /// --bench connections: the app's process id (its RSS is read from /proc).
    #[arg(long)]
    app_pid: Option<u32>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// Do not export traces, metrics or logs.
    #[arg(long)]
    no_telemetry: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Bench {
    Connections,
    Fanout,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("viewer-sim: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(run(args));
    rt.shutdown_timeout(Duration::from_secs(1));
    code
}

async fn run(args: Args) -> ExitCode {
    let guard = match streaming_app::telemetry::init("viewer-sim", !args.no_telemetry) {
        Ok(g) => g,
        Err(error) => {
            eprintln!("viewer-sim: {error}");
            return ExitCode::FAILURE;
        }
    };
    if args.bench == Some(Bench::Connections) {
        let cfg = streaming_app::bench::HoldConfig {
            target: args.target.clone(),
            connections: args.connections,
            source_ips: args.source_ips,
            rooms: args.rooms,
            concurrency: args.connect_concurrency,
            hold: Duration::from_secs_f64(args.hold_s.max(0.0)),
            app_pid: args.app_pid,
        };
        let code = match streaming_app::bench::hold_connections(cfg).await {
            Ok(report) => {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(error) => {
                tracing::error!(message = "Benchmark failed.", %error);
                ExitCode::FAILURE
            }
        };
        let _ = tokio::task::spawn_blocking(move || guard.shutdown()).await;
        return code;
    }
    let fanout = args.bench == Some(Bench::Fanout);
    let cfg = SimConfig {
        target: args.target,
        viewers: args.viewers,
        rooms: args.rooms,
        duration: Duration::from_secs_f64(args.duration_s.max(0.0)),
        msg_rate: args.msg_rate,
        error_rate: if fanout { 0.0 } else { args.error_rate.clamp(0.0, 1.0) },
        slow_rate: if fanout { 0.0 } else { args.slow_rate.clamp(0.0, 1.0) },
        slow_ms: args.slow_ms,
        storm_every: args
            .disconnect_storm_every_s
            .filter(|_| !fanout)
            .filter(|s| *s > 0.0)
            .map(Duration::from_secs_f64),
        storm_fraction: args.storm_fraction,
        reaction_rate: if fanout { 0.0 } else { args.reaction_rate.clamp(0.0, 1.0) },
    };
    let code = match sim::run(cfg).await {
        Ok(summary) => {
            if args.json {
                println!("{}", serde_json::to_string(&summary).unwrap_or_default());
            } else {
                println!("{}", summary.render());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(message = "Simulation failed.", %error);
            ExitCode::FAILURE
        }
    };
    let _ = tokio::task::spawn_blocking(move || guard.shutdown()).await;
    code
}
