//! Reading local changes for push: the trigger outbox and the `updated_at` mode.
//!
//! Both are paged streams: each page is one query of at most `page_size` rows, so memory stays
//! bounded whatever the backlog.
//!
//! **Outbox.** Rows carry the writing transaction's id (`xid8`). A page only reads rows whose
//! transaction id is below `pg_snapshot_xmin(pg_current_snapshot())`: every such transaction has
//! finished, so no row can appear later *behind* the checkpoint `(txid, seq)`, however long a
//! transaction ran or in which order transactions committed. The row's current data is read when
//! the change is emitted (a missing or tombstoned row is a delete), so repeated entries of a key
//! collapse into one change carrying the newest state.
//!
//! **updated_at.** Rows with `updated_at < now() - window` in `(updated_at, key)` order. A write
//! whose `updated_at` is older than the window when it commits can be missed, so the window must
//! exceed the longest write transaction (see the README).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use twenty_sync_core::{
    Checkpoint, LocalChange, LocalChangeKind, StoreError, StoreErrorKind, StoreResult,
};

use crate::sink::Inner;
use crate::table::{DecodedRow, TableInfo};
use crate::value::{Cell, Kind};

/// A position in the outbox: the transaction id and the row's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct OutboxPosition {
    pub txid: u64,
    pub seq: i64,
}

impl OutboxPosition {
    const PREFIX: &'static str = "outbox:";

    pub(crate) fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(Self::PREFIX)?;
        let (txid, seq) = rest.split_once(':')?;
        Some(OutboxPosition {
            txid: txid.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    pub(crate) fn checkpoint(self) -> Checkpoint {
        Checkpoint::new(format!("{}{}:{}", Self::PREFIX, self.txid, self.seq))
    }
}

/// A position in `updated_at` order: the timestamp and the key (as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpdatedPosition {
    pub at: DateTime<Utc>,
    pub key: String,
}

impl UpdatedPosition {
    const PREFIX: &'static str = "updated_at:";

    pub(crate) fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(Self::PREFIX)?;
        let (at, key) = rest.split_once('|')?;
        Some(UpdatedPosition {
            at: DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
            key: key.to_owned(),
        })
    }

    pub(crate) fn checkpoint(&self) -> Checkpoint {
        Checkpoint::new(format!(
            "{}{}|{}",
            Self::PREFIX,
            self.at.to_rfc3339_opts(SecondsFormat::Micros, true),
            self.key
        ))
    }
}

fn bad_checkpoint(table: &TableInfo, cp: &Checkpoint, expected: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Invalid,
        format!(
            "postgres: checkpoint {:?} is not a {expected} position; it was made by another \
             capture mode or store. Reset the push cursor of this entity to start over",
            cp.as_str()
        ),
    )
    .with_context("entity", table.entity())
}

fn change_of(row: DecodedRow, checkpoint: Checkpoint) -> LocalChange {
    LocalChange {
        key: row.key,
        kind: if row.deleted {
            LocalChangeKind::Delete
        } else {
            LocalChangeKind::Upsert { data: row.data }
        },
        updated_at: row.updated_at,
        checkpoint,
    }
}

/// A feed of local changes read a page at a time from `pos` on.
struct Feed<P> {
    inner: Arc<Inner>,
    table: Arc<TableInfo>,
    pos: P,
    buffer: VecDeque<LocalChange>,
    done: bool,
}

/// How a feed reads its next page: the page's changes appended to `buffer`, `pos` moved past
/// them, `done` set when there are no more.
trait NextPage {
    fn next_page(&mut self) -> impl Future<Output = StoreResult<()>> + Send;
}

impl NextPage for Feed<OutboxPosition> {
    fn next_page(&mut self) -> impl Future<Output = StoreResult<()>> + Send {
        outbox_page(self)
    }
}

impl NextPage for Feed<Option<UpdatedPosition>> {
    fn next_page(&mut self) -> impl Future<Output = StoreResult<()>> + Send {
        updated_page(self)
    }
}

impl<P: Send + 'static> Feed<P>
where
    Feed<P>: NextPage,
{
    /// The changes of `table` from `pos` on, a page read whenever the last one is used up; the
    /// stream ends after the last page or after the first error.
    fn changes(
        inner: Arc<Inner>,
        table: Arc<TableInfo>,
        pos: P,
    ) -> BoxStream<'static, StoreResult<LocalChange>> {
        let feed = Feed {
            inner,
            table,
            pos,
            buffer: VecDeque::new(),
            done: false,
        };
        stream::unfold(feed, |mut feed| async move {
            loop {
                if let Some(change) = feed.buffer.pop_front() {
                    return Some((Ok(change), feed));
                }
                if feed.done {
                    return None;
                }
                if let Err(e) = feed.next_page().await {
                    feed.done = true;
                    return Some((Err(e), feed));
                }
            }
        })
        .boxed()
    }
}

/// The outbox feed of `table` after `checkpoint`.
pub(crate) fn outbox_feed(
    inner: Arc<Inner>,
    table: Arc<TableInfo>,
    checkpoint: Option<&Checkpoint>,
) -> StoreResult<BoxStream<'static, StoreResult<LocalChange>>> {
    let pos = match checkpoint {
        None => OutboxPosition::default(),
        Some(cp) => OutboxPosition::parse(cp.as_str())
            .ok_or_else(|| bad_checkpoint(&table, cp, "outbox"))?,
    };
    Ok(Feed::changes(inner, table, pos))
}

