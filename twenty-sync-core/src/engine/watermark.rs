//! The pull cursor: a watermark on Twenty's `updatedAt`, with per-walk progress.
//!
//! A pull runs two walks ordered by `updatedAt, id`: the live records and the soft-deleted ones
//! (plain lists hide soft-deleted rows). Each walk starts at `watermark - overlap`. While a walk
//! runs, the cursor may record how far that walk got (the `updatedAt` of its last committed
//! record), so a crash does not restart from scratch; when both walks finish, the watermark
//! becomes the time the walk *started*, on Twenty's clock (this host's clock, moved back by what
//! Twenty's answers show its clock to be behind: see `engine::clock`), and the progress marks are
//! cleared (in the commit of the pull's last pages: a pull shorter than one commit writes once).
//! Records updated while the walk ran are therefore read again next time (and de-duplicated),
//! never skipped.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::model::Checkpoint;

/// Which of the two pull walks.
///
/// ```
/// use chrono::Duration;
/// use twenty_sync_core::engine::{PullCursor, Walk};
/// # let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
///
/// // The live walk got further than the deleted one before a crash.
/// let cursor = PullCursor::completed(t("2026-01-01T10:00:00Z")).advanced(Walk::Live, t("2026-01-01T11:00:00Z"));
/// assert_eq!(cursor.lower_bound(Walk::Live, Duration::zero()), Some(t("2026-01-01T11:00:00Z")));
/// assert_eq!(cursor.lower_bound(Walk::Deleted, Duration::zero()), Some(t("2026-01-01T10:00:00Z")));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Records that are not soft-deleted.
    Live,
    /// Soft-deleted records (`deletedAt` not null).
    Deleted,
}

/// The decoded pull cursor.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use std::sync::Arc;
/// # use twenty_sync_core::engine::*;
/// # use twenty_sync_core::memory::{MemorySource, MemoryState};
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(2)).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
/// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
/// #     .match_key("emails.primaryEmail");
/// use twenty_sync_core::{StateStore, SyncDirection};
///
/// let state = MemoryState::new();
/// let engine = SyncEngine::builder(client, MemorySource::new(), state.clone()).entity(Arc::new(contacts)).build()?;
/// let started = chrono::Utc::now();
/// engine.pull(RunOptions::new()).await?;
/// let stored = state.cursor("contacts", SyncDirection::Pull).await?;
/// let cursor = PullCursor::decode(stored.as_ref());
/// assert!(cursor.watermark.is_some_and(|w| w >= started));
/// assert_eq!((cursor.live, cursor.deleted), (None, None)); // the pull completed
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullCursor {
    /// Start time of the last completed pull, on Twenty's clock as far as its answers showed it
    /// (`None`: never completed, full pull).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<DateTime<Utc>>,
    /// `updatedAt` of the last committed record of an unfinished live walk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<DateTime<Utc>>,
    /// `updatedAt` of the last committed record of an unfinished deleted walk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<DateTime<Utc>>,
}

impl PullCursor {
    /// Decodes a stored checkpoint (a bare RFC 3339 timestamp is accepted as a watermark).
    ///
    /// ```
    /// use twenty_sync_core::engine::PullCursor;
    /// use twenty_sync_core::Checkpoint;
    /// # let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    ///
    /// assert_eq!(PullCursor::decode(None), PullCursor::default()); // never pulled: a full pull
    /// let bare = Checkpoint::new("2026-01-01T10:00:00Z");
    /// assert_eq!(PullCursor::decode(Some(&bare)).watermark, Some(t("2026-01-01T10:00:00Z")));
    /// ```
    pub fn decode(cp: Option<&Checkpoint>) -> PullCursor {
        let Some(cp) = cp else {
            return PullCursor::default();
        };
        if let Ok(c) = serde_json::from_str::<PullCursor>(cp.as_str()) {
            return c;
        }
        PullCursor {
            watermark: DateTime::parse_from_rfc3339(cp.as_str())
                .ok()
                .map(|d| d.with_timezone(&Utc)),
            ..Default::default()
        }
    }

