//! The admin server's endpoints over a real listener, against twenty-sim with in-memory stores:
//! token checks on every admin endpoint, the sync trigger (202, 409 while running), run reports,
//! audit filters and webhook deliveries (valid, forged, missing headers, stale, replayed,
//! oversized).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use examples::admin::{AdminState, serve};
use examples::cli::app::Engine;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use twenty_client::Client;
use twenty_sim::{Faults, SimConfig, SimServer};
use twenty_sync_core::engine::FieldMap;
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{SourceOfTruth, StateStore, SyncEngine};

const KEY: &str = "sim-key";
const TOKEN: &str = "admin-token-7f3a";
const WEBHOOK_SECRET: &str = "whsec-admin";

struct Fixture {
    sim: SimServer,
    base: String,
    http: reqwest::Client,
    source: MemorySource,
    state: MemoryState,
}

async fn fixture(people: usize) -> Fixture {
    fixture_with(SimConfig::new(KEY).seed_people(people).rate_limit(None)).await
}

async fn fixture_with(config: SimConfig) -> Fixture {
    let sim = SimServer::start(config).await.expect("simulator starts");
    let client = Client::builder(sim.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .page_size(5)
        .build()
        .expect("client");
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let contacts = FieldMap::new("contacts", "people", "person")
        .field("email", "emails.primaryEmail")
        .field("first", "name.firstName")
        .field("last", "name.lastName")
        .match_key("emails.primaryEmail");
    let engine: Engine = SyncEngine::builder(
        client,
        Arc::new(source.clone()) as Arc<dyn SourceOfTruth>,
        Arc::new(state.clone()) as Arc<dyn StateStore>,
    )
    .entity(Arc::new(contacts))
    .webhook_secret(SecretString::from(WEBHOOK_SECRET))
    .build()
    .expect("engine");
    let admin = AdminState::new(
        Arc::new(engine),
        vec!["contacts".into()],
        SecretString::from(TOKEN),
    );
    let (addr, _task) = serve("127.0.0.1:0".parse().unwrap(), admin)
        .await
        .expect("admin server listens");
    Fixture {
        sim,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        source,
        state,
    }
}

impl Fixture {
    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Waits until no run is in progress; the latest runs.
    async fn settle(&self) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, status) = self.get("/status", Some(TOKEN)).await;
            let (_, runs) = self.get("/runs", Some(TOKEN)).await;
            let runs = runs["runs"].as_array().cloned().unwrap_or_default();
            if status["running"] == false && runs.iter().all(|r| r["status"] != "running") {
                return runs;
            }
            assert!(Instant::now() < deadline, "runs did not finish: {runs:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn every_admin_endpoint_refuses_a_missing_or_wrong_token() {
    let f = fixture(3).await;
    for path in ["/status", "/runs", "/runs/nope", "/audit"] {
        for token in [
            None,
            Some("wrong"),
            Some(""),
            Some("admin-token-7f3"),
            Some("admin-token-7f3a "),
        ] {
            let (status, body) = f.get(path, token.filter(|t| !t.ends_with(' '))).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "GET {path} with {token:?}"
            );
            assert_eq!(body["error"]["code"], "unauthorized", "{body}");
            assert!(
                !body.to_string().contains(TOKEN),
                "the token is never echoed"
            );
        }
    }
    for token in [None, Some("wrong")] {
        let (status, _) = f.post("/sync", token, json!({})).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "POST /sync with {token:?}"
        );
    }
    // A scheme other than Bearer is refused too.
    let res = f
        .http
        .get(format!("{}/status", f.base))
        .basic_auth("admin", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        f.settle_free_of_runs().await,
        "no run was started by refused requests"
    );
    // Open routes.
    let (status, body) = f.get("/health", None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let page = f.http.get(format!("{}/", f.base)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sync now") && !html.contains(TOKEN));
}

impl Fixture {
    async fn settle_free_of_runs(&self) -> bool {
        self.state.runs(10).await.unwrap().is_empty()
    }
}

#[tokio::test]
async fn sync_runs_in_the_background_answers_409_while_running_and_reports_are_served() {
    let f = fixture(20).await;
    // Slow the server so the first run is surely in progress when the second request arrives.
    f.sim.handle().set_faults(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    });
    let (status, body) = f.post("/sync", Some(TOKEN), json!({"mode": "pull"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = f
        .post(
            "/sync",
            Some(TOKEN),
            json!({"mode": "sync", "dry_run": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "run_in_progress");
    f.sim.handle().set_faults(Faults::default());
    let runs = f.settle().await;
    assert_eq!(runs.len(), 1, "only the accepted run happened: {runs:?}");
    assert_eq!(runs[0]["status"], "succeeded");
    assert_eq!(f.source.records("contacts").len(), 20, "the pull landed");

    // The report by id, and 404 for an unknown id.
    let id = runs[0]["run_id"].as_str().unwrap().to_owned();
    let (status, report) = f.get(&format!("/runs/{id}"), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        report["entities"]["contacts:pull"]["created"], 20,
        "{report}"
    );
    let (status, body) = f.get("/runs/no-such-run", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");

    // A dry run is accepted once the first has finished, and shows as such.
    let (status, _) = f
        .post(
            "/sync",
            Some(TOKEN),
            json!({"mode": "sync", "dry_run": true}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let runs = f.settle().await;
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["dry_run"], true, "newest first: {runs:?}");
    // The simulator runs on this host's clock: no warnings.
    assert_eq!(runs[0]["warnings"], json!([]), "{runs:?}");

    // Status: the entity's last real run, no error.
    let (_, status) = f.get("/status", Some(TOKEN)).await;
    assert_eq!(status["entities"][0]["entity"], "contacts");
    assert_eq!(status["entities"][0]["last_run"]["run_id"], id.as_str());
    assert!(status["last_sync"].is_string());
    assert!(status["last_error"].is_null(), "{status}");
    assert!(status["warnings"].is_null(), "{status}");

    // Bad requests.
    let (status, body) = f.post("/sync", Some(TOKEN), json!({"mode": "both"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pull, push or sync")
    );
}

/// Twenty's clock ten minutes behind this host's: the pull's warning shows in `/runs` and, as the
/// newest run's, in `/status`.
#[tokio::test]
async fn a_twenty_clock_far_behind_shows_in_status_and_runs() {
    let f = fixture_with(
        SimConfig::new(KEY)
            .seed_people(3)
            .rate_limit(None)
            .clock_offset(chrono::TimeDelta::minutes(-10)),
    )
    .await;
    let (status, _) = f.post("/sync", Some(TOKEN), json!({"mode": "pull"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let runs = f.settle().await;
    let warning = runs[0]["warnings"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        warning.starts_with("Twenty's clock is at least"),
        "{runs:?}"
    );
    let (_, status) = f.get("/status", Some(TOKEN)).await;
    assert_eq!(status["warnings"]["run_id"], runs[0]["run_id"], "{status}");
    assert_eq!(status["warnings"]["messages"], json!([warning]), "{status}");
}

#[tokio::test]
async fn audit_is_filtered_by_run_entity_key_and_time() {
    let f = fixture(4).await;
    f.post("/sync", Some(TOKEN), json!({"mode": "pull"})).await;
    let runs = f.settle().await;
    let run_id = runs[0]["run_id"].as_str().unwrap();
    let (status, all) = f.get(&format!("/audit?run={run_id}"), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let entries = all["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 4, "{all}");
    let twenty_id = entries[0]["twenty_id"].as_str().unwrap().to_owned();
    let (_, one) = f.get(&format!("/audit?key={twenty_id}"), Some(TOKEN)).await;
    assert_eq!(one["entries"].as_array().unwrap().len(), 1);
    let (_, none) = f.get("/audit?entity=companies", Some(TOKEN)).await;
    assert!(none["entries"].as_array().unwrap().is_empty());
    let future = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (_, later) = f
        .get(&format!("/audit?since={}", urlencode(&future)), Some(TOKEN))
        .await;
    assert!(later["entries"].as_array().unwrap().is_empty());
    let (_, limited) = f.get("/audit?limit=2", Some(TOKEN)).await;
    assert_eq!(limited["entries"].as_array().unwrap().len(), 2);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    hex::encode(
        Sha256::new()
            .chain_update(&opad)
            .chain_update(inner)
            .finalize(),
    )
}

fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
    let mut msg = ts.as_bytes().to_vec();
    msg.push(b':');
    msg.extend_from_slice(body);
    hmac_sha256(secret.as_bytes(), &msg)
}

impl Fixture {
    async fn deliver(
        &self,
        ts: Option<&str>,
        sig: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(format!("{}/webhooks/twenty", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(ts) = ts {
            req = req.header("x-twenty-webhook-timestamp", ts);
        }
        if let Some(sig) = sig {
            req = req.header("x-twenty-webhook-signature", sig);
        }
        let res = req.send().await.expect("delivery");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn webhook_deliveries_are_verified_before_anything_is_applied() {
    let f = fixture(2).await;
    let record = f.sim.handle().records("people")[0].clone();
    let body = serde_json::to_vec(&json!({
        "eventName": "person.updated",
        "objectMetadata": {"id": "meta-person", "nameSingular": "person"},
        "workspaceId": "ws",
        "webhookId": "wh-1",
        "eventDate": Utc::now().to_rfc3339(),
        "record": record,
    }))
    .unwrap();
    let now = Utc::now().timestamp_millis().to_string();
    let stale = (Utc::now() - chrono::Duration::hours(1))
        .timestamp_millis()
        .to_string();
    let good = sign(WEBHOOK_SECRET, &now, &body);

    // (what, timestamp header, signature header, body, expected status)
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Option<String>,
        Vec<u8>,
        StatusCode,
    );
    let rejected: Vec<Case> = vec![
        (
            "signed with another secret",
            Some(&now),
            Some(sign("other", &now, &body)),
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "body altered after signing",
            Some(&now),
            Some(good.clone()),
            [body.clone(), b" ".to_vec()].concat(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "no signature header",
            Some(&now),
            None,
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "no timestamp header",
            None,
            Some(good.clone()),
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "stale timestamp",
            Some(&stale),
            Some(sign(WEBHOOK_SECRET, &stale, &body)),
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "oversized body",
            Some(&now),
            Some(good.clone()),
            vec![b' '; 2 * 1024 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (what, ts, sig, body, expected) in rejected {
        let (status, _) = f.deliver(ts, sig.as_deref(), body).await;
        assert_eq!(status, expected, "{what}");
        assert!(
            f.source.records("contacts").is_empty(),
            "{what}: nothing applied"
        );
    }
    assert!(
        f.state.runs(10).await.unwrap().is_empty(),
        "no run for rejected deliveries"
    );

    let (status, answer) = f.deliver(Some(&now), Some(&good), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["outcome"], "applied");
    assert_eq!(f.source.records("contacts").len(), 1);
    let (status, answer) = f.deliver(Some(&now), Some(&good), body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["outcome"], "duplicate", "a replay is recognised");
    assert_eq!(f.source.records("contacts").len(), 1);
}
