//! One entity's data log: `data/<entity>.jsonl`, append-only, last write per key wins.
//!
//! Every line is one operation on one key with a sequence number. Lines written together (a
//! pulled batch) form a transaction whose last line carries `"end": true`; on open, lines of a
//! transaction without its end line are dropped (the batch was never committed) along with a torn
//! last line. Local edits are one-line transactions flagged `"local": true`; the latest local line
//! of each key is the local change feed. Compaction keeps, per key, the latest line and the latest
//! local line, so feed checkpoints (sequence numbers) survive it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::io::{
    append_durably, corrupt, io_error, open_append, read_lines, replace_atomically, truncate_to,
};
use crate::error::{StoreError, StoreErrorKind, StoreResult};
use crate::memory::packed::{CompactKey, KeyRef};
use crate::model::{Checkpoint, LocalChange, LocalChangeKind, LocalRecord};
use crate::sharded::ShardedMap;

/// What a line does to its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Op {
    Upsert { data: Value },
    Delete,
    Tombstone,
}

/// [`Op`] borrowing the record it writes: appending a pulled batch does not copy its records.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum OpRef<'a> {
    Upsert { data: &'a Value },
    Delete,
    Tombstone,
}

/// The tag of an [`Op`] (`"op"` in a line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OpKind {
    Upsert,
    Delete,
    Tombstone,
}

/// A [`Line`] as it is decoded: the operation's tag and its record side by side. Decoding into
/// this plain struct reads the line once; `Line`'s own shape (a tagged enum flattened into the
/// line) would make serde buffer the whole line, record included, and then decode it again.
#[derive(Deserialize)]
struct LineFields {
    seq: u64,
    key: String,
    op: OpKind,
    /// `Some` whenever the line has the field (`"data": null` included).
    #[serde(default, deserialize_with = "present")]
    data: Option<Value>,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
    #[serde(default)]
    local: bool,
    #[serde(default)]
    end: bool,
}

/// The complaint about an upsert line without its record.
fn upsert_without_data(seq: u64) -> String {
    format!("upsert line {seq} has no `data`")
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl TryFrom<LineFields> for Line {
    type Error = String;

    fn try_from(f: LineFields) -> Result<Self, Self::Error> {
        let op = match (f.op, f.data) {
            (OpKind::Upsert, Some(data)) => Op::Upsert { data },
            (OpKind::Upsert, None) => return Err(upsert_without_data(f.seq)),
            (OpKind::Delete, _) => Op::Delete,
            (OpKind::Tombstone, _) => Op::Tombstone,
        };
        Ok(Line {
            seq: f.seq,
            key: f.key,
            op,
            at: f.at,
            local: f.local,
            end: f.end,
        })
    }
}

/// What opening a log needs of a line: everything but the record, which is skipped unread
/// (checked to be there and to be JSON, not decoded into a value; it is decoded when read). The
/// key is borrowed from the line unless it has escapes.
#[derive(Deserialize)]
struct LineHead<'a> {
    seq: u64,
    #[serde(borrow)]
    key: Cow<'a, str>,
    op: OpKind,
    #[serde(default)]
    data: Option<IgnoredAny>,
    #[serde(default)]
    local: bool,
    #[serde(default)]
    end: bool,
}

impl Op {
    pub(crate) fn as_ref(&self) -> OpRef<'_> {
        match self {
            Op::Upsert { data } => OpRef::Upsert { data },
            Op::Delete => OpRef::Delete,
            Op::Tombstone => OpRef::Tombstone,
        }
    }
}

/// A [`Line`] being written, borrowing its key and record (same JSON as [`Line`]).
#[derive(Serialize)]
struct LineRef<'a> {
    seq: u64,
    key: &'a str,
    #[serde(flatten)]
    op: OpRef<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    local: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    end: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "LineFields")]
pub(crate) struct Line {
    pub(crate) seq: u64,
    pub(crate) key: String,
    #[serde(flatten)]
    pub(crate) op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) local: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) end: bool,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    offset: u64,
    len: u32,
    seq: u64,
    live: bool,
}

/// Compact on open when dead lines outnumber live ones by this factor (plus a floor).
const COMPACT_FACTOR: u64 = 2;
const COMPACT_FLOOR: u64 = 1024;

/// The open data log of one entity with its in-memory index (key -> latest line).
pub(crate) struct EntityLog {
    path: PathBuf,
    append: File,
    read: File,
    len: u64,
    next_seq: u64,
    /// key -> latest line of the key.
    index: ShardedMap<CompactKey, Slot>,
    /// seq -> latest local line of a key (the change feed).
    feed: BTreeMap<u64, Slot>,
    /// key -> sequence of its latest local line (its entry in `feed`).
    feed_by_key: ShardedMap<CompactKey, u64>,
    lines: u64,
}

