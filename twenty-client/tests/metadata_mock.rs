//! Metadata API: listing with paging, field creation, ensure/verify, name validation.

mod common;

use common::{KEY, capture, capture_body, client};
use mockito::Matcher;
use serde_json::json;
use twenty_client::ErrorKind;
use twenty_client::metadata::{CreateField, FieldOption, FieldSpec, FieldType};

const PERSON_ID: &str = "2e303e88-0f7c-4eca-b492-e366b849416b";

async fn mount_objects(server: &mut mockito::ServerGuard) -> mockito::Mock {
    server
        .mock("GET", "/rest/metadata/objects")
        .match_query(Matcher::Exact("limit=200".into()))
        .match_header("authorization", format!("Bearer {KEY}").as_str())
        .with_body(capture_body("edge-cases/213_q7_metadata_objects.json"))
        .create_async()
        .await
}

#[tokio::test]
async fn objects_follow_the_metadata_cursor() {
    let mut server = mockito::Server::new_async().await;
    let first = server
        .mock("GET", "/rest/metadata/objects")
        .match_query(Matcher::Exact("limit=200".into()))
        .with_body(json!({"data":{"objects":[{"id":"o1","nameSingular":"a","namePlural":"as","fields":[]}]},
                          "pageInfo":{"hasNextPage":true,"endCursor":"o1"},"totalCount":2}).to_string())
        .create_async()
        .await;
    let second = server
        .mock("GET", "/rest/metadata/objects")
        .match_query(Matcher::Exact("limit=200&starting_after=o1".into()))
        .with_body(
            json!({"data":{"objects":[{"id":"o2","nameSingular":"b","namePlural":"bs"}]},
                          "pageInfo":{"hasNextPage":false,"endCursor":"o2"},"totalCount":2})
            .to_string(),
        )
        .create_async()
        .await;
    let objects = client(&server.url())
        .metadata()
        .objects()
        .await
        .expect("objects");
    first.assert_async().await;
    second.assert_async().await;
    assert_eq!(
        objects
            .iter()
            .map(|o| o.name_plural.as_str())
            .collect::<Vec<_>>(),
        ["as", "bs"]
    );
}

#[tokio::test]
async fn create_field_posts_the_exact_body_and_parses_the_real_answer() {
    let mut server = mockito::Server::new_async().await;
    let sent = capture("edge-cases/214_q7_create_text_field.json")["request"]["body"].clone();
    let m = server
        .mock("POST", "/rest/metadata/fields")
        .match_header("content-type", "application/json")
        .match_body(Matcher::Json(sent))
        .with_status(201)
        .with_body(capture_body("edge-cases/214_q7_create_text_field.json"))
        .create_async()
        .await;
    let field = client(&server.url())
        .metadata()
        .create_field(CreateField::new(
            PERSON_ID,
            "syncTestNote",
            "Sync test note 8975",
            FieldType::Text,
        ))
        .await
        .expect("created");
    m.assert_async().await;
    assert_eq!(field.name, "syncTestNote");
    assert_eq!(field.field_type, FieldType::Text);
}

#[tokio::test]
async fn duplicate_field_is_a_conflict_on_2_21_and_on_newer_servers() {
    for (status, body) in [
        (400usize, capture_body("edge-cases/215_q7_create_same_field_again.json")),
        (409, json!({"statusCode":409,"error":"CONFLICT","code":"FIELD_ALREADY_EXISTS","messages":["Field already exists"]}).to_string()),
    ] {
        let mut server = mockito::Server::new_async().await;
        let _m = server
            .mock("POST", "/rest/metadata/fields")
            .with_status(status)
            .with_body(body)
            .create_async()
            .await;
        let err = client(&server.url())
            .metadata()
            .create_field(CreateField::new(PERSON_ID, "syncTestNote", "x", FieldType::Text))
            .await
            .expect_err("dup");
        assert_eq!(err.kind(), &ErrorKind::Conflict, "{status}: {err}");
    }
}

