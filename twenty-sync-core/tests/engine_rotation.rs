//! API key rotation: a 401 re-resolves the key once from the secret provider.

mod engine_support;

use std::sync::Arc;

use async_trait::async_trait;
use engine_support::*;
use secrecy::SecretString;
use twenty_client::Client;
use twenty_sync_core::engine::{RunOptions, SyncEngine, SyncErrorKind};
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{SecretProvider, StoreResult};

#[derive(Debug)]
struct Fixed(Option<&'static str>);

#[async_trait]
impl SecretProvider for Fixed {
    fn describe(&self) -> String {
        "fixed test secret".into()
    }
    async fn resolve(&self, _name: &str) -> StoreResult<Option<SecretString>> {
        Ok(self.0.map(SecretString::from))
    }
}

fn stale_client(sim: &twenty_sim::SimServer) -> Client {
    Client::builder(sim.base_url(), SecretString::from("revoked-key-value"))
        .no_rate_limit()
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_401_re_resolves_the_key_once_and_succeeds() {
    let sim = sim(2).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = SyncEngine::builder(stale_client(&sim), source.clone(), state)
        .entity(Arc::new(contacts()))
        .api_key_secret(Arc::new(Fixed(Some(KEY))), "twenty_api_key")
        .build()
        .unwrap();
    let r = engine.pull(RunOptions::new()).await.expect("rotated");
    assert_eq!(r.entities["contacts:pull"].created, 2);
    let debug = format!("{engine:?}");
    assert!(
        !debug.contains("revoked-key-value") && !debug.contains(KEY),
        "{debug}"
    );
}

#[tokio::test]
async fn a_401_without_a_new_key_fails_the_run_clearly() {
    let sim = sim(2).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = SyncEngine::builder(stale_client(&sim), source.clone(), state)
        .entity(Arc::new(contacts()))
        .api_key_secret(Arc::new(Fixed(None)), "twenty_api_key")
        .build()
        .unwrap();
    let err = engine
        .pull(RunOptions::new())
        .await
        .expect_err("unauthorized");
    assert_eq!(err.kind(), SyncErrorKind::Unauthorized);
    assert!(!err.to_string().contains("revoked-key-value"));
    assert!(source.records(ENTITY).is_empty());
}
