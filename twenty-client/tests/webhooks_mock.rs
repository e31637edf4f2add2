//! Webhook subscriptions API.

mod common;

use common::{capture, capture_body, client};
use mockito::Matcher;
use twenty_client::webhook::CreateWebhook;

fn new_hook() -> CreateWebhook {
    CreateWebhook {
        target_url: "http://127.0.0.1:18099/hook".into(),
        operations: vec![
            "person.created".into(),
            "person.updated".into(),
            "person.deleted".into(),
        ],
        description: Some("sync test".into()),
        secret: Some("s3cr3t-webhook".into()),
    }
}

#[tokio::test]
async fn create_posts_to_the_metadata_path_and_parses_the_real_answer() {
    let mut server = mockito::Server::new_async().await;
    let sent =
        capture("edge-cases/219_q8_create_webhook_metadata_path.json")["request"]["body"].clone();
    let m = server
        .mock("POST", "/rest/metadata/webhooks")
        .match_header("content-type", "application/json")
        .match_body(Matcher::Json(sent))
        .with_status(201)
        .with_body(capture_body(
            "edge-cases/219_q8_create_webhook_metadata_path.json",
        ))
        .create_async()
        .await;
    let hook = client(&server.url())
        .webhooks()
        .create(new_hook())
        .await
        .expect("created");
    m.assert_async().await;
    assert_eq!(hook.id, "73d1d6c1-d3db-4192-9ac5-62a4df1474b1");
    assert_eq!(hook.operations.len(), 3);
    assert!(!format!("{hook:?}").contains("s3cr3t-webhook"));
    assert!(!format!("{:?}", new_hook()).contains("s3cr3t-webhook"));
}

#[tokio::test]
async fn create_falls_back_to_the_legacy_path_on_404() {
    let mut server = mockito::Server::new_async().await;
    let modern = server
        .mock("POST", "/rest/metadata/webhooks")
        .with_status(404)
        .with_body(r#"{"statusCode":404,"message":"Cannot POST /rest/metadata/webhooks"}"#)
        .create_async()
        .await;
    let legacy = server
        .mock("POST", "/rest/webhooks")
        .with_status(201)
        .with_body(r#"{"data":{"createWebhook":{"id":"w1","targetUrl":"https://x/h","operations":["*.*"]}}}"#)
        .create_async()
        .await;
    let hook = client(&server.url())
        .webhooks()
        .create(new_hook())
        .await
        .expect("created");
    modern.assert_async().await;
    legacy.assert_async().await;
    assert_eq!(hook.id, "w1");
}

#[tokio::test]
async fn list_and_delete_use_the_metadata_path() {
    let mut server = mockito::Server::new_async().await;
    let list = server
        .mock("GET", "/rest/metadata/webhooks")
        .with_body(capture_body("edge-cases/227_q8_list_webhooks.json"))
        .create_async()
        .await;
    let del = server
        .mock(
            "DELETE",
            "/rest/metadata/webhooks/73d1d6c1-d3db-4192-9ac5-62a4df1474b1",
        )
        .match_query(Matcher::Missing)
        .with_header("content-type", "text/html; charset=utf-8")
        .with_body("true")
        .create_async()
        .await;
    let c = client(&server.url());
    let hooks = c.webhooks().list().await.expect("list");
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].target_url, "http://127.0.0.1:18099/hook");
    c.webhooks().delete(&hooks[0].id).await.expect("deleted");
    list.assert_async().await;
    del.assert_async().await;
}
