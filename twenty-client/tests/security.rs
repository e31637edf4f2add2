//! Host safety and secret hygiene.

mod common;

use common::{KEY, builder};
use mockito::Matcher;
use secrecy::SecretString;
use twenty_client::{Client, ErrorKind};

fn build(url: &str) -> Result<Client, twenty_client::Error> {
    Client::builder(url::Url::parse(url).expect("url"), SecretString::from(KEY)).build()
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let err = build("http://crm.example.com/").expect_err("refused");
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(err.to_string().contains("https"));
}

#[test]
fn plain_http_to_loopback_is_allowed() {
    for url in [
        "http://127.0.0.1:3000/",
        "http://localhost:3000/",
        "http://[::1]:3000/",
    ] {
        build(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    build("https://api.twenty.com/").expect("https");
}

#[test]
fn user_info_in_the_url_is_refused() {
    let err = build("https://user:pass@api.twenty.com/").expect_err("refused");
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(!err.to_string().contains("pass@"));
}

#[test]
fn other_schemes_are_refused() {
    assert!(build("ftp://api.twenty.com/").is_err());
}

#[test]
fn hosts_outside_the_allowlist_are_refused_at_build() {
    let err = Client::builder(
        url::Url::parse("https://evil.example.net/").expect("url"),
        SecretString::from(KEY),
    )
    .allowed_hosts(["api.twenty.com", "crm.mycompany.com"])
    .build()
    .expect_err("not allowed");
    assert_eq!(err.kind(), &ErrorKind::Config);
    Client::builder(
        url::Url::parse("https://API.twenty.com/").expect("url"),
        SecretString::from(KEY),
    )
    .allowed_hosts(["api.twenty.com"])
    .build()
    .expect("allowed, case-insensitively");
}

#[test]
fn page_and_batch_sizes_are_bounded() {
    let b = || {
        Client::builder(
            url::Url::parse("https://api.twenty.com/").expect("url"),
            SecretString::from(KEY),
        )
    };
    assert!(b().page_size(0).build().is_err());
    assert!(b().page_size(201).build().is_err());
    assert!(b().batch_size(201).build().is_err());
    let c = b().page_size(200).batch_size(200).build().expect("max ok");
    assert_eq!((c.page_size(), c.batch_size()), (200, 200));
}

#[tokio::test]
async fn redirects_to_another_host_are_refused() {
    let mut server = mockito::Server::new_async().await;
    let _m = server
        .mock("GET", Matcher::Any)
        .with_status(302)
        .with_header("location", "http://127.0.0.2:9/steal")
        .create_async()
        .await;
    let c = builder(&server.url()).build().expect("client");
    let err = c
        .records("people")
        .get("x")
        .send()
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(err.to_string().contains("redirect"), "{err}");
}

#[tokio::test]
async fn redirects_on_the_same_host_are_followed() {
    let mut server = mockito::Server::new_async().await;
    let _r = server
        .mock("GET", "/rest/people/x")
        .match_query(Matcher::Any)
        .with_status(301)
        .with_header("location", "/rest/people/y?depth=0")
        .create_async()
        .await;
    let _ok = server
        .mock("GET", "/rest/people/y")
        .match_query(Matcher::Any)
        .with_body(r#"{"data":{"person":{"id":"y"}}}"#)
        .create_async()
        .await;
    let c = builder(&server.url()).build().expect("client");
    let r = c.records("people").get("x").send().await.expect("followed");
    assert_eq!(r.id(), Some("y"));
}

#[tokio::test]
async fn the_key_never_appears_in_debug_display_or_errors() {
    let mut server = mockito::Server::new_async().await;
    let _m = server
        .mock("GET", Matcher::Any)
        .with_status(401)
        .with_body(common::capture_body("66_error_invalid_token.json"))
        .create_async()
        .await;
    let b = builder(&server.url());
    assert!(!format!("{b:?}").contains(KEY));
    let c = b.build().expect("client");
    assert!(!format!("{c:?}").contains(KEY));
    let err = c.records("people").get("x").send().await.expect_err("401");
    assert_eq!(err.kind(), &ErrorKind::Unauthorized);
    assert!(!format!("{err}").contains(KEY));
    assert!(!format!("{err:?}").contains(KEY));
    let cfg_err = build("http://remote.example.com/").expect_err("cfg");
    assert!(!format!("{cfg_err:?}").contains(KEY));
}

#[tokio::test]
async fn set_api_key_rotates_the_key_for_every_clone() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("GET", Matcher::Any)
        .match_header("authorization", "Bearer rotated-key")
        .with_body(r#"{"data":{"person":{"id":"x"}}}"#)
        .create_async()
        .await;
    let c = builder(&server.url()).build().expect("client");
    let clone = c.clone();
    c.set_api_key(SecretString::from("rotated-key"));
    clone
        .records("people")
        .get("x")
        .send()
        .await
        .expect("new key used");
    m.assert_async().await;
}

#[tokio::test]
async fn long_error_bodies_are_bounded_in_messages() {
    let mut server = mockito::Server::new_async().await;
    let huge = "x".repeat(100_000);
    let _m = server
        .mock("GET", Matcher::Any)
        .with_status(400)
        .with_body(format!(r#"{{"statusCode":400,"messages":["{huge}"]}}"#))
        .create_async()
        .await;
    let c = builder(&server.url()).build().expect("client");
    let err = c.records("people").get("x").send().await.expect_err("400");
    assert!(err.to_string().len() < 2_000, "{}", err.to_string().len());
}
