//! Request-shape tests: every BigQuery (and metadata-server) call the sink makes, checked with
//! mockito for method, path, query string, headers and JSON body. Unexpected requests fail.

mod common;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mockito::{Matcher, Server};
use secrecy::SecretString;
use serde_json::json;
use sink_bigquery::{BigQueryConfig, BigQuerySink, Credentials};
use twenty_sync_core::{
    ApplyBatch, InboundChange, InboundChangeKind, LocalChangeKind, SourceOfTruth, StateCommit,
    StoreErrorKind,
};

const TOKEN: &str = "ya29.TEST-TOKEN-MARKER";

fn config() -> BigQueryConfig {
    let mut c = BigQueryConfig::new("proj", "crm", vec![common::contacts_entity()]);
    c.location = Some("EU".into());
    c.safety_lag_secs = 120;
    c.page_size = 2;
    c
}

async fn sink(server: &Server) -> BigQuerySink {
    BigQuerySink::builder(config())
        .credentials(Credentials::StaticToken(SecretString::from(TOKEN)))
        .base_url(format!("{}/bigquery/v2", server.url()))
        .build()
        .await
        .expect("builds")
}

fn bearer() -> Matcher {
    Matcher::Exact(format!("Bearer {TOKEN}"))
}

/// `tabledata.insertAll` into the contacts' staging table.
const STAGING_INSERT: &str =
    "/bigquery/v2/projects/proj/datasets/crm/tables/contacts__twenty_sync_staging/insertAll";

/// A batch upserting the contacts `c1` and `c2` (a name each, no time).
fn two_upserts() -> ApplyBatch {
    let upsert = |k: &str| InboundChange {
        key: k.into(),
        twenty_id: format!("t-{k}"),
        kind: InboundChangeKind::Upsert {
            data: json!({"canonical_name": k}),
        },
        twenty_updated_at: None,
    };
    ApplyBatch {
        entity: "contacts".into(),
        changes: vec![upsert("c1"), upsert("c2")],
        state: StateCommit::new("contacts"),
    }
}

fn query_response(rows: serde_json::Value, bytes: &str) -> String {
    json!({
        "kind": "bigquery#queryResponse",
        "jobReference": {"projectId": "proj", "jobId": "job-1", "location": "EU"},
        "jobComplete": true,
        "totalBytesProcessed": bytes,
        "schema": {"fields": [
            {"name": "_twenty_sync_key", "type": "STRING"},
            {"name": "_twenty_sync_updated_at", "type": "TIMESTAMP"},
            {"name": "_twenty_sync_deleted", "type": "INTEGER"},
            {"name": "canonical_name", "type": "STRING"},
            {"name": "category_code", "type": "STRING"},
            {"name": "subcategory_code", "type": "STRING"},
            {"name": "relationship_category", "type": "STRING"},
            {"name": "context", "type": "JSON"}
        ]},
        "rows": rows,
        "totalRows": "0"
    })
    .to_string()
}

fn row(key: &str, micros: i64, deleted: bool, name: &str) -> serde_json::Value {
    json!({"f": [
        {"v": key}, {"v": micros.to_string()}, {"v": if deleted { "1" } else { "0" }},
        {"v": name}, {"v": "C1"}, {"v": null}, {"v": "customer"}, {"v": "{\"tags\":[\"vip\"]}"}
    ]})
}