#[tokio::test]
async fn invalid_names_and_empty_options_are_refused_before_any_request() {
    let server = mockito::Server::new_async().await;
    let c = client(&server.url());
    for bad in ["Tier", "lead_source", "type", "", &"a".repeat(64)] {
        let err = c
            .metadata()
            .ensure_fields(&[FieldSpec::new("people", bad, FieldType::Text)])
            .await
            .expect_err(bad);
        assert_eq!(err.kind(), &ErrorKind::Config, "{bad}");
    }
    let err = c
        .metadata()
        .ensure_fields(&[FieldSpec::new("people", "tier", FieldType::Select)])
        .await
        .expect_err("no options");
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert_eq!(c.stats().requests, 0);
}

#[tokio::test]
async fn ensure_fields_creates_missing_and_reports_present_and_mismatched() {
    let mut server = mockito::Server::new_async().await;
    let objects = mount_objects(&mut server).await;
    let create = server
        .mock("POST", "/rest/metadata/fields")
        .match_body(Matcher::Json(json!({
            "objectMetadataId": PERSON_ID, "type": "SELECT", "name": "loyaltyTier", "label": "Loyalty tier",
            "isNullable": true,
            "options": [{"value": "GOLD", "label": "Gold", "position": 0.0}, {"value": "SILVER", "label": "Silver", "position": 1.0}]
        })))
        .with_status(201)
        .with_body(capture_body("edge-cases/216_q7_create_select_field.json"))
        .expect(1)
        .create_async()
        .await;
    let specs = [
        FieldSpec::new("people", "jobTitle", FieldType::Text),
        FieldSpec::new("person", "intro", FieldType::Number),
        FieldSpec::new("people", "loyaltyTier", FieldType::Select)
            .label("Loyalty tier")
            .options([
                FieldOption::new("GOLD", "Gold"),
                FieldOption::new("SILVER", "Silver"),
            ]),
        FieldSpec::new("unicorns", "horn", FieldType::Text),
    ];
    let report = client(&server.url())
        .metadata()
        .ensure_fields(&specs)
        .await
        .expect("report");
    objects.assert_async().await;
    create.assert_async().await;
    assert_eq!(report.already_present.len(), 1);
    assert_eq!(report.already_present[0].field, "jobTitle");
    assert_eq!(report.created.len(), 1);
    assert_eq!(report.created[0].field, "loyaltyTier");
    assert_eq!(report.mismatched.len(), 2);
    assert!(
        report.mismatched[0].reason.contains("TEXT"),
        "{:?}",
        report.mismatched
    );
    assert!(report.mismatched[1].reason.contains("unicorns"));
}

#[tokio::test]
async fn verify_fields_never_writes_and_reports_missing_and_missing_options() {
    let mut server = mockito::Server::new_async().await;
    let _objects = mount_objects(&mut server).await;
    let no_write = server
        .mock("POST", Matcher::Any)
        .expect(0)
        .create_async()
        .await;
    let specs = [
        FieldSpec::new("people", "loyaltyTier", FieldType::Select)
            .options([FieldOption::new("GOLD", "Gold")]),
        FieldSpec::new("people", "workPreference", FieldType::MultiSelect).options([
            FieldOption::new("REMOTE_WORK", "Remote"),
            FieldOption::new("PLATINUM", "Platinum"),
        ]),
        FieldSpec::new("people", "jobTitle", FieldType::Text),
    ];
    let report = client(&server.url())
        .metadata()
        .verify_fields(&specs)
        .await
        .expect("report");
    no_write.assert_async().await;
    assert_eq!(report.missing.len(), 1);
    assert!(!report.is_ok());
    // 2.21.0 capture: workPreference has ON_SITE, HYBRID, REMOTE_WORK.
    assert_eq!(report.mismatched.len(), 1, "{report:?}");
    assert!(report.mismatched[0].reason.contains("PLATINUM"));
    assert!(
        !report.mismatched[0]
            .reason
            .contains("missing on the server: REMOTE_WORK")
    );
    assert_eq!(report.already_present.len(), 1);
}

