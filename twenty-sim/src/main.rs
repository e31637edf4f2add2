//! The `twenty-sim` binary: serves a seeded Twenty simulator on loopback.
//!
//! `cargo run -p twenty-sim -- --port 3000 --api-key KEY --seed 1000`

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use twenty_sim::{Faults, RateLimitConfig, ServerFlavor, SimConfig, SimServer};

/// Serve a simulated Twenty CRM REST API on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "twenty-sim", version, about)]
struct Args {
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// API key accepted as `Authorization: Bearer <KEY>`.
    #[arg(long, env = "TWENTY_SIM_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Number of people to seed (companies, opportunities, tasks and notes are derived).
    #[arg(long, default_value_t = 0)]
    seed: usize,
    /// RNG seed for data and faults.
    #[arg(long, default_value_t = 42)]
    rng_seed: u64,
    /// Server flavour: v2_21 (default), newest, legacy.
    #[arg(long, default_value = "v2_21")]
    flavor: ServerFlavor,
    /// Requests per rate-limit window (0 disables rate limiting).
    #[arg(long, default_value_t = 100)]
    rate_limit_requests: u32,
    /// Rate-limit window in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    rate_limit_window_ms: u64,
    /// Fraction of requests answered 429 by fault injection.
    #[arg(long, default_value_t = 0.0)]
    fault_429: f64,
    /// Fraction of requests answered 500/502/503/504.
    #[arg(long, default_value_t = 0.0)]
    fault_5xx: f64,
    /// Fraction of connections dropped without a response.
    #[arg(long, default_value_t = 0.0)]
    fault_drop: f64,
    /// Fraction of responses with malformed JSON.
    #[arg(long, default_value_t = 0.0)]
    fault_malformed: f64,
    /// Fraction of responses truncated before Content-Length.
    #[arg(long, default_value_t = 0.0)]
    fault_truncated: f64,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The server's clock against this host's, in seconds (negative: behind); its record
    /// stamps, webhook timestamps and `Date` headers follow it.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    clock_offset_secs: i64,
    /// The most records one filter mutation (PATCH, DELETE or restore by filter) may affect,
    /// as Twenty's MUTATION_MAXIMUM_AFFECTED_RECORDS; more are answered 400.
    #[arg(long, default_value_t = 100)]
    mutation_maximum_affected_records: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let rate_limit = (args.rate_limit_requests > 0).then(|| RateLimitConfig {
        requests: args.rate_limit_requests,
        window: Duration::from_millis(args.rate_limit_window_ms.max(1)),
    });
    let config = SimConfig::new(args.api_key)
        .seed_people(args.seed)
        .rng_seed(args.rng_seed)
        .flavor(args.flavor)
        .rate_limit(rate_limit)
        .clock_offset(chrono::TimeDelta::seconds(args.clock_offset_secs))
        .mutation_maximum_affected_records(args.mutation_maximum_affected_records)
        .faults(Faults {
            rate_limit_fraction: args.fault_429,
            server_error_fraction: args.fault_5xx,
            latency: Duration::from_millis(args.latency_ms),
            drop_fraction: args.fault_drop,
            malformed_fraction: args.fault_malformed,
            truncated_fraction: args.fault_truncated,
        });
    let started = std::time::Instant::now();
    let server = SimServer::start_on(config, SocketAddr::new(args.host, args.port)).await?;
    let h = server.handle();
    tracing::info!(
        url = %server.base_url(),
        people = h.count("people"),
        companies = h.count("companies"),
        opportunities = h.count("opportunities"),
        tasks = h.count("tasks"),
        notes = h.count("notes"),
        flavor = ?h.flavor(),
        seeded_in_ms = started.elapsed().as_millis() as u64,
        "twenty-sim ready; REST API under /rest"
    );
    tokio::signal::ctrl_c().await?;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}
