//! Google Cloud Secret Manager provider against mockito: exact request shapes for the metadata
//! server, the service-account JWT grant and `versions/latest:access`, token caching, 401
//! refresh, error mapping and redaction.
//!
//! Built with the `gcp-secret-manager` feature, which the crate's self dev-dependency turns on
//! for `cargo test`.
#![cfg(feature = "gcp-secret-manager")]

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use mockito::Matcher;
use secrecy::{ExposeSecret, SecretString};
use twenty_sync_core::secret::{GcpCredentials, GcpSecretManager, ServiceAccountKey};
use twenty_sync_core::{SecretProvider, StoreErrorKind};
use url::Url;

/// A throwaway 2048-bit RSA key generated with
/// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048` for these tests only.
const TEST_KEY_PEM: &str = include_str!("fixtures/gcp_test_key.pem");
/// Its public key (`openssl rsa -RSAPublicKey_out -outform DER`), to verify JWT signatures.
const TEST_PUBLIC_KEY_DER: &[u8] = include_bytes!("fixtures/gcp_test_key.pub.der");

const TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

fn access_path(project: &str, name: &str) -> String {
    format!("/v1/projects/{project}/secrets/{name}/versions/latest:access")
}

fn payload(value: &str) -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(value);
    serde_json::json!({
        "name": "projects/123/secrets/x/versions/3",
        "payload": { "data": data, "dataCrc32c": "1" }
    })
    .to_string()
}

fn token_body(token: &str, expires_in: u64) -> String {
    serde_json::json!({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})
        .to_string()
}

fn manager(server: &mockito::Server, project: &str) -> GcpSecretManager {
    let base = Url::parse(&server.url()).unwrap();
    GcpSecretManager::new(project, GcpCredentials::metadata_server_at(base.clone()))
        .with_base_url(base)
}

#[tokio::test]
async fn metadata_token_is_fetched_once_and_cached() {
    let mut server = mockito::Server::new_async().await;
    let token = server
        .mock("GET", TOKEN_PATH)
        .match_header("metadata-flavor", "Google")
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(token_body("ya29.meta-token", 3599))
        .expect(1)
        .create_async()
        .await;
    let access = server
        .mock("GET", access_path("proj-1", "twenty-api-key").as_str())
        .match_header("authorization", "Bearer ya29.meta-token")
        .match_body(Matcher::Exact(String::new()))
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(payload("k-123\n"))
        .expect(2)
        .create_async()
        .await;

    let secrets = manager(&server, "proj-1");
    for _ in 0..2 {
        let value = secrets.resolve("twenty-api-key").await.unwrap().unwrap();
        assert_eq!(
            value.expose_secret(),
            "k-123",
            "payload decoded, newline trimmed"
        );
    }
    token.assert_async().await;
    access.assert_async().await;
    assert_eq!(secrets.describe(), "Google Secret Manager (project proj-1)");
}

#[tokio::test]
async fn a_token_about_to_expire_is_fetched_again() {
    let mut server = mockito::Server::new_async().await;
    // 30 s is inside the one-minute renewal margin: every use fetches a fresh token.
    let token = server
        .mock("GET", TOKEN_PATH)
        .with_status(200)
        .with_body(token_body("ya29.short", 30))
        .expect(2)
        .create_async()
        .await;
    let _access = server
        .mock("GET", access_path("p", "k").as_str())
        .with_status(200)
        .with_body(payload("v"))
        .expect(2)
        .create_async()
        .await;
    let secrets = manager(&server, "p");
    secrets.resolve("k").await.unwrap().unwrap();
    secrets.resolve("k").await.unwrap().unwrap();
    token.assert_async().await;
}

#[tokio::test]
async fn a_401_refreshes_the_token_once() {
    let mut server = mockito::Server::new_async().await;
    // Mockito serves the first matching mock that still misses hits: old token, then new.
    let old = server
        .mock("GET", TOKEN_PATH)
        .with_status(200)
        .with_body(token_body("ya29.revoked", 3600))
        .expect(1)
        .create_async()
        .await;
    let new = server
        .mock("GET", TOKEN_PATH)
        .with_status(200)
        .with_body(token_body("ya29.fresh", 3600))
        .expect(1)
        .create_async()
        .await;
    let rejected = server
        .mock("GET", access_path("p", "k").as_str())
        .match_header("authorization", "Bearer ya29.revoked")
        .with_status(401)
        .with_body(
            r#"{"error":{"code":401,"message":"Request had invalid authentication credentials."}}"#,
        )
        .expect(1)
        .create_async()
        .await;
    let accepted = server
        .mock("GET", access_path("p", "k").as_str())
        .match_header("authorization", "Bearer ya29.fresh")
        .with_status(200)
        .with_body(payload("rotated"))
        .expect(1)
        .create_async()
        .await;
    let secrets = manager(&server, "p");
    let value = secrets.resolve("k").await.unwrap().unwrap();
    assert_eq!(value.expose_secret(), "rotated");
    for m in [old, new, rejected, accepted] {
        m.assert_async().await;
    }
}