/// A `POST /rest/metadata/fields` that must come once, creating `people.biography` as `field_type`.
async fn expect_biography_created_as(
    server: &mut mockito::ServerGuard,
    field_type: &str,
) -> mockito::Mock {
    server
        .mock("POST", "/rest/metadata/fields")
        .match_body(Matcher::PartialJson(json!({
            "objectMetadataId": PERSON_ID, "type": field_type, "name": "biography"
        })))
        .with_status(201)
        .with_body(capture_body("edge-cases/214_q7_create_text_field.json"))
        .expect(1)
        .create_async()
        .await
}

/// The rich-text composite is `RICH_TEXT` on 2.21.0 (its metadata types `notes.bodyV2` so, and its
/// OpenAPI enumerates no `RICH_TEXT_V2`): a field declared `RICH_TEXT_V2` is created under the
/// server's name, and the standard `bodyV2` matches the declaration instead of being reported as
/// mismatched.
#[tokio::test]
async fn a_declared_rich_text_v2_takes_the_name_2_21_gives_the_composite() {
    let mut server = mockito::Server::new_async().await;
    let objects = mount_objects(&mut server).await;
    let create = expect_biography_created_as(&mut server, "RICH_TEXT").await;
    let specs = [
        FieldSpec::new("people", "biography", FieldType::RichTextV2),
        FieldSpec::new("notes", "bodyV2", FieldType::RichTextV2),
        FieldSpec::new("tasks", "bodyV2", FieldType::RichText),
        FieldSpec::new("tasks", "title", FieldType::RichTextV2),
    ];
    let report = client(&server.url())
        .metadata()
        .ensure_fields(&specs)
        .await
        .expect("report");
    objects.assert_async().await;
    create.assert_async().await;
    assert_eq!(report.created.len(), 1, "{report:?}");
    let present: Vec<_> = report
        .already_present
        .iter()
        .map(|f| format!("{}.{}", f.object, f.field))
        .collect();
    assert_eq!(present, ["notes.bodyV2", "tasks.bodyV2"]);
    assert_eq!(report.mismatched.len(), 1, "{report:?}");
    assert_eq!(
        report.mismatched[0].reason,
        "type is TEXT on the server, declared RICH_TEXT_V2 (RICH_TEXT on this server)"
    );
}

/// A server that still names the composite `RICH_TEXT_V2` (before 2.x) gets that name, and a
/// declared `RICH_TEXT` there is its legacy plain-text type, not the composite.
#[tokio::test]
async fn a_server_that_names_the_composite_rich_text_v2_gets_that_name() {
    let mut server = mockito::Server::new_async().await;
    let objects = server
        .mock("GET", "/rest/metadata/objects")
        .match_query(Matcher::Exact("limit=200".into()))
        .with_body(
            json!({"data": {"objects": [
                {"id": "n1", "nameSingular": "note", "namePlural": "notes",
                 "fields": [{"id": "f1", "name": "bodyV2", "type": "RICH_TEXT_V2"},
                            {"id": "f2", "name": "body", "type": "RICH_TEXT"}]},
                {"id": PERSON_ID, "nameSingular": "person", "namePlural": "people", "fields": []}
            ]}, "pageInfo": {"hasNextPage": false}})
            .to_string(),
        )
        .create_async()
        .await;
    let create = expect_biography_created_as(&mut server, "RICH_TEXT_V2").await;
    let specs = [
        FieldSpec::new("people", "biography", FieldType::RichTextV2),
        FieldSpec::new("notes", "body", FieldType::RichTextV2),
    ];
    let report = client(&server.url())
        .metadata()
        .ensure_fields(&specs)
        .await
        .expect("report");
    objects.assert_async().await;
    create.assert_async().await;
    assert_eq!(report.created.len(), 1, "{report:?}");
    assert_eq!(report.mismatched.len(), 1, "{report:?}");
    assert_eq!(
        report.mismatched[0].reason,
        "type is RICH_TEXT on the server, declared RICH_TEXT_V2"
    );
}
