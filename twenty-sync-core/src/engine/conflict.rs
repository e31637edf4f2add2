//! Conflict resolution: which side's value each field takes when both sides changed a record.
//!
//! Rules, field by field (local shape):
//! 1. Ownership first: a field owned by `Local` keeps the local value, one owned by `Twenty`
//!    takes Twenty's value, whatever the policy.
//! 2. Otherwise the field's policy (or the entity's): `LocalWins`, `TwentyWins`, or `NewestWins`,
//!    which compares the local record's `updated_at` with Twenty's `updatedAt`; **Twenty wins
//!    ties and unknown timestamps** (Twenty's clock is the one both sides can see). The engine
//!    moves Twenty's `updatedAt` onto this host's clock before it compares (`engine::clock`):
//!    the local side's clock is taken to be this host's.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::mapper::{ConflictPolicy, EntityMapper, FieldOwner, get_path, set_path};

/// Which side a field's value was taken from.
///
/// ```
/// use twenty_sync_core::engine::{field_winner, ConflictPolicy, FieldOwner, Winner};
/// # let at = |h: u32| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 1, 1, h, 0, 0).single();
///
/// // Changed on both sides, newest wins: the local change is later.
/// let w = field_winner(FieldOwner::Both, ConflictPolicy::NewestWins, at(11), at(10));
/// assert_eq!(w, Winner::Local);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Winner {
    /// The local value was kept.
    Local,
    /// Twenty's value was taken.
    Twenty,
}

/// The outcome of resolving one conflicting record.
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::engine::{resolve, FieldMap, Winner};
/// # let at = |h: u32| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 1, 1, h, 0, 0).single();
///
/// let map = FieldMap::new("contacts", "people", "person").field("title", "jobTitle").field("phone", "phone");
/// let local = json!({"title": "CTO", "phone": "+1 555"});
/// let twenty = json!({"title": "CEO", "phone": "+1 555"});
/// let r = resolve(&map, &local, &twenty, at(9), at(10));
/// assert_eq!(r.merged, json!({"title": "CEO", "phone": "+1 555"}));
/// assert_eq!(r.fields, vec![("title".to_string(), Winner::Twenty)]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// The merged local record.
    pub merged: Value,
    /// Per differing field (local path): which side won.
    pub fields: Vec<(String, Winner)>,
}

impl Resolution {
    /// The local paths of the fields in conflict.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::engine::{resolve, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person").field("title", "jobTitle").field("city", "city");
    /// let r = resolve(&map, &json!({"title": "CTO", "city": "Oslo"}), &json!({"title": "CEO", "city": "Oslo"}), None, None);
    /// assert_eq!(r.field_names(), vec!["title".to_string()]);
    /// ```
    pub fn field_names(&self) -> Vec<String> {
        self.fields.iter().map(|(f, _)| f.clone()).collect()
    }

