//! The `weir` command line: run, validate, list components, simulate.

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use weir::registry;
use weir::self_telemetry::logs::{LogHandle, SPAN_TARGET};
use weir::self_telemetry::SelfTelemetry;
use weir_core::component::Kind;
use weir_core::config::{self, Config, ConfigErrors};
use weir_core::runtime::{Service, ServiceOptions};
use weir_core::telemetry::Health;
use weir_core::Registry;

#[derive(Parser)]
#[command(
    name = "weir",
    version,
    about = "A telemetry pipeline daemon: OTLP in, sampling and batching, exporters out."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipelines of a configuration file until SIGTERM or SIGINT; SIGHUP reloads it.
    Run {
        /// The configuration file. Default: ./pipelines.yaml, or the built-in default pipeline
        /// when that file does not exist.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// How long shutdown may take to drain pipelines and flush exporters.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        shutdown_timeout: Duration,
    },
    /// Check a configuration file without starting anything.
    Validate {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// List the components this build has and the signals each supports.
    Components,
    /// Replay recorded traces (Parquet written by the `parquet` exporter, or the `file`
    /// exporter's OTLP JSON lines) through the trace pipelines of a configuration, offline on
    /// a simulated clock, and report what would be kept: per policy and key, with the
    /// estimate from adjusted counts and the projected daily and monthly volume.
    Simulate {
        #[arg(long, short)]
        config: PathBuf,
        /// A `parquet` exporter directory (or its `traces/`), a `.parquet` file, or a `file`
        /// exporter's JSON lines.
        #[arg(long, short)]
        input: PathBuf,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    config::duration::parse(s)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logging starts before the configuration is read, so what loading says is printed;
    // `service::telemetry::logs` is applied once it is loaded.
    let logging = weir::self_telemetry::logs::init();
    let registry = registry();
    match cli.command {
        Command::Components => {
            components(&registry);
            ExitCode::SUCCESS
        }
        Command::Validate { config } => match config::load_file(&config, &registry) {
            Ok(c) => {
                let pipelines: Vec<&str> = c.pipelines.iter().map(|p| p.id.as_str()).collect();
                println!("{}: valid ({} pipelines: {})", config.display(), pipelines.len(), pipelines.join(", "));
                for (from, to, connector) in config::connector_edges(&registry, &c) {
                    let (p, q) = (&c.pipelines[from], &c.pipelines[to]);
                    println!("  {} → connector {connector} → {} ({} to {})", p.id, q.id, p.signal, q.signal);
                }
                // As in the Collector, certificates and token files are read at start, not here.
                let files = c.files_read_at_start(&registry);
                if !files.is_empty() {
                    println!("  files validate does not open (weir opens them when it starts):");
                    for (key, file) in files {
                        println!("    {key}: {}", file.display());
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                eprintln!("{}: {} error(s)", config.display(), e.0.len());
                ExitCode::FAILURE
            }
        },
        Command::Simulate { config, input } => simulate(&config, &input),
        Command::Run { config, shutdown_timeout } => {
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("weir: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(run(config, shutdown_timeout, logging))
        }
    }
}

/// `weir simulate`: runs the `weir-simulate` tool installed beside this binary (it replays on
/// tokio's paused clock, which the daemon does not carry; see simulate/src/main.rs).
fn simulate(config: &Path, input: &Path) -> ExitCode {
    let tool = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|d| d.join("weir-simulate")));
    let Some(tool) = tool.filter(|t| t.is_file()) else {
        eprintln!(
            "weir simulate: the weir-simulate tool is not installed next to this weir; build it with \
             `cargo build --release -p weir-simulate` (it lands beside target/release/weir)"
        );
        return ExitCode::FAILURE;
    };
    match std::process::Command::new(&tool).arg("--config").arg(config).arg("--input").arg(input).status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("weir simulate: cannot run {}: {e}", tool.display());
            ExitCode::FAILURE
        }
    }
}

fn components(registry: &Registry) {
    let width = Kind::ALL.iter().flat_map(|k| registry.names(*k)).map(str::len).max().unwrap_or(0) + 2;
    for kind in Kind::ALL {
        println!("{}:", kind.section());
        for (name, signals) in registry.describe(kind) {
            let what: Vec<String> = match kind {
                Kind::Connector => {
                    registry.connector_pairs(name).iter().map(|(from, to)| format!("{from} → {to}")).collect()
                }
                _ => signals.iter().map(|s| s.to_string()).collect(),
            };
            println!("  {}", format!("{name:<width$}{}", what.join(", ")).trim_end());
        }
    }
}

/// Where the configuration comes from: a file, or the built-in default.
enum Source {
    File(PathBuf),
    BuiltIn,
}

impl Source {
    fn load(&self, registry: &Registry) -> Result<Config, ConfigErrors> {
        match self {
            Source::File(p) => config::load_file(p, registry),
            Source::BuiltIn => {
                config::load_str("<built-in pipelines.yaml>", config::DEFAULT_PIPELINES_YAML, registry, &|n| {
                    std::env::var(n).ok()
                })
            }
        }
    }

    fn name(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::BuiltIn => "<built-in pipelines.yaml>".into(),
        }
    }
}

