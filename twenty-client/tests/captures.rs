//! Parsing of every real Twenty 2.21.0 capture (records, metadata, errors, webhooks) and of the
//! example bodies in that server's OpenAPI export.

mod common;

use common::{CAPTURES, capture, capture_body, capture_status, client};
use mockito::Matcher;
use twenty_client::metadata::{FieldType, ObjectMetadata};
use twenty_client::model::{Company, Opportunity, Person};
use twenty_client::webhook::{WebhookAction, WebhookError, WebhookEvent, WebhookVerifier};
use twenty_client::{ErrorKind, Record};

fn all_capture_files() -> Vec<String> {
    let mut out = Vec::new();
    for dir in [CAPTURES.to_owned(), format!("{CAPTURES}/edge-cases")] {
        for entry in std::fs::read_dir(&dir).expect("captures dir") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_owned();
            if name.ends_with(".json") && name.as_bytes()[0].is_ascii_digit() {
                let rel = path
                    .strip_prefix(CAPTURES)
                    .expect("prefix")
                    .to_string_lossy()
                    .trim_start_matches('/')
                    .to_owned();
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

/// Every record in every successful records answer decodes into the typed model and round-trips
/// through it without losing or changing a single field.
#[test]
fn every_captured_record_decodes_typed_and_round_trips_untouched() {
    let mut checked = 0;
    for name in all_capture_files() {
        let c = capture(&name);
        let path = c["request"]["path"].as_str().unwrap_or_default().to_owned();
        let Some(body) = c.get("response").and_then(|r| r.get("body_json")) else {
            continue;
        };
        let Some(data) = body.get("data").and_then(|d| d.as_object()) else {
            continue;
        };
        if path.starts_with("/rest/metadata") || path.contains("groupBy") {
            continue;
        }
        for value in data.values() {
            let records: Vec<&serde_json::Value> = match value {
                serde_json::Value::Array(a) => a.iter().collect(),
                v @ serde_json::Value::Object(_) => vec![v],
                _ => continue,
            };
            for rec in records {
                let untyped: Record = serde_json::from_value(rec.clone()).expect("record");
                assert_eq!(
                    serde_json::to_value(&untyped).expect("json"),
                    *rec,
                    "{name}"
                );
                if rec.as_object().map(|o| o.len() <= 1).unwrap_or(true) {
                    continue; // `{id}` answers of deletes
                }
                let back = if path.contains("/people") {
                    roundtrip::<Person>(rec, &name)
                } else if path.contains("/companies") {
                    roundtrip::<Company>(rec, &name)
                } else if path.contains("/opportunities") {
                    roundtrip::<Opportunity>(rec, &name)
                } else {
                    continue;
                };
                assert_same_json(rec, &back, &name);
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "only {checked} records checked");
}

fn roundtrip<T: serde::Serialize + serde::de::DeserializeOwned>(
    rec: &serde_json::Value,
    name: &str,
) -> serde_json::Value {
    let typed: T = serde_json::from_value(rec.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::to_value(&typed).expect("serialise")
}

/// Typed fields skip `null`s when serialising; everything else must be identical.
fn assert_same_json(original: &serde_json::Value, back: &serde_json::Value, name: &str) {
    let (Some(o), Some(b)) = (original.as_object(), back.as_object()) else {
        panic!("{name}: not objects");
    };
    for (k, v) in o {
        match b.get(k) {
            Some(bv) => assert!(json_eq(v, bv), "{name}: field {k} changed: {v} -> {bv}"),
            None => assert!(is_nullish(v), "{name}: field {k} lost: {v}"),
        }
    }
    for k in b.keys() {
        assert!(o.contains_key(k), "{name}: field {k} invented");
    }
}

fn is_nullish(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Object(m) => m.values().all(is_nullish),
        _ => false,
    }
}

fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => x.as_f64() == y.as_f64(),
        (Object(x), Object(y)) => {
            x.iter().all(|(k, v)| match y.get(k) {
                Some(w) => json_eq(v, w),
                None => is_nullish(v),
            }) && y.keys().all(|k| x.contains_key(k))
        }
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b)),
        _ => a == b,
    }
}

#[test]
fn captured_metadata_objects_and_fields_decode() {
    for name in [
        "20_metadata_objects.json",
        "edge-cases/213_q7_metadata_objects.json",
    ] {
        let body = &capture(name)["response"]["body_json"];
        let objects: Vec<ObjectMetadata> =
            serde_json::from_value(body["data"]["objects"].clone()).expect("objects");
        let person = objects
            .iter()
            .find(|o| o.name_singular == "person")
            .expect("person");
        assert_eq!(person.name_plural, "people");
        assert_eq!(
            person.field("emails").map(|f| &f.field_type),
            Some(&FieldType::Emails)
        );
        assert!(
            objects
                .iter()
                .flat_map(|o| &o.fields)
                .any(|f| f.field_type == FieldType::Select
                    && f.options.as_ref().is_some_and(|o| !o.is_empty()))
        );
    }
}

/// The `Date` header of real 2.21.0 answers, a list and a 429, bounds the server's clock: those
/// servers answered on 2026-11-22, so replayed now they are weeks behind this host's clock.
#[tokio::test]
async fn captured_date_headers_bound_the_servers_clock() {
    for (name, path) in [
        ("10_people_list_limit5.json", "/rest/people"),
        ("90_rate_limit_429.json", "/rest/people"),
    ] {
        let c = capture(name);
        let date = c["response"]["headers"]["Date"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has a Date header"))
            .to_owned();
        let mut server = mockito::Server::new_async().await;
        let _m = server
            .mock("GET", path)
            .match_query(Matcher::Any)
            .with_status(capture_status(name))
            .with_header("content-type", "application/json")
            .with_header("date", &date)
            .with_body(capture_body(name))
            .expect_at_least(1)
            .create_async()
            .await;
        let client = common::builder(&server.url())
            .retry_policy(twenty_client::RetryPolicy::none())
            .build()
            .expect("client");
        assert!(client.server_clock().is_none(), "{name}: no answer yet");
        let before = chrono::Utc::now();
        let _ = client.people().list().send().await;
        let clock = client.server_clock().expect("a clock from the Date header");
        let captured = chrono::DateTime::parse_from_rfc2822(&date)
            .expect("date")
            .to_utc();
        // Written at `date` (whole seconds), between sending at or after `before` and `observed_at`.
        assert!(clock.observed_at >= before, "{name}");
        assert_eq!(clock.offset_min, captured - clock.observed_at, "{name}");
        let least = (before - captured - chrono::TimeDelta::seconds(1))
            .to_std()
            .expect("captured in the past");
        let most = (clock.observed_at - captured).to_std().expect("past");
        assert!(
            (least..=most).contains(&clock.behind_at_least()),
            "{name}: {clock:?} not within {least:?}..={most:?}"
        );
        assert!(
            clock.behind_at_least() > std::time::Duration::from_secs(86_400),
            "{name}"
        );
        assert_eq!(clock.ahead_at_least(), std::time::Duration::ZERO, "{name}");
    }
}

/// Each captured error answer maps to the expected kind and keeps the server's message.
#[tokio::test]
async fn every_captured_error_maps_to_its_kind() {
    type Check = fn(&ErrorKind) -> bool;
    let cases: &[(&str, Check)] = &[
        ("13_companies_list_core_prefix.json", |k| {
            matches!(k, ErrorKind::Validation { .. })
        }),
        ("44_person_get_after_soft_delete.json", |k| {
            k == &ErrorKind::NotFound
        }),
        ("45_person_restore.json", |k| {
            matches!(k, ErrorKind::Validation { .. })
        }),
        ("52_people_create_duplicate_email_error.json", |k| {
            k == &ErrorKind::Conflict
        }),
        ("60_error_bad_filter_syntax.json", |k| {
            matches!(k, ErrorKind::Validation { .. })
        }),
        ("61_error_bad_filter_unknown_field.json", |k| {
            matches!(k, ErrorKind::Validation { .. })
        }),
        ("62_error_bad_id_not_uuid.json", |k| {
            matches!(k, ErrorKind::Validation { .. })
        }),
        ("63_error_unknown_id.json", |k| k == &ErrorKind::NotFound),
        ("64_error_unknown_object.json", |k| {
            matches!(k, ErrorKind::Validation { .. })
        }),
        ("65_error_no_auth.json", |k| k == &ErrorKind::Forbidden),
        ("66_error_invalid_token.json", |k| {
            k == &ErrorKind::Unauthorized
        }),
        ("67_error_create_invalid_body.json", |k| {
            matches!(k, ErrorKind::Validation { .. })
        }),
        ("68_error_patch_unknown_id.json", |k| {
            k == &ErrorKind::NotFound
        }),
        ("69_error_delete_unknown_id.json", |k| {
            k == &ErrorKind::NotFound
        }),
        ("71_error_malformed_json.json", |k| {
            matches!(k, ErrorKind::Validation { .. })
        }),
        ("72_error_bad_order_by.json", |k| {
            matches!(k, ErrorKind::Validation { .. })
        }),
        ("90_rate_limit_429.json", |k| {
            matches!(k, ErrorKind::RateLimited { retry_after: None })
        }),
        ("edge-cases/201_q3_create_upper_dup.json", |k| {
            k == &ErrorKind::Conflict
        }),
        ("edge-cases/215_q7_create_same_field_again.json", |k| {
            k == &ErrorKind::Conflict
        }),
        ("edge-cases/218_q7_write_bad_select_value.json", |k| {
            matches!(k, ErrorKind::Validation { .. })
        }),
    ];
    for (name, check) in cases {
        let mut server = mockito::Server::new_async().await;
        let body = capture_body(name);
        let _m = server
            .mock("GET", Matcher::Any)
            .with_status(capture_status(name))
            .with_body(&body)
            .create_async()
            .await;
        let c = common::builder(&server.url())
            .retry_policy(twenty_client::RetryPolicy::none())
            .build()
            .expect("client");
        let err = c.records("people").get("x").send().await.expect_err(name);
        assert!(check(err.kind()), "{name}: got {:?}", err.kind());
        let msg: serde_json::Value = serde_json::from_str(&body).expect("json");
        let first = msg["messages"][0]
            .as_str()
            .or(msg["message"].as_str())
            .unwrap_or_default();
        assert!(
            err.to_string().contains(&first[..first.len().min(40)]),
            "{name}: {err}"
        );
    }
}

#[tokio::test]
async fn validation_errors_carry_the_server_messages() {
    let mut server = mockito::Server::new_async().await;
    let _m = server
        .mock("GET", Matcher::Any)
        .with_status(400)
        .with_body(capture_body("61_error_bad_filter_unknown_field.json"))
        .create_async()
        .await;
    let err = client(&server.url())
        .people()
        .get("x")
        .send()
        .await
        .expect_err("400");
    match err.kind() {
        ErrorKind::Validation { messages } => {
            assert_eq!(
                messages,
                &["Object person doesn't have any \"doesNotExist\" field."]
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_temporary());
    assert_eq!(err.operation(), "records.get");
    assert!(
        err.context()
            .iter()
            .any(|(k, v)| *k == "object" && v == "people")
    );
}

#[tokio::test]
async fn openapi_error_examples_with_the_older_message_shape_map() {
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{CAPTURES}/openapi-core.json")).expect("openapi"),
    )
    .expect("json");
    for (status, expected) in [(400usize, "error message"), (401, "Token invalid.")] {
        let example = &doc["components"]["responses"][status.to_string()]["content"]["application/json"]
            ["schema"]["example"];
        assert!(example.is_object(), "example {status} present");
        let mut server = mockito::Server::new_async().await;
        let _m = server
            .mock("GET", Matcher::Any)
            .with_status(status)
            .with_body(example.to_string())
            .create_async()
            .await;
        let err = client(&server.url())
            .people()
            .get("x")
            .send()
            .await
            .expect_err("err");
        assert!(err.to_string().contains(expected), "{err}");
        if status == 401 {
            assert_eq!(err.kind(), &ErrorKind::Unauthorized);
        } else {
            assert!(matches!(err.kind(), ErrorKind::Validation { .. }));
        }
    }
}

/// Webhook payload examples in the OpenAPI export (one per object and action) parse into events.
#[test]
fn openapi_webhook_examples_parse_into_events() {
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{CAPTURES}/openapi-core.json")).expect("openapi"),
    )
    .expect("json");
    let hooks = doc["webhooks"].as_object().expect("webhooks");
    let mut parsed = 0;
    for (title, hook) in hooks {
        let props =
            &hook["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"];
        let payload = serde_json::json!({
            "targetUrl": props["targetUrl"]["example"],
            "eventName": props["eventName"]["example"],
            "objectMetadata": {
                "id": props["objectMetadata"]["properties"]["id"]["example"],
                "nameSingular": props["objectMetadata"]["properties"]["nameSingular"]["enum"][0],
            },
            "workspaceId": props["workspaceId"]["example"],
            "webhookId": props["webhookId"]["example"],
            "eventDate": props["eventDate"]["example"],
            "record": {},
        });
        let ev = WebhookEvent::parse(payload.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{title}: {e}"));
        assert!(ev.event_date.is_some(), "{title}");
        assert!(
            !matches!(ev.action, WebhookAction::Other(_)),
            "{title}: {:?}",
            ev.action
        );
        parsed += 1;
    }
    assert!(parsed > 20);
}

/// The real deliveries (secret `s3cr3t-webhook`) verify and parse; tampering fails.
#[test]
fn real_webhook_deliveries_verify_and_parse() {
    let verifier = WebhookVerifier::new("s3cr3t-webhook".into());
    let mut seen = Vec::new();
    for name in all_capture_files()
        .iter()
        .filter(|n| n.contains("webhook_delivery"))
    {
        let c = capture(name);
        let h = &c["request"]["headers"];
        let ts = h["X-Twenty-Webhook-Timestamp"].as_str().expect("ts");
        let sig = h["X-Twenty-Webhook-Signature"].as_str().expect("sig");
        let body = c["request"]["raw_body"].as_str().expect("body").as_bytes();
        let now = chrono::DateTime::from_timestamp_millis(ts.parse::<i64>().expect("ms") + 2_000)
            .expect("time");
        let ev = verifier
            .verify(ts, sig, body, now)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ev.object_singular, "person");
        assert_eq!(
            ev.webhook_id.as_deref(),
            Some("73d1d6c1-d3db-4192-9ac5-62a4df1474b1")
        );
        assert!(ev.record["id"].is_string());
        seen.push(ev.action.clone());
        if ev.action == WebhookAction::Updated {
            assert!(ev.updated_fields.as_ref().is_some_and(|f| !f.is_empty()));
        }

        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verifier
                .verify(ts, sig, &tampered, now)
                .expect_err("tampered"),
            WebhookError::SignatureMismatch
        );
        let wrong = WebhookVerifier::new("other".into());
        assert!(wrong.verify(ts, sig, body, now).is_err());
        let late = now + chrono::Duration::minutes(10);
        assert!(matches!(
            verifier.verify(ts, sig, body, late),
            Err(WebhookError::Stale { .. })
        ));
        let early = now - chrono::Duration::minutes(10);
        assert!(matches!(
            verifier.verify(ts, sig, body, early),
            Err(WebhookError::Stale { .. })
        ));
    }
    assert!(seen.contains(&WebhookAction::Created));
    assert!(seen.contains(&WebhookAction::Updated));
    assert!(seen.contains(&WebhookAction::Deleted));
}

#[test]
fn malformed_webhook_headers_are_rejected() {
    let v = WebhookVerifier::new("very-secret-value".into());
    let now = chrono::DateTime::from_timestamp_millis(1_000).expect("time");
    assert_eq!(
        v.verify("abc", "00", b"{}", now).expect_err("ts"),
        WebhookError::BadTimestamp
    );
    assert_eq!(
        v.verify("1000", "zz", b"{}", now).expect_err("sig"),
        WebhookError::BadSignatureFormat
    );
    assert!(!format!("{v:?}").contains("very-secret-value"));
}
