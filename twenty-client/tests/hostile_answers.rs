//! Answers no sane server sends: they are ignored, capped or redacted, never a panic or a leak.

mod common;

use std::time::Duration;

use common::{builder, capture_body};
use mockito::Matcher;
use twenty_client::webhook::CreateWebhook;
use twenty_client::{Client, ErrorKind, RetryPolicy};

const OK_LIST: &str = r#"{"data":{"people":[]},"totalCount":0,"pageInfo":{"hasNextPage":false}}"#;

fn no_retries(server: &mockito::Server) -> Client {
    builder(&server.url())
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_date_header_at_the_end_of_time_is_ignored_not_a_panic() {
    let mut server = mockito::Server::new_async().await;
    let _m = server
        .mock("GET", "/rest/people")
        .match_query(Matcher::Any)
        .with_header("date", "31 Dec 262142 23:59:59 GMT")
        .with_body(OK_LIST)
        .create_async()
        .await;
    let c = no_retries(&server);
    c.people().list().send().await.expect("the answer is read");
    assert_eq!(c.server_clock(), None);
}

/// A 429 announcing a budget the client cannot represent, or one longer than a day, teaches it
/// nothing: the client keeps its budget and fails with the rate-limit error.
#[tokio::test]
async fn a_429_announcing_an_absurd_budget_is_ignored_not_a_panic() {
    let real = capture_body("90_rate_limit_429.json");
    assert!(real.contains("100 tokens per 60000 ms"), "{real}");
    let bodies = [
        r#"{"statusCode":429,"limit":100,"periodCount":1e20}"#.to_owned(),
        r#"{"statusCode":429,"limit":1,"periodCount":1.8e19}"#.to_owned(),
        r#"{"statusCode":429,"limit":1,"periodCount":9e15}"#.to_owned(),
        real.replace("60000 ms", "99999999999999999999999 ms"),
        real.replace("60000 ms", "86400001 ms"),
    ];
    for body in bodies {
        for status in [429, 400] {
            let mut server = mockito::Server::new_async().await;
            let body = body.replace("\"statusCode\":429", &format!("\"statusCode\":{status}"));
            let _m = server
                .mock("GET", Matcher::Any)
                .with_status(status)
                .with_body(&body)
                .create_async()
                .await;
            let c = no_retries(&server);
            let err = c.people().get("x").send().await.expect_err("limited");
            if status == 429 || body.contains("Limit reached") {
                assert!(
                    matches!(err.kind(), ErrorKind::RateLimited { .. }),
                    "{status} {body}: {err}"
                );
            }
            assert_eq!(c.rate_limit(), None, "{status} {body}");
        }
    }
}

#[tokio::test]
async fn a_retry_after_date_far_ahead_is_capped_like_the_seconds() {
    let mut server = mockito::Server::new_async().await;
    let _m = server
        .mock("GET", Matcher::Any)
        .with_status(429)
        .with_header("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")
        .with_body(r#"{"statusCode":429,"messages":["Rate limit exceeded"]}"#)
        .create_async()
        .await;
    let c = no_retries(&server);
    let err = c.people().get("x").send().await.expect_err("limited");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
}

const SECRET: &str = "s3cr3t-webhook";

fn new_hook() -> CreateWebhook {
    CreateWebhook {
        target_url: "http://127.0.0.1:18099/hook".into(),
        operations: vec!["person.created".into()],
        description: Some("sync test".into()),
        secret: Some(SECRET.into()),
    }
}

/// Display and Debug show no part of the secret (nor its start or end).
fn assert_no_secret(err: &twenty_client::Error) {
    let shown = format!("{err}\n{err:?}");
    for part in [SECRET, "s3cr3t", "-webhook\"", "3-web"] {
        assert!(!shown.contains(part), "{part:?} in {shown}");
    }
}

/// The real 2.21.0 answer to a create, cut off after `cut` bytes (inside the secret's value).
fn webhook_answer_cut_in_the_secret(capture: &str) -> Vec<u8> {
    let whole = capture_body(capture);
    let at = whole.find(SECRET).expect("the capture carries the secret") + 6;
    whole.as_bytes()[..at].to_vec()
}

#[tokio::test]
async fn a_truncated_webhook_answer_never_quotes_the_secret() {
    let mut server = mockito::Server::new_async().await;
    let create_body =
        webhook_answer_cut_in_the_secret("edge-cases/219_q8_create_webhook_metadata_path.json");
    let whole = capture_body("edge-cases/219_q8_create_webhook_metadata_path.json");
    let past_secret = whole.find(SECRET).expect("secret") + SECRET.len() + 20;
    let _c = server
        .mock("POST", "/rest/metadata/webhooks")
        .with_status(201)
        .with_body(create_body)
        .create_async()
        .await;
    let _l = server
        .mock("GET", "/rest/metadata/webhooks")
        .with_body(&whole.as_bytes()[..past_secret])
        .create_async()
        .await;
    let c = no_retries(&server);
    let err = c.webhooks().create(new_hook()).await.expect_err("cut off");
    assert!(matches!(err.kind(), ErrorKind::Decode { .. }), "{err}");
    assert_no_secret(&err);
    let err = c.webhooks().list().await.expect_err("cut off");
    assert!(matches!(err.kind(), ErrorKind::Decode { .. }), "{err}");
    assert!(err.to_string().contains("[REDACTED]"), "{err}");
    assert_no_secret(&err);
}

#[tokio::test]
async fn a_webhook_answer_of_the_wrong_shape_never_quotes_the_secret() {
    let mut server = mockito::Server::new_async().await;
    let _c = server
        .mock("POST", "/rest/metadata/webhooks")
        .with_status(201)
        .with_body(r#"{"id":"h1","targetUrl":"http://127.0.0.1:18099/hook","secret":31415926535}"#)
        .create_async()
        .await;
    let c = no_retries(&server);
    let err = c
        .webhooks()
        .create(new_hook())
        .await
        .expect_err("wrong shape");
    assert!(matches!(err.kind(), ErrorKind::Decode { .. }), "{err}");
    let shown = format!("{err}\n{err:?}");
    assert!(!shown.contains("31415926535"), "{shown}");
}

#[tokio::test]
async fn an_error_answer_never_quotes_a_secret() {
    let mut server = mockito::Server::new_async().await;
    let _c = server
        .mock("POST", "/rest/metadata/webhooks")
        .with_status(500)
        .with_body(format!(r#"<proxy>{{"Secret":"{SECRET}","statusCode":500"#))
        .create_async()
        .await;
    let c = no_retries(&server);
    let err = c.webhooks().create(new_hook()).await.expect_err("500");
    assert_eq!(err.kind(), &ErrorKind::Server { status: 500 });
    assert_no_secret(&err);
}

#[test]
fn a_date_at_the_end_of_chronos_range_bounds_no_clock() {
    let now = chrono::Utc::now();
    // chrono's last second (year 262143 is already refused by its parser).
    for date in [
        "31 Dec 262142 23:59:59 GMT",
        "Sun, 31 Dec 262142 23:59:59 +0000",
        "31 Dec 262142 23:59:59.5 GMT",
    ] {
        assert_eq!(
            twenty_client::ServerClock::from_http_date(date, now, now),
            None,
            "{date}"
        );
    }
}
