//! `weir-loadgen` command line: generate a pool of realistic OTLP requests, send them to a
//! receiver at a target rate, print progress to stderr and a summary to stdout.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

use weir_loadgen::generate::{GenConfig, Generator, Signal};
use weir_loadgen::pool::Pool;
use weir_loadgen::send::{run, Compression, Protocol, RunConfig, Transport, TransportConfig};
use weir_loadgen::stats::{Stats, Summary};

/// Pool entries generated at most when the run length is unknown or long.
const MAX_POOL_ENTRIES: u64 = 64;
/// Memory budget of the pool, in bytes (estimated before generation).
const POOL_BYTES_BUDGET: u64 = 256 << 20;

/// Send realistic OTLP traces, logs or metrics to a receiver and report what happened.
#[derive(Debug, Parser)]
#[command(name = "weir-loadgen", version, about)]
struct Args {
    /// Receiver address: host:port or http://host:port[/path]
    /// [default: 127.0.0.1:4317 for grpc, 127.0.0.1:4318 for http-*]
    #[arg(long)]
    endpoint: Option<String>,
    /// OTLP transport.
    #[arg(long, value_enum, default_value_t = Protocol::Grpc)]
    protocol: Protocol,
    /// Signal to send.
    #[arg(long, value_enum, default_value_t = Signal::Traces)]
    signal: Signal,
    /// Target items per second (spans, log records or data points); 0 = as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Stop after this many seconds [default: 10 unless --total is given].
    #[arg(long)]
    duration_s: Option<f64>,
    /// Stop after sending this many items.
    #[arg(long)]
    total: Option<u64>,
    /// Items per request.
    #[arg(long, default_value_t = 512)]
    batch_size: usize,
    /// Concurrent in-flight requests.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Request compression.
    #[arg(long, value_enum, default_value_t = Compression::None)]
    compression: Compression,
    /// Fraction of traces that fail (ERROR status + exception event).
    #[arg(long, default_value_t = 0.01)]
    error_rate: f64,
    /// Fraction of traces that are 10x slower than usual.
    #[arg(long, default_value_t = 0.01)]
    slow_rate: f64,
    /// Number of distinct services.
    #[arg(long, default_value_t = 8)]
    services: usize,
    /// RNG seed for the generated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Seconds between progress lines on stderr; 0 = none.
    #[arg(long, default_value_t = 1.0)]
    report_interval_s: f64,
    /// Print the final summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// Requests to pre-generate; 0 = automatic (enough for the run, at most 64).
    #[arg(long, default_value_t = 0)]
    pool_size: usize,
    /// Retries of a refused request before counting it failed.
    #[arg(long, default_value_t = 10)]
    max_retries: u32,
    /// Per-attempt timeout in seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout_s: f64,
    /// Send over TLS, trusting the CA certificate(s) in this PEM file; the endpoint's host is
    /// checked against the receiver's certificate.
    #[arg(long)]
    tls_ca: Option<std::path::PathBuf>,
}