    /// Encodes the cursor for the state store.
    ///
    /// ```
    /// use twenty_sync_core::engine::{PullCursor, Walk};
    /// # let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    ///
    /// let cursor = PullCursor::completed(t("2026-01-01T10:00:00Z")).advanced(Walk::Deleted, t("2026-01-02T00:00:00Z"));
    /// let checkpoint = cursor.encode();
    /// assert_eq!(PullCursor::decode(Some(&checkpoint)), cursor);
    /// ```
    pub fn encode(&self) -> Checkpoint {
        Checkpoint::new(serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned()))
    }

    /// The lower bound (`updatedAt >= bound`) of `walk`, or `None` for a full walk.
    ///
    /// ```
    /// use chrono::Duration;
    /// use twenty_sync_core::engine::{PullCursor, Walk};
    /// # let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    ///
    /// let cursor = PullCursor::completed(t("2026-01-01T10:00:00Z"));
    /// assert_eq!(cursor.lower_bound(Walk::Live, Duration::minutes(5)), Some(t("2026-01-01T09:55:00Z")));
    /// assert_eq!(PullCursor::default().lower_bound(Walk::Live, Duration::minutes(5)), None);
    /// ```
    pub fn lower_bound(&self, walk: Walk, overlap: Duration) -> Option<DateTime<Utc>> {
        let progress = match walk {
            Walk::Live => self.live,
            Walk::Deleted => self.deleted,
        };
        let from = match (self.watermark, progress) {
            (Some(w), Some(p)) => Some(w.max(p)),
            (w, p) => w.or(p),
        }?;
        Some(from - overlap)
    }

    /// The cursor after the records of `walk` up to `updated_at` are committed.
    ///
    /// ```
    /// use twenty_sync_core::engine::{PullCursor, Walk};
    /// # let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    ///
    /// let cursor = PullCursor::default()
    ///     .advanced(Walk::Live, t("2026-01-01T11:00:00Z"))
    ///     .advanced(Walk::Live, t("2026-01-01T10:00:00Z")); // never moves backwards
    /// assert_eq!(cursor.live, Some(t("2026-01-01T11:00:00Z")));
    /// assert_eq!(cursor.deleted, None);
    /// ```
    pub fn advanced(&self, walk: Walk, updated_at: DateTime<Utc>) -> PullCursor {
        let mut c = self.clone();
        let slot = match walk {
            Walk::Live => &mut c.live,
            Walk::Deleted => &mut c.deleted,
        };
        *slot = Some(slot.map_or(updated_at, |p| p.max(updated_at)));
        c
    }

    /// The cursor after a successful pull that started at `walk_start` (the engine passes the
    /// start on Twenty's clock, which stamps the `updatedAt` the next pull filters on).
    ///
    /// ```
    /// use twenty_sync_core::engine::{PullCursor, Walk};
    /// # let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    ///
    /// let during = PullCursor::default().advanced(Walk::Live, t("2026-01-01T10:30:00Z"));
    /// assert!(during.live.is_some());
    /// // The walk started at 10:00: records updated while it ran are read again next time.
    /// let done = PullCursor::completed(t("2026-01-01T10:00:00Z"));
    /// assert_eq!(done.watermark, Some(t("2026-01-01T10:00:00Z")));
    /// assert_eq!(done.live, None);
    /// ```
    pub fn completed(walk_start: DateTime<Utc>) -> PullCursor {
        PullCursor {
            watermark: Some(walk_start),
            live: None,
            deleted: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap()
    }

    #[test]
    fn first_pull_is_full() {
        let c = PullCursor::decode(None);
        assert_eq!(c.lower_bound(Walk::Live, Duration::minutes(5)), None);
        assert_eq!(c.lower_bound(Walk::Deleted, Duration::minutes(5)), None);
    }

    #[test]
    fn lower_bound_subtracts_the_overlap_from_the_watermark() {
        let c = PullCursor::completed(t("2026-01-01T10:00:00Z"));
        assert_eq!(
            c.lower_bound(Walk::Live, Duration::minutes(5)),
            Some(t("2026-01-01T09:55:00Z"))
        );
    }

    #[test]
    fn mid_walk_progress_only_moves_its_own_walk() {
        let c = PullCursor::completed(t("2026-01-01T10:00:00Z"))
            .advanced(Walk::Live, t("2026-01-01T11:00:00Z"));
        let o = Duration::zero();
        assert_eq!(
            c.lower_bound(Walk::Live, o),
            Some(t("2026-01-01T11:00:00Z"))
        );
        // The deleted walk has not run yet: it must still start at the old watermark.
        assert_eq!(
            c.lower_bound(Walk::Deleted, o),
            Some(t("2026-01-01T10:00:00Z"))
        );
    }

    #[test]
    fn progress_never_moves_backwards() {
        let c = PullCursor::default()
            .advanced(Walk::Live, t("2026-01-01T11:00:00Z"))
            .advanced(Walk::Live, t("2026-01-01T10:00:00Z"));
        assert_eq!(c.live, Some(t("2026-01-01T11:00:00Z")));
    }

    #[test]
    fn completion_resets_to_the_walk_start_not_its_end() {
        let start = t("2026-01-01T10:00:00Z");
        let mid = PullCursor::default().advanced(Walk::Live, t("2026-01-01T10:30:00Z"));
        assert!(mid.live.is_some());
        let done = PullCursor::completed(start);
        assert_eq!(done.watermark, Some(start));
        assert_eq!(done.live, None);
    }

    #[test]
    fn encode_decode_round_trip_and_bare_timestamps() {
        let c = PullCursor::completed(t("2026-01-01T10:00:00Z"))
            .advanced(Walk::Deleted, t("2026-01-02T00:00:00Z"));
        assert_eq!(PullCursor::decode(Some(&c.encode())), c);
        let bare = Checkpoint::new("2026-01-01T10:00:00Z");
        assert_eq!(
            PullCursor::decode(Some(&bare)).watermark,
            Some(t("2026-01-01T10:00:00Z"))
        );
    }
}