async fn run(config_path: Option<PathBuf>, shutdown_timeout: Duration, logging: Option<LogHandle>) -> ExitCode {
    let registry = registry();
    let source = match config_path {
        Some(p) => Source::File(p),
        None if Path::new("pipelines.yaml").exists() => Source::File(config::default_path()),
        None => Source::BuiltIn,
    };
    let config = match source.load(&registry) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("weir: {} has {} error(s); nothing was started. Fix them and run again (`weir validate --config FILE` checks a file).", source.name(), e.0.len());
            return ExitCode::FAILURE;
        }
    };
    let mut telemetry = match SelfTelemetry::start(&config.telemetry, logging.as_ref()).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(message = "Cannot start weir's own telemetry (service::telemetry).", error = %e);
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(message = "Starting weir.", version = env!("CARGO_PKG_VERSION"), config = %source.name());
    let health = Health::default();
    let started = {
        // Spans are timed from creation to drop; they are not entered across awaits.
        let _span = tracing::info_span!(target: SPAN_TARGET, "weir.start", config = %source.name(), pipelines = config.pipelines.len());
        Service::start(&config, &registry, ServiceOptions { health: health.clone() }).await
    };
    let mut service = match started {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(message = "Cannot start the pipelines.", error = %e);
            telemetry.shutdown(logging.as_ref()).await;
            return ExitCode::FAILURE;
        }
    };
    let mut running_config = config;
    tracing::info!(message = "Everything is ready. Begin running and processing data.");

    let (mut term, mut int, mut hup) =
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup())) {
            (Ok(t), Ok(i), Ok(h)) => (t, i, h),
            _ => {
                tracing::error!(message = "Cannot install signal handlers.");
                return ExitCode::FAILURE;
            }
        };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                let span = tracing::info_span!(target: SPAN_TARGET, "weir.reload", config = %source.name(), outcome = tracing::field::Empty);
                tracing::info!(message = "SIGHUP received: reloading the configuration.", config = %source.name());
                let new = match source.load(&registry) {
                    Ok(c) => c,
                    Err(e) => {
                        for err in &e.0 {
                            tracing::error!(message = "Configuration error.", error = %err);
                        }
                        tracing::error!(message = "The new configuration is invalid; the running pipelines keep running unchanged.", errors = e.0.len());
                        span.record("outcome", "invalid");
                        continue;
                    }
                };
                service.shutdown().await;
                match Service::start(&new, &registry, ServiceOptions { health: health.clone() }).await {
                    Ok(s) => {
                        service = s;
                        if new.telemetry != *telemetry.config() {
                            telemetry = reload_telemetry(telemetry, &new.telemetry, logging.as_ref()).await;
                        }
                        running_config = new;
                        span.record("outcome", "reloaded");
                        tracing::info!(message = "Configuration reloaded.");
                    }
                    Err(e) => {
                        tracing::error!(message = "The new configuration could not start; restarting the previous one.", error = %e);
                        span.record("outcome", "rolled_back");
                        match Service::start(&running_config, &registry, ServiceOptions { health: health.clone() }).await {
                            Ok(s) => service = s,
                            Err(e) => {
                                tracing::error!(message = "The previous configuration could not restart either.", error = %e);
                                telemetry.shutdown(logging.as_ref()).await;
                                return ExitCode::FAILURE;
                            }
                        }
                    }
                }
            }
        }
    }
    tracing::info!(message = "Received a termination signal: draining pipelines.");
    let drained = {
        let span = tracing::info_span!(target: SPAN_TARGET, "weir.shutdown", drained = tracing::field::Empty);
        let drained = tokio::time::timeout(shutdown_timeout, service.shutdown()).await.is_ok();
        span.record("drained", drained);
        drained
    };
    if !drained {
        tracing::error!(
            message = "Shutdown did not finish in time; data still in flight was lost.",
            timeout = %config::duration::format(shutdown_timeout)
        );
    }
    // Last: the final metrics export and the processors' flush carry the shutdown's logs
    // and spans.
    telemetry.shutdown(logging.as_ref()).await;
    if drained {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Replaces the running `service::telemetry` with `new` (servers rebind, readers and
/// processors restart); when `new` cannot start, the previous settings are started again.
async fn reload_telemetry(
    old: SelfTelemetry,
    new: &config::TelemetryConfig,
    logging: Option<&LogHandle>,
) -> SelfTelemetry {
    let previous = old.config().clone();
    old.shutdown(logging).await;
    match SelfTelemetry::start(new, logging).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(message = "The new service::telemetry could not start; keeping the previous one.", error = %e);
            match SelfTelemetry::start(&previous, logging).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(message = "The previous service::telemetry could not restart either; weir runs without its own metrics export.", error = %e);
                    SelfTelemetry::start(&config::TelemetryConfig { metrics: off(), ..Default::default() }, logging)
                        .await
                        .expect("telemetry with metrics off and no processors starts nothing that can fail")
                }
            }
        }
    }
}

fn off() -> config::telemetry::MetricsConfig {
    config::telemetry::MetricsConfig { level: config::telemetry::Level::None, ..Default::default() }
}
