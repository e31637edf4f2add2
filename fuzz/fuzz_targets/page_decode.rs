//! Fuzzes twenty-client's decoding of list responses (`GET /rest/{plural}` pages) with arbitrary
//! response bodies, through the real client: a tiny HTTP server on loopback answers every request
//! with `200 OK` and the fuzz input as the body. Decoding, as untyped records and as typed
//! `Person`s, must give a page or a typed error (never a panic), and errors must stay bounded in
//! size (they quote at most a prefix of the body).
#![no_main]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use twenty_client::{Client, RetryPolicy};

struct Harness {
    body: Arc<Mutex<Vec<u8>>>,
    client: Client,
    rt: tokio::runtime::Runtime,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("address");
        let body: Arc<Mutex<Vec<u8>>> = Arc::default();
        let served = Arc::clone(&body);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                // Read the request head (requests are small GETs).
                let mut buf = [0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let b = served.lock().map(|b| b.clone()).unwrap_or_default();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    b.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&b);
            }
        });
        let client = Client::builder(
            format!("http://{addr}/").parse().expect("loopback URL"),
            SecretString::from("fuzz-key"),
        )
        .no_rate_limit()
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client builds");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Harness { body, client, rt }
    })
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    if let Ok(mut b) = h.body.lock() {
        *b = data.to_vec();
    }
    h.rt.block_on(async {
        match h.client.records("people").list().send().await {
            Ok(page) => {
                for r in &page.records {
                    let _ = (r.id(), r.updated_at(), r.deleted_at());
                }
                let _ = page.page_info.end_cursor.as_deref();
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.len() < 4_000,
                    "unbounded error message ({} bytes)",
                    msg.len()
                );
            }
        }
        if let Err(e) = h.client.people().list().send().await {
            assert!(e.to_string().len() < 4_000);
        }
    });
});