impl EntityLog {
    /// Opens (creating) the log at `path`, dropping an uncommitted tail and compacting if
    /// mostly dead.
    pub(crate) fn open(path: PathBuf) -> StoreResult<Self> {
        let mut log = Self::load(path)?;
        let live = log.index.len() as u64 + log.feed.len() as u64;
        if log.lines > COMPACT_FLOOR + COMPACT_FACTOR * live {
            log.compact()?;
        }
        Ok(log)
    }

    /// Whether the log holds no key at all (live, tombstoned or deleted).
    pub(crate) fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn load(path: PathBuf) -> StoreResult<Self> {
        let mut index: ShardedMap<CompactKey, Slot> = ShardedMap::default();
        let mut feed = BTreeMap::new();
        let mut feed_by_key: ShardedMap<CompactKey, u64> = ShardedMap::default();
        // The lines of a batch not seen to its end yet: key, whether local, and where.
        let mut pending: Vec<(CompactKey, bool, Slot)> = Vec::new();
        let mut committed_len = 0u64;
        let mut lines = 0u64;
        let mut max_seq = 0u64;
        read_lines(&path, |raw| {
            let line: LineHead =
                serde_json::from_slice(raw.bytes).map_err(|e| corrupt(&path, raw.offset, e))?;
            if line.op == OpKind::Upsert && line.data.is_none() {
                let e =
                    <serde_json::Error as serde::de::Error>::custom(upsert_without_data(line.seq));
                return Err(corrupt(&path, raw.offset, e));
            }
            let slot = Slot {
                offset: raw.offset,
                len: raw.bytes.len() as u32,
                seq: line.seq,
                live: line.op == OpKind::Upsert,
            };
            pending.push((CompactKey::pack(&line.key), line.local, slot));
            if line.end {
                for (key, local, slot) in pending.drain(..) {
                    max_seq = max_seq.max(slot.seq);
                    lines += 1;
                    if local {
                        if let Some(old) = feed_by_key.insert(key.clone(), slot.seq) {
                            feed.remove(&old);
                        }
                        feed.insert(slot.seq, slot);
                    }
                    index.insert(key, slot);
                }
                committed_len = raw.offset + raw.bytes.len() as u64 + 1;
            }
            Ok(())
        })?;
        if !pending.is_empty() {
            tracing::warn!(
                path = %path.display(),
                lines = pending.len(),
                "dropping the lines of a batch that was interrupted before it committed"
            );
        }
        truncate_to(&path, committed_len)?;
        let (append, len) = open_append(&path)?;
        let read = File::open(&path).map_err(|e| io_error("open for reading", &path, e))?;
        Ok(EntityLog {
            path,
            append,
            read,
            len,
            next_seq: max_seq + 1,
            index,
            feed,
            feed_by_key,
            lines,
        })
    }

    /// Rewrites the log with only the lines still needed, atomically, and reloads it.
    pub(crate) fn compact(&mut self) -> StoreResult<()> {
        let mut keep: Vec<Slot> = self.index.values().copied().collect();
        keep.extend(self.feed.values().copied());
        keep.sort_by_key(|s| s.offset);
        keep.dedup_by_key(|s| s.offset);
        let mut out = Vec::new();
        for slot in keep {
            let mut line = self.read_line(slot)?;
            line.end = true;
            serde_json::to_writer(&mut out, &line).map_err(|e| encode_error(&self.path, e))?;
            out.push(b'\n');
        }
        replace_atomically(&self.path, &out)?;
        let before = self.lines;
        *self = Self::load(self.path.clone())?;
        tracing::debug!(path = %self.path.display(), before, after = self.lines, "compacted data log");
        Ok(())
    }

    fn read_line(&mut self, slot: Slot) -> StoreResult<Line> {
        let mut buf = vec![0u8; slot.len as usize];
        self.read
            .seek(SeekFrom::Start(slot.offset))
            .and_then(|_| self.read.read_exact(&mut buf))
            .map_err(|e| io_error("read a record", &self.path, e))?;
        serde_json::from_slice(&buf).map_err(|e| corrupt(&self.path, slot.offset, e))
    }

