//! `streaming-app` command line: serve the live-streaming API until SIGINT/SIGTERM, then flush
//! telemetry and exit.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// A live-streaming service (users, rooms, WebSocket chat, likes, gifts, stats) instrumented
/// with OpenTelemetry. Telemetry goes over OTLP/gRPC to OTEL_EXPORTER_OTLP_ENDPOINT
/// (default http://localhost:4317); OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER and
/// OTEL_TRACES_SAMPLER_ARG are honoured.
#[derive(Debug, Parser)]
#[command(name = "streaming-app", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// HS256 secret that signs login tokens.
    #[arg(long, env = "STREAMING_APP_JWT_SECRET", default_value = "dev-secret-change-me", hide_env_values = true)]
    jwt_secret: String,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    token_ttl_s: u64,
    /// Keep room state and counters in this Redis (e.g. redis://127.0.0.1:6379/) instead of memory.
    #[arg(long, env = "STREAMING_APP_REDIS_URL")]
    redis_url: Option<String>,
    /// Do not export traces, metrics or logs (stderr logging stays).
    #[arg(long)]
    no_telemetry: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("streaming-app: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(run(args));
    rt.shutdown_timeout(Duration::from_secs(1));
    code
}

async fn run(args: Args) -> ExitCode {
    let guard = match streaming_app::telemetry::init("streaming-app", !args.no_telemetry) {
        Ok(g) => g,
        Err(error) => {
            eprintln!("streaming-app: {error}");
            return ExitCode::FAILURE;
        }
    };
    let opts = streaming_app::Options {
        jwt_secret: args.jwt_secret,
        token_ttl: Duration::from_secs(args.token_ttl_s),
        redis_url: args.redis_url,
    };
    let code = match start(&args.listen, &opts).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(message = "streaming-app failed.", %error);
            ExitCode::FAILURE
        }
    };
    // Flushing blocks on the exporters, which need this runtime's reactor: run it beside it.
    let _ = tokio::task::spawn_blocking(move || guard.shutdown()).await;
    code
}

async fn start(listen: &SocketAddr, opts: &streaming_app::Options) -> Result<(), String> {
    let state = streaming_app::app_state(opts).await.map_err(|e| format!("cannot open the store: {e}"))?;
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(message = "streaming-app listening.", %addr, store = state.store.kind());
    // Scripts and tests read this line to learn the port (useful with --listen 127.0.0.1:0).
    println!("listening on {addr}");
    streaming_app::serve(listener, state, shutdown_signal()).await.map_err(|e| e.to_string())?;
    tracing::info!(message = "streaming-app stopped.");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
