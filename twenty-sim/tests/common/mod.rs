//! Helpers shared by the integration tests: a server, a raw reqwest client, capture loading.
#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::Value;
use twenty_sim::{ServerFlavor, SimConfig, SimServer};

pub const KEY: &str = "test-api-key";

pub fn capture(name: &str) -> Value {
    let path = format!(
        "{}/../../shared/twenty-api/captures-2.21.0/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

/// The response body of a capture.
pub fn captured_body(name: &str) -> Value {
    capture(name)["response"]["body_json"].clone()
}

pub struct Sim {
    pub server: SimServer,
    pub http: reqwest::Client,
}

impl Sim {
    pub async fn start(people: usize) -> Sim {
        Self::with(SimConfig::new(KEY).seed_people(people).rate_limit(None)).await
    }

    pub async fn flavor(people: usize, flavor: ServerFlavor) -> Sim {
        Self::with(
            SimConfig::new(KEY)
                .seed_people(people)
                .rate_limit(None)
                .flavor(flavor),
        )
        .await
    }

    pub async fn with(config: SimConfig) -> Sim {
        let server = SimServer::start(config).await.expect("simulator starts");
        Sim {
            server,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!(
            "{}{}",
            self.server.base_url(),
            path_and_query.trim_start_matches('/')
        )
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(KEY);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request reaches the simulator");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }
}

/// Keys of a JSON object, in order.
pub fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Percent-encode a query value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
