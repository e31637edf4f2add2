//! Pins the exact HTTP request of every records operation and the parsing of its answer.

mod common;

use common::{KEY, UA, capture_body, client};
use futures::TryStreamExt;
use mockito::Matcher;
use serde_json::json;
use twenty_client::model::{Emails, FullName, Person};
use twenty_client::{ErrorKind, Filter, OrderBy, Record};

fn auth() -> String {
    format!("Bearer {KEY}")
}

#[tokio::test]
async fn list_sends_limit_depth_order_filter_and_headers_and_parses_the_real_page() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("GET", "/rest/people")
        .match_query(Matcher::Exact(
            "limit=5&depth=0&order_by=createdAt%5BDescNullsLast%5D&filter=name.firstName%5Bilike%5D%3A%22%25a%25%22".into(),
        ))
        .match_header("authorization", auth().as_str())
        .match_header("user-agent", UA)
        .match_header("accept", "application/json")
        .with_status(200)
        .with_body(capture_body("10_people_list_limit5.json"))
        .create_async()
        .await;
    let c = client(&server.url());
    let page = c
        .people()
        .list()
        .filter(Filter::field("name.firstName").ilike("%a%"))
        .order_by(OrderBy::desc("createdAt"))
        .limit(5)
        .send()
        .await
        .expect("page");
    m.assert_async().await;
    assert_eq!(page.records.len(), 5);
    assert_eq!(page.total_count, Some(1200));
    assert!(page.page_info.has_next_page);
    assert_eq!(
        page.page_info.end_cursor.as_deref(),
        Some("eyJpZCI6IjIwMjAyMDIwLWIwMTctNGFlMC05ZWNlLTAxZGNmYTk2MjdlOCJ9")
    );
    let p = &page.records[0];
    assert_eq!(
        p.name.as_ref().and_then(|n| n.first_name.as_deref()),
        Some("Jeffery")
    );
    // Workspace custom fields survive in `extra`.
    assert!(p.extra.contains_key("searchVector"));
    assert!(p.extra.contains_key("whatsapp"));
    assert_eq!(c.stats().requests, 1);
}

#[tokio::test]
async fn stream_follows_end_cursor_with_starting_after_until_no_next_page() {
    let mut server = mockito::Server::new_async().await;
    let first = server
        .mock("GET", "/rest/companies")
        .match_query(Matcher::Exact("limit=2&depth=0".into()))
        .with_body(
            json!({"data":{"companies":[{"id":"a"},{"id":"b"}]},"totalCount":3,
                   "pageInfo":{"hasNextPage":true,"startCursor":"c0","endCursor":"c2"}})
            .to_string(),
        )
        .create_async()
        .await;
    let second = server
        .mock("GET", "/rest/companies")
        .match_query(Matcher::Exact("limit=2&depth=0&starting_after=c2".into()))
        .with_body(
            json!({"data":{"companies":[{"id":"c"}]},"totalCount":3,
                   "pageInfo":{"hasNextPage":false,"startCursor":"c3","endCursor":"c3"}})
            .to_string(),
        )
        .create_async()
        .await;
    let c = client(&server.url());
    let ids: Vec<String> = c
        .records("companies")
        .list()
        .limit(2)
        .stream()
        .map_ok(|r: Record| r.id().unwrap_or_default().to_owned())
        .try_collect()
        .await
        .expect("stream");
    first.assert_async().await;
    second.assert_async().await;
    assert_eq!(ids, ["a", "b", "c"]);
}

#[tokio::test]
async fn stream_stops_with_an_error_when_the_cursor_does_not_advance() {
    let mut server = mockito::Server::new_async().await;
    let body =
        json!({"data":{"people":[{"id":"a"}]},"pageInfo":{"hasNextPage":true,"endCursor":"same"}});
    let _m = server
        .mock("GET", "/rest/people")
        .match_query(Matcher::Any)
        .with_body(body.to_string())
        .create_async()
        .await;
    let c = client(&server.url());
    let res: Result<Vec<Record>, _> = c
        .records("people")
        .list()
        .starting_after("same")
        .stream()
        .try_collect()
        .await;
    let err = res.expect_err("must not loop");
    assert!(matches!(err.kind(), ErrorKind::Decode { .. }), "{err}");
}

