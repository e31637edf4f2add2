//! SSRF and URL handling (promise 5): base URLs and redirects that point outside the allowed
//! hosts, plain http to a non-loopback host and user info in URLs are refused **before any
//! connection is made**. Each refused target is a real listening socket (a "trap") that counts
//! the connections it accepts; every test ends with the trap at zero.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::KEY;
use mockito::Matcher;
use secrecy::SecretString;
use twenty_client::{Client, ErrorKind, RetryPolicy};

/// A listening socket that counts accepted connections (and closes them).
struct Trap {
    addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
}

impl Trap {
    async fn on(ip: IpAddr) -> Trap {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .unwrap_or_else(|e| panic!("cannot listen on {ip}: {e}"));
        let addr = listener.local_addr().expect("trap address");
        let accepts = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepts);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        Trap { addr, accepts }
    }

    async fn loopback() -> Trap {
        Trap::on(IpAddr::from([127, 0, 0, 1])).await
    }

    /// Connections accepted so far, after giving any in-flight attempt time to arrive.
    async fn accepted(&self) -> usize {
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.accepts.load(Ordering::SeqCst)
    }

    /// Proves the trap works: a plain TCP connect is counted.
    async fn self_test(&self) {
        let before = self.accepts.load(Ordering::SeqCst);
        let _ = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("the trap accepts connections");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            self.accepts.load(Ordering::SeqCst),
            before + 1,
            "the trap counts"
        );
        self.accepts.fetch_sub(1, Ordering::SeqCst);
    }
}

fn client(base: &str, allowed: Option<&[&str]>) -> Result<Client, twenty_client::Error> {
    let mut b = Client::builder(url::Url::parse(base).expect("url"), SecretString::from(KEY))
        .no_rate_limit()
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_secs(5));
    if let Some(hosts) = allowed {
        b = b.allowed_hosts(hosts.iter().copied());
    }
    b.build()
}

/// This machine's address on its default route, if it has one (not loopback).
fn non_loopback_ip() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // No packet is sent: connecting a UDP socket only selects the route.
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn a_base_url_outside_the_allowlist_is_refused_before_connecting() {
    let trap = Trap::loopback().await;
    trap.self_test().await;
    let base = format!("http://{}/", trap.addr);
    let err = client(&base, Some(&["api.twenty.com"])).expect_err("not in the allowlist");
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(err.to_string().contains("allowed host"), "{err}");
    // Trailing dots and case do not get around the list.
    for host in ["127.0.0.1.", "LOCALHOST"] {
        let url = format!("http://{host}:{}/", trap.addr.port());
        assert!(
            client(&url, Some(&["api.twenty.com"])).is_err(),
            "{url} passed the allowlist"
        );
    }
    assert_eq!(trap.accepted().await, 0, "a refused base URL was contacted");
}

#[tokio::test]
async fn plain_http_to_a_non_loopback_host_is_refused_before_connecting() {
    let err = client("http://crm.example.com/", None).expect_err("plain http to a remote host");
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(err.to_string().contains("https"), "{err}");
    // The same against a real, listening, non-loopback address of this machine.
    let Some(ip) = non_loopback_ip() else {
        // Without a non-loopback interface the refusal above is all that can be shown.
        eprintln!(
            "note: no non-loopback interface; the no-connection proof for plain http is skipped"
        );
        return;
    };
    let trap = Trap::on(ip).await;
    trap.self_test().await;
    let url = format!("http://{}/", trap.addr);
    let err = client(&url, None).expect_err("plain http to a non-loopback address");
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert_eq!(
        trap.accepted().await,
        0,
        "{url} was contacted over plain http"
    );
}

#[tokio::test]
async fn user_info_in_the_base_url_is_refused_before_connecting_and_not_echoed() {
    let trap = Trap::loopback().await;
    for userinfo in ["user:s3cr3t-pw@", "user@", ":s3cr3t-pw@"] {
        let url = format!("http://{userinfo}{}/", trap.addr);
        let err = client(&url, None).expect_err("user info refused");
        assert_eq!(err.kind(), &ErrorKind::Config);
        assert!(
            !format!("{err} {err:?}").contains("s3cr3t-pw"),
            "the password in the URL was echoed: {err:?}"
        );
    }
    assert_eq!(trap.accepted().await, 0);
}

#[tokio::test]
async fn redirects_off_the_origin_are_refused_without_contacting_the_target() {
    let other_host = Trap::on(IpAddr::from([127, 0, 0, 2])).await;
    let same_host_other_port = Trap::loopback().await;
    other_host.self_test().await;
    let mut server = mockito::Server::new_async().await;
    let origin = server.host_with_port();
    for (target, allowed) in [
        // A host outside the allowlist.
        (
            format!("http://{}/steal", other_host.addr),
            vec!["127.0.0.1"],
        ),
        // A host inside the allowlist is still another origin.
        (
            format!("http://{}/steal", other_host.addr),
            vec!["127.0.0.1", "127.0.0.2"],
        ),
        // The same host on another port (another service on that machine).
        (
            format!("http://{}/steal", same_host_other_port.addr),
            vec!["127.0.0.1"],
        ),
        // Scheme change.
        (format!("https://{origin}/steal"), vec!["127.0.0.1"]),
    ] {
        let m = server
            .mock("GET", Matcher::Any)
            .with_status(302)
            .with_header("location", &target)
            .expect_at_least(1)
            .create_async()
            .await;
        let c = client(&server.url(), Some(&allowed)).expect("client on the mock");
        let err = c
            .records("people")
            .get("00000000-0000-4000-8000-000000000001")
            .send()
            .await
            .expect_err("redirect refused");
        assert_eq!(err.kind(), &ErrorKind::Config, "{target}: {err}");
        assert!(err.to_string().contains("redirect"), "{target}: {err}");
        assert!(!format!("{err:?}").contains(KEY));
        m.assert_async().await;
        m.remove_async().await;
    }
    assert_eq!(
        other_host.accepted().await,
        0,
        "the redirect target was contacted"
    );
    assert_eq!(same_host_other_port.accepted().await, 0);
}

#[tokio::test]
async fn hostile_object_names_and_ids_cannot_change_the_host() {
    let trap = Trap::on(IpAddr::from([127, 0, 0, 2])).await;
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("GET", Matcher::Any)
        .with_status(404)
        .with_body(r#"{"statusCode":404,"messages":["not found"],"error":"NotFound"}"#)
        .expect(4)
        .create_async()
        .await;
    let c = client(&server.url(), Some(&["127.0.0.1"])).expect("client");
    let evil = format!("@{}", trap.addr);
    for (object, id) in [
        (evil.as_str(), "x"),
        ("people", "../../..//127.0.0.2/x"),
        ("people", "%2F%2F127.0.0.2"),
        (&format!("//{}/", trap.addr) as &str, "x"),
    ] {
        let _ = c.records(object).get(id).send().await;
    }
    // Every request reached the configured server (as encoded path segments), none the trap.
    m.assert_async().await;
    assert_eq!(trap.accepted().await, 0);
}
