//! The crate's single error type and the one place that maps Twenty's HTTP answers onto it.
//!
//! Every failure of this crate is an [`Error`]: it carries an [`ErrorKind`], whether it is temporary
//! (worth retrying) or permanent, the operation that failed (`"people.list"`, `"metadata.create_field"`, …)
//! and context pairs (object, record id, field …). Retries ask [`Error::is_temporary`] and nothing else.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::quote::{quote, quote_body};

/// Longest excerpt of a server body quoted in an error message.
pub(crate) const MAX_QUOTED_BODY: usize = 512;

/// What went wrong, independent of which operation failed.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use twenty_client::{Client, ErrorKind};
/// let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// let wrong_key = secrecy::SecretString::from("not-the-key");
/// let client = Client::builder(sim.base_url(), wrong_key).build()?;
/// let err = client.people().list().send().await.unwrap_err();
/// match err.kind() {
///     ErrorKind::Unauthorized => assert!(!err.is_temporary()),
///     other => panic!("expected 401, got {other}"),
/// }
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 401: the API key is missing, invalid, revoked or expired. Check the key.
    Unauthorized,
    /// 403: the key lacks a permission, or (2.21.0) no key was sent at all.
    Forbidden,
    /// 404: the record, object or route does not exist (a soft-deleted record is also 404 by id).
    NotFound,
    /// 429 (or an older server's "Limit reached" answer): slow down.
    RateLimited {
        /// How long the server asked us to wait, when it said so (header or body).
        retry_after: Option<Duration>,
    },
    /// 400: the server rejected the input (bad filter, unknown field, invalid value …).
    Validation {
        /// The server's messages, each bounded in size.
        messages: Vec<String>,
    },
    /// The write clashes with existing data: upsert matched several records, a unique value is
    /// already taken, or a metadata name is already used (409, or 400 on 2.21.0).
    Conflict,
    /// 5xx from the server.
    Server {
        /// HTTP status code.
        status: u16,
    },
    /// Any other unexpected HTTP status (e.g. 402 credits exhausted, 3xx that was not followed).
    UnexpectedStatus {
        /// HTTP status code.
        status: u16,
    },
    /// The request never got an HTTP answer: connection refused/reset, DNS, TLS, timeout.
    Transport,
    /// The answer was not the JSON we expected.
    Decode {
        /// JSON path of the value that failed to decode (e.g. `data.people[3].emails`).
        path: String,
    },
    /// The client was misconfigured or asked to do something it refuses to do
    /// (insecure URL, host not allowed, invalid field name, unencodable filter value …).
    Config,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Unauthorized => f.write_str("unauthorized"),
            ErrorKind::Forbidden => f.write_str("forbidden"),
            ErrorKind::NotFound => f.write_str("not found"),
            ErrorKind::RateLimited {
                retry_after: Some(d),
            } => {
                write!(f, "rate limited (retry after {} ms)", d.as_millis())
            }
            ErrorKind::RateLimited { retry_after: None } => f.write_str("rate limited"),
            ErrorKind::Validation { .. } => f.write_str("rejected by the server"),
            ErrorKind::Conflict => f.write_str("conflict"),
            ErrorKind::Server { status } => write!(f, "server error {status}"),
            ErrorKind::UnexpectedStatus { status } => write!(f, "unexpected status {status}"),
            ErrorKind::Transport => f.write_str("transport error"),
            ErrorKind::Decode { path } => write!(f, "could not decode the response at `{path}`"),
            ErrorKind::Config => f.write_str("configuration error"),
        }
    }
}

/// The error of every fallible operation in this crate.
///
/// ```
/// use twenty_client::{Error, ErrorKind};
/// let err = Error::config("base URL must use https");
/// assert_eq!(err.kind(), &ErrorKind::Config);
/// assert!(!err.is_temporary());
/// ```
pub struct Error {
    kind: ErrorKind,
    temporary: bool,
    operation: &'static str,
    context: Vec<(&'static str, String)>,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// Result alias of this crate.
///
/// ```
/// use twenty_client::{Error, Result};
/// fn page_size(s: &str) -> Result<u32> {
///     s.parse().map_err(|e| Error::config(format!("bad page size {s:?}: {e}")))
/// }
/// assert_eq!(page_size("60").unwrap(), 60);
/// assert!(page_size("sixty").is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error; temporary-ness follows from the kind (see [`Error::is_temporary`]).
    ///
    /// ```
    /// use twenty_client::{Error, ErrorKind};
    /// let err = Error::new(ErrorKind::Server { status: 503 }, "upstream unavailable");
    /// assert!(err.is_temporary());
    /// assert_eq!(err.to_string(), "server error 503: upstream unavailable [temporary]");
    /// // 501 is an answer about the request itself: permanent.
    /// assert!(!Error::new(ErrorKind::Server { status: 501 }, "").is_temporary());
    /// ```
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let temporary = default_temporary(&kind);
        Error {
            kind,
            temporary,
            operation: "",
            context: Vec::new(),
            message: bound(&message.into(), MAX_QUOTED_BODY),
            source: None,
        }
    }

