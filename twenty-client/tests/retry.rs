//! Retries, backoff and rate-limit handling.

mod common;

use std::time::{Duration, Instant};

use common::{builder, client};
use mockito::Matcher;
use serde_json::json;
use twenty_client::{ErrorKind, RateLimit, Record, RetryPolicy};

const OK_LIST: &str = r#"{"data":{"people":[]},"totalCount":0,"pageInfo":{"hasNextPage":false}}"#;

#[tokio::test]
async fn a_429_with_retry_after_is_honoured_then_retried() {
    let mut server = mockito::Server::new_async().await;
    let limited = server
        .mock("GET", "/rest/people")
        .match_query(Matcher::Any)
        .with_status(429)
        .with_header("retry-after", "1")
        .with_body(
            r#"{"statusCode":429,"error":"RATE_LIMITED","messages":["Rate limit exceeded"]}"#,
        )
        .expect(1)
        .create_async()
        .await;
    let c = client(&server.url());
    let started = Instant::now();
    let pending = tokio::spawn({
        let c = c.clone();
        async move { c.records("people").list().send().await }
    });
    // Once the 429 has been seen, swap in a success for the retry.
    while c.stats().rate_limited_responses == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    limited.remove_async().await;
    let ok = server
        .mock("GET", "/rest/people")
        .match_query(Matcher::Any)
        .with_body(OK_LIST)
        .create_async()
        .await;
    pending.await.expect("join").expect("retried ok");
    ok.assert_async().await;
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        started.elapsed()
    );
    let s = c.stats();
    assert_eq!((s.requests, s.retries, s.rate_limited_responses), (2, 1, 1));
    assert!(s.throttled >= Duration::from_millis(900), "{s:?}");
}

#[tokio::test]
async fn retry_after_seconds_in_the_body_is_read() {
    let mut server = mockito::Server::new_async().await;
    let _m = server
        .mock("GET", Matcher::Any)
        .with_status(429)
        .with_body(r#"{"statusCode":429,"messages":["x"],"retryAfterSeconds":12}"#)
        .create_async()
        .await;
    let c = builder(&server.url())
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client");
    let err = c.records("people").get("x").send().await.expect_err("429");
    assert_eq!(
        err.kind(),
        &ErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(12))
        }
    );
    assert!(err.is_temporary());
}

#[tokio::test]
async fn a_2_21_429_without_headers_teaches_the_client_the_servers_budget() {
    let mut server = mockito::Server::new_async().await;
    let _m = server
        .mock("GET", Matcher::Any)
        .with_status(429)
        .with_body(common::capture_body("90_rate_limit_429.json"))
        .create_async()
        .await;
    let c = builder(&server.url())
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client");
    assert_eq!(c.rate_limit(), None);
    let err = c.records("people").get("x").send().await.expect_err("429");
    assert!(matches!(
        err.kind(),
        ErrorKind::RateLimited { retry_after: None }
    ));
    assert_eq!(
        c.rate_limit(),
        Some(RateLimit::new(100, Duration::from_secs(60)))
    );
}

#[tokio::test]
async fn server_errors_500_502_503_504_are_retried_for_idempotent_requests() {
    for status in [500usize, 502, 503, 504] {
        let mut server = mockito::Server::new_async().await;
        let failing = server
            .mock("PATCH", "/rest/people/p1")
            .with_status(status)
            .expect(3)
            .create_async()
            .await;
        let c = client(&server.url());
        let err = c
            .records("people")
            .update("p1", json!({"city": "Paris"}))
            .send()
            .await
            .expect_err("fails after retries");
        failing.assert_async().await;
        assert_eq!(
            err.kind(),
            &ErrorKind::Server {
                status: status as u16
            }
        );
        assert_eq!(c.stats().retries, 2);
    }
}

/// A 500 that repeats is a bug on the server more often than not: it gets
/// `max_internal_error_retries`, while a 503 (the server is restarting) gets all `max_retries`.
#[tokio::test]
async fn a_repeated_500_gets_fewer_retries_than_a_503() {
    for (status, internal_budget, requests) in [(500usize, 1, 2), (500, 0, 1), (503, 1, 5)] {
        let mut server = mockito::Server::new_async().await;
        let failing = server
            .mock("GET", Matcher::Any)
            .with_status(status)
            .expect(requests)
            .create_async()
            .await;
        let c = builder(&server.url())
            .retry_policy(RetryPolicy {
                max_retries: 4,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(5),
                max_internal_error_retries: internal_budget,
            })
            .build()
            .expect("client");
        let err = c
            .records("people")
            .get("p1")
            .send()
            .await
            .expect_err("fails after its retries");
        failing.assert_async().await;
        assert!(err.is_temporary(), "{status}");
        assert_eq!(
            c.stats().retries,
            requests as u64 - 1,
            "{status}, budget {internal_budget}"
        );
    }
}

#[tokio::test]
async fn other_5xx_are_permanent_and_not_retried() {
    for status in [501usize, 505] {
        let mut server = mockito::Server::new_async().await;
        let m = server
            .mock("GET", Matcher::Any)
            .with_status(status)
            .expect(1)
            .create_async()
            .await;
        let c = client(&server.url());
        let err = c.records("people").get("p").send().await.expect_err("5xx");
        m.assert_async().await;
        assert!(!err.is_temporary(), "{status}");
        assert_eq!(c.stats().retries, 0, "{status}");
    }
}

