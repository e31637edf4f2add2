//! Scenario: the client pages through every person of a seeded simulator.
//!
//! Measures the read path end to end on loopback (HTTP, JSON decoding into typed `Person`s,
//! cursor following) with the simulator's rate limit off, so the figure is the client's and the
//! simulator's throughput, not Twenty's budget.

use std::time::Instant;

use futures::TryStreamExt;
use secrecy::SecretString;
use twenty_client::Client;
use twenty_sim::{SimConfig, SimServer};

/// The outcome of one paging run.
pub struct PagingResult {
    /// People seeded and expected.
    pub people: usize,
    /// People the stream yielded.
    pub seen: usize,
    /// Seconds spent seeding the simulator.
    pub seed_secs: f64,
    /// Seconds spent paging.
    pub page_secs: f64,
    /// Requests the client made.
    pub requests: u64,
}

impl PagingResult {
    /// Records per second while paging.
    pub fn records_per_sec(&self) -> f64 {
        self.seen as f64 / self.page_secs
    }
}

/// Seeds `people` people and pages through all of them at `page_size`.
pub async fn run(people: usize, page_size: u32) -> Result<PagingResult, crate::env::BoxError> {
    let key = "bench-key";
    let t = Instant::now();
    let server = SimServer::start(SimConfig::new(key).seed_people(people).rate_limit(None)).await?;
    let seed_secs = t.elapsed().as_secs_f64();
    let client = Client::builder(server.base_url(), SecretString::from(key))
        .no_rate_limit()
        .page_size(page_size)
        .build()?;
    let t = Instant::now();
    let seen = client
        .people()
        .list()
        .limit(page_size)
        .stream()
        .try_fold(0usize, |n, _person| async move { Ok(n + 1) })
        .await?;
    let page_secs = t.elapsed().as_secs_f64();
    let requests = client.stats().requests;
    server.shutdown().await;
    if seen != people {
        return Err(format!("paged {seen} people, expected {people}").into());
    }
    Ok(PagingResult {
        people,
        seen,
        seed_secs,
        page_secs,
        requests,
    })
}