    /// A configuration error (permanent).
    ///
    /// ```
    /// use twenty_client::{Error, ErrorKind};
    /// let err = Error::config("page size 0 out of range");
    /// assert_eq!(err.kind(), &ErrorKind::Config);
    /// assert!(!err.is_temporary());
    /// assert_eq!(err.message(), "page size 0 out of range");
    /// ```
    pub fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    /// The kind of failure.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::ErrorKind;
    /// // An object the workspace does not have: Twenty answers 400.
    /// let err = client.records("unicorns").list().send().await.unwrap_err();
    /// match err.kind() {
    ///     ErrorKind::Validation { messages } => assert!(!messages.is_empty()),
    ///     other => panic!("unexpected {other}"),
    /// }
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// `true` when retrying the same request later may succeed (429, 500, 502/503/504, transport
    /// errors). Only idempotent requests are retried on it (see [`crate::RetryPolicy`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use twenty_client::{Error, ErrorKind};
    /// let throttled = Error::new(ErrorKind::RateLimited { retry_after: None }, "HTTP 429");
    /// assert!(throttled.is_temporary());
    /// assert!(Error::new(ErrorKind::Transport, "connection reset").is_temporary());
    /// assert!(!Error::new(ErrorKind::NotFound, "HTTP 404").is_temporary());
    /// assert!(!Error::new(ErrorKind::Unauthorized, "HTTP 401").is_temporary());
    /// ```
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }

    /// `true` when the failure may come from the records the request carried, so that the same
    /// records in smaller batches, or one by one, may go through while the refused ones fail
    /// alone: a value Twenty refuses (400), a clash with existing data, a record that is gone,
    /// a batch too large (413), a 500 still there after the retries (Twenty answers 500 to
    /// exceptions it does not map, some caused by one record's data), or an answer that does
    /// not decode.
    ///
    /// `false` when nothing sent by this client would go through now: the key or its
    /// permissions (401, 403), the network, a rate limit or 502-504 left after the retries,
    /// any other unexpected status (e.g. 402, credits exhausted), or the client's configuration.
    /// A batch writer stops on those instead of halving ([`records::send_isolating`]).
    ///
    /// [`records::send_isolating`]: crate::records::send_isolating
    ///
    /// ```
    /// use twenty_client::{Error, ErrorKind};
    /// let refused = Error::new(ErrorKind::Validation { messages: vec!["bad email".into()] }, "400");
    /// assert!(refused.is_record_level());
    /// assert!(Error::new(ErrorKind::Server { status: 500 }, "500").is_record_level());
    /// assert!(!Error::new(ErrorKind::Server { status: 503 }, "503").is_record_level());
    /// assert!(!Error::new(ErrorKind::Unauthorized, "401").is_record_level());
    /// assert!(!Error::new(ErrorKind::UnexpectedStatus { status: 402 }, "402").is_record_level());
    /// ```
    pub fn is_record_level(&self) -> bool {
        if self.temporary && self.kind != (ErrorKind::Server { status: 500 }) {
            return false;
        }
        match &self.kind {
            ErrorKind::Validation { .. }
            | ErrorKind::Conflict
            | ErrorKind::NotFound
            | ErrorKind::Server { .. }
            | ErrorKind::Decode { .. } => true,
            ErrorKind::UnexpectedStatus { status } => *status == 413,
            ErrorKind::Unauthorized
            | ErrorKind::Forbidden
            | ErrorKind::RateLimited { .. }
            | ErrorKind::Transport
            | ErrorKind::Config => false,
        }
    }

    /// The operation that failed, e.g. `"people.create_many"`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// let missing = "00000000-0000-4000-8000-000000000000";
    /// let err = client.people().get(missing).send().await.unwrap_err();
    /// assert_eq!(err.operation(), "records.get");
    /// assert!(err.to_string().starts_with("records.get failed: not found"));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// Context pairs: `("object", "people")`, `("id", "…")`, `("field", "…")` …
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// let missing = "00000000-0000-4000-8000-000000000000";
    /// let err = client.people().get(missing).send().await.unwrap_err();
    /// assert!(err.context().contains(&("object", "people".to_string())));
    /// assert!(err.context().contains(&("id", missing.to_string())));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn context(&self) -> &[(&'static str, String)] {
        &self.context
    }

    /// The human-readable message (bounded in size; never contains the API key).
    ///
    /// ```
    /// use twenty_client::{Error, ErrorKind};
    /// let err = Error::new(ErrorKind::NotFound, "HTTP 404: Record not found");
    /// assert_eq!(err.message(), "HTTP 404: Record not found");
    /// // A huge server body is cut, not quoted whole.
    /// let big = Error::new(ErrorKind::Server { status: 502 }, "<html>".repeat(1000));
    /// assert!(big.message().len() < 600 && big.message().contains("bytes omitted"));
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `retry_after` of a rate-limit error.
    ///
    /// ```
    /// use std::time::Duration;
    /// use twenty_client::{Error, ErrorKind};
    /// let err = Error::new(
    ///     ErrorKind::RateLimited { retry_after: Some(Duration::from_secs(3)) },
    ///     "HTTP 429",
    /// );
    /// let wait = err.retry_after().unwrap_or(Duration::from_secs(1));
    /// assert_eq!(wait, Duration::from_secs(3));
    /// assert_eq!(Error::config("not a rate limit").retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.kind {
            ErrorKind::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// Set the operation name.
    ///
    /// ```
    /// use twenty_client::Error;
    /// let err = Error::config("no mapping for field `city`").with_operation("sync.plan");
    /// assert_eq!(err.operation(), "sync.plan");
    /// assert_eq!(err.to_string(), "sync.plan failed: configuration error: no mapping for field `city`");
    /// ```
    pub fn with_operation(mut self, operation: &'static str) -> Self {
        self.operation = operation;
        self
    }

    /// Add a context pair (value bounded in size).
    ///
    /// ```
    /// use twenty_client::Error;
    /// let err = Error::config("unknown field")
    ///     .with_context("object", "people")
    ///     .with_context("field", "favouriteColour");
    /// assert_eq!(err.context()[1], ("field", "favouriteColour".to_string()));
    /// assert!(err.to_string().ends_with("(object=people, field=favouriteColour)"));
    /// ```
    pub fn with_context(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.context.push((key, bound(&value.into(), 128)));
        self
    }

    /// Attach the underlying cause.
    ///
    /// ```
    /// use std::error::Error as _;
    /// use twenty_client::Error;
    /// let io = std::io::Error::new(std::io::ErrorKind::NotFound, "twenty.toml missing");
    /// let err = Error::config("could not read the settings").with_source(io);
    /// assert_eq!(err.source().map(|s| s.to_string()).as_deref(), Some("twenty.toml missing"));
    /// ```
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Override temporary-ness.
    ///
    /// ```
    /// use twenty_client::{Error, ErrorKind};
    /// // A decode error of a body cut off in transit is worth another try.
    /// let err = Error::new(ErrorKind::Decode { path: "data.people[3]".into() }, "EOF")
    ///     .set_temporary(true);
    /// assert!(err.is_temporary());
    /// assert!(err.to_string().ends_with("[temporary]"));
    /// ```
    pub fn set_temporary(mut self, temporary: bool) -> Self {
        self.temporary = temporary;
        self
    }
}