    /// Appends `ops` as one transaction; returns the sequence number of each.
    pub(crate) fn append(
        &mut self,
        ops: &[(&str, OpRef<'_>, Option<DateTime<Utc>>)],
        local: bool,
    ) -> StoreResult<Vec<u64>> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let count = ops.len();
        let mut buf = Vec::new();
        let mut planned = Vec::with_capacity(count);
        for (i, (key, op, at)) in ops.iter().enumerate() {
            let line = LineRef {
                seq: self.next_seq + i as u64,
                key,
                op: *op,
                at: *at,
                local,
                end: i + 1 == count,
            };
            let offset = self.len + buf.len() as u64;
            serde_json::to_writer(&mut buf, &line).map_err(|e| encode_error(&self.path, e))?;
            let len = (self.len + buf.len() as u64 - offset) as u32;
            buf.push(b'\n');
            planned.push((line.seq, offset, len));
        }
        self.len = append_durably(&mut self.append, self.len, &self.path, &buf)?;
        self.next_seq += count as u64;
        let mut seqs = Vec::with_capacity(count);
        for ((key, op, _), (seq, offset, len)) in ops.iter().zip(planned) {
            let slot = Slot {
                offset,
                len,
                seq,
                live: matches!(op, OpRef::Upsert { .. }),
            };
            let key = CompactKey::pack(key);
            if local {
                if let Some(old) = self.feed_by_key.insert(key.clone(), seq) {
                    self.feed.remove(&old);
                }
                self.feed.insert(seq, slot);
            }
            self.index.insert(key, slot);
            self.lines += 1;
            seqs.push(seq);
        }
        Ok(seqs)
    }

    /// The live record of `key`, if any.
    pub(crate) fn get(&mut self, key: &str) -> StoreResult<Option<LocalRecord>> {
        let Some(slot) = self.index.get(&KeyRef::of(key)).copied().filter(|s| s.live) else {
            return Ok(None);
        };
        let line = self.read_line(slot)?;
        Ok(match line.op {
            Op::Upsert { data } => Some(LocalRecord {
                key: line.key,
                data,
                updated_at: line.at,
            }),
            Op::Delete | Op::Tombstone => None,
        })
    }

    /// Whether `key`'s latest line is a tombstone.
    pub(crate) fn is_tombstoned(&mut self, key: &str) -> StoreResult<bool> {
        let Some(slot) = self
            .index
            .get(&KeyRef::of(key))
            .copied()
            .filter(|s| !s.live)
        else {
            return Ok(false);
        };
        Ok(matches!(self.read_line(slot)?.op, Op::Tombstone))
    }

    /// All live keys, sorted.
    pub(crate) fn live_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .index
            .iter()
            .filter(|(_, s)| s.live)
            .map(|(k, _)| k.unpack().into_owned())
            .collect();
        keys.sort();
        keys
    }

    /// Up to `limit` feed entries after sequence `after`.
    pub(crate) fn feed_page(&mut self, after: u64, limit: usize) -> StoreResult<Vec<LocalChange>> {
        let slots: Vec<Slot> = self
            .feed
            .range(after + 1..)
            .take(limit)
            .map(|(_, s)| *s)
            .collect();
        let mut out = Vec::with_capacity(slots.len());
        for slot in slots {
            let line = self.read_line(slot)?;
            let kind = match line.op {
                Op::Upsert { data } => LocalChangeKind::Upsert { data },
                Op::Delete | Op::Tombstone => LocalChangeKind::Delete,
            };
            out.push(LocalChange {
                key: line.key,
                kind,
                updated_at: line.at,
                checkpoint: Checkpoint::new(slot.seq.to_string()),
            });
        }
        Ok(out)
    }

    /// The sequence of the newest feed entry.
    pub(crate) fn head(&self) -> Option<u64> {
        self.feed.last_key_value().map(|(s, _)| *s)
    }

    /// Number of lines in the log (live and dead), for tests and compaction decisions.
    pub(crate) fn line_count(&self) -> u64 {
        self.lines
    }
}

fn encode_error(path: &Path, err: serde_json::Error) -> StoreError {
    StoreError::new(
        StoreErrorKind::Invalid,
        "a record could not be encoded as JSON",
    )
    .with_context("path", path.display().to_string())
    .with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn a_borrowed_line_is_written_exactly_as_the_owned_line_reads_back() {
        let data = json!({"email": "ada@example.com", "tags": ["a", "b"]});
        let at = Utc.timestamp_millis_opt(1_700_000_000_123).single();
        for (op, op_ref) in [
            (
                Op::Upsert { data: data.clone() },
                OpRef::Upsert { data: &data },
            ),
            (Op::Delete, OpRef::Delete),
            (Op::Tombstone, OpRef::Tombstone),
        ] {
            let owned = Line {
                seq: 7,
                key: "p-1".into(),
                op,
                at,
                local: true,
                end: true,
            };
            let borrowed = LineRef {
                seq: 7,
                key: "p-1",
                op: op_ref,
                at,
                local: true,
                end: true,
            };
            let written = serde_json::to_string(&borrowed).expect("encodes");
            assert_eq!(written, serde_json::to_string(&owned).expect("encodes"));
            let back: Line = serde_json::from_str(&written).expect("decodes");
            assert_eq!(back.op, owned.op);
        }
    }
}