#[tokio::test]
async fn get_sends_depth_and_decodes_the_singular_envelope() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock(
            "GET",
            "/rest/companies/20202020-a000-4485-94de-70c2a98daef2",
        )
        .match_query(Matcher::Exact("depth=1".into()))
        .match_header("authorization", auth().as_str())
        .with_body(capture_body("31_company_get_by_id.json"))
        .create_async()
        .await;
    let c = client(&server.url());
    let co = c
        .companies()
        .get("20202020-a000-4485-94de-70c2a98daef2")
        .depth(1)
        .send()
        .await
        .expect("company");
    m.assert_async().await;
    assert_eq!(co.name.as_deref(), Some("Housecall Pro"));
    assert_eq!(
        co.domain_name.and_then(|d| d.primary_link_url).as_deref(),
        Some("housecallpro.com")
    );
}

fn ada() -> Person {
    Person {
        name: Some(FullName {
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
        }),
        emails: Some(Emails {
            primary_email: Some("ada.lovelace@example.org".into()),
            additional_emails: None,
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn create_posts_json_body_with_content_type_and_parses_create_envelope() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("POST", "/rest/people")
        .match_query(Matcher::Missing)
        .match_header("content-type", "application/json")
        .match_header("authorization", auth().as_str())
        .match_body(Matcher::Json(json!({
            "name": {"firstName": "Ada", "lastName": "Lovelace"},
            "emails": {"primaryEmail": "ada.lovelace@example.org"}
        })))
        .with_status(201)
        .with_body(capture_body("40_person_create.json"))
        .create_async()
        .await;
    let c = client(&server.url());
    let p = c.people().create(&ada()).send().await.expect("created");
    m.assert_async().await;
    assert_eq!(
        p.id.as_deref(),
        Some("c54adc11-1c5d-4c1e-9d3e-386c4f006c18")
    );
}

#[tokio::test]
async fn upsert_adds_the_query_flag_and_parses_the_answer() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("POST", "/rest/people")
        .match_query(Matcher::Exact("upsert=true".into()))
        .with_status(201)
        .with_body(capture_body("51_people_create_upsert.json"))
        .create_async()
        .await;
    let c = client(&server.url());
    let p = c
        .people()
        .create(&ada())
        .upsert(true)
        .send()
        .await
        .expect("upserted");
    m.assert_async().await;
    assert_eq!(
        p.id.as_deref(),
        Some("1eb03fe4-13cb-4780-99cc-840667a5e0f8")
    );
}

#[tokio::test]
async fn create_many_chunks_to_the_batch_size_and_keeps_order() {
    let mut server = mockito::Server::new_async().await;
    let people: Vec<Record> = (0..5)
        .map(|i| Record::from(json!({"id": format!("id-{i}"), "city": format!("c{i}")})))
        .collect();
    let mut mocks = Vec::new();
    for chunk in people.chunks(2) {
        let body = serde_json::to_value(chunk).expect("json");
        mocks.push(
            server
                .mock("POST", "/rest/batch/people")
                .match_query(Matcher::Exact("upsert=true".into()))
                .match_header("content-type", "application/json")
                .match_body(Matcher::Json(body.clone()))
                .with_status(201)
                .with_body(json!({"data":{"createPeople": body}}).to_string())
                .create_async()
                .await,
        );
    }
    let c = common::builder(&server.url())
        .batch_size(2)
        .build()
        .expect("client");
    let saved = c
        .records("people")
        .create_many(people.clone())
        .upsert(true)
        .send()
        .await
        .expect("saved");
    for m in mocks {
        m.assert_async().await;
    }
    assert_eq!(saved, people);
    assert_eq!(c.stats().requests, 3);
}

/// One `POST /rest/batch/people?upsert=true` expected once per `(records, status, body)`.
async fn mock_batches(
    server: &mut mockito::Server,
    people: &[Record],
    answers: impl IntoIterator<Item = (std::ops::Range<usize>, usize, String)>,
) -> Vec<mockito::Mock> {
    let mut mocks = Vec::new();
    for (range, status, body) in answers {
        let sent = serde_json::to_value(&people[range]).expect("json");
        let mock = server
            .mock("POST", "/rest/batch/people")
            .match_query(Matcher::Exact("upsert=true".into()))
            .match_body(Matcher::Json(sent))
            .with_status(status)
            .with_body(body)
            .expect(1)
            .create_async()
            .await;
        mocks.push(mock);
    }
    mocks
}

#[tokio::test]
async fn isolating_batches_send_the_halves_of_a_refused_batch_and_stop_on_a_failure_of_the_account()
{
    let mut server = mockito::Server::new_async().await;
    let people: Vec<Record> = (0..8)
        .map(|i| Record::from(json!({"id": format!("id-{i}"), "city": format!("c{i}")})))
        .collect();
    // The first batch holds a record Twenty refuses (Twenty's real answer to a duplicate): its
    // halves go next, and the refused half's records alone. The second batch meets a 402.
    let refused = capture_body("52_people_create_duplicate_email_error.json");
    let answer = |records: &[Record]| json!({"data": {"createPeople": records}}).to_string();
    let answers = [(0..4, 400, refused.clone()), (4..8, 402, "{}".to_owned())];
    let created = mock_batches(&mut server, &people, answers).await;
    let c = common::builder(&server.url())
        .batch_size(4)
        .build()
        .expect("client");
    let err = c
        .records("people")
        .create_many(people.clone())
        .upsert(true)
        .send_isolating()
        .await
        .unwrap_err();
    for m in &created {
        m.assert_async().await;
    }
    assert_eq!(err.kind(), &ErrorKind::UnexpectedStatus { status: 402 });
    assert!(
        err.context().contains(&("records", "4..8".to_owned())),
        "{err}"
    );
    assert!(
        err.context()
            .contains(&("accepted_before_failure", "0".to_owned())),
        "{err}"
    );

    // Without the 402, the halves of the first batch: 0..2 refused, 2..4 accepted; then 0 and 1
    // alone, of which Twenty refuses 1.
    server.reset();
    let answers = [
        (0..4, 400, refused.clone()),
        (4..8, 201, answer(&people[4..8])),
        (0..2, 400, refused.clone()),
        (2..4, 201, answer(&people[2..4])),
        (0..1, 201, answer(&people[0..1])),
        (1..2, 400, refused),
    ];
    let mocks = mock_batches(&mut server, &people, answers).await;
    let outcome = c
        .records("people")
        .create_many(people.clone())
        .upsert(true)
        .send_isolating()
        .await
        .expect("isolated");
    for m in &mocks {
        m.assert_async().await;
    }
    let saved: Vec<(usize, Record)> = outcome.saved;
    let expected: Vec<(usize, Record)> = people
        .iter()
        .cloned()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .collect();
    assert_eq!(saved, expected);
    assert_eq!(outcome.refused.len(), 1);
    assert_eq!(outcome.refused[0].0, 1);
    assert_eq!(outcome.refused[0].1.kind(), &ErrorKind::Conflict);
}

#[tokio::test]
async fn create_many_parses_the_real_batch_answer() {
    let mut server = mockito::Server::new_async().await;
    let _m = server
        .mock("POST", "/rest/batch/people")
        .match_query(Matcher::Missing)
        .with_status(201)
        .with_body(capture_body("50_people_batch_create.json"))
        .create_async()
        .await;
    let c = client(&server.url());
    let saved = c
        .people()
        .create_many(vec![ada(), ada()])
        .send()
        .await
        .expect("saved");
    assert_eq!(saved.len(), 2);
    assert_eq!(
        saved[0].name.as_ref().and_then(|n| n.first_name.as_deref()),
        Some("Grace")
    );
}

#[tokio::test]
async fn update_patches_the_partial_body() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("PATCH", "/rest/people/c54adc11-1c5d-4c1e-9d3e-386c4f006c18")
        .match_query(Matcher::Missing)
        .match_header("content-type", "application/json")
        .match_body(Matcher::Json(json!({"name": {"lastName": "King"}})))
        .with_body(capture_body("42_person_update_patch.json"))
        .create_async()
        .await;
    let c = client(&server.url());
    let p = c
        .people()
        .update(
            "c54adc11-1c5d-4c1e-9d3e-386c4f006c18",
            json!({"name": {"lastName": "King"}}),
        )
        .send()
        .await
        .expect("updated");
    m.assert_async().await;
    assert_eq!(p.name.and_then(|n| n.last_name).as_deref(), Some("King"));
}

#[tokio::test]
async fn update_many_sends_the_filter_and_parses_the_list() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("PATCH", "/rest/people")
        .match_query(Matcher::Exact(
            "filter=id%5Bin%5D%3A%5B%224b4f4f46-fcd9-4882-ae33-f7416df868a0%22%5D".into(),
        ))
        .match_body(Matcher::Json(json!({"jobTitle": "x"})))
        .with_body(capture_body("48f_people_update_many_by_filter.json"))
        .create_async()
        .await;
    let c = client(&server.url());
    let updated = c
        .people()
        .update_many(
            Filter::field("id").in_(["4b4f4f46-fcd9-4882-ae33-f7416df868a0"]),
            json!({"jobTitle": "x"}),
        )
        .send()
        .await
        .expect("updated");
    m.assert_async().await;
    assert_eq!(updated.len(), 1);
}