#[tokio::test]
async fn setup_creates_the_dataset_and_tables_with_partitioning_and_clustering() {
    let mut server = Server::new_async().await;
    let dataset = server
        .mock("POST", "/bigquery/v2/projects/proj/datasets")
        .match_header("authorization", bearer())
        .match_body(Matcher::PartialJson(json!({
            "datasetReference": {"projectId": "proj", "datasetId": "crm"},
            "location": "EU"
        })))
        .with_status(200)
        .with_body(r#"{"datasetReference":{"projectId":"proj","datasetId":"crm"}}"#)
        .expect(1)
        .create_async()
        .await;
    let get_missing = server
        .mock(
            "GET",
            Matcher::Regex(r"^/bigquery/v2/projects/proj/datasets/crm/tables/contacts(__twenty_sync_staging)?$".into()),
        )
        .match_header("authorization", bearer())
        .with_status(404)
        .with_body(r#"{"error":{"code":404,"message":"Not found: Table proj:crm.contacts","errors":[{"reason":"notFound","message":"nf"}],"status":"NOT_FOUND"}}"#)
        .expect(2)
        .create_async()
        .await;
    let create_target = server
        .mock("POST", "/bigquery/v2/projects/proj/datasets/crm/tables")
        .match_header("authorization", bearer())
        .match_body(Matcher::PartialJson(json!({
            "tableReference": {"projectId": "proj", "datasetId": "crm", "tableId": "contacts"},
            "schema": {"fields": [
                {"name": "contact_id", "type": "STRING", "mode": "REQUIRED"},
                {"name": "updated_at", "type": "TIMESTAMP", "mode": "REQUIRED"},
                {"name": "canonical_name", "type": "STRING", "mode": "NULLABLE"},
                {"name": "category_code", "type": "STRING", "mode": "NULLABLE"},
                {"name": "subcategory_code", "type": "STRING", "mode": "NULLABLE"},
                {"name": "relationship_category", "type": "STRING", "mode": "NULLABLE"},
                {"name": "context", "type": "JSON", "mode": "NULLABLE"},
                {"name": "deleted_at", "type": "TIMESTAMP", "mode": "NULLABLE"}
            ]},
            "timePartitioning": {"type": "DAY", "field": "updated_at"},
            "clustering": {"fields": ["contact_id"]}
        })))
        .with_status(200)
        .with_body(r#"{"tableReference":{"projectId":"proj","datasetId":"crm","tableId":"contacts"},"schema":{"fields":[]}}"#)
        .expect(1)
        .create_async()
        .await;
    let create_staging = server
        .mock("POST", "/bigquery/v2/projects/proj/datasets/crm/tables")
        .match_body(Matcher::PartialJson(json!({
            "tableReference": {"tableId": "contacts__twenty_sync_staging"},
            "timePartitioning": {"type": "DAY", "field": "_twenty_sync_loaded_at", "expirationMs": "172800000"},
            "clustering": {"fields": ["_twenty_sync_batch"]}
        })))
        .with_status(200)
        .with_body(r#"{"tableReference":{"projectId":"proj","datasetId":"crm","tableId":"contacts__twenty_sync_staging"},"schema":{"fields":[]}}"#)
        .expect(1)
        .create_async()
        .await;

    let report = sink(&server).await.setup().await.expect("setup");
    assert!(report.dataset_created);
    assert_eq!(
        report.tables_created,
        ["contacts", "contacts__twenty_sync_staging"]
    );
    for m in [dataset, get_missing, create_target, create_staging] {
        m.assert_async().await;
    }
}

#[tokio::test]
async fn apply_streams_rows_with_insert_ids_then_merges_with_named_parameters() {
    let mut server = Server::new_async().await;
    let insert = server
        .mock("POST", STAGING_INSERT)
        .match_header("authorization", bearer())
        .match_body(Matcher::AllOf(vec![
            Matcher::PartialJson(json!({
                "skipInvalidRows": false,
                "ignoreUnknownValues": false,
                "rows": [
                    {"json": {
                        "contact_id": "c1",
                        "updated_at": "2026-01-01T00:00:00.000000Z",
                        "canonical_name": "Ann",
                        "context": "{\"tags\":[\"vip\"]}",
                        "_twenty_sync_op": "upsert",
                        "_twenty_sync_seq": 0
                    }},
                    {"json": {"contact_id": "c2", "_twenty_sync_op": "tombstone", "_twenty_sync_seq": 1}}
                ]
            })),
            Matcher::Regex(r#""insertId":"[0-9a-f]{32}-0""#.into()),
            Matcher::Regex(r#""insertId":"[0-9a-f]{32}-1""#.into()),
        ]))
        .with_status(200)
        .with_body(r#"{"kind":"bigquery#tableDataInsertAllResponse"}"#)
        .expect(2)
        .create_async()
        .await;
    let merge = server
        .mock("POST", "/bigquery/v2/projects/proj/queries")
        .match_header("authorization", bearer())
        .match_body(Matcher::AllOf(vec![
            Matcher::PartialJson(json!({
                "useLegacySql": false,
                "parameterMode": "NAMED",
                "location": "EU",
                "formatOptions": {"useInt64Timestamp": true}
            })),
            Matcher::Regex(r#""query":"MERGE `proj.crm.contacts` AS T USING"#.into()),
            Matcher::Regex(r#""name":"batch","parameterType":\{"type":"STRING"\}"#.into()),
            Matcher::Regex(r#""name":"loaded_since","parameterType":\{"type":"TIMESTAMP"\}"#.into()),
        ]))
        .with_status(200)
        .with_body(r#"{"jobReference":{"projectId":"proj","jobId":"m1"},"jobComplete":true,"totalBytesProcessed":"1024","numDmlAffectedRows":"2"}"#)
        .expect(2)
        .create_async()
        .await;

    let s = sink(&server).await;
    let at: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("a time");
    let batch = ApplyBatch {
        entity: "contacts".into(),
        changes: vec![
            InboundChange {
                key: "c1".into(),
                twenty_id: "t1".into(),
                kind: InboundChangeKind::Upsert {
                    data: json!({"canonical_name": "Ann", "context": {"tags": ["vip"]}}),
                },
                twenty_updated_at: Some(at),
            },
            InboundChange {
                key: "c2".into(),
                twenty_id: "t2".into(),
                kind: InboundChangeKind::Delete { tombstone: true },
                twenty_updated_at: Some(at),
            },
        ],
        state: StateCommit::new("contacts"),
    };
    s.apply(&batch).await.expect("apply");
    s.apply(&batch).await.expect("apply again");
    assert_eq!(
        s.bytes_processed(),
        2048,
        "bytes of both MERGEs are counted"
    );
    insert.assert_async().await;
    merge.assert_async().await;
}

#[tokio::test]
async fn the_feed_queries_by_checkpoint_and_lag_and_fetches_the_next_page() {
    let mut server = Server::new_async().await;
    let first = server
        .mock("POST", "/bigquery/v2/projects/proj/queries")
        .match_body(Matcher::AllOf(vec![
            Matcher::Regex(r#"WHERE `updated_at` <= @until"#.into()),
            Matcher::Regex(r#""name":"page","parameterType":\{"type":"INT64"\},"parameterValue":\{"value":"2"\}"#.into()),
            Matcher::Regex(r#""name":"until","parameterType":\{"type":"TIMESTAMP"\}"#.into()),
        ]))
        .with_status(200)
        .with_body(query_response(
            json!([row("c1", 1_767_225_600_000_000, false, "Ann"), row("c2", 1_767_225_600_000_000, true, "Bob")]),
            "100",
        ))
        .expect(1)
        .create_async()
        .await;
    let second = server
        .mock("POST", "/bigquery/v2/projects/proj/queries")
        .match_body(Matcher::AllOf(vec![
            Matcher::Regex(r#"`updated_at` >= @since_ts AND `updated_at` <= @until"#.into()),
            Matcher::Regex(r#""name":"since_ts","parameterType":\{"type":"TIMESTAMP"\},"parameterValue":\{"value":"2026-01-01 00:00:00.000000\+00:00"\}"#.into()),
            Matcher::Regex(r#""name":"since_key","parameterType":\{"type":"STRING"\},"parameterValue":\{"value":"c2"\}"#.into()),
            Matcher::Regex(r#""name":"since_del","parameterType":\{"type":"INT64"\},"parameterValue":\{"value":"1"\}"#.into()),
        ]))
        .with_status(200)
        .with_body(query_response(json!([row("c3", 1_767_225_601_000_000, false, "Cy")]), "50"))
        .expect(1)
        .create_async()
        .await;

    let s = sink(&server).await;
    let changes: Vec<_> = s
        .changes_since("contacts", None)
        .await
        .expect("feed")
        .try_collect()
        .await
        .expect("pages");
    let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["c1", "c2", "c3"]);
    assert_eq!(changes[1].kind, LocalChangeKind::Delete);
    match &changes[0].kind {
        LocalChangeKind::Upsert { data } => {
            assert_eq!(data["contact_id"], "c1");
            assert_eq!(data["context"], json!({"tags": ["vip"]}));
        }
        other => panic!("expected an upsert, got {other:?}"),
    }
    assert_eq!(changes[2].checkpoint.as_str(), "v1:1767225601000000:0:c3");
    assert_eq!(s.bytes_processed(), 150);
    first.assert_async().await;
    second.assert_async().await;
}

#[tokio::test]
async fn an_unfinished_query_is_awaited_with_get_query_results() {
    let mut server = Server::new_async().await;
    let query = server
        .mock("POST", "/bigquery/v2/projects/proj/queries")
        .match_body(Matcher::Regex(r#"IN UNNEST\(@keys\)"#.into()))
        .match_body(Matcher::Regex(
            r#""name":"keys","parameterType":\{"arrayType":\{"type":"STRING"\},"type":"ARRAY"\},"parameterValue":\{"arrayValues":\[\{"value":"c1"\}\]\}"#.into(),
        ))
        .with_status(200)
        .with_body(r#"{"jobReference":{"projectId":"proj","jobId":"job-1","location":"EU"},"jobComplete":false}"#)
        .expect(1)
        .create_async()
        .await;
    let results = server
        .mock("GET", "/bigquery/v2/projects/proj/queries/job-1")
        .match_header("authorization", bearer())
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("location".into(), "EU".into()),
            Matcher::UrlEncoded("timeoutMs".into(), "30000".into()),
        ]))
        .with_status(200)
        .with_body(query_response(
            json!([row("c1", 1_767_225_600_000_000, false, "Ann")]),
            "4096",
        ))
        .expect(1)
        .create_async()
        .await;

    let s = sink(&server).await;
    let got = s.get("contacts", &["c1".into()]).await.expect("get");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data["canonical_name"], "Ann");
    assert_eq!(s.bytes_processed(), 4096);
    query.assert_async().await;
    results.assert_async().await;
}

#[tokio::test]
async fn server_errors_are_temporary_and_permission_errors_name_the_credentials_not_the_token() {
    let mut server = Server::new_async().await;
    let busy = server
        .mock("GET", "/bigquery/v2/projects/proj/datasets/crm/tables/contacts")
        .with_status(503)
        .with_body(r#"{"error":{"code":503,"message":"backend busy","errors":[{"reason":"backendError","message":"busy"}],"status":"UNAVAILABLE"}}"#)
        .create_async()
        .await;
    let s = sink(&server).await;
    let err = s.verify().await.expect_err("503");
    assert!(err.is_temporary(), "{err}");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable);
    busy.remove_async().await;

    server
        .mock("GET", "/bigquery/v2/projects/proj/datasets/crm/tables/contacts")
        .with_status(403)
        .with_body(r#"{"error":{"code":403,"message":"Access Denied: Table proj:crm.contacts","errors":[{"reason":"accessDenied","message":"denied"}],"status":"PERMISSION_DENIED"}}"#)
        .create_async()
        .await;
    let err = s.verify().await.expect_err("403");
    assert!(!err.is_temporary());
    assert_eq!(err.kind(), StoreErrorKind::Config);
    let text = format!("{err} {err:?} {s:?}");
    assert!(text.contains("static bearer token"), "{text}");
    assert!(!text.contains("TEST-TOKEN-MARKER"), "{text}");
}

/// A chunk of staged rows answered with a temporary error is sent again with the same
/// `insertId`s, and the apply goes on to its `MERGE`; one that keeps failing fails the apply
/// with a temporary error after three attempts, before any `MERGE`.
#[tokio::test]
async fn a_staged_chunk_answered_with_a_server_error_is_sent_again_with_the_same_insert_ids() {
    const BUSY: &str = r#"{"error":{"code":503,"message":"backend busy","errors":[{"reason":"backendError","message":"busy"}],"status":"UNAVAILABLE"}}"#;
    let mut server = Server::new_async().await;
    let same_ids = || {
        Matcher::AllOf(vec![
            Matcher::Regex(r#""insertId":"[0-9a-f]{32}-0""#.into()),
            Matcher::Regex(r#""insertId":"[0-9a-f]{32}-1""#.into()),
        ])
    };
    let busy = server
        .mock("POST", STAGING_INSERT)
        .match_body(same_ids())
        .with_status(503)
        .with_body(BUSY)
        .expect(1)
        .create_async()
        .await;
    let accepted = server
        .mock("POST", STAGING_INSERT)
        .match_body(same_ids())
        .with_status(200)
        .with_body(r#"{"kind":"bigquery#tableDataInsertAllResponse"}"#)
        .expect(1)
        .create_async()
        .await;
    let merge = server
        .mock("POST", "/bigquery/v2/projects/proj/queries")
        .with_status(200)
        .with_body(r#"{"jobReference":{"projectId":"proj","jobId":"m1"},"jobComplete":true,"totalBytesProcessed":"10"}"#)
        .expect(1)
        .create_async()
        .await;
    let s = sink(&server).await;
    let batch = two_upserts();
    s.apply(&batch).await.expect("applied after one retry");
    busy.assert_async().await;
    accepted.assert_async().await;
    merge.assert_async().await;

    // Busy every time: three attempts, then a temporary error, and no MERGE.
    let mut server = Server::new_async().await;
    let busy = server
        .mock("POST", STAGING_INSERT)
        .with_status(503)
        .with_body(BUSY)
        .expect(3)
        .create_async()
        .await;
    let merge = server
        .mock("POST", "/bigquery/v2/projects/proj/queries")
        .expect(0)
        .create_async()
        .await;
    let s = sink(&server).await;
    let err = s.apply(&batch).await.expect_err("busy throughout");
    assert!(err.is_temporary(), "{err}");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable);
    busy.assert_async().await;
    merge.assert_async().await;
}

#[tokio::test]
async fn refused_staged_rows_fail_the_apply_with_the_key() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", STAGING_INSERT)
        .with_status(200)
        .with_body(r#"{"insertErrors":[{"index":1,"errors":[{"reason":"invalid","message":"no such field: x"}]}]}"#)
        .create_async()
        .await;
    let merge = server
        .mock("POST", "/bigquery/v2/projects/proj/queries")
        .expect(0)
        .create_async()
        .await;
    let s = sink(&server).await;
    let err = s.apply(&two_upserts()).await.expect_err("refused rows");
    assert_eq!(err.kind(), StoreErrorKind::Invalid);
    assert!(err.to_string().contains("key=c2"), "{err}");
    merge.assert_async().await;
}

#[tokio::test]
async fn metadata_server_tokens_are_requested_with_the_flavor_header_and_cached() {
    let mut server = Server::new_async().await;
    let token = server
        .mock(
            "GET",
            "/computeMetadata/v1/instance/service-accounts/default/token",
        )
        .match_header("metadata-flavor", "Google")
        .with_status(200)
        .with_body(
            r#"{"access_token":"ya29.METADATA-MARKER","expires_in":3599,"token_type":"Bearer"}"#,
        )
        .expect(1)
        .create_async()
        .await;
    let tables = server
        .mock(
            "GET",
            "/bigquery/v2/projects/proj/datasets/crm/tables/contacts",
        )
        .match_header("authorization", "Bearer ya29.METADATA-MARKER")
        .with_status(404)
        .with_body(r#"{"error":{"code":404,"message":"nf","errors":[],"status":"NOT_FOUND"}}"#)
        .expect(2)
        .create_async()
        .await;
    server
        .mock(
            "GET",
            "/bigquery/v2/projects/proj/datasets/crm/tables/contacts__twenty_sync_staging",
        )
        .with_status(404)
        .with_body(r#"{"error":{"code":404,"message":"nf","errors":[],"status":"NOT_FOUND"}}"#)
        .create_async()
        .await;
    let s = BigQuerySink::builder(config())
        .credentials(Credentials::MetadataServer)
        .metadata_host(server.url())
        .base_url(format!("{}/bigquery/v2", server.url()))
        .build()
        .await
        .expect("builds");
    s.verify().await.expect("first verify");
    s.verify().await.expect("second verify, cached token");
    token.assert_async().await;
    tables.assert_async().await;
    assert!(!format!("{s:?}").contains("METADATA-MARKER"));
}

#[tokio::test]
async fn a_failing_metadata_server_gives_a_temporary_error_saying_why() {
    let mut server = Server::new_async().await;
    server
        .mock(
            "GET",
            "/computeMetadata/v1/instance/service-accounts/default/token",
        )
        .with_status(404)
        .create_async()
        .await;
    let s = BigQuerySink::builder(config())
        .credentials(Credentials::MetadataServer)
        .metadata_host(server.url())
        .base_url(format!("{}/bigquery/v2", server.url()))
        .build()
        .await
        .expect("builds");
    let err = s.verify().await.expect_err("no token");
    assert!(err.is_temporary());
    assert!(
        err.to_string().contains("metadata server answered 404"),
        "{err}"
    );
}

#[tokio::test]
async fn deletes_table_mode_merges_in_one_transaction_job() {
    let mut server = Server::new_async().await;
    let insert = server
        .mock(
            "POST",
            "/bigquery/v2/projects/proj/datasets/crm/tables/businesses__twenty_sync_staging/insertAll",
        )
        .match_header("authorization", bearer())
        .with_status(200)
        .with_body(r#"{"kind":"bigquery#tableDataInsertAllResponse"}"#)
        .expect(1)
        .create_async()
        .await;
    let script = server
        .mock("POST", "/bigquery/v2/projects/proj/queries")
        .match_header("authorization", bearer())
        .match_body(Matcher::AllOf(vec![
            Matcher::PartialJson(json!({"useLegacySql": false, "location": "EU"})),
            Matcher::Regex(
                r#""query":"BEGIN TRANSACTION;\\nMERGE `proj.crm.businesses` AS T USING"#.into(),
            ),
            Matcher::Regex(r#";\\nMERGE `proj.crm.businesses_deleted` AS T USING"#.into()),
            Matcher::Regex(r#"`_twenty_sync_batch` = '[0-9a-f]{32}'"#.into()),
            Matcher::Regex(r#";\\nCOMMIT TRANSACTION;""#.into()),
        ]))
        .with_status(200)
        .with_body(r#"{"jobReference":{"projectId":"proj","jobId":"s1"},"jobComplete":true,"totalBytesProcessed":"512"}"#)
        .expect(1)
        .create_async()
        .await;
    let mut c = config();
    c.entities = vec![common::businesses_entity()];
    let s = BigQuerySink::builder(c)
        .credentials(Credentials::StaticToken(SecretString::from(TOKEN)))
        .base_url(format!("{}/bigquery/v2", server.url()))
        .build()
        .await
        .expect("builds");
    let at: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("a time");
    s.apply(&ApplyBatch {
        entity: "businesses".into(),
        changes: vec![InboundChange {
            key: "b1".into(),
            twenty_id: "t1".into(),
            kind: InboundChangeKind::Delete { tombstone: false },
            twenty_updated_at: Some(at),
        }],
        state: StateCommit::new("businesses"),
    })
    .await
    .expect("apply");
    assert_eq!(s.bytes_processed(), 512);
    insert.assert_async().await;
    script.assert_async().await;
}
