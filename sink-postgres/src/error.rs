//! Turning driver and pool errors into [`StoreError`]s that never carry the connection string.
//!
//! Every error goes through a [`Redactor`], which knows the password and the full connection
//! string and replaces them with `***` wherever they appear. The driver's error is kept only as
//! redacted text, never as a `source` (a source's `Display` could not be redacted).
//!
//! The redactor also notes when an error shows that a connection was lost ([`LostConnections`]),
//! so that the pool checks the connections in use at that moment before handing them out again.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::error::SqlState;
use twenty_sync_core::{StoreError, StoreErrorKind};

/// Replaces secrets (password, connection string) in error text with `***`.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Arc<Vec<SecretString>>,
    lost: LostConnections,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// A redactor hiding each of `secrets` (empty strings are ignored).
    pub(crate) fn new(secrets: Vec<SecretString>) -> Self {
        let secrets = secrets
            .into_iter()
            .filter(|s| !s.expose_secret().is_empty())
            .collect();
        Redactor {
            secrets: Arc::new(secrets),
            lost: LostConnections::default(),
        }
    }

    /// When errors last showed a lost connection (shared by every clone of this redactor).
    pub(crate) fn lost_connections(&self) -> &LostConnections {
        &self.lost
    }

    /// `text` with every secret replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in self.secrets.iter() {
            out = out.replace(s.expose_secret(), "***");
        }
        out
    }

    /// A [`StoreError`] for a failed database call during `operation`.
    ///
    /// An error that shows the connection lost is noted in [`Self::lost_connections`].
    pub(crate) fn db(&self, operation: &str, err: &tokio_postgres::Error) -> StoreError {
        if is_lost_connection(err) {
            self.lost.note();
        }
        let detail = describe_pg_error(err);
        let (kind, temporary) = classify(err);
        let mut e = StoreError::new(
            kind,
            format!("postgres: {operation} failed: {}", self.redact(&detail)),
        );
        if temporary {
            e = e.temporary();
        }
        e
    }

    /// A [`StoreError`] for a connection that could not be taken from the pool.
    pub(crate) fn pool(&self, err: &deadpool_postgres::PoolError) -> StoreError {
        StoreError::new(
            StoreErrorKind::Unavailable,
            format!(
                "postgres: could not get a connection: {}; check that the server is running and \
                 that the connection string (host, port, user, database, sslmode) is right",
                self.redact(&err.to_string())
            ),
        )
        .temporary()
    }
}

/// When an error last showed a lost connection: the server ended the session (terminated
/// backend, restart, failover) or the socket failed.
///
/// The driver learns that a connection is closed only when its connection task reads the end of
/// the stream, which can come a moment after the error that the server sent before closing. A
/// connection handed back to the pool in that moment looks alive; the pool's check before each
/// checkout (`connect::verify_when_idle`) therefore also checks every connection that was handed
/// out before the last loss noted here, instead of giving the caller's next statement a dead
/// connection.
#[derive(Clone, Default)]
pub(crate) struct LostConnections {
    last: Arc<Mutex<Option<Instant>>>,
}

impl LostConnections {
    /// Notes a lost connection now.
    pub(crate) fn note(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// When a lost connection was last noted, if ever.
    pub(crate) fn last(&self) -> Option<Instant> {
        *self.last.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether `err` shows that its connection is gone: closed or failed at the socket, or ended by
/// the server (connection exception class `08`, `admin_shutdown`, `crash_shutdown`,
/// `cannot_connect_now`). A statement's own errors (a constraint, a cancelled query) leave the
/// connection usable.
fn is_lost_connection(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    match err.code() {
        Some(code) => {
            code.code().starts_with("08")
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
        }
        None => std::error::Error::source(err)
            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some()),
    }
}

/// The driver error's text, with the server's message, detail and hint when it is a database error.
fn describe_pg_error(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => {
            let mut s = format!("{} ({})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                s.push_str("; detail: ");
                s.push_str(d);
            }
            if let Some(h) = db.hint() {
                s.push_str("; hint: ");
                s.push_str(h);
            }
            s
        }
        None => {
            let mut s = err.to_string();
            let mut source = std::error::Error::source(err);
            while let Some(inner) = source {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                source = inner.source();
            }
            s
        }
    }
}

/// The state schema's constraint mapping one Twenty id to one local key.
const ONE_KEY_PER_TWENTY_ID: &str = "record_state_one_key_per_twenty_id";

/// The error kind and retryability of a driver error.
fn classify(err: &tokio_postgres::Error) -> (StoreErrorKind, bool) {
    let Some(code) = err.code() else {
        // No SQLSTATE: I/O, closed connection, protocol problems.
        return (StoreErrorKind::Unavailable, true);
    };
    if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
    {
        return (StoreErrorKind::Conflict, true);
    }
    if *code == SqlState::UNDEFINED_TABLE
        || *code == SqlState::UNDEFINED_COLUMN
        || *code == SqlState::UNDEFINED_FUNCTION
        || *code == SqlState::INVALID_SCHEMA_NAME
        || *code == SqlState::INSUFFICIENT_PRIVILEGE
    {
        return (StoreErrorKind::Config, false);
    }
    if *code == SqlState::UNIQUE_VIOLATION
        && err.as_db_error().and_then(|d| d.constraint()) == Some(ONE_KEY_PER_TWENTY_ID)
    {
        return (StoreErrorKind::Conflict, false);
    }
    let class = &code.code()[..2];
    match class {
        // connection exception, operator intervention (admin shutdown, cancel), insufficient resources
        "08" | "57" | "53" => (StoreErrorKind::Unavailable, true),
        // data exception, integrity constraint violation
        "22" | "23" => (StoreErrorKind::Invalid, false),
        _ => (StoreErrorKind::Other, false),
    }
}

/// A configuration error with a message saying what to fix.
pub(crate) fn config(message: impl Into<String>) -> StoreError {
    StoreError::new(StoreErrorKind::Config, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redactor_replaces_every_secret_occurrence() {
        let r = Redactor::new(vec![
            SecretString::from("hunter2"),
            SecretString::from(String::new()),
        ]);
        assert_eq!(r.redact("pw hunter2 and hunter2"), "pw *** and ***");
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
