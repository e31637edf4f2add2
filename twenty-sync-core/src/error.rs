//! The error type shared by every implementation of the core's traits.
//!
//! Modelled on OpenDAL: a [`StoreErrorKind`] says *what* went wrong, [`StoreError::is_temporary`] says
//! whether trying again may help (the engine's retries ask nothing else), and the message says on
//! which entity/record and what to do.

use std::fmt;

/// What kind of failure a [`SourceOfTruth`](crate::SourceOfTruth), [`StateStore`](crate::StateStore)
/// or [`SecretProvider`](crate::SecretProvider) ran into.
///
/// Callers branch on the kind, e.g. to tell a missing secret from a broken secret store:
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_sync_core::{InMemorySecrets, SecretProvider, StoreErrorKind};
///
/// let secrets = InMemorySecrets::new();
/// let err = secrets.require("twenty-api-key").await.unwrap_err();
/// match err.kind() {
///     StoreErrorKind::NotFound => {} // tell the user how to provide it
///     other => panic!("unexpected {other:?}"),
/// }
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The entity, table or record named does not exist.
    NotFound,
    /// The configuration of the implementation is wrong (missing table, bad column, bad path).
    Config,
    /// The data could not be stored or read as given (bad shape, constraint violated).
    Invalid,
    /// Another worker holds the lease, or a concurrent write won.
    Conflict,
    /// A commit made under a lease ([`StateCommit::fence`](crate::StateCommit::fence)) was
    /// refused, and nothing of it written: the lease is no longer current (it lapsed and another
    /// holder took it, or it was given back). The run that made it must stop.
    LeaseLost,
    /// The backend is unreachable or busy; trying again later may succeed.
    Unavailable,
    /// Stored data could not be decoded (corrupt file, schema drift).
    Corrupt,
    /// Anything else.
    Other,
}