/// Whether an error of `kind` is worth the same request again.
///
/// A 500 counts as temporary: Twenty answers 500 to every exception it does not map to a status
/// (the fact sheet's "500 otherwise"), which includes passing ones such as a deadlock or a
/// dropped database connection, and nothing in its body tells those from a bug. Only
/// idempotent requests are ever re-sent, a 500 at most
/// [`max_internal_error_retries`](crate::RetryPolicy::max_internal_error_retries) times, so a 500
/// that repeats costs a few requests, while one that passes no longer stops a sync. 501 and
/// 505-599 are answers about the request itself and stay permanent.
fn default_temporary(kind: &ErrorKind) -> bool {
    match kind {
        ErrorKind::RateLimited { .. } | ErrorKind::Transport => true,
        ErrorKind::Server { status } => matches!(status, 500 | 502..=504),
        _ => false,
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("temporary", &self.temporary)
            .field("operation", &self.operation)
            .field("context", &self.context)
            .field("message", &self.message)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.operation.is_empty() {
            write!(f, "{} failed: ", self.operation)?;
        }
        write!(f, "{}", self.kind)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if !self.context.is_empty() {
            f.write_str(" (")?;
            for (i, (k, v)) in self.context.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}={v}")?;
            }
            f.write_str(")")?;
        }
        if self.temporary {
            f.write_str(" [temporary]")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

/// Truncate `s` to at most `max` bytes on a char boundary, marking the cut.
pub(crate) fn bound(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes omitted)", &s[..end], s.len() - end)
}