#[tokio::test]
async fn soft_delete_and_destroy_use_the_soft_delete_flag_correctly() {
    let mut server = mockito::Server::new_async().await;
    let id = "c54adc11-1c5d-4c1e-9d3e-386c4f006c18";
    let soft = server
        .mock("DELETE", format!("/rest/people/{id}").as_str())
        .match_query(Matcher::Exact("soft_delete=true".into()))
        .with_body(capture_body("43_person_delete_soft.json"))
        .create_async()
        .await;
    let hard = server
        .mock("DELETE", format!("/rest/people/{id}").as_str())
        .match_query(Matcher::Missing)
        .with_body(capture_body("46_person_delete_hard.json"))
        .create_async()
        .await;
    let c = client(&server.url());
    assert_eq!(c.people().soft_delete(id).send().await.expect("soft"), id);
    assert_eq!(c.people().destroy(id).send().await.expect("hard"), id);
    soft.assert_async().await;
    hard.assert_async().await;
}

#[tokio::test]
async fn delete_many_and_soft_delete_many_send_filter_and_return_ids() {
    let mut server = mockito::Server::new_async().await;
    let filter = Filter::field("id").in_([
        "1eb03fe4-13cb-4780-99cc-840667a5e0f8",
        "b54a919e-fa42-48f8-9604-6e05fefd40fb",
    ]);
    let q = "filter=id%5Bin%5D%3A%5B%221eb03fe4-13cb-4780-99cc-840667a5e0f8%22%2C%22b54a919e-fa42-48f8-9604-6e05fefd40fb%22%5D";
    let hard = server
        .mock("DELETE", "/rest/people")
        .match_query(Matcher::Exact(q.into()))
        .with_body(capture_body("53_people_delete_many_by_filter.json"))
        .create_async()
        .await;
    let soft = server
        .mock("DELETE", "/rest/people")
        .match_query(Matcher::Exact(format!("{q}&soft_delete=true")))
        .with_body(capture_body("53_people_delete_many_by_filter.json"))
        .create_async()
        .await;
    let c = client(&server.url());
    let ids = c
        .people()
        .destroy_many(filter.clone())
        .send()
        .await
        .expect("destroyed");
    assert_eq!(ids.len(), 2);
    let ids = c
        .people()
        .soft_delete_many(filter)
        .send()
        .await
        .expect("soft");
    assert_eq!(ids[1], "b54a919e-fa42-48f8-9604-6e05fefd40fb");
    hard.assert_async().await;
    soft.assert_async().await;
}

