//! Shared setup of the engine tests: a simulator, a client, memory stores, a contacts mapping.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use twenty_client::{Client, RetryPolicy};
use twenty_sim::{SimConfig, SimServer};
use twenty_sync_core::engine::{FieldMap, SyncEngine};
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{
    AuditEntry, AuditQuery, Checkpoint, Lease, PendingCreate, RecordState, RunReport, StateCommit,
    StateStore, StateStoreExt, StoreResult, SyncDirection,
};

pub const KEY: &str = "engine-test-key";
pub const ENTITY: &str = "contacts";

pub type Engine = SyncEngine<MemorySource, MemoryState>;

pub async fn sim(seed_people: usize) -> SimServer {
    SimServer::start(
        SimConfig::new(KEY)
            .seed_people(seed_people)
            .rate_limit(None),
    )
    .await
    .expect("simulator starts")
}

pub fn client(sim: &SimServer) -> Client {
    Client::builder(sim.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .retry_policy(RetryPolicy {
            max_retries: 6,
            initial_backoff: Duration::from_millis(2),
            max_backoff: Duration::from_millis(20),
            max_internal_error_retries: 6,
        })
        .build()
        .expect("client builds")
}

pub fn contacts() -> FieldMap {
    FieldMap::new(ENTITY, "people", "person")
        .field("email", "emails.primaryEmail")
        .field("first", "name.firstName")
        .field("last", "name.lastName")
        .field("title", "jobTitle")
        .match_key("emails.primaryEmail")
}

pub fn engine_with(
    sim: &SimServer,
    source: &MemorySource,
    state: &MemoryState,
    map: FieldMap,
) -> Engine {
    SyncEngine::builder(client(sim), source.clone(), state.clone())
        .entity(Arc::new(map))
        .batch_size(7)
        .build()
        .expect("engine builds")
}

pub fn engine(sim: &SimServer, source: &MemorySource, state: &MemoryState) -> Engine {
    engine_with(sim, source, state, contacts())
}

pub fn person(email: &str, first: &str, title: &str) -> Value {
    json!({"email": email, "first": first, "last": "Test", "title": title})
}

fn collect(emails: impl Iterator<Item = String>, side: &str) -> Vec<String> {
    let mut out: Vec<String> = emails.collect();
    out.sort();
    let mut seen = BTreeSet::new();
    for e in out.iter().filter(|e| !e.is_empty()) {
        assert!(seen.insert(e.clone()), "duplicate record in {side}: {e}");
    }
    out
}

/// Emails of the live people in the simulator, lower-cased and sorted; panics on duplicates.
pub fn twenty_emails(sim: &SimServer) -> Vec<String> {
    collect(
        sim.handle()
            .records("people")
            .iter()
            .filter(|p| p["deletedAt"].is_null())
            .map(|p| {
                p["emails"]["primaryEmail"]
                    .as_str()
                    .unwrap_or("")
                    .to_lowercase()
            }),
        "Twenty",
    )
}

/// Emails of the local records, lower-cased and sorted; panics on duplicates.
pub fn local_emails(source: &MemorySource) -> Vec<String> {
    collect(
        source
            .records(ENTITY)
            .iter()
            .map(|r| r.data["email"].as_str().unwrap_or("").to_lowercase()),
        "the local source",
    )
}

/// Every local record is linked to a live Twenty record with the same email.
pub async fn assert_linked(sim: &SimServer, source: &MemorySource, state: &MemoryState) {
    for r in source.records(ENTITY) {
        let st = state
            .record(ENTITY, &r.key)
            .await
            .expect("state readable")
            .unwrap_or_else(|| panic!("local record {} has no record state", r.key));
        let tw = sim
            .handle()
            .record("people", &st.twenty_id)
            .unwrap_or_else(|| panic!("record {} of {} missing in Twenty", st.twenty_id, r.key));
        assert_eq!(
            tw["emails"]["primaryEmail"].as_str().map(str::to_lowercase),
            r.data["email"].as_str().map(str::to_lowercase),
            "local {} and Twenty {} disagree",
            r.key,
            st.twenty_id
        );
    }
}

/// HMAC-SHA256 of `msg` under `key`, in hex, written out from RFC 2104 so that the tests do not
/// share the verifier's code.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    use sha2::{Digest, Sha256};
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

/// The signature Twenty sends with `body` at `ts` under `secret`: HMAC-SHA256 of `ts:body`.
pub fn webhook_signature(secret: &str, ts: &str, body: &[u8]) -> String {
    let mut msg = ts.as_bytes().to_vec();
    msg.push(b':');
    msg.extend_from_slice(body);
    hmac_sha256(secret.as_bytes(), &msg)
}

/// The body of a webhook delivery of `event` for a person `record`.
pub fn delivery(event: &str, record: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "eventName": event,
        "objectMetadata": {"id": "meta-person", "nameSingular": "person"},
        "workspaceId": "ws",
        "webhookId": "wh-1",
        "eventDate": chrono::Utc::now().to_rfc3339(),
        "record": record,
    }))
    .unwrap()
}

