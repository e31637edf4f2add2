//! The client against the twenty-sim simulator: records, paging, upsert, soft delete/restore.

use std::time::Duration;

use futures::TryStreamExt;
use secrecy::SecretString;
use serde_json::json;
use twenty_client::model::{Emails, FullName, Person};
use twenty_client::{Client, ErrorKind, Filter, OrderBy, Record, RetryPolicy};
use twenty_sim::{Faults, ServerFlavor, SimConfig, SimServer};

const KEY: &str = "sim-test-key";

async fn start(config: SimConfig) -> (SimServer, Client) {
    let server = SimServer::start(config).await.expect("sim starts");
    let client = Client::builder(server.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .page_size(200)
        .retry_policy(RetryPolicy {
            max_retries: 6,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
            max_internal_error_retries: 6,
        })
        .build()
        .expect("client");
    (server, client)
}

fn person(first: &str, email: &str) -> Person {
    Person {
        name: Some(FullName {
            first_name: Some(first.into()),
            last_name: Some("Sim".into()),
        }),
        emails: Some(Emails {
            primary_email: Some(email.into()),
            additional_emails: Some(vec![]),
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn streams_every_seeded_person_exactly_once() {
    let (server, client) = start(SimConfig::new(KEY).seed_people(450).rate_limit(None)).await;
    let people: Vec<Person> = client
        .people()
        .list()
        .order_by(OrderBy::asc("updatedAt").then_asc("id"))
        .stream()
        .try_collect()
        .await
        .expect("stream");
    assert_eq!(people.len(), 450);
    let mut ids: Vec<_> = people.iter().filter_map(|p| p.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 450);
    assert_eq!(client.stats().requests, 3);
    server.shutdown().await;
}

#[tokio::test]
async fn create_upsert_update_soft_delete_restore_destroy_round_trip() {
    let (server, client) = start(SimConfig::new(KEY).rate_limit(None)).await;
    let people = client.people();

    let created = people
        .create(&person("Ada", "ada.sim@example.com"))
        .send()
        .await
        .expect("create");
    let id = created.id.clone().expect("id");

    // A second plain create with the same email (other case) conflicts; an upsert matches it.
    let dup = people
        .create(&person("Ada", "ADA.SIM@example.com"))
        .send()
        .await
        .expect_err("dup");
    assert_eq!(dup.kind(), &ErrorKind::Conflict, "{dup}");
    let upserted = people
        .create(&person("Augusta", "Ada.Sim@Example.com"))
        .upsert(true)
        .send()
        .await
        .expect("upsert");
    assert_eq!(upserted.id.as_deref(), Some(id.as_str()));

    let updated = people
        .update(&id, json!({"jobTitle": "Analyst"}))
        .send()
        .await
        .expect("update");
    assert_eq!(updated.job_title.as_deref(), Some("Analyst"));
    assert!(updated.updated_at > created.updated_at);

    assert_eq!(people.soft_delete(&id).send().await.expect("soft"), id);
    let gone = people.get(&id).send().await.expect_err("404");
    assert_eq!(gone.kind(), &ErrorKind::NotFound);
    let trashed = people
        .list()
        .filter(Filter::field("deletedAt").is_not_null())
        .send()
        .await
        .expect("trash");
    assert_eq!(trashed.records.len(), 1);

    // 2.21.0 flavour: restore by id answers 400, the client falls back to the filter form.
    let restored = people.restore(&id).send().await.expect("restore");
    assert!(restored.deleted_at.is_none());
    people.get(&id).send().await.expect("visible again");

    let destroyed = people
        .destroy_many(Filter::id(id.clone()))
        .send()
        .await
        .expect("destroy");
    assert_eq!(destroyed, [id]);
    server.shutdown().await;
}

#[tokio::test]
async fn isolating_batches_save_every_record_but_the_refused_ones_and_name_those() {
    let (server, client) = start(SimConfig::new(KEY).rate_limit(None)).await;
    for email in ["taken17@example.com", "taken100@example.com"] {
        client
            .people()
            .create(&person("Taken", email))
            .send()
            .await
            .expect("seed");
    }
    let mut batch: Vec<Person> = (0..130)
        .map(|i| person(&format!("P{i}"), &format!("iso{i}@example.com")))
        .collect();
    batch[17] = person("Dup", "taken17@example.com");
    batch[100] = person("Dup", "taken100@example.com");
    let before = client.stats().requests;
    let outcome = client
        .people()
        .create_many(batch)
        .send_isolating()
        .await
        .expect("isolating batches");
    let refused: Vec<(usize, &ErrorKind)> = outcome
        .refused
        .iter()
        .map(|(i, e)| (*i, e.kind()))
        .collect();
    assert_eq!(
        refused,
        [(17, &ErrorKind::Conflict), (100, &ErrorKind::Conflict)]
    );
    assert!(
        outcome.refused[0]
            .1
            .context()
            .contains(&("records", "17..18".to_owned())),
        "{}",
        outcome.refused[0].1
    );
    // Every other record saved once, in input order, as Twenty answered it.
    let indexes: Vec<usize> = outcome.saved.iter().map(|(i, _)| *i).collect();
    let expected: Vec<usize> = (0..130).filter(|i| *i != 17 && *i != 100).collect();
    assert_eq!(indexes, expected);
    for (i, p) in &outcome.saved {
        let email = p.emails.as_ref().and_then(|e| e.primary_email.as_deref());
        assert_eq!(email, Some(format!("iso{i}@example.com").as_str()));
        assert!(p.id.is_some());
    }
    assert_eq!(server.handle().count("people"), 2 + 128);
    // Batches of 60: the three batches, then the halves of the two rejected ones down to
    // batches under four records (21 batch requests), then those five records alone.
    assert_eq!(client.stats().requests - before, 21 + 5);
    server.shutdown().await;
}

#[tokio::test]
async fn batch_upsert_chunks_and_update_many_by_filter() {
    let (server, client) = start(SimConfig::new(KEY).rate_limit(None)).await;
    let batch: Vec<Person> = (0..130)
        .map(|i| person(&format!("P{i}"), &format!("batch{i}@example.com")))
        .collect();
    let saved = client
        .people()
        .create_many(batch.clone())
        .upsert(true)
        .send()
        .await
        .expect("batch");
    assert_eq!(saved.len(), 130);
    assert_eq!(client.stats().requests, 3, "60 + 60 + 10");
    // Re-upserting matches on the email: same ids, no new rows.
    let again = client
        .people()
        .create_many(batch)
        .upsert(true)
        .send()
        .await
        .expect("again");
    assert_eq!(
        saved.iter().map(|p| &p.id).collect::<Vec<_>>(),
        again.iter().map(|p| &p.id).collect::<Vec<_>>()
    );
    assert_eq!(server.handle().count("people"), 130);

    let updated = client
        .people()
        .update_many(
            Filter::field("emails.primaryEmail").in_(["batch1@example.com", "batch2@example.com"]),
            json!({"jobTitle": "Lyon"}),
        )
        .send()
        .await
        .expect("update many");
    assert_eq!(updated.len(), 2);
    assert!(
        updated
            .iter()
            .all(|p| p.job_title.as_deref() == Some("Lyon"))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn custom_objects_and_unknown_fields_survive_through_the_generic_record() {
    let (server, client) = start(SimConfig::new(KEY).seed_people(5).rate_limit(None)).await;
    let page = client
        .records("people")
        .list()
        .limit(5)
        .send()
        .await
        .expect("page");
    let first: Record = page.records[0].clone();
    let id = first.id().expect("id").to_owned();
    let fetched = client.records("people").get(&id).send().await.expect("get");
    assert_eq!(
        fetched.fields().keys().collect::<Vec<_>>(),
        first.fields().keys().collect::<Vec<_>>()
    );
    let unknown = client
        .records("unicorns")
        .list()
        .send()
        .await
        .expect_err("unknown object");
    assert!(
        matches!(unknown.kind(), ErrorKind::Validation { .. }),
        "{unknown}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn newest_flavour_restores_by_id_directly() {
    let (server, client) = start(
        SimConfig::new(KEY)
            .flavor(ServerFlavor::Newest)
            .rate_limit(None),
    )
    .await;
    let p = client
        .people()
        .create(&person("Rosa", "rosa@example.com"))
        .send()
        .await
        .expect("create");
    let id = p.id.expect("id");
    client.people().soft_delete(&id).send().await.expect("soft");
    let before = client.stats().requests;
    client.people().restore(&id).send().await.expect("restore");
    assert_eq!(client.stats().requests - before, 1, "no fallback needed");
    server.shutdown().await;
}

/// Dropped connections, injected 429s and injected 5xx (500, 502, 503, 504) are retried for reads.
#[tokio::test]
async fn injected_drops_429s_and_5xx_are_retried_transparently() {
    let faults = Faults {
        rate_limit_fraction: 0.1,
        drop_fraction: 0.1,
        server_error_fraction: 0.1,
        ..Faults::none()
    };
    let config = SimConfig::new(KEY)
        .seed_people(300)
        .rate_limit(None)
        .faults(faults)
        .rng_seed(7);
    let server = SimServer::start(config).await.expect("sim");
    let client = Client::builder(server.base_url(), SecretString::from(KEY))
        .no_rate_limit()
        .page_size(30)
        .retry_policy(RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(2),
            max_backoff: Duration::from_millis(20),
            max_internal_error_retries: 10,
        })
        .build()
        .expect("client");
    let all: Vec<Record> = client
        .records("people")
        .list()
        .stream()
        .try_collect()
        .await
        .expect("all pages");
    assert_eq!(all.len(), 300);
    let s = client.stats();
    assert!(s.retries > 0, "faults were injected and retried: {s:?}");
    assert_eq!(s.requests, 10 + s.retries);
    server.shutdown().await;
}
