//! TLS through rustls against the real server: `sslmode=prefer` encrypts, `sslmode=require`
//! verifies the certificate and the host name.
//!
//! Needs a server with `ssl = on` (the local test server has Debian's snakeoil certificate). On a
//! server without TLS the tests say so on stderr and check nothing else (never silently).

use secrecy::SecretString;
use sink_postgres::{PostgresSink, SinkConfig, TlsConfig};

use crate::common::{TestDb, admin, database_url};

/// `Some(certificate file)` when the server has TLS on, else prints why and gives `None`.
async fn server_tls() -> Option<String> {
    let client = admin().await;
    let ssl: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    if ssl != "on" {
        eprintln!(
            "SKIPPED TLS checks: the server at DATABASE_URL has ssl = {ssl}; enable ssl on it to \
             run them"
        );
        return None;
    }
    let file: String = client
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0);
    Some(file)
}

fn with_param(url: &str, param: &str) -> String {
    if url.contains('?') {
        format!("{url}&{param}")
    } else {
        format!("{url}?{param}")
    }
}

async fn encrypted(sink: &PostgresSink) -> bool {
    let client = sink.pool().get().await.expect("a pooled connection");
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .get(0)
}

#[tokio::test]
async fn sslmode_prefer_encrypts_the_connection() {
    let Some(_) = server_tls().await else { return };
    let db = TestDb::new().await;
    let sink = db
        .build(
            db.builder()
                .connection_string(SecretString::from(with_param(
                    &database_url(),
                    "sslmode=prefer",
                ))),
        )
        .await;
    assert!(encrypted(&sink).await, "sslmode=prefer must use TLS");
    let plain = db
        .build(
            db.builder()
                .connection_string(SecretString::from(with_param(
                    &database_url(),
                    "sslmode=disable",
                ))),
        )
        .await;
    assert!(!encrypted(&plain).await, "sslmode=disable must not");
}

#[tokio::test]
async fn sslmode_require_verifies_the_certificate_and_never_shows_the_password() {
    let Some(cert_file) = server_tls().await else {
        return;
    };
    let url = database_url();
    // The verified check needs the server's certificate (its own CA) and its host name: the
    // local test server (snakeoil certificate for `localhost`).
    let local = url.contains("@127.0.0.1") || url.contains("@localhost");
    if !local || std::fs::metadata(&cert_file).is_err() {
        eprintln!(
            "SKIPPED verified-TLS check: the server's certificate {cert_file} is not readable here \
             or DATABASE_URL is not the local server"
        );
        return;
    }
    let db = TestDb::new().await;
    let secret = "pw-MARKER-tls-7d1";
    let require_url = |host: &str| {
        with_param(
            &url.replacen(
                "postgres@127.0.0.1",
                &format!("postgres:{secret}@{host}"),
                1,
            )
            .replacen(
                "postgres@localhost",
                &format!("postgres:{secret}@{host}"),
                1,
            ),
            "sslmode=require",
        )
    };
    // Without the server's CA: refused, and the error never shows the password.
    let err = PostgresSink::builder(SinkConfig {
        state_schema: db.state_schema(),
        ..SinkConfig::default()
    })
    .connection_string(SecretString::from(require_url("localhost")))
    .tls(TlsConfig {
        webpki_roots: true,
        ca_file: None,
    })
    .build()
    .await
    .expect_err("an untrusted certificate must be refused under sslmode=require");
    let text = format!("{err} {err:?}");
    assert!(!text.contains(secret), "the password leaked: {text}");
    assert!(
        text.to_lowercase().contains("certificate") || text.contains("could not get a connection"),
        "the error says why: {text}"
    );
    // With the server's certificate as CA and the host name it was issued for: verified TLS.
    let tls = TlsConfig {
        webpki_roots: false,
        ca_file: Some(cert_file.into()),
    };
    let sink = db
        .build(
            db.builder()
                .connection_string(SecretString::from(require_url("localhost")))
                .tls(tls.clone()),
        )
        .await;
    assert!(encrypted(&sink).await, "sslmode=require must use TLS");
    // The same CA but another host name (127.0.0.1 is not in the certificate): refused.
    let err = PostgresSink::builder(SinkConfig {
        state_schema: db.state_schema(),
        ..SinkConfig::default()
    })
    .connection_string(SecretString::from(require_url("127.0.0.1")))
    .tls(tls)
    .build()
    .await
    .expect_err("a certificate for another host name must be refused");
    assert!(!format!("{err} {err:?}").contains(secret));
}