impl Args {
    fn validate(&self) -> Result<(), String> {
        let fraction = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("--{name} must be between 0 and 1, got {v}"))
            }
        };
        fraction("error-rate", self.error_rate)?;
        fraction("slow-rate", self.slow_rate)?;
        if !(self.rate.is_finite() && self.rate >= 0.0) {
            return Err(format!("--rate must be >= 0, got {}", self.rate));
        }
        if self.duration_s.is_some_and(|d| !(d.is_finite() && d > 0.0)) {
            return Err("--duration-s must be > 0".into());
        }
        if self.total == Some(0) {
            return Err("--total must be > 0".into());
        }
        if self.batch_size == 0 || self.concurrency == 0 || self.services == 0 {
            return Err("--batch-size, --concurrency and --services must be > 0".into());
        }
        if !(self.report_interval_s.is_finite() && self.report_interval_s >= 0.0) {
            return Err("--report-interval-s must be >= 0".into());
        }
        if !(self.timeout_s.is_finite() && self.timeout_s > 0.0) {
            return Err("--timeout-s must be > 0".into());
        }
        Ok(())
    }

    /// Requests the run will need, if known in advance.
    fn requests_needed(&self, duration: Option<Duration>) -> Option<u64> {
        let batch = self.batch_size as u64;
        let by_total = self.total.map(|t| t.div_ceil(batch));
        let by_rate = duration
            .filter(|_| self.rate > 0.0)
            .map(|d| ((self.rate * d.as_secs_f64()) / batch as f64).ceil() as u64 + 1);
        match (by_total, by_rate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Number of full-size pool entries to generate.
    fn pool_entries(&self, duration: Option<Duration>) -> usize {
        if self.pool_size > 0 {
            return self.pool_size;
        }
        let per_request = (self.batch_size as u64 * 450).max(1);
        let budget = (POOL_BYTES_BUDGET / per_request).max(1);
        let mut n = MAX_POOL_ENTRIES.min(budget);
        if let Some(needed) = self.requests_needed(duration) {
            // Full entries only; a --total remainder gets its own tail entry.
            let full = match self.total {
                Some(t) if needed * self.batch_size as u64 > t => needed.saturating_sub(1),
                _ => needed,
            };
            n = n.min(full.max(1));
        }
        n as usize
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = args.validate() {
        eprintln!("weir-loadgen: {e}");
        return ExitCode::from(2);
    }
    let duration = match (args.duration_s, args.total) {
        (Some(d), _) => Some(Duration::from_secs_f64(d)),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    let endpoint = args.endpoint.clone().unwrap_or_else(|| args.protocol.default_endpoint().to_string());
    let transport = match Transport::new(&TransportConfig {
        endpoint: endpoint.clone(),
        protocol: args.protocol,
        signal: args.signal,
        compression: args.compression,
        timeout: Duration::from_secs_f64(args.timeout_s),
        concurrency: args.concurrency,
        tls_ca: args.tls_ca.clone(),
    }) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("weir-loadgen: {e}");
            return ExitCode::from(2);
        }
    };

    // Pre-generate the pool.
    let generated = Instant::now();
    let mut generator = Generator::new(GenConfig {
        error_rate: args.error_rate,
        slow_rate: args.slow_rate,
        services: args.services,
        seed: args.seed,
    });
    let tail = args.total.map(|t| (t % args.batch_size as u64) as usize).unwrap_or(0);
    let entries = args.pool_entries(duration);
    let pool = Pool::generate(&mut generator, args.signal, args.protocol.encoding(), args.batch_size, entries, tail);
    eprintln!(
        "weir-loadgen: pool of {} requests x {} {} ({:.1} MiB) generated in {:.2}s; sending to {} via {}{}",
        pool.len() + usize::from(tail > 0),
        args.batch_size,
        args.signal.item_name(),
        pool.bytes() as f64 / (1024.0 * 1024.0),
        generated.elapsed().as_secs_f64(),
        endpoint,
        args.protocol.as_str(),
        match args.compression {
            Compression::None => String::new(),
            c => format!(" ({})", c.as_str()),
        }
    );

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("weir-loadgen: interrupted, finishing in-flight requests");
                stop.store(true, Ordering::Relaxed);
            }
        });
    }
    let cfg = RunConfig {
        concurrency: args.concurrency,
        rate: args.rate,
        duration,
        total_requests: args.total.map(|t| t.div_ceil(args.batch_size as u64)),
        max_retries: args.max_retries,
        retry_delay: Duration::from_millis(100),
        report_interval: (args.report_interval_s > 0.0).then(|| Duration::from_secs_f64(args.report_interval_s)),
        batch_size: args.batch_size,
    };
    let stats = Arc::new(Stats::default());
    let elapsed = run(Arc::new(transport), Arc::new(pool), cfg, stats.clone(), stop).await;
    let summary = Summary::new(&stats, elapsed);

    if args.json {
        let context = serde_json::json!({
            "protocol": args.protocol.as_str(),
            "signal": args.signal.as_str(),
            "compression": args.compression.as_str(),
            "endpoint": endpoint,
            "batch_size": args.batch_size,
            "concurrency": args.concurrency,
            "target_rate": args.rate,
        });
        println!("{}", summary.to_json(context));
    } else {
        let title = format!(
            "weir-loadgen summary: {} via {} to {} (compression {})",
            args.signal.as_str(),
            args.protocol.as_str(),
            endpoint,
            args.compression.as_str()
        );
        print!("{}", summary.to_text(&title));
    }
    if summary.counters.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("weir-loadgen").chain(args.iter().copied())).expect("parses")
    }

    #[test]
    fn defaults_and_flags_parse() {
        let a = parse(&[]);
        assert_eq!((a.protocol, a.signal, a.compression), (Protocol::Grpc, Signal::Traces, Compression::None));
        assert_eq!((a.batch_size, a.concurrency, a.services, a.seed), (512, 4, 8, 42));
        assert!(a.validate().is_ok());
        let a = parse(&[
            "--endpoint",
            "127.0.0.1:9999",
            "--protocol",
            "http-json",
            "--signal",
            "metrics",
            "--rate",
            "5000",
            "--duration-s",
            "2.5",
            "--batch-size",
            "100",
            "--concurrency",
            "8",
            "--compression",
            "zstd",
            "--error-rate",
            "0.1",
            "--slow-rate",
            "0.2",
            "--services",
            "12",
            "--seed",
            "7",
            "--report-interval-s",
            "0",
            "--json",
            "--total",
            "1000",
        ]);
        assert_eq!(a.protocol, Protocol::HttpJson);
        assert_eq!(a.compression, Compression::Zstd);
        assert!(a.json && a.validate().is_ok());
        assert!(parse(&["--error-rate", "1.5"]).validate().is_err());
        assert!(Args::try_parse_from(["weir-loadgen", "--protocol", "udp"]).is_err());
    }

    #[test]
    fn pool_sizing() {
        // --total 1000 with batch 300: 3 full entries + a tail of 100.
        let a = parse(&["--total", "1000", "--batch-size", "300"]);
        assert_eq!(a.pool_entries(None), 3);
        // Exact multiple: 4 full entries, no tail.
        let a = parse(&["--total", "1200", "--batch-size", "300"]);
        assert_eq!(a.pool_entries(None), 4);
        // Paced run: rate * duration / batch (+1), capped.
        let a = parse(&["--rate", "1000", "--batch-size", "100"]);
        assert_eq!(a.pool_entries(Some(Duration::from_secs(2))), 21);
        assert_eq!(a.pool_entries(Some(Duration::from_secs(600))), 64);
        // Unpaced: the cap.
        assert_eq!(parse(&[]).pool_entries(Some(Duration::from_secs(10))), 64);
        assert_eq!(parse(&["--pool-size", "5"]).pool_entries(None), 5);
    }
}
