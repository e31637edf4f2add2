//! Criterion benchmarks of twenty-client: filter encoding, page decoding of Twenty JSON into typed
//! records (MB/s), and webhook signature verification.
//!
//! `cargo bench -p benches --bench client -- --warm-up-time 1 --measurement-time 3`
//!
//! The page is a real capture from Twenty 2.21.0 (`shared/twenty-api/captures-2.21.0`, copied to
//! `benches/data/people_page_2.21.0.json`), its five people repeated with fresh ids up to a full
//! page of 200.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

/// The allocator the twenty-sync binaries ship with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;
use twenty_client::model::Person;
use twenty_client::webhook::WebhookVerifier;
use twenty_client::{Filter, OrderBy, PageInfo, Record};

const CAPTURE: &str = include_str!("../data/people_page_2.21.0.json");

/// The list envelope of Twenty's REST API, as the client reads it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListPage<T> {
    data: People<T>,
    #[allow(dead_code)]
    total_count: Option<u64>,
    #[allow(dead_code)]
    page_info: PageInfo,
}

#[derive(Deserialize)]
struct People<T> {
    people: Vec<T>,
}

/// A page of `n` people built from the captured page (ids rewritten so they differ).
fn page(n: usize) -> Vec<u8> {
    let capture: Value = serde_json::from_str(CAPTURE).expect("the capture is JSON");
    let body = &capture["response"]["body_json"];
    let people = body["data"]["people"].as_array().expect("data.people");
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut p = people[i % people.len()].clone();
        p["id"] = Value::String(format!("20202020-b000-4485-94de-{i:012x}"));
        out.push(p);
    }
    let mut page = body.clone();
    page["data"]["people"] = Value::Array(out);
    page["totalCount"] = Value::from(n);
    serde_json::to_vec(&page).expect("serialises")
}

fn page_decoding(c: &mut Criterion) {
    let mut g = c.benchmark_group("page_decoding");
    for n in [5usize, 200] {
        let bytes = page(n);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::new("typed_person", n), &bytes, |b, bytes| {
            b.iter(|| {
                let p: ListPage<Person> =
                    serde_json::from_slice(black_box(bytes)).expect("decodes");
                black_box(p.data.people.len())
            })
        });
        g.bench_with_input(BenchmarkId::new("dynamic_record", n), &bytes, |b, bytes| {
            b.iter(|| {
                let p: ListPage<Record> =
                    serde_json::from_slice(black_box(bytes)).expect("decodes");
                black_box(p.data.people.len())
            })
        });
    }
    g.finish();
}

fn filter_encoding(c: &mut Criterion) {
    let mut g = c.benchmark_group("filter_encoding");
    g.throughput(Throughput::Elements(1));
    // The pull's incremental walk: updatedAt window, not deleted, ordered.
    g.bench_function("incremental_walk", |b| {
        b.iter(|| {
            let f = Filter::and([
                Filter::field("updatedAt").gte(black_box("2026-11-22T19:46:37.441Z")),
                Filter::field("deletedAt").is_null(),
                Filter::or([
                    Filter::field("name.firstName").ilike("%ada%"),
                    Filter::field("emails.primaryEmail").ends_with("@example.com"),
                ]),
            ]);
            let order = OrderBy::asc("updatedAt").then_asc("id");
            black_box((f.to_query_string(), order.to_query_string()))
        })
    });
    // The push's natural-key lookup: `emails.primaryEmail[in]:[...]` with 400 values (a chunk of
    // 200, each as given and lower-cased).
    let emails: Vec<String> = (0..400)
        .map(|i| format!("Person.{i}@Example.com"))
        .collect();
    g.bench_function("match_key_in_400", |b| {
        b.iter(|| {
            let f = Filter::field("emails.primaryEmail").in_(black_box(&emails).iter().cloned());
            black_box(f.to_query_string())
        })
    });
    g.finish();
}

fn webhook_verification(c: &mut Criterion) {
    let secret = "whsec-benchmark-secret";
    let verifier = WebhookVerifier::new(SecretString::from(secret));
    let body = serde_json::to_vec(&serde_json::json!({
        "targetUrl": "https://example.com/hook",
        "eventName": "person.updated",
        "objectMetadata": {"id": "00000000-0000-4000-8000-000000000001", "nameSingular": "person"},
        "workspaceId": "00000000-0000-4000-8000-000000000002",
        "webhookId": "00000000-0000-4000-8000-000000000003",
        "eventDate": "2026-11-22T19:46:37.441Z",
        "record": serde_json::from_str::<Value>(CAPTURE).expect("JSON")["response"]["body_json"]["data"]["people"][0],
        "updatedFields": ["jobTitle"]
    }))
    .expect("serialises");
    let ts = Utc::now().timestamp_millis().to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(ts.as_bytes());
    mac.update(b":");
    mac.update(&body);
    let sig = hex::encode(mac.finalize().into_bytes());
    verifier
        .verify(&ts, &sig, &body, Utc::now())
        .expect("the delivery verifies");

    let mut g = c.benchmark_group("webhook_verification");
    g.throughput(Throughput::Elements(1));
    g.bench_function("signature_only", |b| {
        b.iter(|| verifier.verify_signature(black_box(&ts), black_box(&sig), black_box(&body)))
    });
    g.bench_function("verify_and_parse", |b| {
        let now = Utc::now();
        b.iter(|| {
            verifier
                .verify(black_box(&ts), black_box(&sig), black_box(&body), now)
                .is_ok()
        })
    });
    g.bench_function("forged_rejected", |b| {
        let forged = "0".repeat(64);
        b.iter(|| {
            verifier
                .verify_signature(black_box(&ts), black_box(&forged), black_box(&body))
                .is_err()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    page_decoding,
    filter_encoding,
    webhook_verification
);
criterion_main!(benches);
