//! Turning driver and pool errors into [`StoreError`]s that never carry the connection string.
//!
//! Every error goes through a [`Redactor`], which knows the password and the full connection
//! string and replaces them with `***` wherever they appear. The driver's error is kept only as
//! redacted text, never as a `source` (a source's `Display` could not be redacted).

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::error::SqlState;
use twenty_sync_core::{StoreError, StoreErrorKind};

/// Replaces secrets (password, connection string) in error text with `***`.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Arc<Vec<SecretString>>,
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
        }
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
    pub(crate) fn db(&self, operation: &str, err: &tokio_postgres::Error) -> StoreError {
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
