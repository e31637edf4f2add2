//! The admin server's sync trigger after a run that panics: the "run in progress" flag is
//! cleared, so `POST /sync` is accepted again instead of answering 409 until a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use examples::admin::{AdminState, serve};
use examples::cli::app::Engine;
use futures::stream::BoxStream;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use twenty_client::Client;
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::engine::FieldMap;
use twenty_sync_core::memory::MemoryState;
use twenty_sync_core::model::{ApplyBatch, Checkpoint, LocalChange, LocalRecord, StateWritten};
use twenty_sync_core::{SourceOfTruth, StateStore, StoreResult, SyncEngine};

const KEY: &str = "sim-key";
const TOKEN: &str = "admin-token-panic";

/// A source of truth whose every read or write panics, counting the calls.
#[derive(Default)]
struct PanickingSource {
    calls: AtomicUsize,
}

impl PanickingSource {
    fn boom(&self, what: &str) -> ! {
        self.calls.fetch_add(1, Ordering::SeqCst);
        panic!("PanickingSource::{what} panics on purpose");
    }
}

#[async_trait]
impl SourceOfTruth for PanickingSource {
    fn describe(&self) -> String {
        "a source that panics".into()
    }

    async fn changes_since(
        &self,
        _entity: &str,
        _checkpoint: Option<&Checkpoint>,
    ) -> StoreResult<BoxStream<'static, StoreResult<LocalChange>>> {
        self.boom("changes_since")
    }

    async fn apply(&self, _batch: &ApplyBatch) -> StoreResult<StateWritten> {
        self.boom("apply")
    }

    async fn get(&self, _entity: &str, _keys: &[String]) -> StoreResult<Vec<LocalRecord>> {
        self.boom("get")
    }
}

async fn post_sync(http: &reqwest::Client, base: &str) -> (StatusCode, Value) {
    let res = http
        .post(format!("{base}/sync"))
        .bearer_auth(TOKEN)
        .json(&json!({"mode": "sync"}))
        .send()
        .await
        .expect("request");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Waits until `/status` says no run is in progress; false after `limit`.
async fn wait_until_idle(http: &reqwest::Client, base: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let status: Value = http
            .get(format!("{base}/status"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON status");
        if status["running"] == false {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_run_that_panics_does_not_block_the_next_trigger() {
    let sim = SimServer::start(SimConfig::new(KEY).seed_people(3).rate_limit(None))
        .await
        .expect("simulator starts");
    let client = Client::builder(sim.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .build()
        .expect("client");
    let source = Arc::new(PanickingSource::default());
    let contacts = FieldMap::new("contacts", "people", "person")
        .field("email", "emails.primaryEmail")
        .match_key("emails.primaryEmail");
    let engine: Engine = SyncEngine::builder(
        client,
        source.clone() as Arc<dyn SourceOfTruth>,
        Arc::new(MemoryState::new()) as Arc<dyn StateStore>,
    )
    .entity(Arc::new(contacts))
    .build()
    .expect("engine");
    let admin = AdminState::new(
        Arc::new(engine),
        vec!["contacts".into()],
        SecretString::from(TOKEN),
    );
    let (addr, _task) = serve("127.0.0.1:0".parse().unwrap(), admin.clone())
        .await
        .expect("admin server listens");
    let (base, http) = (format!("http://{addr}"), reqwest::Client::new());

    for attempt in 1..=2 {
        let (status, body) = post_sync(&http, &base).await;
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "trigger {attempt} after a panicking run: {body}"
        );
        assert!(
            wait_until_idle(&http, &base, Duration::from_secs(10)).await,
            "run {attempt} still marked in progress after it panicked"
        );
        assert!(
            source.calls.load(Ordering::SeqCst) >= attempt,
            "run {attempt} reached the panicking source"
        );
    }
    assert!(!admin.is_running());
    sim.shutdown().await;
}
