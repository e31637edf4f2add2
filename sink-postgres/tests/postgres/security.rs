use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;
use sink_postgres::{PostgresSink, SinkConfig};
use twenty_sync_core::{SecretProvider, StateStore, StoreErrorKind, StoreResult};

use crate::common::{TestDb, database_url};

const PASSWORD: &str = "Pw-4711-Unmistakable-Secret";

/// The test server's URL with a recognisable password added (trust auth ignores it).
fn url_with_password() -> String {
    let url = database_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}password={PASSWORD}")
}

#[derive(Debug)]
struct MapProvider(Vec<(String, String)>);

#[async_trait]
impl SecretProvider for MapProvider {
    fn describe(&self) -> String {
        "test map".into()
    }
    async fn resolve(&self, name: &str) -> StoreResult<Option<SecretString>> {
        Ok(self
            .0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| SecretString::from(v.clone())))
    }
}

#[tokio::test]
async fn connection_errors_never_show_the_password() {
    let url = format!("postgres://someone:{PASSWORD}@127.0.0.1:1/nowhere?connect_timeout=2");
    let builder =
        PostgresSink::builder(SinkConfig::default()).connection_string(SecretString::from(url));
    assert!(!format!("{builder:?}").contains(PASSWORD));
    let err = builder.build().await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Unavailable);
    assert!(err.is_temporary());
    assert!(!err.to_string().contains(PASSWORD), "{err}");
    assert!(!format!("{err:?}").contains(PASSWORD), "{err:?}");
}

#[tokio::test]
async fn malformed_connection_strings_are_not_echoed() {
    let url = format!("postgres://someone:{PASSWORD}@127.0.0.1:notaport/db");
    let err = PostgresSink::builder(SinkConfig::default())
        .connection_string(SecretString::from(url))
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(!format!("{err} {err:?}").contains(PASSWORD));
}

#[tokio::test]
async fn the_connection_string_comes_from_a_secret_provider_and_is_never_shown() {
    let db = TestDb::new().await;
    let provider = Arc::new(MapProvider(vec![(
        "DATABASE_URL".into(),
        url_with_password(),
    )]));
    let sink = PostgresSink::builder(SinkConfig {
        state_schema: db.state_schema(),
        ..SinkConfig::default()
    })
    .secret_provider(provider)
    .build()
    .await
    .unwrap();
    assert!(!format!("{sink:?}").contains(PASSWORD));
    assert!(!StateStore::describe(&sink).contains(PASSWORD));
    assert!(sink.runs(1).await.unwrap().is_empty());

    // A server-side error on this connection does not carry it either.
    let client = sink.pool().get().await.unwrap();
    let err = client.query_one("SELECT 1/0", &[]).await.unwrap_err();
    assert!(!err.to_string().contains(PASSWORD));
}

#[tokio::test]
async fn a_missing_secret_is_a_config_error_naming_the_secret() {
    let err = PostgresSink::builder(SinkConfig::default())
        .secret_provider(Arc::new(MapProvider(vec![])))
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(err.to_string().contains("DATABASE_URL"), "{err}");
}