    /// A one-line account for the audit log, e.g. `title: twenty wins, phone: local wins`.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::engine::{resolve, ConflictPolicy, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person")
    ///     .field("title", "jobTitle")
    ///     .field("phone", "phone")
    ///     .field_policy("phone", ConflictPolicy::LocalWins);
    /// let r = resolve(&map, &json!({"title": "CTO", "phone": "1"}), &json!({"title": "CEO", "phone": "2"}), None, None);
    /// assert_eq!(r.describe(), "title: twenty wins, phone: local wins");
    /// ```
    pub fn describe(&self) -> String {
        self.fields
            .iter()
            .map(|(f, w)| {
                let side = match w {
                    Winner::Local => "local",
                    Winner::Twenty => "twenty",
                };
                format!("{f}: {side} wins")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Decides the winner of one field.
///
/// ```
/// use twenty_sync_core::engine::{field_winner, ConflictPolicy, FieldOwner, Winner};
/// # let at = |h: u32| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 1, 1, h, 0, 0).single();
///
/// // Ownership beats the policy.
/// assert_eq!(field_winner(FieldOwner::Local, ConflictPolicy::TwentyWins, None, None), Winner::Local);
/// // Newest wins; Twenty wins ties and unknown times.
/// let p = ConflictPolicy::NewestWins;
/// assert_eq!(field_winner(FieldOwner::Both, p, at(11), at(10)), Winner::Local);
/// assert_eq!(field_winner(FieldOwner::Both, p, at(10), at(10)), Winner::Twenty);
/// assert_eq!(field_winner(FieldOwner::Both, p, None, at(10)), Winner::Twenty);
/// ```
pub fn field_winner(
    owner: FieldOwner,
    policy: ConflictPolicy,
    local_at: Option<DateTime<Utc>>,
    twenty_at: Option<DateTime<Utc>>,
) -> Winner {
    match owner {
        FieldOwner::Local => return Winner::Local,
        FieldOwner::Twenty => return Winner::Twenty,
        _ => {}
    }
    match policy {
        ConflictPolicy::LocalWins => Winner::Local,
        ConflictPolicy::TwentyWins => Winner::Twenty,
        _ => match (local_at, twenty_at) {
            (Some(l), Some(t)) if l > t => Winner::Local,
            _ => Winner::Twenty,
        },
    }
}

/// Merges the current local record with Twenty's mapped record (local shape), field by field.
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::engine::{resolve, ConflictPolicy, FieldMap, FieldOwner, Winner};
/// # let at = |h: u32| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 1, 1, h, 0, 0).single();
///
/// let map = FieldMap::new("contacts", "people", "person")
///     .field("title", "jobTitle")
///     .owned_field("score", "score", FieldOwner::Local)
///     .on_conflict(ConflictPolicy::NewestWins);
/// let local = json!({"title": "CTO", "score": 7, "notes": "kept"});
/// let twenty = json!({"title": "CEO", "score": 3}); // mapped to the local shape
/// let r = resolve(&map, &local, &twenty, at(9), at(10));
/// // Twenty changed last and wins `title`; `score` is owned locally; unmapped fields stay.
/// assert_eq!(r.merged, json!({"title": "CEO", "score": 7, "notes": "kept"}));
/// assert_eq!(r.fields[1], ("score".to_string(), Winner::Local));
/// ```
pub fn resolve(
    mapper: &dyn EntityMapper,
    local: &Value,
    twenty_mapped: &Value,
    local_at: Option<DateTime<Utc>>,
    twenty_at: Option<DateTime<Utc>>,
) -> Resolution {
    let mut merged = local.clone();
    let mut fields = Vec::new();
    for f in mapper.fields() {
        let lv = get_path(local, &f.local_path);
        let tv = get_path(twenty_mapped, &f.local_path);
        if lv == tv {
            continue;
        }
        let policy = f.conflict_policy.unwrap_or(mapper.conflict_policy());
        let w = field_winner(f.owner, policy, local_at, twenty_at);
        if w == Winner::Twenty {
            set_path(
                &mut merged,
                &f.local_path,
                tv.cloned().unwrap_or(Value::Null),
            );
        }
        fields.push((f.local_path.clone(), w));
    }
    Resolution { merged, fields }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mapper::FieldMap;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(h: u32) -> Option<DateTime<Utc>> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).single()
    }

    #[test]
    fn ownership_beats_policy() {
        assert_eq!(
            field_winner(FieldOwner::Local, ConflictPolicy::TwentyWins, None, None),
            Winner::Local
        );
        assert_eq!(
            field_winner(FieldOwner::Twenty, ConflictPolicy::LocalWins, None, None),
            Winner::Twenty
        );
    }

    #[test]
    fn newest_wins_with_twenty_winning_ties_and_unknowns() {
        let p = ConflictPolicy::NewestWins;
        assert_eq!(
            field_winner(FieldOwner::Both, p, at(2), at(1)),
            Winner::Local
        );
        assert_eq!(
            field_winner(FieldOwner::Both, p, at(1), at(2)),
            Winner::Twenty
        );
        assert_eq!(
            field_winner(FieldOwner::Both, p, at(1), at(1)),
            Winner::Twenty
        );
        assert_eq!(
            field_winner(FieldOwner::Both, p, None, at(1)),
            Winner::Twenty
        );
    }

    #[test]
    fn per_field_policy_overrides_entity_policy() {
        let map = FieldMap::new("c", "people", "person")
            .field("a", "a")
            .field("b", "b")
            .on_conflict(ConflictPolicy::TwentyWins)
            .field_policy("b", ConflictPolicy::LocalWins);
        let r = resolve(
            &map,
            &json!({"a": "la", "b": "lb", "keep": 1}),
            &json!({"a": "ta", "b": "tb"}),
            at(1),
            at(2),
        );
        assert_eq!(r.merged, json!({"a": "ta", "b": "lb", "keep": 1}));
        assert_eq!(
            r.fields,
            vec![("a".into(), Winner::Twenty), ("b".into(), Winner::Local)]
        );
    }
}