/// Map a reqwest transport failure.
pub(crate) fn from_transport(err: reqwest::Error) -> Error {
    if err.is_redirect() {
        return Error::config(
            "the server redirected to another host or scheme; redirects off the configured host are refused",
        );
    }
    let what = if err.is_timeout() {
        "request timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_decode() || err.is_body() {
        "could not read the response body"
    } else {
        "request failed"
    };
    // reqwest's Display includes the URL, which never contains the key (the key travels in a header).
    let msg = format!("{what}: {err}");
    Error::new(ErrorKind::Transport, msg).with_source(err)
}

/// The one place that maps a non-success HTTP answer from Twenty to an [`Error`].
///
/// The server's messages (or, without any, its body) are quoted through [`quote`], which blanks
/// the values of secret keys and bounds the excerpt.
///
/// Understands the newer body `{statusCode, error, messages: [..], retryAfterSeconds?, code?}`, the older
/// `{statusCode, error, message}` and the 2.21.0 metadata shape `{message, errors: {...}}`.
pub(crate) fn from_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let mut messages = parsed.as_ref().map(collect_messages).unwrap_or_default();
    if messages.is_empty() && !body.is_empty() {
        messages.push(quote_body(body, MAX_QUOTED_BODY));
    }
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("code").or_else(|| v.get("error")))
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_owned();
    let joined = messages.join("; ");
    let lower = joined.to_ascii_lowercase();

    let rate_limit_text = lower.contains("limit reached") || lower.contains("rate limit exceeded");
    let kind = match status.as_u16() {
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Forbidden,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        429 => ErrorKind::RateLimited {
            retry_after: retry_after(headers, parsed.as_ref()),
        },
        400 if rate_limit_text => ErrorKind::RateLimited {
            retry_after: retry_after(headers, parsed.as_ref()),
        },
        400 if is_conflict(&code, &lower, parsed.as_ref()) => ErrorKind::Conflict,
        400 | 422 => ErrorKind::Validation {
            messages: messages.clone(),
        },
        s @ 500..=599 => ErrorKind::Server { status: s },
        s => ErrorKind::UnexpectedStatus { status: s },
    };
    let mut message = format!("HTTP {}", status.as_u16());
    if !code.is_empty() {
        message.push_str(&format!(" {code}"));
    }
    if !joined.is_empty() {
        message.push_str(": ");
        message.push_str(&joined);
    }
    let hint = match &kind {
        ErrorKind::Unauthorized => " (check the API key; it may be revoked or expired)",
        ErrorKind::Forbidden => " (the API key lacks a permission, or no key was sent)",
        _ => "",
    };
    message.push_str(hint);
    Error::new(kind, message)
}

fn is_conflict(code: &str, lower: &str, parsed: Option<&serde_json::Value>) -> bool {
    code.contains("CONFLICT")
        || code == "FIELD_ALREADY_EXISTS"
        || lower.contains("multiple matching records")
        || lower.contains("duplicate entry")
        || lower.contains("already exists")
        || lower.contains("already used by another")
        || parsed
            .and_then(|v| v.get("errors"))
            .map(|e| e.to_string().contains("\"NOT_AVAILABLE\""))
            .unwrap_or(false)
}

