//! Scenario 3: push 12,000 local people (rows of a Postgres table, captured by the sink's outbox)
//! into a simulator that enforces Twenty's rate-limit shape (a token bucket of 100 requests per
//! window), once with the budget configured in the client and once with the client left to
//! discover it from 429 answers.

use std::time::Duration;

use secrecy::SecretString;
use sink_postgres::{PostgresSink, SinkConfig};
use twenty_sim::{RateLimitConfig, SimConfig, SimServer, SimStats};
use twenty_sync_core::RunMode;

use crate::child::{self, Limit, Outcome, Task};
use crate::env::{self, BoxError};
use crate::scenarios::e2e::{Local, Target};

/// Requests per window of Twenty's API-key budget.
pub const REQUESTS: u32 = 100;

/// One push run.
#[derive(Debug, Clone)]
pub struct PushRun {
    /// `configured` or `discovered`.
    pub how: &'static str,
    /// Local people pushed.
    pub people: usize,
    /// Records per request (batch size).
    pub batch: usize,
    /// The rate-limit window.
    pub window: Duration,
    /// The child's outcome.
    pub outcome: Outcome,
    /// The simulator's counters.
    pub stats: SimStats,
}

impl PushRun {
    /// Windows elapsed during the run.
    pub fn windows(&self) -> f64 {
        self.outcome.secs / self.window.as_secs_f64()
    }

    /// Records written per window, averaged over the run.
    pub fn records_per_window(&self) -> f64 {
        self.people as f64 / self.windows()
    }

    /// The ceiling: requests per window x batch size.
    pub fn ceiling(&self) -> f64 {
        f64::from(REQUESTS) * self.batch as f64
    }

    /// The most records the server's token bucket (full at the start, refilled evenly) allowed
    /// in the run's duration: (capacity + refills) x batch size.
    pub fn bucket_ceiling(&self) -> f64 {
        (f64::from(REQUESTS) * (1.0 + self.windows())) * self.batch as f64
    }

    /// Requests answered 429, as a fraction of all requests.
    pub fn share_429(&self) -> f64 {
        self.stats.rate_limited as f64 / self.stats.requests.max(1) as f64
    }

    /// The run's time per request (all requests, 429s included).
    pub fn per_request(&self) -> Duration {
        Duration::from_secs_f64(self.outcome.secs / self.stats.requests.max(1) as f64)
    }

    /// The time per request the window allows once the bucket's first burst is spent.
    pub fn allowed_interval(&self) -> Duration {
        self.window / REQUESTS
    }

    /// Time the client spent waiting for the rate limit (its pacer, 429 pauses and backoff).
    pub fn waited_on_limit(&self) -> Duration {
        Duration::from_millis(self.outcome.throttled_ms)
    }
}

/// Pushes `people` local people with `limit` (configured or discovered) at `batch` records per
/// request, the simulator's window set to `window`.
pub async fn run(
    people: usize,
    batch: usize,
    window: Duration,
    discover: bool,
) -> Result<PushRun, BoxError> {
    let how = if discover { "discovered" } else { "configured" };
    let local = Local::fresh(Target::Postgres, &format!("push_{how}")).await?;
    // Create the table and its capture trigger, then insert the local people in one statement.
    let sink = PostgresSink::builder(SinkConfig {
        state_schema: local.state_schema.clone(),
        ..SinkConfig::default()
    })
    .connection_string(SecretString::from(env::database_url()))
    .entity(env::people_table(&local.data_schema))
    .max_connections(1)
    .build()
    .await?;
    drop(sink);
    let pg = env::admin().await?;
    let n = i64::try_from(people)?;
    pg.execute(
        &format!(
            "INSERT INTO {} (id, full_name, email, phone, title, updated_at)
             SELECT 'local-' || i, 'person ' || i || ' benchmark', 'person' || i || '@bench.example',
                    '+1415555' || lpad((i % 10000)::text, 4, '0'), 'Engineer', now()
             FROM generate_series(1, $1::bigint) AS i",
            local.table()
        ),
        &[&n],
    )
    .await?;

    let sim = SimServer::start(
        SimConfig::new(env::API_KEY)
            .rate_limit(Some(RateLimitConfig {
                requests: REQUESTS,
                window,
            }))
            .faults(twenty_sim::Faults {
                latency: super::e2e::twenty_latency()?,
                ..twenty_sim::Faults::none()
            }),
    )
    .await?;
    let limit = if discover {
        Limit::Discover
    } else {
        Limit::Configured {
            requests: REQUESTS,
            window_ms: u64::try_from(window.as_millis())?,
        }
    };
    let task = Task {
        limit,
        batch_size: batch,
        ..local.task(&sim, RunMode::Push, false)
    };
    let outcome = child::spawn(&task).await?;
    let stats = sim.stats();
    let in_twenty = sim.handle().count("people");
    sim.shutdown().await;
    local.remove().await?;
    let c = outcome.dir("push");
    if c.created as usize != people || in_twenty != people || outcome.failures > 0 {
        return Err(format!(
            "push ({how} limit): {people} local people, {} created, {in_twenty} in Twenty, {} failures {:?}",
            c.created, outcome.failures, outcome.failure_samples
        )
        .into());
    }
    Ok(PushRun {
        how,
        people,
        batch,
        window,
        outcome,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run of `requests` requests over `secs` seconds under a `window_ms` window, having
    /// waited `throttled_ms` on the limit.
    fn run(requests: u64, secs: f64, window_ms: u64, throttled_ms: u64) -> PushRun {
        let outcome: Outcome = serde_json::from_value(serde_json::json!({
            "secs": secs, "setup_secs": 0.0, "peak_rss_mib": 0.0, "status": "Succeeded",
            "counts": {}, "failures": 0, "failure_samples": [], "requests": requests,
            "retries": 0, "throttled_ms": throttled_ms, "planned": {}
        }))
        .expect("an outcome");
        PushRun {
            how: "configured",
            people: 60_000,
            batch: 200,
            window: Duration::from_millis(window_ms),
            outcome,
            stats: SimStats {
                requests,
                ..SimStats::default()
            },
        }
    }

    #[test]
    fn a_chain_bound_run_takes_longer_per_request_than_allowed_and_waits_on_nothing() {
        // The 11:13 run's push at 200 per request: 300 requests in 18.1 s, window 7.2 s.
        let r = run(300, 18.1, 7_200, 0);
        assert_eq!(r.allowed_interval(), Duration::from_millis(72));
        assert_eq!(r.per_request().as_millis(), 60);
        assert_eq!(r.waited_on_limit(), Duration::ZERO);
        // At 60 ms a request the run outlasts what the bucket allows: 85% of its ceiling.
        assert!(60_000.0 / r.bucket_ceiling() < 0.95);
    }

    #[test]
    fn a_paced_run_waits_on_the_limit_and_reaches_the_bucket_ceiling() {
        let r = run(300, 14.9, 7_200, 9_800);
        assert_eq!(r.waited_on_limit(), Duration::from_millis(9_800));
        assert!(r.per_request() < r.allowed_interval());
        assert!(60_000.0 / r.bucket_ceiling() >= 0.95);
    }

    #[test]
    fn no_requests_does_not_divide_by_zero() {
        assert_eq!(run(0, 1.0, 7_200, 0).per_request(), Duration::from_secs(1));
    }
}