/// What a test changes of a [`MemoryState`] wrapped in [`Hooked`]: each hook answers in the
/// store's place (`Some`) or lets the memory store answer (`None`, the default).
#[async_trait::async_trait]
pub trait StoreHooks: Send + Sync {
    /// Before `save_run`.
    async fn save_run(&self, _report: &RunReport) -> Option<StoreResult<()>> {
        None
    }
    /// Before `acquire_lease`.
    async fn acquire_lease(&self) -> Option<StoreResult<Option<Lease>>> {
        None
    }
    /// After the memory store answered an `acquire_lease`.
    fn lease_asked(&self) {}
}

/// A [`MemoryState`] with a test's [`StoreHooks`]; every other method is the memory store's.
#[derive(Clone, Default)]
pub struct Hooked<H> {
    pub inner: MemoryState,
    pub hooks: H,
}

#[async_trait::async_trait]
impl<H: StoreHooks + 'static> StateStore for Hooked<H> {
    fn describe(&self) -> String {
        "a memory state store with a test's hooks".into()
    }
    async fn commit(&self, commit: &StateCommit) -> StoreResult<()> {
        self.inner.commit(commit).await
    }
    async fn cursor(&self, entity: &str, dir: SyncDirection) -> StoreResult<Option<Checkpoint>> {
        self.inner.cursor(entity, dir).await
    }
    async fn records(&self, entity: &str, keys: &[String]) -> StoreResult<Vec<RecordState>> {
        self.inner.records(entity, keys).await
    }
    async fn records_by_twenty_id(
        &self,
        entity: &str,
        ids: &[String],
    ) -> StoreResult<Vec<RecordState>> {
        self.inner.records_by_twenty_id(entity, ids).await
    }
    async fn pending_creates(&self, entity: &str) -> StoreResult<Vec<PendingCreate>> {
        self.inner.pending_creates(entity).await
    }
    async fn save_run(&self, report: &RunReport) -> StoreResult<()> {
        match self.hooks.save_run(report).await {
            Some(answer) => answer,
            None => self.inner.save_run(report).await,
        }
    }
    async fn runs(&self, limit: usize) -> StoreResult<Vec<RunReport>> {
        self.inner.runs(limit).await
    }
    async fn run(&self, run_id: &str) -> StoreResult<Option<RunReport>> {
        self.inner.run(run_id).await
    }
    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        self.inner.audit(query).await
    }
    async fn acquire_lease(
        &self,
        scope: &str,
        holder: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        if let Some(answer) = self.hooks.acquire_lease().await {
            return answer;
        }
        let lease = self.inner.acquire_lease(scope, holder, ttl).await;
        self.hooks.lease_asked();
        lease
    }
    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        self.inner.release_lease(lease).await
    }
}
