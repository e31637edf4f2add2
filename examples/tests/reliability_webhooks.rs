//! Webhook security at the engine level (promise 5): forged, altered, incomplete, stale and
//! replayed deliveries are rejected by `SyncEngine::handle_webhook` with
//! `SyncErrorKind::WebhookRejected` (or recognised as duplicates), and nothing is applied: no local
//! record, no ID-map entry, no audit row. The HTTP endpoint in front of the engine
//! (`twenty-sync watch --listen`) answers 401 for each rejection and 413 for an oversized body.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use serde_json::{Value, json};
use twenty_client::{Client, RetryPolicy};
use twenty_sim::{SimConfig, SimServer, sign_webhook};
use twenty_sync_core::engine::{FieldMap, SyncEngine, SyncErrorKind, WebhookOutcome};
use twenty_sync_core::memory::{MemorySource, MemoryState};
use twenty_sync_core::{AuditQuery, StateStore};

const KEY: &str = "webhook-suite-key";
const SECRET: &str = "whsec-reliability-5c1d";
const ENTITY: &str = "contacts";

type Engine = SyncEngine<MemorySource, MemoryState>;

async fn setup() -> (SimServer, MemorySource, MemoryState, Engine) {
    let sim = SimServer::start(SimConfig::new(KEY).seed_people(3).rate_limit(None))
        .await
        .expect("simulator starts");
    let client = Client::builder(sim.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client");
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let engine = SyncEngine::builder(client, source.clone(), state.clone())
        .entity(Arc::new(
            FieldMap::new(ENTITY, "people", "person")
                .field("email", "emails.primaryEmail")
                .field("first", "name.firstName")
                .match_key("emails.primaryEmail"),
        ))
        .webhook_secret(SecretString::from(SECRET))
        .webhook_max_age(Duration::from_secs(300))
        .build()
        .expect("engine");
    (sim, source, state, engine)
}

fn delivery(record: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "targetUrl": "https://sync.example.com/webhooks/twenty",
        "eventName": "person.created",
        "objectMetadata": {"id": "meta-person", "nameSingular": "person"},
        "workspaceId": "ws-1",
        "webhookId": "wh-1",
        "eventDate": Utc::now().to_rfc3339(),
        "record": record,
    }))
    .expect("serialisable")
}

fn now_ms(offset: chrono::Duration) -> String {
    (Utc::now() + offset).timestamp_millis().to_string()
}

async fn nothing_applied(source: &MemorySource, state: &MemoryState, case: &str) {
    assert!(
        source.records(ENTITY).is_empty(),
        "{case}: a local record was written"
    );
    assert_eq!(state.audit_len(), 0, "{case}: an audit row was written");
    assert!(
        state
            .audit(&AuditQuery::default())
            .await
            .expect("audit readable")
            .is_empty(),
        "{case}"
    );
}

