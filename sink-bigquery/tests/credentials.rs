//! Credentials never leak: a recognisable fake key resolved from a SecretProvider must not show
//! up in Debug output or in any error.

use async_trait::async_trait;
use secrecy::SecretString;
use sink_bigquery::{BigQueryConfig, BigQuerySink, Credentials};
use twenty_sync_core::{SecretProvider, StoreErrorKind, StoreResult};

const MARKER: &str = "FAKEKEYMATERIALDONOTLEAK0123456789";

fn fake_key_json(valid_json: bool) -> String {
    let key =
        format!("-----BEGIN PRIVATE KEY-----\\n{MARKER}\\n{MARKER}\\n-----END PRIVATE KEY-----\\n");
    let body = format!(
        r#"{{"type":"service_account","project_id":"proj","private_key_id":"abc","private_key":"{key}","client_email":"sync@proj.iam.gserviceaccount.com","client_id":"1","token_uri":"http://127.0.0.1:9/token"}}"#
    );
    if valid_json {
        body
    } else {
        // Broken JSON that still contains the key material.
        body.replace("\"client_email\"", "client_email")
    }
}

#[derive(Debug)]
struct MapProvider(Vec<(&'static str, String)>);

#[async_trait]
impl SecretProvider for MapProvider {
    fn describe(&self) -> String {
        "test secrets".to_owned()
    }
    async fn resolve(&self, name: &str) -> StoreResult<Option<SecretString>> {
        Ok(self
            .0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| SecretString::from(v.clone())))
    }
}

fn config() -> BigQueryConfig {
    let mut c = BigQueryConfig::new(
        "proj",
        "crm",
        vec![
            serde_json::from_value(serde_json::json!({
                "entity": "businesses", "table": "businesses",
                "key_column": "business_id", "updated_at_column": "updated_at",
                "columns": [{"name": "business_name", "type": "STRING"}]
            }))
            .expect("entity"),
        ],
    );
    c.safety_lag_secs = 0;
    c
}

#[tokio::test]
async fn a_service_account_key_from_a_secret_provider_never_shows_in_debug_or_errors() {
    let provider = MapProvider(vec![
        ("bq-key", fake_key_json(true)),
        ("bq-broken", fake_key_json(false)),
    ]);
    for name in ["bq-key", "bq-broken"] {
        let creds = Credentials::service_account_key_from(&provider, name)
            .await
            .expect("resolved");
        let shown = format!("{creds:?} {}", creds.describe());
        assert!(!shown.contains(MARKER), "{shown}");
        let builder = BigQuerySink::builder(config()).credentials(creds);
        assert!(!format!("{builder:?}").contains(MARKER));
        // The fake key cannot sign anything: building or the first call fails, without the key.
        let text = match builder.build().await {
            Err(err) => format!("{err} {err:?}"),
            Ok(sink) => {
                let err = sink
                    .verify()
                    .await
                    .expect_err("a fake key cannot get a token");
                format!("{err} {err:?} {sink:?}")
            }
        };
        assert!(!text.contains(MARKER), "{name}: {text}");
        assert!(!text.contains("PRIVATE KEY"), "{name}: {text}");
    }
}

#[tokio::test]
async fn a_secret_the_provider_lacks_is_a_config_error_naming_the_secret_not_a_value() {
    let provider = MapProvider(vec![]);
    let err = Credentials::service_account_key_from(&provider, "bq-key")
        .await
        .expect_err("missing");
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(err.to_string().contains("\"bq-key\""), "{err}");
    assert!(err.to_string().contains("test secrets"), "{err}");
}

#[tokio::test]
async fn a_static_token_from_a_secret_provider_is_redacted() {
    let provider = MapProvider(vec![("token", format!("ya29.{MARKER}"))]);
    let creds = Credentials::static_token_from(&provider, "token")
        .await
        .expect("resolved");
    let sink = BigQuerySink::builder(config())
        .credentials(creds.clone())
        .base_url("http://127.0.0.1:9/bigquery/v2")
        .build()
        .await
        .expect("builds");
    let err = sink.verify().await.expect_err("nothing listens on port 9");
    let text = format!("{creds:?} {sink:?} {err} {err:?}");
    assert!(!text.contains(MARKER), "{text}");
}