/// Every human message in a Twenty error body: `messages[]`, `message`, and nested `errors.*[].errors[].message`.
fn collect_messages(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(arr) = v.get("messages").and_then(|m| m.as_array()) {
        out.extend(arr.iter().map(|m| match m.as_str() {
            Some(s) => quote(s, MAX_QUOTED_BODY),
            None => quote(&m.to_string(), MAX_QUOTED_BODY),
        }));
    }
    match v.get("message") {
        Some(serde_json::Value::String(s)) => out.push(quote(s, MAX_QUOTED_BODY)),
        Some(serde_json::Value::Array(arr)) => out.extend(
            arr.iter()
                .filter_map(|m| m.as_str())
                .map(|s| quote(s, MAX_QUOTED_BODY)),
        ),
        _ => {}
    }
    if let Some(errors) = v.get("errors").and_then(|e| e.as_object()) {
        for entries in errors.values().filter_map(|e| e.as_array()) {
            for entry in entries {
                for inner in entry
                    .get("errors")
                    .and_then(|e| e.as_array())
                    .into_iter()
                    .flatten()
                {
                    if let Some(m) = inner.get("message").and_then(|m| m.as_str()) {
                        if out.len() < 8 {
                            out.push(quote(m, MAX_QUOTED_BODY));
                        }
                    }
                }
            }
        }
    }
    out
}

/// Longest pause a server's `Retry-After` (seconds or HTTP date) or `retryAfterSeconds` may
/// impose: one hour. A 429 pauses every clone of the client, so a longer (or nonsense) hint is
/// cut to this; the retry policy then decides whether to wait at all.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// `Retry-After` (seconds or HTTP date), else the body's `retryAfterSeconds`; each capped at
/// [`MAX_RETRY_AFTER`].
pub(crate) fn retry_after(
    headers: &HeaderMap,
    body: Option<&serde_json::Value>,
) -> Option<Duration> {
    let header = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(retry_after_header);
    header.or_else(|| {
        body.and_then(|b| b.get("retryAfterSeconds"))
            .and_then(|v| v.as_f64())
            .and_then(capped_wait)
    })
}

/// A `Retry-After` value: delay seconds, or an HTTP date (a date already past is no wait).
fn retry_after_header(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return capped_wait(secs);
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let ahead = date.to_utc().signed_duration_since(chrono::Utc::now());
    capped_wait(ahead.num_milliseconds().max(0) as f64 / 1000.0)
}