#[tokio::test]
async fn restore_falls_back_to_the_filter_form_when_the_id_path_400s() {
    let mut server = mockito::Server::new_async().await;
    let id = "4b4f4f46-fcd9-4882-ae33-f7416df868a0";
    let by_id = server
        .mock("PATCH", format!("/rest/restore/people/{id}").as_str())
        .with_status(400)
        .with_body(capture_body("48c_person_restore_one_by_id_BUG_400.json"))
        .expect(1)
        .create_async()
        .await;
    let by_filter = server
        .mock("PATCH", "/rest/restore/people")
        .match_query(Matcher::Exact(format!("filter=id%5Beq%5D%3A%22{id}%22")))
        .with_body(capture_body("48d_people_restore_many_by_filter.json"))
        .create_async()
        .await;
    let c = client(&server.url());
    let p = c.people().restore(id).send().await.expect("restored");
    by_id.assert_async().await;
    by_filter.assert_async().await;
    assert_eq!(p.id.as_deref(), Some(id));
    assert!(p.deleted_at.is_none());
}

#[tokio::test]
async fn restore_uses_the_id_path_when_the_server_supports_it() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("PATCH", "/rest/restore/people/p1")
        .with_body(json!({"data":{"restorePerson":{"id":"p1","deletedAt":null}}}).to_string())
        .create_async()
        .await;
    let c = client(&server.url());
    let r = c
        .records("people")
        .restore("p1")
        .send()
        .await
        .expect("restored");
    m.assert_async().await;
    assert_eq!(r.id(), Some("p1"));
}