async fn outbox_page(feed: &mut Feed<OutboxPosition>) -> StoreResult<()> {
    let inner = &feed.inner;
    let entity = feed.table.entity();
    let client = inner.client().await?;
    let limit = inner.page_size as i64;
    let rows = client
        .query(
            &inner.sql.outbox_page,
            &[&entity, &feed.pos.txid.to_string(), &feed.pos.seq, &limit],
        )
        .await
        .map_err(|e| {
            inner
                .redactor
                .db("reading the outbox", &e)
                .with_context("entity", entity)
        })?;
    if (rows.len() as i64) < limit {
        feed.done = true;
    }
    if rows.is_empty() {
        return Ok(());
    }
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        let txid: String = r.get(0);
        let txid = txid.parse::<u64>().map_err(|_| {
            StoreError::new(StoreErrorKind::Corrupt, "postgres: unreadable outbox txid")
        })?;
        entries.push((
            OutboxPosition {
                txid,
                seq: r.get(1),
            },
            r.get::<_, String>(2),
        ));
    }
    // Only the last entry of each key in the page is emitted (with the newest data anyway).
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, (_, key)) in entries.iter().enumerate() {
        last.insert(key.as_str(), i);
    }
    let keys: Vec<String> = last.keys().map(|k| (*k).to_owned()).collect();
    let mut current: HashMap<String, DecodedRow> = HashMap::new();
    let found = client
        .query(&feed.table.sql.select_by_keys, &[&keys])
        .await
        .map_err(|e| {
            inner
                .redactor
                .db("reading changed rows", &e)
                .with_context("entity", entity)
        })?;
    for row in &found {
        let d = feed.table.decode(row)?;
        current.insert(d.key.clone(), d);
    }
    for (i, (pos, key)) in entries.iter().enumerate() {
        if last.get(key.as_str()) != Some(&i) {
            continue;
        }
        let change = match current.remove(key) {
            Some(row) => change_of(row, pos.checkpoint()),
            None => LocalChange {
                key: key.clone(),
                kind: LocalChangeKind::Delete,
                updated_at: None,
                checkpoint: pos.checkpoint(),
            },
        };
        feed.buffer.push_back(change);
    }
    if let Some((pos, _)) = entries.last() {
        feed.pos = *pos;
    }
    Ok(())
}

/// The `updated_at` feed of `table` after `checkpoint`.
pub(crate) fn updated_at_feed(
    inner: Arc<Inner>,
    table: Arc<TableInfo>,
    checkpoint: Option<&Checkpoint>,
) -> StoreResult<BoxStream<'static, StoreResult<LocalChange>>> {
    let pos = match checkpoint {
        None => None,
        Some(cp) => Some(
            UpdatedPosition::parse(cp.as_str())
                .ok_or_else(|| bad_checkpoint(&table, cp, "updated_at"))?,
        ),
    };
    Ok(Feed::changes(inner, table, pos))
}

async fn updated_page(feed: &mut Feed<Option<UpdatedPosition>>) -> StoreResult<()> {
    let inner = &feed.inner;
    let table = &feed.table;
    let (Some(first), Some(next), Some(ucol)) = (
        table.sql.updated_first.as_deref(),
        table.sql.updated_next.as_deref(),
        table.updated_at.as_ref(),
    ) else {
        feed.done = true;
        return Err(
            crate::error::config("updated_at capture needs `updated_at_column`")
                .with_context("entity", table.entity()),
        );
    };
    let window = table
        .config
        .capture
        .safety_window()
        .map(|w| w.as_secs_f64())
        .unwrap_or(0.0);
    let limit = inner.page_size as i64;
    let client = inner.client().await?;
    let rows = match &feed.pos {
        None => client.query(first, &[&window, &limit]).await,
        Some(p) => {
            let at = match ucol.kind {
                Kind::Timestamp => Cell::Timestamp(p.at.naive_utc()),
                _ => Cell::Timestamptz(p.at),
            };
            client.query(next, &[&window, &limit, &at, &p.key]).await
        }
    }
    .map_err(|e| {
        inner
            .redactor
            .db("reading changed rows by updated_at", &e)
            .with_context("entity", table.entity())
    })?;
    if (rows.len() as i64) < limit {
        feed.done = true;
    }
    for row in &rows {
        let d = table.decode(row)?;
        let Some(at) = d.updated_at else { continue };
        let pos = UpdatedPosition {
            at,
            key: d.key.clone(),
        };
        let cp = pos.checkpoint();
        feed.pos = Some(pos);
        feed.buffer.push_back(change_of(d, cp));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_checkpoints_round_trip() {
        let p = OutboxPosition { txid: 42, seq: 7 };
        assert_eq!(OutboxPosition::parse(p.checkpoint().as_str()), Some(p));
        assert_eq!(OutboxPosition::parse("updated_at:x|y"), None);
    }

    #[test]
    fn updated_at_checkpoints_round_trip_keys_with_separators() {
        let p = UpdatedPosition {
            at: DateTime::parse_from_rfc3339("2024-01-02T03:04:05.123456Z")
                .unwrap()
                .with_timezone(&Utc),
            key: "a|b:c".into(),
        };
        assert_eq!(UpdatedPosition::parse(p.checkpoint().as_str()), Some(p));
    }
}
