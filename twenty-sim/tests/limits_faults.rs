//! Rate limiting per flavour, fault injection, counters.

mod common;

use std::time::Duration;

use common::{KEY, Sim, captured_body};
use serde_json::Value;
use twenty_sim::{Faults, RateLimitConfig, ServerFlavor, SimConfig};

fn limited(flavor: ServerFlavor, n: u32) -> SimConfig {
    SimConfig::new(KEY)
        .flavor(flavor)
        .rate_limit(Some(RateLimitConfig {
            requests: n,
            window: Duration::from_secs(60),
        }))
}

#[tokio::test]
async fn the_101st_request_gets_the_captured_429_without_headers() {
    let sim = Sim::with(limited(ServerFlavor::V2_21, 100)).await;
    for _ in 0..100 {
        assert_eq!(sim.get("/rest/companies?limit=1").await.0, 200);
    }
    let r = sim
        .http
        .get(sim.url("/rest/companies?limit=1"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());
    assert!(r.headers().get("x-ratelimit-limit").is_none());
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        captured_body("90_rate_limit_429.json")
    );
    let stats = sim.server.handle().stats();
    assert_eq!(stats.rate_limited, 1);
    assert_eq!(stats.by_status[&200], 100);
    assert_eq!(stats.requests, 101);
    assert_eq!(stats.by_route["GET /rest/{plural}"], 101);
}

#[tokio::test]
async fn newest_flavor_429_carries_usage_limit_body_and_headers() {
    let sim = Sim::with(limited(ServerFlavor::Newest, 2)).await;
    sim.get("/rest/people").await;
    sim.get("/rest/people").await;
    let r = sim
        .http
        .get(sim.url("/rest/people"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry));
    assert_eq!(r.headers()["x-ratelimit-limit"], "2");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "RATE_LIMITED");
    assert_eq!(b["retryAfterSeconds"].as_u64(), Some(retry));
    assert_eq!(b["limit"], 2);
}

#[tokio::test]
async fn legacy_flavor_429_uses_a_message_string() {
    let sim = Sim::with(limited(ServerFlavor::Legacy, 1)).await;
    sim.get("/rest/people").await;
    let (s, b) = sim.get("/rest/people").await;
    assert_eq!(s, 429);
    assert_eq!(b["message"], "Limit reached (1 tokens per 60000 ms)");
}

#[tokio::test]
async fn a_short_window_refills_and_limits_change_at_runtime() {
    let sim = Sim::with(SimConfig::new(KEY).rate_limit(Some(RateLimitConfig {
        requests: 2,
        window: Duration::from_millis(200),
    })))
    .await;
    sim.get("/rest/people").await;
    sim.get("/rest/people").await;
    assert_eq!(sim.get("/rest/people").await.0, 429);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(sim.get("/rest/people").await.0, 200);
    sim.server.handle().set_rate_limit(None);
    for _ in 0..10 {
        assert_eq!(sim.get("/rest/people").await.0, 200);
    }
}

#[tokio::test]
async fn unauthenticated_requests_do_not_spend_tokens() {
    let sim = Sim::with(limited(ServerFlavor::V2_21, 1)).await;
    for _ in 0..3 {
        let r = sim.http.get(sim.url("/rest/people")).send().await.unwrap();
        assert_eq!(r.status(), 403);
    }
    assert_eq!(sim.get("/rest/people").await.0, 200);
}

