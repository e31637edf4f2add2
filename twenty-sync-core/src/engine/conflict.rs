//! Conflict resolution: which side's value each field takes when both sides changed a record.
//!
//! Rules, field by field (local shape), for the fields whose values differ:
//! 1. With the values both sides last agreed on ([`AgreedFields`], kept by sync runs), a field
//!    changed on one side only takes that side's value: a three-way merge, in which a local
//!    change to one field and a change in Twenty to another both survive. Only a field changed
//!    on both sides (or one without agreed values: a record no sync run has written, or written
//!    under another mapping) is a conflict, settled by the next two rules.
//! 2. Ownership first: a field owned by `Local` keeps the local value, one owned by `Twenty`
//!    takes Twenty's value, whatever the policy (and whichever side changed it).
//! 3. Otherwise the field's policy (or the entity's): `LocalWins`, `TwentyWins`, or `NewestWins`,
//!    which compares the local record's `updated_at` with Twenty's `updatedAt`; **Twenty wins
//!    ties and unknown timestamps** (Twenty's clock is the one both sides can see). The engine
//!    moves Twenty's `updatedAt` onto this host's clock before it compares (`engine::clock`):
//!    the local side's clock is taken to be this host's.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::agreed::AgreedFields;
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
    /// The fields in conflict (local path), settled by ownership or the policy: which side won.
    pub fields: Vec<(String, Winner)>,
    /// The differing fields changed on one side only since both last agreed (known from
    /// [`AgreedFields`]): the side that changed each, whose value the merge took.
    pub one_sided: Vec<(String, Winner)>,
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

    /// Whether any field was in conflict (changed on both sides, or not known to be changed on
    /// one side only). A resolution without one is a clean merge.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::engine::{merge, AgreedFields, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person").field("title", "jobTitle").field("city", "city");
    /// let agreed = AgreedFields::of(&map, &json!({"title": "CEO", "city": "Oslo"}));
    /// let local = json!({"title": "CTO", "city": "Oslo"}); // title changed here
    /// let twenty = json!({"title": "CEO", "city": "Bergen"}); // city changed there
    /// assert!(!merge(&map, Some(&agreed), &local, &twenty, None, None).is_conflict());
    /// ```
    pub fn is_conflict(&self) -> bool {
        !self.fields.is_empty()
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
    ///
    /// Fields changed on one side only follow, e.g. `city: changed in twenty only`.
    pub fn describe(&self) -> String {
        let side = |w: &Winner| match w {
            Winner::Local => "local",
            Winner::Twenty => "twenty",
        };
        let settled = self
            .fields
            .iter()
            .map(|(f, w)| format!("{f}: {} wins", side(w)));
        let one_sided = self
            .one_sided
            .iter()
            .map(|(f, w)| format!("{f}: changed in {} only", side(w)));
        settled.chain(one_sided).collect::<Vec<_>>().join(", ")
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

/// Merges the current local record with Twenty's mapped record (local shape), field by field,
/// without the values both last agreed on: every differing field is a conflict. See [`merge`].
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
    merge(mapper, None, local, twenty_mapped, local_at, twenty_at)
}

/// Merges the current local record with Twenty's mapped record (local shape), field by field:
/// a three-way merge when `agreed` holds the values both sides last agreed on (see the module's
/// rules), else a two-way one in which every differing field is a conflict.
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::engine::{merge, AgreedFields, ConflictPolicy, FieldMap, Winner};
/// # let at = |h: u32| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 1, 1, h, 0, 0).single();
///
/// let map = FieldMap::new("contacts", "people", "person")
///     .field("title", "jobTitle")
///     .field("city", "city")
///     .field("phone", "phone")
///     .on_conflict(ConflictPolicy::NewestWins);
/// let agreed = AgreedFields::of(&map, &json!({"title": "CEO", "city": "Oslo", "phone": "1"}));
/// let local = json!({"title": "CTO", "city": "Oslo", "phone": "2"});
/// let twenty = json!({"title": "CEO", "city": "Bergen", "phone": "3"});
/// // Twenty changed last, but only `phone` changed on both sides.
/// let r = merge(&map, Some(&agreed), &local, &twenty, at(9), at(10));
/// assert_eq!(r.merged, json!({"title": "CTO", "city": "Bergen", "phone": "3"}));
/// assert_eq!(r.fields, vec![("phone".to_string(), Winner::Twenty)]);
/// assert_eq!(r.describe(), "phone: twenty wins, title: changed in local only, city: changed in twenty only");
/// ```
pub fn merge(
    mapper: &dyn EntityMapper,
    agreed: Option<&AgreedFields>,
    local: &Value,
    twenty_mapped: &Value,
    local_at: Option<DateTime<Utc>>,
    twenty_at: Option<DateTime<Utc>>,
) -> Resolution {
    let mut merged = local.clone();
    let mut fields = Vec::new();
    let mut one_sided = Vec::new();
    for (i, f) in mapper.fields().iter().enumerate() {
        let lv = get_path(local, &f.local_path);
        let tv = get_path(twenty_mapped, &f.local_path);
        // Absent and null are the same value (a mapping leaves Twenty's nulls out; a table
        // reads an empty column as null): no difference, no conflict.
        if present(lv) == present(tv) {
            continue;
        }
        let changed_by = agreed.and_then(|a| {
            match (a.value_changed(i, lv), a.value_changed(i, tv)) {
                (true, false) => Some(Winner::Local),
                (false, true) => Some(Winner::Twenty),
                // Both changed (or neither, as far as 64-bit hashes tell): a conflict.
                _ => None,
            }
        });
        let policy = f.conflict_policy.unwrap_or(mapper.conflict_policy());
        let w = field_winner(f.owner, policy, local_at, twenty_at);
        let w = match changed_by {
            // Changed on one side only: that side's value, unless the field is the other
            // side's to write (then ownership overrides the change, a conflict).
            Some(side) if f.owner == FieldOwner::Both || side == w => {
                one_sided.push((f.local_path.clone(), side));
                side
            }
            _ => {
                fields.push((f.local_path.clone(), w));
                w
            }
        };
        if w == Winner::Twenty {
            set_path(
                &mut merged,
                &f.local_path,
                tv.cloned().unwrap_or(Value::Null),
            );
        }
    }
    Resolution {
        merged,
        fields,
        one_sided,
    }
}

/// `v` unless it is `null`.
fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
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

    fn three() -> FieldMap {
        FieldMap::new("c", "people", "person")
            .field("a", "a")
            .field("b", "b")
            .owned_field("own", "own", FieldOwner::Local)
            .owned_field("theirs", "theirs", FieldOwner::Twenty)
            .on_conflict(ConflictPolicy::TwentyWins)
    }

    #[test]
    fn a_three_way_merge_keeps_each_sides_own_changes() {
        let m = three();
        let agreed = AgreedFields::of(&m, &json!({"a": 1, "b": 1, "own": 1, "theirs": 1}));
        // a: local only; b: Twenty only; own: Local-owned, changed locally; theirs: Twenty-owned,
        // changed in Twenty.
        let local = json!({"a": 2, "b": 1, "own": 2, "theirs": 1, "x": "kept"});
        let twenty = json!({"a": 1, "b": 3, "own": 1, "theirs": 3});
        let r = merge(&m, Some(&agreed), &local, &twenty, at(2), at(1));
        assert_eq!(
            r.merged,
            json!({"a": 2, "b": 3, "own": 2, "theirs": 3, "x": "kept"})
        );
        assert!(!r.is_conflict(), "{r:?}");
        assert_eq!(
            r.one_sided,
            vec![
                ("a".into(), Winner::Local),
                ("b".into(), Winner::Twenty),
                ("own".into(), Winner::Local),
                ("theirs".into(), Winner::Twenty),
            ]
        );
        // Without the agreed values, the policy (Twenty wins) takes every differing field.
        let two_way = merge(&m, None, &local, &twenty, at(2), at(1));
        assert_eq!(
            two_way.merged,
            json!({"a": 1, "b": 3, "own": 2, "theirs": 3, "x": "kept"})
        );
        assert_eq!(two_way.fields.len(), 4);
        assert!(two_way.one_sided.is_empty());
    }

    #[test]
    fn ownership_overrides_a_change_by_the_other_side_and_both_sides_changes_are_conflicts() {
        let m = three();
        let agreed = AgreedFields::of(&m, &json!({"a": 1, "b": 1, "own": 1, "theirs": 1}));
        // own: changed in Twenty only (not Twenty's to write); theirs: changed locally only;
        // a: changed on both sides.
        let local = json!({"a": 2, "b": 1, "own": 1, "theirs": 2});
        let twenty = json!({"a": 3, "b": 1, "own": 3, "theirs": 1});
        let r = merge(&m, Some(&agreed), &local, &twenty, None, None);
        assert_eq!(r.merged, json!({"a": 3, "b": 1, "own": 1, "theirs": 1}));
        assert_eq!(
            r.fields,
            vec![
                ("a".into(), Winner::Twenty),
                ("own".into(), Winner::Local),
                ("theirs".into(), Winner::Twenty),
            ]
        );
        assert!(r.one_sided.is_empty());
    }

    #[test]
    fn absent_and_null_are_the_same_value() {
        let m = three();
        let agreed = AgreedFields::of(&m, &json!({"a": 1}));
        // A field null on one side and absent on the other differs in neither way.
        for (local, twenty) in [
            (json!({"a": 1, "b": null}), json!({"a": 2})),
            (json!({"a": 1}), json!({"a": 2, "b": null})),
        ] {
            let r = merge(&m, Some(&agreed), &local, &twenty, None, None);
            assert!(!r.is_conflict(), "{r:?}");
            assert_eq!(r.one_sided, vec![("a".into(), Winner::Twenty)]);
            let two_way = resolve(&m, &local, &twenty, None, None);
            assert_eq!(two_way.field_names(), vec!["a".to_string()]);
        }
        // Emptied on one side: a change like any other.
        let r = merge(
            &m,
            Some(&agreed),
            &json!({"a": null}),
            &json!({"a": 1}),
            None,
            None,
        );
        assert_eq!(r.one_sided, vec![("a".into(), Winner::Local)]);
        assert_eq!(r.merged, json!({"a": null}));
    }
}
