//! Metadata (objects, fields, custom field rules) and webhooks (subscriptions, signed deliveries).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use common::{Sim, capture, captured_body, keys};
use serde_json::{Value, json};
use twenty_sim::{ServerFlavor, sign_webhook};

async fn person_object_id(sim: &Sim) -> String {
    let (_, objs) = sim.get("/rest/metadata/objects").await;
    objs["data"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["nameSingular"] == "person")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn metadata_objects_have_the_captured_shape_and_page() {
    let sim = Sim::start(0).await;
    let (s, objs) = sim.get("/rest/metadata/objects").await;
    assert_eq!(s, 200);
    let real = captured_body("20_metadata_objects.json");
    assert_eq!(keys(&objs), keys(&real));
    assert_eq!(keys(&objs["pageInfo"]), keys(&real["pageInfo"]));
    let person = objs["data"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["nameSingular"] == "person")
        .unwrap();
    let real_person = real["data"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["nameSingular"] == "person")
        .unwrap();
    assert_eq!(keys(person), keys(real_person));
    let (_, one) = sim
        .get(&format!(
            "/rest/metadata/objects/{}",
            person["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(one["data"]["object"]["namePlural"], "people");

    let (_, p1) = sim.get("/rest/metadata/objects?limit=3").await;
    assert_eq!(p1["data"]["objects"].as_array().unwrap().len(), 3);
    assert_eq!(p1["pageInfo"]["hasNextPage"], true);
    let after = p1["pageInfo"]["endCursor"].as_str().unwrap();
    let (_, p2) = sim
        .get(&format!(
            "/rest/metadata/objects?limit=100&starting_after={after}"
        ))
        .await;
    assert_eq!(
        p2["data"]["objects"].as_array().unwrap().len() + 3,
        p1["totalCount"].as_u64().unwrap() as usize
    );

    let (_, fields) = sim.get("/rest/metadata/fields?limit=5").await;
    assert_eq!(fields["data"]["fields"].as_array().unwrap().len(), 5);
    assert_eq!(
        keys(&fields),
        keys(&captured_body("21_metadata_fields_limit5.json"))
    );
}

#[tokio::test]
async fn custom_fields_are_created_validated_and_usable_at_once() {
    let sim = Sim::start(5).await;
    let obj = person_object_id(&sim).await;
    let (s, f) = sim
        .post("/rest/metadata/fields", json!({"objectMetadataId": obj, "type": "TEXT", "name": "syncTestNote", "label": "Sync test note", "isNullable": true}))
        .await;
    assert_eq!(s, 201);
    let real = &captured_body("edge-cases/214_q7_create_text_field.json")["data"]["createOneField"];
    let created = &f["data"]["createOneField"];
    for k in keys(real) {
        assert!(created.get(&k).is_some(), "createOneField lacks {k}");
    }
    // Same name again: 2.21.0 answers 400 METADATA_VALIDATION_ERROR.
    let (s, e) = sim
        .post("/rest/metadata/fields", json!({"objectMetadataId": obj, "type": "TEXT", "name": "syncTestNote", "label": "again"}))
        .await;
    assert_eq!(s, 400);
    let real = captured_body("edge-cases/215_q7_create_same_field_again.json");
    assert_eq!(e["error"], real["error"]);
    assert_eq!(e["message"], real["message"]);
    assert_eq!(
        e["errors"]["fieldMetadata"][0]["errors"][0]["code"],
        "NOT_AVAILABLE"
    );
    assert_eq!(
        e["errors"]["fieldMetadata"][0]["errors"][0]["message"],
        real["errors"]["fieldMetadata"][0]["errors"][0]["message"]
    );

    for bad in [
        "Bad",
        "has_underscore",
        "9lives",
        "type",
        "fields",
        &"a".repeat(64),
    ] {
        let (s, _) = sim
            .post(
                "/rest/metadata/fields",
                json!({"objectMetadataId": obj, "type": "TEXT", "name": bad, "label": "x"}),
            )
            .await;
        assert_eq!(s, 400, "name {bad:?} must be rejected");
    }

    let (s, _) = sim
        .post("/rest/metadata/fields", json!({"objectMetadataId": obj, "type": "SELECT", "name": "syncTestTier", "label": "Tier",
            "options": [{"value": "GOLD", "label": "Gold", "color": "yellow", "position": 0}, {"value": "SILVER", "label": "Silver", "color": "gray", "position": 1}]}))
        .await;
    assert_eq!(s, 201);
    // Existing records got the new columns.
    let (_, list) = sim.get("/rest/people?limit=1").await;
    assert_eq!(list["data"]["people"][0]["syncTestNote"], "");
    assert_eq!(list["data"]["people"][0]["syncTestTier"], Value::Null);
    let (s, p) = sim
        .post("/rest/people", json!({"emails": {"primaryEmail": "custom@x.io"}, "syncTestNote": "hello", "syncTestTier": "GOLD"}))
        .await;
    assert_eq!(s, 201);
    assert_eq!(p["data"]["createPerson"]["syncTestTier"], "GOLD");
    let (s, e) = sim
        .post("/rest/people", json!({"name": {"firstName": "Bad", "lastName": "Select"}, "emails": {"primaryEmail": "badsel.8975@example.com"}, "syncTestTier": "PLATINUM"}))
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        e,
        captured_body("edge-cases/218_q7_write_bad_select_value.json")
    );
    let (_, filtered) = sim
        .get("/rest/people?filter=syncTestTier%5Bin%5D%3A%5BGOLD%5D")
        .await;
    assert_eq!(filtered["totalCount"], 1);
}

#[tokio::test]
async fn newest_flavor_answers_409_on_duplicate_field() {
    let sim = Sim::flavor(0, ServerFlavor::Newest).await;
    let obj = person_object_id(&sim).await;
    let body =
        json!({"objectMetadataId": obj, "type": "NUMBER", "name": "score", "label": "Score"});
    assert_eq!(sim.post("/rest/metadata/fields", body.clone()).await.0, 201);
    assert_eq!(sim.post("/rest/metadata/fields", body).await.0, 409);
}

#[test]
fn signing_reproduces_the_real_captured_signatures() {
    for name in [
        "edge-cases/229_webhook_delivery_person.created.json",
        "edge-cases/230_webhook_delivery_person.updated.json",
        "edge-cases/231_webhook_delivery_person.updated.json",
        "edge-cases/232_webhook_delivery_person.deleted.json",
    ] {
        let c = capture(name);
        let h = &c["request"]["headers"];
        let ts = h["X-Twenty-Webhook-Timestamp"].as_str().unwrap();
        let body = c["request"]["raw_body"].as_str().unwrap();
        assert_eq!(
            sign_webhook("s3cr3t-webhook", ts, body.as_bytes()),
            h["X-Twenty-Webhook-Signature"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(HeaderMap, Bytes)>>>);

async fn receiver() -> (String, Received) {
    let got = Received::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(
                |State(r): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    r.0.lock().unwrap().push((headers, body));
                    "ok"
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

async fn wait_for(got: &Received, n: usize) -> Vec<(HeaderMap, Bytes)> {
    for _ in 0..200 {
        if got.0.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    got.0.lock().unwrap().clone()
}

#[tokio::test]
async fn webhook_deliveries_are_signed_and_shaped_like_twenty() {
    let sim = Sim::start(0).await;
    let (target, got) = receiver().await;
    let (s, wh) = sim
        .post("/rest/metadata/webhooks", json!({"targetUrl": target, "operations": ["person.created", "person.updated", "person.deleted"], "secret": "s3cr3t-webhook", "description": "sync test"}))
        .await;
    assert_eq!(s, 201);
    assert_eq!(
        keys(&wh),
        keys(&captured_body(
            "edge-cases/219_q8_create_webhook_metadata_path.json"
        ))
    );
    let (_, list) = sim.get("/rest/metadata/webhooks").await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    let (_, c) = sim.post("/rest/people", json!({"name": {"firstName": "Hook", "lastName": "Test"}, "emails": {"primaryEmail": "hook@x.io"}})).await;
    let id = c["data"]["createPerson"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    sim.patch(&format!("/rest/people/{id}"), json!({"jobTitle": "Hooked"}))
        .await;
    sim.delete(&format!("/rest/people/{id}?soft_delete=true"))
        .await;
    sim.delete(&format!("/rest/people/{id}")).await; // destroyed: not subscribed
    sim.post("/rest/companies", json!({"name": "NoHook"})).await; // other object: not subscribed

    let deliveries = wait_for(&got, 4).await;
    let events: Vec<Value> = deliveries
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "person.created",
            "person.updated",
            "person.updated",
            "person.deleted"
        ]
    );
    let real: Value = serde_json::from_str(
        capture("edge-cases/230_webhook_delivery_person.updated.json")["request"]["raw_body"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(keys(&events[1]), keys(&real), "payload keys and order");
    assert_eq!(events[1]["updatedFields"], json!(["jobTitle"]));
    assert_eq!(events[3]["updatedFields"], json!(["deletedAt"]));
    assert!(events[0].get("updatedFields").is_none());
    assert_eq!(events[0]["objectMetadata"]["nameSingular"], "person");
    assert_eq!(events[0]["webhookId"], wh["id"]);
    for (headers, body) in &deliveries {
        let ts = headers["x-twenty-webhook-timestamp"].to_str().unwrap();
        assert!(
            ts.parse::<i64>().unwrap() > 1_600_000_000_000,
            "millisecond timestamp"
        );
        assert_eq!(headers["x-twenty-webhook-nonce"].len(), 32);
        assert_eq!(
            headers["x-twenty-webhook-signature"].to_str().unwrap(),
            sign_webhook("s3cr3t-webhook", ts, body)
        );
    }

    let wid = wh["id"].as_str().unwrap();
    let r = sim
        .http
        .delete(sim.url(&format!("/rest/metadata/webhooks/{wid}")))
        .bearer_auth(common::KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "true");
    assert_eq!(sim.get("/rest/metadata/webhooks").await.1, json!([]));
}

#[tokio::test]
async fn wildcard_operations_and_destroy_events_are_delivered() {
    let sim = Sim::start(0).await;
    let (target, got) = receiver().await;
    sim.post(
        "/rest/metadata/webhooks",
        json!({"targetUrl": target, "operations": ["*.destroyed", "company.*"]}),
    )
    .await;
    let h = sim.server.handle();
    let p = h.insert_record("people", json!({"emails": {"primaryEmail": "w@x.io"}}));
    h.destroy_record("people", p["id"].as_str().unwrap());
    h.insert_record("companies", json!({"name": "Acme"}));
    let events: Vec<Value> = wait_for(&got, 2)
        .await
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["person.destroyed", "company.created"]);
}

#[tokio::test]
async fn legacy_webhooks_path_is_deprecated_on_2_21_and_the_only_one_on_legacy() {
    let sim = Sim::start(0).await;
    let r = sim
        .http
        .get(sim.url("/rest/webhooks"))
        .bearer_auth(common::KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["deprecation"], "@1786320000");
    assert_eq!(
        r.headers()["link"],
        "</rest/metadata/webhooks>; rel=\"successor-version\""
    );

    let legacy = Sim::flavor(0, ServerFlavor::Legacy).await;
    assert_eq!(legacy.get("/rest/webhooks").await.0, 200);
    assert_eq!(legacy.get("/rest/metadata/webhooks").await.0, 400);
}

#[tokio::test]
async fn custom_objects_are_created_and_serve_records() {
    let sim = Sim::start(0).await;
    let (s, o) = sim
        .post("/rest/metadata/objects", json!({"nameSingular": "invoice", "namePlural": "invoices", "labelSingular": "Invoice", "labelPlural": "Invoices"}))
        .await;
    assert_eq!(s, 201, "{o}");
    let obj = o["data"]["createOneObject"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        sim.post(
            "/rest/metadata/objects",
            json!({"nameSingular": "invoice", "namePlural": "invoices"})
        )
        .await
        .0,
        400
    );
    let (s, _) = sim
        .post(
            "/rest/metadata/fields",
            json!({"objectMetadataId": obj, "type": "NUMBER", "name": "total", "label": "Total"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, c) = sim
        .post("/rest/invoices", json!({"name": "INV-1", "total": 12.5}))
        .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["data"]["createInvoice"]["total"], 12.5);
    assert_eq!(c["data"]["createInvoice"]["createdBy"]["source"], "API");
    let (_, l) = sim.get("/rest/invoices?filter=total%5Bgt%5D%3A10").await;
    assert_eq!(l["totalCount"], 1);
    assert_eq!(
        sim.get("/rest/invoice").await.1["messages"][0],
        "object 'invoice' not found. Did you mean 'invoices'?"
    );
}

/// `limit` on metadata lists: parsed like Twenty's `parseLimitRestRequest` (empty → default,
/// negative/NaN/fractional → 400) and clamped to `MAX_METADATA_REST_PAGE_SIZE` (1000), so no
/// value, however large, overflows the paging arithmetic.
#[tokio::test]
async fn metadata_limits_are_clamped_and_never_overflow() {
    let sim = Sim::start(0).await;
    let (_, all) = sim.get("/rest/metadata/objects").await;
    let objects = all["data"]["objects"].as_array().unwrap();
    let total = objects.len();
    let first = objects[0]["id"].as_str().unwrap();
    let last = objects[total - 1]["id"].as_str().unwrap();
    for huge in ["18446744073709551615", "99999999999999999999999", "1e30"] {
        let path = format!("/rest/metadata/objects?limit={huge}&starting_after={first}");
        let (s, b) = sim.get(&path).await;
        assert_eq!(s, 200, "{path}: {b}");
        assert_eq!(
            b["data"]["objects"].as_array().unwrap().len(),
            total - 1,
            "{path}"
        );
        assert_eq!(b["pageInfo"]["hasNextPage"], false, "{path}");
        let path = format!("/rest/metadata/objects?limit={huge}&ending_before={last}");
        let (s, b) = sim.get(&path).await;
        assert_eq!(s, 200, "{path}: {b}");
        assert_eq!(
            b["data"]["objects"].as_array().unwrap().len(),
            total - 1,
            "{path}"
        );
        let (s, b) = sim
            .get(&format!("/rest/metadata/fields?limit={huge}"))
            .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(
            b["data"]["fields"].as_array().unwrap().len(),
            b["totalCount"].as_u64().unwrap() as usize
        );
    }
    let (s, b) = sim.get("/rest/metadata/objects?limit=").await;
    assert_eq!(
        (s.as_u16(), b["data"]["objects"].as_array().map(Vec::len)),
        (200, Some(total))
    );
    for bad in ["-1", "NaN", "1.5", "abc"] {
        let (s, b) = sim
            .get(&format!("/rest/metadata/objects?limit={bad}"))
            .await;
        assert_eq!(s, 400, "{bad}: {b}");
        assert_eq!(
            b["messages"][0],
            format!("limit '{bad}' is invalid. Should be an integer")
        );
    }
}
