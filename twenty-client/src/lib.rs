//! Typed async client for the [Twenty CRM](https://twenty.com) REST API: records, metadata, webhooks,
//! client-side rate limiting and retries.
//!
//! # Design
//!
//! * [`Client`] is built from a server root URL and an API key ([`Client::builder`]); it is cheap to clone
//!   and all clones share one rate limiter, one set of counters ([`Client::stats`]) and one key
//!   ([`Client::set_api_key`]).
//! * Handlers per object (`client.people()`, `client.records("pets")`) return request builders that end in
//!   `.send()` or `.stream()`, in the style of octocrab.
//! * Every failure is one [`Error`] with an [`ErrorKind`], an operation, context and
//!   [`Error::is_temporary`]; `error.rs` is the single place mapping Twenty's statuses and bodies (newer
//!   `messages[]`, older `message`, 2.21.0 metadata `errors`) to it. Retries ask only `is_temporary()`.
//!   Server text quoted in an error is bounded in size, and values of keys naming a secret (a webhook's
//!   `secret`) are blanked.
//! * Host safety: https is required except for loopback, user info in the URL is refused, redirects may
//!   not leave the configured host, and an optional host allowlist is checked before any request.
//! * Pacing: a mirror of Twenty's token bucket counts as Twenty's throttler does (whole tokens, the refill
//!   clock restarted at each request, the fraction of a token earned before it lost), a 1 % margin (at least
//!   10 ms) slower and 5 % short of the budget (default 100 / 60 s: a burst of 95, then one request per
//!   interval); every request, of every clone, takes a token from it before it is sent. A 429 empties the
//!   mirror (owing its 5 % again) and pauses every clone for the server's `Retry-After` /
//!   `retryAfterSeconds`, or, with the budget learned from the 2.21.0 message "Limit reached (100 tokens per
//!   60000 ms)", until the bucket has a token again (one interval, doubled for each further 429 in a row, at
//!   most a window); requests then go out one interval apart. A server's wait (either form of
//!   `Retry-After`, or `retryAfterSeconds`) is cut to one hour; a learned window longer than one day, or a
//!   budget of zero, is ignored as nonsense.
//! * Records decode into typed structs ([`model`]) that keep unknown and custom fields in `extra`, or into
//!   the untyped [`Record`]; decode errors name the JSON path.
//!
//! ```
//! use twenty_client::{Client, ErrorKind, Filter};
//! // Plain http is refused for remote hosts, before any connection:
//! let err = Client::builder(
//!     url::Url::parse("http://crm.example.com/").unwrap(),
//!     secrecy::SecretString::from("key"),
//! )
//! .build()
//! .unwrap_err();
//! assert_eq!(err.kind(), &ErrorKind::Config);
//!
//! let client = Client::builder(
//!     url::Url::parse("http://127.0.0.1:3000/").unwrap(),
//!     secrecy::SecretString::from("key"),
//! )
//! .page_size(200)
//! .build()
//! .unwrap();
//! assert!(!format!("{client:?}").contains("key\""));
//! let list = client.people().list().filter(Filter::field("city").eq("Paris")).limit(200);
//! # drop(list);
//! ```

#![warn(missing_docs)]

mod client;
mod clock;
mod config;
mod envelope;
mod error;
mod filter;
pub mod metadata;
pub mod model;
mod pacer;
mod quote;
mod record;
pub mod records;
mod security;
mod transport;
pub mod webhook;

pub use client::{Client, ClientBuilder, ClientStats};
pub use clock::ServerClock;
pub use config::{
    DEFAULT_BATCH_SIZE, DEFAULT_PAGE_SIZE, MAX_BATCH_SIZE, MAX_PAGE_SIZE, RateLimit, RetryPolicy,
};
pub use error::{Error, ErrorKind, Result};
pub use filter::{ConditionValue, Direction, FieldFilter, Filter, FilterValue, OrderBy};
pub use metadata::MetadataHandler;
pub use model::{Payload, TwentyObject};
pub use record::Record;
pub use records::{Page, PageInfo, RecordsHandler};
pub use webhook::WebhooksHandler;
