//! Shared helpers of the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use secrecy::SecretString;
use twenty_client::{Client, ClientBuilder, RetryPolicy};

pub const KEY: &str = "test-key-7f3c9b1e";
pub const UA: &str = "twenty-client-tests/1";

/// Directory of the real Twenty 2.21.0 captures (shared/ sits beside the clone).
pub const CAPTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/twenty-api/captures-2.21.0"
);

/// One capture file as JSON.
pub fn capture(name: &str) -> serde_json::Value {
    let path = format!("{CAPTURES}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

/// The response body of a capture, as the bytes the server sent (re-serialised JSON or raw text).
pub fn capture_body(name: &str) -> String {
    let c = capture(name);
    let r = &c["response"];
    match r.get("body_json") {
        Some(v) if !v.is_null() => v.to_string(),
        _ => r["body_text"].as_str().unwrap_or_default().to_owned(),
    }
}

pub fn capture_status(name: &str) -> usize {
    capture(name)["response"]["status"].as_u64().unwrap_or(0) as usize
}

pub fn builder(base: &str) -> ClientBuilder {
    Client::builder(
        url::Url::parse(base).expect("mock url"),
        SecretString::from(KEY),
    )
    .user_agent(UA)
    .no_rate_limit()
    .retry_policy(RetryPolicy {
        max_retries: 2,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_internal_error_retries: 2,
    })
}

pub fn client(base: &str) -> Client {
    builder(base).build().expect("client")
}