/// An error from a trait implementation, with its kind, retryability and context.
///
/// ```
/// use twenty_sync_core::{StoreError, StoreErrorKind};
///
/// let err = StoreError::new(StoreErrorKind::Unavailable, "database is restarting")
///     .temporary()
///     .with_context("entity", "contacts");
/// assert!(err.is_temporary());
/// assert_eq!(err.kind(), StoreErrorKind::Unavailable);
/// assert!(err.to_string().contains("entity=contacts"));
/// ```
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
    temporary: bool,
    context: Vec<(&'static str, String)>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StoreError {
    /// The refusal of a commit made under `fence` once its lease is no longer current (what
    /// every store returns, so the engine and its users read one message).
    ///
    /// ```
    /// use twenty_sync_core::{Fence, StoreError, StoreErrorKind};
    ///
    /// let fence = Fence { scope: "ws#contacts".into(), holder: "w-1".into(), token: 3 };
    /// let err = StoreError::lease_lost(&fence);
    /// assert_eq!(err.kind(), StoreErrorKind::LeaseLost);
    /// assert!(err.to_string().contains("ws#contacts"));
    /// assert!(!err.is_temporary());
    /// ```
    pub fn lease_lost(fence: &crate::Fence) -> StoreError {
        StoreError::new(
            StoreErrorKind::LeaseLost,
            format!(
                "the commit was made under the lease on `{}` (fencing token {}), which is no longer current: it lapsed and another holder took it, or it was given back; nothing of the commit was written. The run that made it must stop; the next run takes up from what the store holds",
                fence.scope, fence.token
            ),
        )
        .with_context("holder", &fence.holder)
    }

    /// A permanent error of `kind` with a message saying what failed and what to do.
    ///
    /// ```
    /// use twenty_sync_core::{StoreError, StoreErrorKind};
    ///
    /// let err = StoreError::new(StoreErrorKind::Config, "table crm.contacts is missing; create it");
    /// assert_eq!(err.kind(), StoreErrorKind::Config);
    /// assert!(!err.is_temporary());
    /// assert_eq!(err.to_string(), "Config: table crm.contacts is missing; create it");
    /// ```
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            temporary: false,
            context: Vec::new(),
            source: None,
        }
    }

    /// Marks the error as temporary: the same call may succeed later.
    ///
    /// ```
    /// use twenty_sync_core::{StoreError, StoreErrorKind};
    ///
    /// let err = StoreError::new(StoreErrorKind::Unavailable, "connection refused").temporary();
    /// assert!(err.is_temporary());
    /// assert_eq!(err.to_string(), "Unavailable (temporary): connection refused");
    /// ```
    pub fn temporary(mut self) -> Self {
        self.temporary = true;
        self
    }

    /// Adds a `key=value` pair of context (entity, key, path, operation...).
    ///
    /// ```
    /// use twenty_sync_core::{StoreError, StoreErrorKind};
    ///
    /// let err = StoreError::new(StoreErrorKind::Invalid, "bad record")
    ///     .with_context("entity", "contacts")
    ///     .with_context("key", "c-1");
    /// assert_eq!(err.to_string(), "Invalid: bad record [entity=contacts, key=c-1]");
    /// ```
    pub fn with_context(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.context.push((key, value.into()));
        self
    }

    /// Attaches the underlying cause (shown after the message, and returned by
    /// [`Error::source`](std::error::Error::source)).
    ///
    /// ```
    /// use std::error::Error as _;
    /// use twenty_sync_core::{StoreError, StoreErrorKind};
    ///
    /// let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
    /// let err = StoreError::new(StoreErrorKind::Config, "cannot open state.json").with_source(io);
    /// assert!(err.to_string().ends_with(": permission denied"));
    /// assert_eq!(err.source().unwrap().to_string(), "permission denied");
    /// ```
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What kind of failure this is.
    ///
    /// ```
    /// use twenty_sync_core::{StoreError, StoreErrorKind};
    ///
    /// let err = StoreError::new(StoreErrorKind::Conflict, "lease held by worker-2");
    /// assert_eq!(err.kind(), StoreErrorKind::Conflict);
    /// ```
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// Whether trying again later may succeed.
    ///
    /// ```
    /// use twenty_sync_core::{StoreError, StoreErrorKind};
    ///
    /// let busy = StoreError::new(StoreErrorKind::Unavailable, "too many connections").temporary();
    /// let corrupt = StoreError::new(StoreErrorKind::Corrupt, "state.json is not JSON");
    /// assert!(busy.is_temporary());
    /// assert!(!corrupt.is_temporary());
    /// ```
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }

    /// The message, without context.
    ///
    /// ```
    /// use twenty_sync_core::{StoreError, StoreErrorKind};
    ///
    /// let err = StoreError::new(StoreErrorKind::NotFound, "no such table").with_context("table", "t");
    /// assert_eq!(err.message(), "no such table");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The context pairs, in the order they were added.
    ///
    /// ```
    /// use twenty_sync_core::{StoreError, StoreErrorKind};
    ///
    /// let err = StoreError::new(StoreErrorKind::Invalid, "bad key")
    ///     .with_context("entity", "contacts")
    ///     .with_context("key", "");
    /// assert_eq!(err.context(), &[("entity", "contacts".to_owned()), ("key", String::new())]);
    /// ```
    pub fn context(&self) -> &[(&'static str, String)] {
        &self.context
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind)?;
        if self.temporary {
            f.write_str(" (temporary)")?;
        }
        write!(f, ": {}", self.message)?;
        for (i, (k, v)) in self.context.iter().enumerate() {
            f.write_str(if i == 0 { " [" } else { ", " })?;
            write!(f, "{k}={v}")?;
            if i + 1 == self.context.len() {
                f.write_str("]")?;
            }
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreError")
            .field("kind", &self.kind)
            .field("temporary", &self.temporary)
            .field("message", &self.message)
            .field("context", &self.context)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

/// Result alias for the core traits.
///
/// ```
/// use twenty_sync_core::{StoreError, StoreErrorKind, StoreResult};
///
/// fn parse_seq(raw: &str) -> StoreResult<u64> {
///     raw.parse()
///         .map_err(|_| StoreError::new(StoreErrorKind::Invalid, format!("{raw:?} is not a number")))
/// }
/// assert_eq!(parse_seq("42").unwrap(), 42);
/// assert_eq!(parse_seq("x").unwrap_err().kind(), StoreErrorKind::Invalid);
/// ```
pub type StoreResult<T> = Result<T, StoreError>;
