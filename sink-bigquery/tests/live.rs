//! Live tests against real BigQuery. They run only when `BIGQUERY_TEST_PROJECT` is set and
//! credentials are available (`GOOGLE_APPLICATION_CREDENTIALS`, or gcloud application default
//! credentials); otherwise they print that they were skipped. Each run uses a fresh dataset
//! (location `BIGQUERY_TEST_LOCATION`, default `US`) and deletes it at the end.

mod common;

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;
use serde_json::json;
use sink_bigquery::{BigQuerySink, Credentials};
use twenty_sync_core::{ApplyBatch, InboundChange, InboundChangeKind, SourceOfTruth, StateCommit};

/// Prints straight to stderr, past the test harness' output capture, so a skip is always seen.
fn say_skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED live BigQuery test: {why}");
}

fn live_settings() -> Option<(String, Credentials)> {
    let Ok(project) = std::env::var("BIGQUERY_TEST_PROJECT") else {
        say_skipped("BIGQUERY_TEST_PROJECT is not set");
        return None;
    };
    if let Ok(path) = std::env::var("GOOGLE_APPLICATION_CREDENTIALS") {
        return Some((
            project,
            Credentials::ServiceAccountKeyFile(PathBuf::from(path)),
        ));
    }
    let adc = std::env::var("HOME")
        .map(|h| PathBuf::from(h).join(".config/gcloud/application_default_credentials.json"));
    if adc.is_ok_and(|p| p.exists()) {
        return Some((project, Credentials::ApplicationDefault));
    }
    say_skipped(
        "BIGQUERY_TEST_PROJECT is set but no credentials were found (set \
         GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`)",
    );
    None
}

#[tokio::test]
async fn live_setup_merge_and_feed_round_trip() {
    let Some((project, credentials)) = live_settings() else {
        return;
    };
    let dataset = common::unique_dataset("twenty_sync_live");
    let mut config = common::config(&dataset, 0, 100);
    config.project_id = project.clone();
    config.location = Some(std::env::var("BIGQUERY_TEST_LOCATION").unwrap_or_else(|_| "US".into()));
    let sink = BigQuerySink::builder(config)
        .credentials(credentials)
        .build()
        .await
        .expect("sink builds");
    let result = round_trip(&sink).await;
    // Clean up whatever happened, with the plain client.
    if let Ok(client) = gcp_bigquery_client::Client::from_application_default_credentials().await {
        let _ = client.dataset().delete(&project, &dataset, true).await;
    }
    result.expect("live round trip");
    eprintln!("live test processed {} bytes", sink.bytes_processed());
}

async fn round_trip(sink: &BigQuerySink) -> Result<(), String> {
    sink.setup().await.map_err(|e| e.to_string())?;
    let at: DateTime<Utc> =
        DateTime::from_timestamp_micros((Utc::now() - Duration::hours(1)).timestamp_micros())
            .ok_or("time")?;
    let batch = ApplyBatch {
        entity: "contacts".into(),
        changes: vec![InboundChange {
            key: "c1".into(),
            twenty_id: "t1".into(),
            kind: InboundChangeKind::Upsert {
                data: json!({"canonical_name": "Ann", "context": {"tags": ["vip"]}}),
            },
            twenty_updated_at: Some(at),
        }],
        state: StateCommit::new("contacts"),
    };
    sink.apply(&batch).await.map_err(|e| e.to_string())?;
    sink.apply(&batch).await.map_err(|e| e.to_string())?;
    let got = sink
        .get("contacts", &["c1".into()])
        .await
        .map_err(|e| e.to_string())?;
    if got.len() != 1 || got[0].data["canonical_name"] != "Ann" {
        return Err(format!("unexpected rows: {got:?}"));
    }
    let changes: Vec<_> = sink
        .changes_since("contacts", None)
        .await
        .map_err(|e| e.to_string())?
        .try_collect()
        .await
        .map_err(|e| e.to_string())?;
    if changes.len() != 1 {
        return Err(format!("expected one change, got {changes:?}"));
    }
    Ok(())
}
