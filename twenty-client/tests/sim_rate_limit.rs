//! Client-side pacing against the simulator's token-bucket rate limit, in each server flavour.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use twenty_client::{Client, RateLimit, RetryPolicy};
use twenty_sim::{RateLimitConfig, ServerFlavor, SimConfig, SimServer};

const KEY: &str = "sim-rate-key";
const BUDGET: u32 = 20;
const WINDOW: Duration = Duration::from_secs(1);

async fn sim(flavor: ServerFlavor) -> SimServer {
    let config = SimConfig::new(KEY)
        .seed_people(3)
        .flavor(flavor)
        .rate_limit(Some(RateLimitConfig {
            requests: BUDGET,
            window: WINDOW,
        }));
    SimServer::start(config).await.expect("sim")
}

fn client(server: &SimServer, limit: Option<RateLimit>) -> Client {
    let b = Client::builder(server.base_url(), SecretString::from(KEY)).retry_policy(RetryPolicy {
        max_retries: 5,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(2),
        max_internal_error_retries: 5,
    });
    match limit {
        Some(l) => b.rate_limit(l),
        None => b.no_rate_limit(),
    }
    .build()
    .expect("client")
}

async fn hammer(c: &Client, n: usize) {
    for _ in 0..n {
        c.records("people")
            .list()
            .limit(1)
            .send()
            .await
            .expect("request succeeds");
    }
}

#[tokio::test]
async fn a_configured_budget_is_never_exceeded() {
    let server = sim(ServerFlavor::V2_21).await;
    let c = client(&server, Some(RateLimit::new(BUDGET, WINDOW)));
    let started = Instant::now();
    hammer(&c, 50).await;
    assert_eq!(server.handle().stats().rate_limited, 0);
    assert_eq!(c.stats().rate_limited_responses, 0);
    // 19 in the burst, then 31 paced at ~50 ms: well under 2 windows' worth of waiting.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(4),
        "{took:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_budget_is_learned_from_2_21_429s_without_headers() {
    let server = sim(ServerFlavor::V2_21).await;
    let c = client(&server, None);
    hammer(&c, 60).await;
    assert_eq!(c.rate_limit(), Some(RateLimit::new(BUDGET, WINDOW)));
    let limited = c.stats().rate_limited_responses;
    assert!((1..=2).contains(&limited), "{limited} 429s");
    server.shutdown().await;
}

#[tokio::test]
async fn the_budget_is_learned_from_newest_429s_with_retry_after() {
    let server = sim(ServerFlavor::Newest).await;
    let c = client(&server, None);
    hammer(&c, 60).await;
    assert_eq!(c.rate_limit(), Some(RateLimit::new(BUDGET, WINDOW)));
    assert!(c.stats().rate_limited_responses <= 2, "{:?}", c.stats());
    server.shutdown().await;
}

#[tokio::test]
async fn the_budget_is_learned_from_legacy_message_bodies() {
    let server = sim(ServerFlavor::Legacy).await;
    let c = client(&server, None);
    hammer(&c, 50).await;
    assert_eq!(c.rate_limit(), Some(RateLimit::new(BUDGET, WINDOW)));
    assert!(c.stats().rate_limited_responses <= 2, "{:?}", c.stats());
    server.shutdown().await;
}
