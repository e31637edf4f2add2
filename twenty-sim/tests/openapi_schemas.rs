//! Responses validate against the component schemas of the real 2.21.0 OpenAPI export.
//!
//! The export declares no nullability (`"type": "string"` for `companyId`, `deletedAt`, ...), yet
//! the real server returns `null` for unset values (see capture 10), so null-valued keys are
//! removed before validation; the same relaxation is applied to the real captured records, which
//! must validate too.

mod common;

use common::{Sim, captured_body};
use serde_json::{Value, json};

fn openapi() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/twenty-api/captures-2.21.0/openapi-core.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("openapi-core.json is readable"))
        .expect("valid JSON")
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

/// A validator for the 200 response of `GET /{plural}` (refs resolved inside the document).
fn list_validator(doc: &Value, plural: &str) -> jsonschema::Validator {
    let schema = &doc["paths"][format!("/{plural}")]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert!(schema.is_object(), "no list schema for {plural}");
    let mut root = schema.clone();
    root["components"] = doc["components"].clone();
    jsonschema::draft202012::new(&root).expect("the export's schema compiles")
}

fn assert_valid(v: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(5)
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

#[test]
fn real_captured_lists_validate_once_nulls_are_removed() {
    let doc = openapi();
    for (plural, cap) in [
        ("people", "10_people_list_limit5.json"),
        ("companies", "12_companies_list_limit5.json"),
        ("opportunities", "17_opportunities_list.json"),
    ] {
        let v = list_validator(&doc, plural);
        assert_valid(&v, &strip_nulls(&captured_body(cap)), cap);
    }
}

#[tokio::test]
async fn simulator_lists_validate_against_the_openapi_export() {
    let sim = Sim::start(60).await;
    let doc = openapi();
    for plural in [
        "people",
        "companies",
        "opportunities",
        "tasks",
        "notes",
        "noteTargets",
        "taskTargets",
    ] {
        let (s, body) = sim.get(&format!("/rest/{plural}?limit=20")).await;
        assert_eq!(s, 200);
        assert!(
            !body["data"][plural].as_array().unwrap().is_empty(),
            "{plural} seeded"
        );
        let v = list_validator(&doc, plural);
        assert_valid(&v, &strip_nulls(&body), plural);
    }
    // Records written through the API validate too.
    sim.post(
        "/rest/people",
        json!({"name": {"firstName": "Api"}, "emails": {"primaryEmail": "api@x.io"}}),
    )
    .await;
    let (_, body) = sim
        .get("/rest/people?filter=emails.primaryEmail%5Beq%5D%3Aapi%40x.io")
        .await;
    assert_valid(
        &list_validator(&doc, "people"),
        &strip_nulls(&body),
        "API-created person",
    );
}

#[tokio::test]
async fn the_schema_check_rejects_a_wrong_shape() {
    let sim = Sim::start(3).await;
    let doc = openapi();
    let (_, mut body) = sim.get("/rest/people?limit=1").await;
    body["data"]["people"][0]["position"] = json!("not a number");
    let v = list_validator(&doc, "people");
    assert!(!v.is_valid(&strip_nulls(&body)));
}