#[tokio::test]
async fn missing_secrets_and_impossible_names_are_none() {
    let mut server = mockito::Server::new_async().await;
    let _token = server
        .mock("GET", TOKEN_PATH)
        .with_status(200)
        .with_body(token_body("ya29.t", 3600))
        .create_async()
        .await;
    let missing = server
        .mock("GET", access_path("p", "nope").as_str())
        .with_status(404)
        .with_body(r#"{"error":{"code":404,"message":"Secret [projects/p/secrets/nope] not found or has no versions.","status":"NOT_FOUND"}}"#)
        .expect(1)
        .create_async()
        .await;
    let secrets = manager(&server, "p");
    assert!(secrets.resolve("nope").await.unwrap().is_none());
    // Secret Manager ids are [A-Za-z0-9_-]: these cannot exist and are not requested at all.
    for name in ["twenty.api.key", "a/b", "", "../x"] {
        assert!(secrets.resolve(name).await.unwrap().is_none(), "{name}");
    }
    missing.assert_async().await;
}

#[tokio::test]
async fn errors_say_what_to_do_and_never_carry_tokens() {
    let mut server = mockito::Server::new_async().await;
    let _token = server
        .mock("GET", TOKEN_PATH)
        .with_status(200)
        .with_body(token_body("ya29.secret-token-value", 3600))
        .create_async()
        .await;
    let _denied = server
        .mock("GET", access_path("p", "denied").as_str())
        .with_status(403)
        .with_body(r#"{"error":{"code":403,"message":"Permission 'secretmanager.versions.access' denied","status":"PERMISSION_DENIED"}}"#)
        .create_async()
        .await;
    let _down = server
        .mock("GET", access_path("p", "down").as_str())
        .with_status(503)
        .with_body("{}")
        .create_async()
        .await;
    let secrets = manager(&server, "p");

    let err = secrets.resolve("denied").await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(!err.is_temporary());
    let text = err.to_string();
    assert!(
        text.contains("roles/secretmanager.secretAccessor"),
        "{text}"
    );
    assert!(text.contains("secret=denied"), "{text}");
    assert!(text.contains("secretmanager.versions.access"), "{text}");

    let err = secrets.resolve("down").await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Unavailable);
    assert!(err.is_temporary());

    let debug = format!("{secrets:?}");
    for text in [debug, format!("{err:?}")] {
        assert!(!text.contains("secret-token-value"), "{text}");
    }
}

#[tokio::test]
async fn metadata_server_refusal_is_a_config_error() {
    let mut server = mockito::Server::new_async().await;
    let _token = server
        .mock("GET", TOKEN_PATH)
        .with_status(404)
        .with_body("service account not found")
        .create_async()
        .await;
    let err = manager(&server, "p").resolve("k").await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(err.to_string().contains("metadata server"), "{err}");
}

fn key_json(token_uri: &str) -> SecretString {
    SecretString::from(
        serde_json::json!({
            "type": "service_account",
            "project_id": "proj-sa",
            "private_key_id": "kid-0123",
            "private_key": TEST_KEY_PEM,
            "client_email": "sync@proj-sa.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": token_uri,
        })
        .to_string(),
    )
}

#[tokio::test]
async fn service_account_key_signs_an_rs256_jwt_grant() {
    let mut server = mockito::Server::new_async().await;
    let token_uri = format!("{}/token", server.url());
    let seen: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
    let token = server
        .mock("POST", "/token")
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_body(Matcher::AllOf(vec![
            Matcher::UrlEncoded(
                "grant_type".into(),
                "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
            ),
            Matcher::Regex("assertion=".into()),
        ]))
        .match_request({
            let seen = seen.clone();
            move |req| {
                *seen.lock().unwrap() = req.body().ok().cloned();
                true
            }
        })
        .with_status(200)
        .with_body(token_body("ya29.from-jwt", 3600))
        .expect(1)
        .create_async()
        .await;
    let access = server
        .mock("GET", access_path("proj-sa", "db-url").as_str())
        .match_header("authorization", "Bearer ya29.from-jwt")
        .with_status(200)
        .with_body(payload("postgres://x"))
        .expect(2)
        .create_async()
        .await;

    let key = ServiceAccountKey::from_json(&key_json(&token_uri)).unwrap();
    assert_eq!(key.client_email(), "sync@proj-sa.iam.gserviceaccount.com");
    let secrets = GcpSecretManager::new("proj-sa", GcpCredentials::ServiceAccountKey(key))
        .with_base_url(Url::parse(&server.url()).unwrap());
    for _ in 0..2 {
        let v = secrets.resolve("db-url").await.unwrap().unwrap();
        assert_eq!(v.expose_secret(), "postgres://x");
    }
    token.assert_async().await;
    access.assert_async().await;

    // The JWT: header, claims, and a signature the key's public half verifies.
    let body = seen.lock().unwrap().clone().expect("token request body");
    let assertion = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "assertion")
        .map(|(_, v)| v.into_owned())
        .expect("assertion field");
    let parts: Vec<&str> = assertion.split('.').collect();
    assert_eq!(parts.len(), 3, "header.claims.signature");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: serde_json::Value = serde_json::from_slice(&b64.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(
        header,
        serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "kid-0123"})
    );
    let claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["iss"], "sync@proj-sa.iam.gserviceaccount.com");
    assert_eq!(claims["aud"], token_uri.as_str());
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/cloud-platform"
    );
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 3600);
    assert!((iat - chrono::Utc::now().timestamp()).abs() < 300);
    let signature = b64.decode(parts[2]).unwrap();
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        TEST_PUBLIC_KEY_DER,
    )
    .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
    .expect("the JWT signature verifies with the test public key");
}