#[tokio::test]
async fn find_duplicates_posts_ids_and_parses_one_page_per_input() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("POST", "/rest/people/duplicates")
        .match_body(Matcher::Json(json!({"ids": ["p1"]})))
        .with_body(
            json!({"data":[{"personDuplicates":[{"id":"p2"}],"totalCount":1,
                 "pageInfo":{"hasNextPage":false,"startCursor":"x","endCursor":"y"}}]})
            .to_string(),
        )
        .create_async()
        .await;
    let c = client(&server.url());
    let pages = c
        .people()
        .find_duplicates_by_ids(["p1"])
        .send()
        .await
        .expect("dups");
    m.assert_async().await;
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].records[0].id.as_deref(), Some("p2"));
    assert_eq!(pages[0].total_count, Some(1));
}

#[tokio::test]
async fn find_duplicates_by_data_wraps_records_in_data() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("POST", "/rest/people/duplicates")
        .match_body(Matcher::Json(
            json!({"data": [{"emails": {"primaryEmail": "a@b.c"}}]}),
        ))
        .with_body(json!({"data":[{"personDuplicates":[],"totalCount":0}]}).to_string())
        .create_async()
        .await;
    let c = client(&server.url());
    let rec = Record::from(json!({"emails": {"primaryEmail": "a@b.c"}}));
    let pages = c
        .records("people")
        .find_duplicates(vec![rec])
        .send()
        .await
        .expect("dups");
    m.assert_async().await;
    assert!(pages[0].records.is_empty());
}

#[tokio::test]
async fn custom_objects_decode_whatever_the_singular_key_is() {
    let mut server = mockito::Server::new_async().await;
    let _m = server
        .mock("GET", "/rest/pets/p1")
        .match_query(Matcher::Any)
        .with_body(json!({"data":{"pet":{"id":"p1","species":"cat"}}}).to_string())
        .create_async()
        .await;
    let c = client(&server.url());
    let r = c.records("pets").get("p1").send().await.expect("pet");
    assert_eq!(r.get("species").and_then(|v| v.as_str()), Some("cat"));
}

#[tokio::test]
async fn decode_errors_name_the_json_path() {
    let mut server = mockito::Server::new_async().await;
    let _m = server
        .mock("GET", "/rest/people")
        .match_query(Matcher::Any)
        .with_body(r#"{"data":{"people":[{"id":"a"},{"id":"b","emails":{"primaryEmail":42}}]}}"#)
        .create_async()
        .await;
    let c = client(&server.url());
    let err = c.people().list().send().await.expect_err("bad json");
    match err.kind() {
        ErrorKind::Decode { path } => assert!(path.contains("people[1]"), "{path}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.operation(), "records.list");
}

#[tokio::test]
async fn unencodable_filter_values_are_refused_before_any_request() {
    let server = mockito::Server::new_async().await;
    let c = client(&server.url());
    let err = c
        .people()
        .list()
        .filter(Filter::field("name.lastName").eq(r#"O'Brien "Jr""#))
        .send()
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert_eq!(c.stats().requests, 0);
}

#[test]
fn client_handlers_and_streams_are_send_sync_and_static() {
    fn send_sync_static<T: Send + Sync + 'static>(_: &T) {}
    fn send_static<T: Send + 'static>(_: &T) {}
    let c = client("http://127.0.0.1:9/");
    send_sync_static(&c);
    send_sync_static(&c.people());
    send_sync_static(&c.metadata());
    send_sync_static(&c.webhooks());
    let s = c.people().list().stream();
    send_static(&s);
    let p = c.records("pets").list().pages();
    send_static(&p);
}