/// A server's wait in seconds as a [`Duration`] of at most [`MAX_RETRY_AFTER`]; `None` when
/// negative, infinite or not a number. The one cap of every form of the hint, so they cannot
/// drift apart.
fn capped_wait(secs: f64) -> Option<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).map_or(MAX_RETRY_AFTER, |d| d.min(MAX_RETRY_AFTER)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_500_left_after_the_retries_is_about_the_records_while_an_unreachable_server_is_not() {
        let server = |status| Error::new(ErrorKind::Server { status }, "");
        // Temporary for the retries, about the records once they are spent: Twenty answers 500
        // to exceptions it does not map, some caused by one record's data.
        assert!(server(500).is_temporary());
        assert!(server(500).is_record_level());
        assert!(server(501).is_record_level());
        for status in [502, 503, 504] {
            assert!(!server(status).is_record_level(), "{status}");
        }
        for kind in [
            ErrorKind::Unauthorized,
            ErrorKind::Forbidden,
            ErrorKind::RateLimited { retry_after: None },
            ErrorKind::Transport,
            ErrorKind::Config,
            ErrorKind::UnexpectedStatus { status: 402 },
        ] {
            assert!(!Error::new(kind.clone(), "").is_record_level(), "{kind}");
        }
        for kind in [
            ErrorKind::Validation { messages: vec![] },
            ErrorKind::Conflict,
            ErrorKind::NotFound,
            ErrorKind::UnexpectedStatus { status: 413 },
            ErrorKind::Decode {
                path: "data".into(),
            },
        ] {
            assert!(Error::new(kind.clone(), "").is_record_level(), "{kind}");
        }
        // A body cut off in transit is worth the same request again, not a smaller one.
        let cut = Error::new(
            ErrorKind::Decode {
                path: "data".into(),
            },
            "EOF",
        )
        .set_temporary(true);
        assert!(!cut.is_record_level());
        // The answers of the captured 2.21.0 server: a duplicate email is about the record,
        // its 429 is not.
        assert!(map(400, r#"{"statusCode":400,"messages":["A duplicate entry was detected"],"error":"BadRequestException"}"#).is_record_level());
        assert!(!map(429, r#"{"statusCode":429,"messages":["Limit reached (100 tokens per 60000 ms)"],"error":"HttpException"}"#).is_record_level());
    }

    fn map(status: u16, body: &str) -> Error {
        from_response(
            StatusCode::from_u16(status).expect("status"),
            &HeaderMap::new(),
            body.as_bytes(),
        )
    }

    #[test]
    fn upsert_multiple_matches_is_a_conflict() {
        let e = map(
            400,
            r#"{"statusCode":400,"error":"BadRequestException","code":"UPSERT_MULTIPLE_MATCHING_RECORDS_CONFLICT","messages":["Multiple matching records found"]}"#,
        );
        assert_eq!(e.kind(), &ErrorKind::Conflict);
        let e = map(
            400,
            r#"{"statusCode":400,"messages":["Found multiple matching records for upsert"]}"#,
        );
        assert_eq!(e.kind(), &ErrorKind::Conflict);
    }

    #[test]
    fn an_older_400_limit_answer_is_a_rate_limit() {
        let e = map(
            400,
            r#"{"statusCode":400,"message":"Limit reached (100 tokens per 60000 ms)"}"#,
        );
        assert!(matches!(
            e.kind(),
            ErrorKind::RateLimited { retry_after: None }
        ));
        assert!(e.is_temporary());
    }

    #[test]
    fn retry_after_header_wins_over_body() {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().expect("header"));
        let e = from_response(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            br#"{"statusCode":429,"retryAfterSeconds":12}"#,
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn non_json_bodies_are_quoted_bounded() {
        let body = "<html>".repeat(1000);
        let e = map(502, &body);
        assert_eq!(e.kind(), &ErrorKind::Server { status: 502 });
        assert!(e.is_temporary());
        assert!(e.to_string().len() < 1000);
    }

    #[test]
    fn bound_respects_char_boundaries() {
        let s = "é".repeat(10);
        let b = bound(&s, 5);
        assert!(b.starts_with("éé"));
        assert!(b.contains("omitted"));
    }

    fn from_header(value: &'static str) -> Option<Duration> {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, value.parse().expect("header"));
        retry_after(&h, None)
    }

    #[test]
    fn every_form_of_retry_after_is_capped_alike() {
        let far = from_header("Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(far, Some(MAX_RETRY_AFTER));
        assert_eq!(from_header("999999"), Some(MAX_RETRY_AFTER));
        let body = serde_json::json!({"retryAfterSeconds": 1e30});
        assert_eq!(
            retry_after(&HeaderMap::new(), Some(&body)),
            Some(MAX_RETRY_AFTER)
        );
        // A date already past is no wait; a near one is its distance.
        assert_eq!(
            from_header("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(Duration::ZERO)
        );
        let soon = (chrono::Utc::now() + chrono::TimeDelta::seconds(30)).to_rfc2822();
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, soon.parse().expect("header"));
        let wait = retry_after(&h, None).expect("a wait");
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(from_header("-5"), None);
        assert_eq!(from_header("NaN"), None);
        assert_eq!(from_header("inf"), None);
    }

    const WEBHOOK_SECRET: &str = "s3cr3t-webhook";

    fn assert_no_secret(err: &Error) {
        let shown = format!("{err} {err:?}");
        for part in [WEBHOOK_SECRET, "s3cr3t", "webhook\"", "-webh"] {
            assert!(!shown.contains(part), "{part:?} in {shown}");
        }
    }

    #[test]
    fn secret_values_in_a_quoted_error_body_are_blanked() {
        // Not JSON as a whole (cut off), so it is quoted as text.
        let cut = format!(r#"{{"message":1,"Secret": "{WEBHOOK_SECRET}", "id""#);
        let e = map(500, &cut);
        assert_no_secret(&e);
        assert!(e.to_string().contains("\"Secret\": \"[REDACTED]\""), "{e}");
        // A non-string `messages[]` entry is quoted as JSON.
        let nested = format!(r#"{{"messages":[{{"webhookSecret":"{WEBHOOK_SECRET}","x":1}}]}}"#);
        assert_no_secret(&map(400, &nested));
    }
}