#[tokio::test]
async fn forged_incomplete_and_stale_deliveries_are_rejected_and_nothing_is_applied() {
    let (sim, source, state, engine) = setup().await;
    let record = sim.handle().records("people")[0].clone();
    let body = delivery(&record);
    let ts = now_ms(chrono::Duration::zero());
    let good = sign_webhook(SECRET, &ts, &body);
    let mut altered = body.clone();
    altered[10] ^= 0x20;
    let old = now_ms(-chrono::Duration::hours(1));
    let future = now_ms(chrono::Duration::hours(1));
    let huge_record = json!({"id": record["id"], "name": {"firstName": "x".repeat(4 << 20)}});
    let huge = delivery(&huge_record);

    let cases: Vec<(&str, String, String, Vec<u8>, &str)> = vec![
        (
            "signed with another secret",
            ts.clone(),
            sign_webhook("guessed-secret", &ts, &body),
            body.clone(),
            "does not match",
        ),
        (
            "body altered after signing",
            ts.clone(),
            good.clone(),
            altered,
            "does not match",
        ),
        (
            "signature of another timestamp",
            now_ms(chrono::Duration::seconds(-5)),
            good.clone(),
            body.clone(),
            "does not match",
        ),
        (
            "truncated signature",
            ts.clone(),
            good[..62].to_owned(),
            body.clone(),
            "not a hex",
        ),
        (
            "signature is not hex",
            ts.clone(),
            "z".repeat(64),
            body.clone(),
            "not a hex",
        ),
        (
            "missing signature header",
            ts.clone(),
            String::new(),
            body.clone(),
            "not a hex",
        ),
        (
            "missing timestamp header",
            String::new(),
            good.clone(),
            body.clone(),
            "timestamp",
        ),
        (
            "timestamp is not a number",
            "yesterday".into(),
            good.clone(),
            body.clone(),
            "timestamp",
        ),
        (
            "stale (1 hour old), correctly signed",
            old.clone(),
            sign_webhook(SECRET, &old, &body),
            body.clone(),
            "allowed",
        ),
        (
            "from the future (1 hour), correctly signed",
            future.clone(),
            sign_webhook(SECRET, &future, &body),
            body.clone(),
            "allowed",
        ),
        (
            "signed, but not an event",
            ts.clone(),
            sign_webhook(SECRET, &ts, b"[1,2,3]"),
            b"[1,2,3]".to_vec(),
            "not a Twenty event",
        ),
        (
            "oversized (4 MiB) and unsigned",
            ts.clone(),
            good.clone(),
            huge,
            "does not match",
        ),
    ];
    for (case, t, sig, b, says) in &cases {
        let err = engine.handle_webhook(t, sig, b).await.expect_err(case);
        assert_eq!(err.kind(), SyncErrorKind::WebhookRejected, "{case}: {err}");
        let text = err.to_string();
        assert!(
            text.contains(says),
            "{case}: the error should say `{says}`: {text}"
        );
        assert!(
            !text.contains(SECRET) && !format!("{err:?}").contains(SECRET),
            "{case}: secret leaked"
        );
        assert!(
            text.len() < 1_000,
            "{case}: unbounded error ({} bytes)",
            text.len()
        );
        nothing_applied(&source, &state, case).await;
    }
    // The rejections did not poison the replay cache: the genuine delivery still applies, once.
    let out = engine
        .handle_webhook(&ts, &good, &body)
        .await
        .expect("genuine delivery");
    assert!(matches!(out, WebhookOutcome::Applied(_)), "{out:?}");
    assert_eq!(source.records(ENTITY).len(), 1);
    println!("webhook rejections checked: {}", cases.len());
}

#[tokio::test]
async fn replayed_deliveries_are_applied_once() {
    let (sim, source, state, engine) = setup().await;
    let record = sim.handle().records("people")[1].clone();
    let body = delivery(&record);
    let ts = now_ms(chrono::Duration::zero());
    let sig = sign_webhook(SECRET, &ts, &body);
    let first = engine
        .handle_webhook(&ts, &sig, &body)
        .await
        .expect("first delivery");
    let WebhookOutcome::Applied(report) = first else {
        panic!("not applied: {first:?}")
    };
    assert_eq!(report.totals().created, 1, "{}", report.summary());
    let audit_after_first = state.audit_len();
    assert!(audit_after_first > 0, "the applied delivery is audited");

    // The identical delivery again, and the same event re-sent later with a fresh timestamp and
    // signature (Twenty's nonce differs per attempt and is not signed): both duplicates.
    let later = now_ms(chrono::Duration::seconds(2));
    for (t, s) in [
        (ts.clone(), sig.clone()),
        (later.clone(), sign_webhook(SECRET, &later, &body)),
    ] {
        let again = engine.handle_webhook(&t, &s, &body).await.expect("replay");
        assert_eq!(again, WebhookOutcome::Duplicate);
    }
    assert_eq!(source.records(ENTITY).len(), 1, "applied once");
    assert_eq!(
        state.audit_len(),
        audit_after_first,
        "replays wrote audit rows"
    );

    // A new event for the same record (a later updatedAt) is not a replay.
    let mut changed = record.clone();
    changed["name"]["firstName"] = json!("Renamed");
    changed["updatedAt"] = json!(Utc::now().to_rfc3339());
    let body2 = serde_json::to_vec(&json!({
        "eventName": "person.updated",
        "objectMetadata": {"id": "meta-person", "nameSingular": "person"},
        "webhookId": "wh-1",
        "record": changed,
    }))
    .expect("json");
    let t2 = now_ms(chrono::Duration::zero());
    let out = engine
        .handle_webhook(&t2, &sign_webhook(SECRET, &t2, &body2), &body2)
        .await
        .expect("update delivery");
    assert!(matches!(out, WebhookOutcome::Applied(_)), "{out:?}");
    assert_eq!(source.records(ENTITY)[0].data["first"], "Renamed");
}

