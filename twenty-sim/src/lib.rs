//! A stateful, loopback simulator of the [Twenty CRM](https://twenty.com) REST API, for tests,
//! examples and benchmarks.
//!
//! The simulator answers like a real Twenty 2.21.0 server (status codes, headers, error bodies,
//! record field sets were checked against real captures), keeps state in memory, and can imitate
//! a newer or an older server ([`ServerFlavor`]). It also injects faults ([`Faults`]) from a
//! seeded RNG and enforces Twenty's rate limit ([`RateLimitConfig`]).
//!
//! # Design
//! * Records are stored as compact serialized JSON with ordered indexes on `id`, `updatedAt` and
//!   `createdAt` and hash indexes on unique keys, so a million people fit in memory and keyset
//!   paging by `id` or `updatedAt` costs O(log n + page).
//! * The schema of the standard objects is the real `/rest/metadata/objects` answer of 2.21.0;
//!   custom fields added through `POST /rest/metadata/fields` apply to records at once.
//! * Every write request gets a strictly increasing millisecond `updatedAt`, shared by every
//!   record of a batch or filter mutation (Twenty writes those in one query: capture 50), so incremental
//!   sync by `updatedAt[gte]` works.
//! * Webhook deliveries are signed like Twenty's (see [`sign_webhook`]) and sent asynchronously.
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use twenty_sim::{SimConfig, SimServer};
//!
//! let server = SimServer::start(SimConfig::new("test-key").seed_people(50)).await?;
//! let url = server.base_url().join("rest/people?limit=10")?;
//! let resp = reqwest::Client::new()
//!     .get(url)
//!     .bearer_auth("test-key")
//!     .send()
//!     .await?;
//! assert_eq!(resp.status(), 200);
//! let body: serde_json::Value = resp.json().await?;
//! assert_eq!(body["data"]["people"].as_array().map(Vec::len), Some(10));
//! assert_eq!(body["totalCount"], 50);
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod config;
mod db;
mod error;
mod faults;
mod filter;
mod input;
mod list;
mod metadata;
mod net;
mod routes;
mod schema;
mod seed;
mod server;
mod store;
mod webhooks;

pub use config::{Faults, RateLimitConfig, ServerFlavor, SimConfig};
pub use server::{PageHook, SimHandle, SimServer, SimStats};
pub use webhooks::sign_webhook;