#[tokio::test]
async fn rejected_grant_is_a_config_error_with_googles_reason() {
    let mut server = mockito::Server::new_async().await;
    let _token = server
        .mock("POST", "/token")
        .with_status(400)
        .with_body(r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#)
        .create_async()
        .await;
    let key = ServiceAccountKey::from_json(&key_json("https://unused.invalid/token"))
        .unwrap()
        .with_token_uri(Url::parse(&format!("{}/token", server.url())).unwrap());
    let secrets = GcpSecretManager::new("p", GcpCredentials::ServiceAccountKey(key))
        .with_base_url(Url::parse(&server.url()).unwrap());
    let err = secrets.resolve("k").await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    assert!(err.to_string().contains("Invalid JWT Signature."), "{err}");
}

#[test]
fn key_errors_and_debug_never_show_key_material() {
    let key =
        ServiceAccountKey::from_json(&key_json("https://oauth2.googleapis.com/token")).unwrap();
    let pem_line = TEST_KEY_PEM.lines().nth(1).unwrap();
    let debug = format!(
        "{key:?} {:?}",
        GcpCredentials::ServiceAccountKey(key.clone())
    );
    assert!(!debug.contains(pem_line), "{debug}");
    assert!(!debug.contains("kid-0123"), "{debug}");

    // A PEM with a damaged body: the error names the field, not the content.
    let broken = TEST_KEY_PEM.replace(pem_line, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=");
    let json = SecretString::from(
        serde_json::json!({
            "type": "service_account",
            "private_key": broken,
            "client_email": "a@b",
        })
        .to_string(),
    );
    let err = ServiceAccountKey::from_json(&json).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Config);
    let text = format!("{err} {err:?}");
    assert!(text.contains("private_key"), "{text}");
    assert!(!text.contains("QUJDREVG"), "{text}");
    let second_line = TEST_KEY_PEM.lines().nth(2).unwrap();
    assert!(!text.contains(second_line), "{text}");

    let wrong_type = SecretString::from(r#"{"type":"authorized_user","client_email":"a@b"}"#);
    let err = ServiceAccountKey::from_json(&wrong_type).unwrap_err();
    assert!(err.to_string().contains("authorized_user"), "{err}");
    let not_json = SecretString::from("-----BEGIN PRIVATE KEY-----\nAAAA");
    let err = ServiceAccountKey::from_json(&not_json).unwrap_err();
    assert!(!err.to_string().contains("AAAA"), "{err}");
}