#[tokio::test]
async fn injected_faults_follow_the_configured_fractions() {
    let sim = Sim::with(
        SimConfig::new(KEY)
            .seed_people(5)
            .rate_limit(None)
            .rng_seed(3),
    )
    .await;
    let h = sim.server.handle();

    h.set_faults(Faults {
        server_error_fraction: 1.0,
        ..Faults::default()
    });
    let (s, _) = sim.get("/rest/people").await;
    assert!([500, 502, 503, 504].contains(&s.as_u16()), "{s}");

    h.set_faults(Faults {
        rate_limit_fraction: 1.0,
        ..Faults::default()
    });
    assert_eq!(sim.get("/rest/people").await.0, 429);

    h.set_faults(Faults {
        drop_fraction: 1.0,
        ..Faults::default()
    });
    let err = sim
        .http
        .get(sim.url("/rest/people"))
        .bearer_auth(KEY)
        .send()
        .await;
    assert!(err.is_err(), "dropped connection gives a transport error");

    h.set_faults(Faults {
        truncated_fraction: 1.0,
        ..Faults::default()
    });
    let r = sim
        .http
        .get(sim.url("/rest/people"))
        .bearer_auth(KEY)
        .send()
        .await;
    let body = match r {
        Ok(r) => r.bytes().await.map(|b| b.to_vec()),
        Err(e) => Err(e),
    };
    assert!(body.is_err(), "truncated body fails to read");

    h.set_faults(Faults {
        malformed_fraction: 1.0,
        ..Faults::default()
    });
    let r = sim
        .http
        .get(sim.url("/rest/people"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "malformed JSON"
    );

    h.set_faults(Faults {
        latency: Duration::from_millis(120),
        ..Faults::default()
    });
    let t = std::time::Instant::now();
    assert_eq!(sim.get("/rest/people").await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(120));

    h.set_faults(Faults::default());
    assert_eq!(sim.get("/rest/people").await.0, 200);
    assert!(h.stats().dropped >= 1);
}

#[tokio::test]
async fn fault_sequences_are_reproducible_for_a_seed() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let sim = Sim::with(
            SimConfig::new(KEY)
                .rate_limit(None)
                .rng_seed(seed)
                .faults(Faults {
                    server_error_fraction: 0.3,
                    rate_limit_fraction: 0.2,
                    ..Faults::default()
                }),
        )
        .await;
        let mut out = Vec::new();
        for _ in 0..30 {
            out.push(sim.get("/rest/people?limit=1").await.0.as_u16());
        }
        out
    }
    let a = statuses(9).await;
    assert_eq!(a, statuses(9).await);
    assert!(a.contains(&200) && a.iter().any(|s| *s != 200));
}

#[test]
fn config_debug_redacts_the_api_key() {
    let c = SimConfig::new("super-secret-key");
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("super-secret-key"));
    assert!(dbg.contains("REDACTED"));
}

#[tokio::test]
async fn the_most_requests_in_flight_at_once_are_counted() {
    let sim = Sim::with(SimConfig::new(KEY).rate_limit(None).faults(Faults {
        latency: Duration::from_millis(200),
        ..Faults::default()
    }))
    .await;
    let h = sim.server.handle();
    assert_eq!(sim.get("/rest/people").await.0, 200);
    assert_eq!(sim.get("/rest/people").await.0, 200);
    assert_eq!(h.stats().max_in_flight, 1, "one after the other");
    // Three at once, each held 200 ms by the latency: all three in flight together.
    let (a, b, c) = tokio::join!(
        sim.get("/rest/people"),
        sim.get("/rest/companies"),
        sim.get("/rest/people?limit=1")
    );
    assert!([a.0, b.0, c.0].iter().all(|s| *s == 200));
    assert_eq!(h.stats().max_in_flight, 3);
    h.reset_stats();
    assert_eq!(sim.get("/rest/people").await.0, 200);
    assert_eq!(h.stats().max_in_flight, 1, "counted again from the reset");
}

/// Twenty's throttler (`throttler.service.ts`) refills `floor(elapsed * rate)` whole tokens and
/// restarts the refill clock on every allowed request: the fraction of a token earned since the
/// previous allowed request is lost.
#[tokio::test]
async fn refill_counts_whole_tokens_since_the_last_allowed_request() {
    // One token per 500 ms.
    let sim = Sim::with(SimConfig::new(KEY).rate_limit(Some(RateLimitConfig {
        requests: 2,
        window: Duration::from_millis(1000),
    })))
    .await;
    assert_eq!(sim.get("/rest/people").await.0, 200);
    assert_eq!(sim.get("/rest/people").await.0, 200);
    for _ in 0..2 {
        // 1.5 tokens' worth of time: one token counts, the half is lost.
        tokio::time::sleep(Duration::from_millis(750)).await;
        assert_eq!(sim.get("/rest/people").await.0, 200);
    }
    // A continuous bucket would hold 2 × 0.5 = 1 token now.
    assert_eq!(sim.get("/rest/people").await.0, 429);
}