#[tokio::test]
async fn a_plain_create_is_never_resent_after_a_5xx() {
    // The create may have run before the server failed: sending it again could create twice.
    for status in [500u16, 503] {
        let mut server = mockito::Server::new_async().await;
        let m = server
            .mock("POST", "/rest/people")
            .match_query(Matcher::Missing)
            .with_status(usize::from(status))
            .expect(1)
            .create_async()
            .await;
        let c = client(&server.url());
        let err = create_one(&c).await;
        m.assert_async().await;
        assert_eq!(err.kind(), &ErrorKind::Server { status });
        assert!(err.is_temporary());
        assert_eq!(c.stats().retries, 0);
    }
}

#[tokio::test]
async fn an_upsert_is_resent_after_a_5xx() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("POST", "/rest/batch/people")
        .match_query(Matcher::Exact("upsert=true".into()))
        .with_status(503)
        .expect(3)
        .create_async()
        .await;
    let c = client(&server.url());
    let _ = c
        .records("people")
        .create_many(vec![Record::from(json!({"id": "a"}))])
        .upsert(true)
        .send()
        .await
        .expect_err("503");
    m.assert_async().await;
}

#[tokio::test]
async fn a_plain_create_is_resent_after_a_429_because_the_throttler_ran_nothing() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("POST", "/rest/people")
        .with_status(429)
        .with_header("retry-after", "0")
        .with_body(r#"{"statusCode":429,"messages":["Limit reached"]}"#)
        .expect(3)
        .create_async()
        .await;
    let c = client(&server.url());
    let err = create_one(&c).await;
    m.assert_async().await;
    assert_eq!(c.stats().rate_limited_responses, 3);
    assert!(err.is_temporary());
}

#[tokio::test]
async fn connection_refused_is_a_temporary_transport_error_retried() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let c = client(&format!("http://{addr}/"));
    let err = c
        .records("people")
        .get("x")
        .send()
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), &ErrorKind::Transport);
    assert!(err.is_temporary());
    assert_eq!(c.stats().requests, 3);
}

#[tokio::test]
async fn the_rate_limiter_paces_requests_and_is_shared_by_clones() {
    let mut server = mockito::Server::new_async().await;
    let _m = server
        .mock("GET", Matcher::Any)
        .with_body(OK_LIST)
        .create_async()
        .await;
    // A budget of one request per 50 ms: no burst beyond one, then one every ~50 ms.
    let c = builder(&server.url())
        .rate_limit(RateLimit::new(1, Duration::from_millis(50)))
        .build()
        .expect("client");
    let c2 = c.clone();
    let started = Instant::now();
    for i in 0..6 {
        let client = if i % 2 == 0 { &c } else { &c2 };
        client.records("people").list().send().await.expect("ok");
    }
    // The first request is immediate; the next five wait ~50 ms each.
    assert!(
        started.elapsed() >= Duration::from_millis(240),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(c2.stats().requests, 6);
    assert!(c.stats().throttled >= Duration::from_millis(200));
}

/// A 200 whose JSON body ends early: `n` such answers, then the whole body.
/// A plain create of one person that the mock server fails; its error.
async fn create_one(c: &twenty_client::Client) -> twenty_client::Error {
    c.records("people")
        .create(&Record::from(json!({"city": "Paris"})))
        .send()
        .await
        .expect_err("the server fails the create")
}

fn truncated_then_whole(n: usize, whole: &'static str) -> impl Fn(&mockito::Request) -> Vec<u8> {
    let hits = std::sync::atomic::AtomicUsize::new(0);
    move |_| {
        if hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < n {
            whole.as_bytes()[..whole.len() / 2].to_vec()
        } else {
            whole.as_bytes().to_vec()
        }
    }
}

#[tokio::test]
async fn a_truncated_body_on_a_read_is_fetched_again() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("GET", "/rest/people")
        .match_query(Matcher::Any)
        .with_body_from_request(truncated_then_whole(1, OK_LIST))
        .expect(2)
        .create_async()
        .await;
    let c = client(&server.url());
    c.records("people")
        .list()
        .send()
        .await
        .expect("the second, whole answer is decoded");
    m.assert_async().await;
    assert_eq!(c.stats().retries, 1);
}

#[tokio::test]
async fn a_truncated_body_on_a_create_is_a_temporary_error_not_a_second_create() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("POST", "/rest/people")
        .with_status(201)
        .with_body_from_request(truncated_then_whole(
            1,
            r#"{"data":{"createPerson":{"id":"20202020-0000-4000-8000-000000000001"}}}"#,
        ))
        .expect(1)
        .create_async()
        .await;
    let c = client(&server.url());
    let err = c
        .records("people")
        .create(&Record::from(json!({"name": {"firstName": "Ada"}})))
        .send()
        .await
        .expect_err("a cut-off answer to a create is not trusted");
    assert!(matches!(err.kind(), ErrorKind::Decode { .. }), "{err}");
    assert!(
        err.is_temporary(),
        "the caller may re-check and retry: {err}"
    );
    m.assert_async().await;
}