/// The HTTP endpoint in front of the engine (`twenty-sync watch --listen`,
/// `examples::cli::listen::router`): the right status for each rejection, a request body limit,
/// and nothing applied.
#[tokio::test]
async fn the_http_endpoint_answers_each_rejection_with_the_right_status() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;
    use twenty_sync_core::SourceOfTruth;

    let sim = SimServer::start(SimConfig::new(KEY).seed_people(2).rate_limit(None))
        .await
        .expect("simulator starts");
    let client = Client::builder(sim.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client");
    let (source, state) = (MemorySource::new(), MemoryState::new());
    let src: Arc<dyn SourceOfTruth> = Arc::new(source.clone());
    let st: Arc<dyn twenty_sync_core::StateStore> = Arc::new(state.clone());
    let engine = SyncEngine::builder(client, src, st)
        .entity(Arc::new(
            FieldMap::new(ENTITY, "people", "person")
                .field("email", "emails.primaryEmail")
                .match_key("emails.primaryEmail"),
        ))
        .webhook_secret(SecretString::from(SECRET))
        .build()
        .expect("engine");
    let router = examples::cli::listen::router(Arc::new(engine));
    let send = |ts: Option<&str>, sig: Option<&str>, body: Vec<u8>| {
        let mut req = Request::post("/webhooks/twenty").header("content-type", "application/json");
        if let Some(t) = ts {
            req = req.header("x-twenty-webhook-timestamp", t);
        }
        if let Some(s) = sig {
            req = req.header("x-twenty-webhook-signature", s);
        }
        let req = req.body(Body::from(body)).expect("request");
        router.clone().oneshot(req)
    };
    let record = sim.handle().records("people")[0].clone();
    let body = delivery(&record);
    let ts = now_ms(chrono::Duration::zero());
    let sig = sign_webhook(SECRET, &ts, &body);
    let old = now_ms(-chrono::Duration::hours(2));
    let mut huge_record = record.clone();
    huge_record["name"]["firstName"] = json!("y".repeat(3 << 20));
    let huge = delivery(&huge_record);
    let huge_sig = sign_webhook(SECRET, &ts, &huge);

    /// (case, timestamp header, signature header, body, expected status)
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Option<String>,
        Vec<u8>,
        StatusCode,
    );
    let cases: Vec<Case> = vec![
        (
            "no headers",
            None,
            None,
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "no signature",
            Some(&ts),
            None,
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "no timestamp",
            None,
            Some(sig.clone()),
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "bad signature",
            Some(&ts),
            Some(sign_webhook("nope", &ts, &body)),
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "stale",
            Some(&old),
            Some(sign_webhook(SECRET, &old, &body)),
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        // 3 MiB, correctly signed: refused by size before it is read into the engine.
        (
            "oversized",
            Some(&ts),
            Some(huge_sig),
            huge,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (case, t, s, b, want) in cases {
        let resp = send(t, s.as_deref(), b).await.expect("router answers");
        assert_eq!(resp.status(), want, "{case}");
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(SECRET), "{case}: the secret in the answer");
        assert!(
            source.records(ENTITY).is_empty(),
            "{case}: something was applied"
        );
        assert_eq!(state.audit_len(), 0, "{case}: something was audited");
    }
    let first = send(Some(&ts), Some(&sig), body.clone())
        .await
        .expect("answer");
    assert_eq!(first.status(), StatusCode::OK);
    let replay = send(Some(&ts), Some(&sig), body.clone())
        .await
        .expect("answer");
    assert_eq!(replay.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(replay.into_body(), 1 << 20)
        .await
        .expect("body");
    assert!(String::from_utf8_lossy(&bytes).contains("duplicate"));
    assert_eq!(source.records(ENTITY).len(), 1);
}
