//! The plan of a run: every write it makes (or, in a dry run, would make).
//!
//! A real run records its writes into the same [`Plan`] a dry run produces, so the two can be
//! compared: a dry run predicts a real run exactly when their plans are equal. A real run counts
//! its writes but keeps them one by one only when asked
//! ([`RunOptions::keep_plan`](super::RunOptions::keep_plan)), so its memory stays flat.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::SyncDirection;

use super::mapper::get_path;
use super::views::is_empty_value;

/// The kind of a planned write.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use std::sync::Arc;
/// # use twenty_sync_core::engine::*;
/// # use twenty_sync_core::memory::{MemorySource, MemoryState};
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(0)).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
/// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
/// #     .match_key("emails.primaryEmail");
/// use twenty_sync_core::RunMode;
///
/// sim.handle().insert_record("people", serde_json::json!({"emails": {"primaryEmail": "ada@example.com"}}));
/// let source = MemorySource::new();
/// source.upsert("contacts", "c1", serde_json::json!({"email": "ada@example.com"}));
/// source.upsert("contacts", "c2", serde_json::json!({"email": "grace@example.com"}));
/// let engine = SyncEngine::builder(client, source, MemoryState::new()).entity(Arc::new(contacts)).build()?;
/// let plan = engine.run(RunMode::Push, RunOptions::new().dry_run(true)).await?.plan;
/// assert_eq!(plan.count(PlannedAction::Adopt), 1); // ada exists in Twenty already
/// assert_eq!(plan.count(PlannedAction::Create), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlannedAction {
    /// A new record on the target side.
    Create,
    /// Changed fields of an existing record.
    Update,
    /// A deletion (soft delete, destroy, tombstone or local delete).
    Delete,
    /// An existing Twenty record matched by natural key and linked to a local record.
    Adopt,
    /// A record changed on both sides; resolved field by field.
    Conflict,
}

/// One planned write.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use std::sync::Arc;
/// # use twenty_sync_core::engine::*;
/// # use twenty_sync_core::memory::{MemorySource, MemoryState};
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(0)).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
/// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
/// #     .match_key("emails.primaryEmail");
/// use serde_json::json;
/// use twenty_sync_core::{RunMode, SyncDirection};
///
/// let source = MemorySource::new();
/// source.upsert("contacts", "c1", json!({"email": "ada@example.com", "title": "CTO"}));
/// let engine = SyncEngine::builder(client, source.clone(), MemoryState::new()).entity(Arc::new(contacts)).build()?;
/// engine.push(RunOptions::new()).await?;
/// source.upsert("contacts", "c1", json!({"email": "ada@example.com", "title": "CEO"}));
///
/// let plan = engine.run(RunMode::Push, RunOptions::new().dry_run(true)).await?.plan;
/// let w = &plan.writes[0];
/// assert_eq!((w.direction, w.action), (SyncDirection::Push, PlannedAction::Update));
/// assert_eq!(w.local_key, "c1");
/// assert!(w.twenty_id.is_some());
/// assert_eq!(w.changed_fields, ["jobTitle"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PlannedWrite {
    /// The entity.
    pub entity: String,
    /// Where the write goes: `Pull` writes locally, `Push` writes to Twenty.
    pub direction: SyncDirection,
    /// What happens.
    pub action: PlannedAction,
    /// The local key.
    pub local_key: String,
    /// The Twenty id, when known before the write.
    pub twenty_id: Option<String>,
    /// Names of the fields that change (target-side paths), sorted.
    pub changed_fields: Vec<String>,
}

/// How many writes of one action a run made (or planned) for one entity and direction.
///
/// ```
/// use twenty_sync_core::engine::{Plan, PlanTotal, PlannedAction, PlannedWrite};
/// use twenty_sync_core::SyncDirection;
///
/// let write = PlannedWrite { entity: "contacts".into(), direction: SyncDirection::Pull,
///     action: PlannedAction::Update, local_key: "c1".into(), twenty_id: None, changed_fields: vec![] };
/// let mut plan = Plan::default();
/// plan.record(write.clone(), false);
/// plan.record(write, false);
/// let total: &PlanTotal = &plan.totals[0];
/// assert_eq!((total.entity.as_str(), total.action, total.writes), ("contacts", PlannedAction::Update, 2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PlanTotal {
    /// The entity.
    pub entity: String,
    /// Where the writes go.
    pub direction: SyncDirection,
    /// What they do.
    pub action: PlannedAction,
    /// How many.
    pub writes: u64,
}

/// The writes of a run: their counts always, and each write when it is kept.
///
/// A dry run keeps every write (the plan is its result). A real run keeps only
/// [`totals`](Self::totals) unless it was asked to keep the writes with
/// [`RunOptions::keep_plan`](super::RunOptions::keep_plan): that way its memory does not grow with
/// the number of records it writes. [`count`](Self::count) and [`is_empty`](Self::is_empty)
/// answer from the totals, so they hold in both cases.
///
/// ```
/// # use twenty_sync_core::engine::{Plan, PlannedAction, PlannedWrite};
/// # use twenty_sync_core::SyncDirection;
/// # let write = |key: &str, action| PlannedWrite { entity: "contacts".into(), direction: SyncDirection::Push,
/// #     action, local_key: key.into(), twenty_id: None, changed_fields: vec![] };
/// let mut plan = Plan::default();
/// plan.record(write("c1", PlannedAction::Create), true);
/// plan.record(write("c2", PlannedAction::Update), false); // counted, not kept
/// assert_eq!(plan.writes.len(), 1);
/// assert_eq!(plan.totals.len(), 2);
/// assert_eq!(plan.count(PlannedAction::Update), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The writes, in the order they were decided (empty in a real run that did not keep them).
    pub writes: Vec<PlannedWrite>,
    /// Counts per entity, direction and action, sorted, kept in every run.
    #[serde(default)]
    pub totals: Vec<PlanTotal>,
}

impl Plan {
    /// Counts `write`, and keeps it when `keep`.
    ///
    /// ```
    /// # use twenty_sync_core::engine::{Plan, PlannedAction, PlannedWrite};
    /// # use twenty_sync_core::SyncDirection;
    /// # let write = |key: &str, action| PlannedWrite { entity: "contacts".into(), direction: SyncDirection::Push,
    /// #     action, local_key: key.into(), twenty_id: None, changed_fields: vec![] };
    /// let mut plan = Plan::default();
    /// for key in ["c1", "c2", "c3"] {
    ///     plan.record(write(key, PlannedAction::Create), false);
    /// }
    /// assert!(plan.writes.is_empty()); // memory stays flat
    /// assert_eq!(plan.totals[0].writes, 3);
    /// ```
    pub fn record(&mut self, write: PlannedWrite, keep: bool) {
        self.tally(&write.entity, write.direction, write.action);
        if keep {
            self.writes.push(write);
        }
    }

    /// Counts one write of `action` on `entity` in the totals, without keeping it (no
    /// [`PlannedWrite`] needs to be built).
    pub(crate) fn tally(&mut self, entity: &str, direction: SyncDirection, action: PlannedAction) {
        let key = (entity, direction, action);
        match self
            .totals
            .binary_search_by(|t| (t.entity.as_str(), t.direction, t.action).cmp(&key))
        {
            Ok(i) => self.totals[i].writes += 1,
            Err(i) => self.totals.insert(
                i,
                PlanTotal {
                    entity: entity.to_owned(),
                    direction,
                    action,
                    writes: 1,
                },
            ),
        }
    }

    /// Number of writes of `action` (from the totals: right whether the writes were kept or not).
    ///
    /// ```
    /// # use twenty_sync_core::engine::{Plan, PlannedAction, PlannedWrite};
    /// # use twenty_sync_core::SyncDirection;
    /// # let write = |key: &str, action| PlannedWrite { entity: "contacts".into(), direction: SyncDirection::Push,
    /// #     action, local_key: key.into(), twenty_id: None, changed_fields: vec![] };
    /// let mut plan = Plan::default();
    /// plan.record(write("c1", PlannedAction::Create), true);
    /// plan.record(write("c2", PlannedAction::Create), false);
    /// assert_eq!(plan.count(PlannedAction::Create), 2); // kept or not
    /// assert_eq!(plan.count(PlannedAction::Delete), 0);
    /// ```
    pub fn count(&self, action: PlannedAction) -> usize {
        let n: u64 = self
            .totals
            .iter()
            .filter(|t| t.action == action)
            .map(|t| t.writes)
            .sum();
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    /// The kept writes sorted canonically (for comparing a dry run with a real run that kept
    /// its plan).
    ///
    /// ```
    /// # use twenty_sync_core::engine::{Plan, PlannedAction, PlannedWrite};
    /// # use twenty_sync_core::SyncDirection;
    /// # let write = |key: &str, action| PlannedWrite { entity: "contacts".into(), direction: SyncDirection::Push,
    /// #     action, local_key: key.into(), twenty_id: None, changed_fields: vec![] };
    /// let (mut a, mut b) = (Plan::default(), Plan::default());
    /// a.record(write("c1", PlannedAction::Create), true);
    /// a.record(write("c2", PlannedAction::Create), true);
    /// b.record(write("c2", PlannedAction::Create), true);
    /// b.record(write("c1", PlannedAction::Create), true);
    /// assert_ne!(a, b); // decided in another order ...
    /// assert_eq!(a.sorted(), b.sorted()); // ... but the same writes
    /// ```
    pub fn sorted(&self) -> Vec<PlannedWrite> {
        let mut w = self.writes.clone();
        w.sort();
        w
    }

    /// Whether nothing would be written (from the totals).
    ///
    /// ```
    /// # use twenty_sync_core::engine::{Plan, PlannedAction, PlannedWrite};
    /// # use twenty_sync_core::SyncDirection;
    /// # let write = |key: &str, action| PlannedWrite { entity: "contacts".into(), direction: SyncDirection::Push,
    /// #     action, local_key: key.into(), twenty_id: None, changed_fields: vec![] };
    /// let mut plan = Plan::default();
    /// assert!(plan.is_empty());
    /// plan.record(write("c1", PlannedAction::Delete), false);
    /// assert!(!plan.is_empty()); // even though no write was kept
    /// ```
    pub fn is_empty(&self) -> bool {
        self.totals.is_empty()
    }
}

/// The leaf paths whose values differ between `before` and `after` (`after`'s paths and
/// `before`'s paths both count), sorted. Values are compared, never returned. An empty leaf
/// (`null`, `""`, `[]`, `{}`) equals an absent one.
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::engine::field_diff;
/// let d = field_diff(&json!({"a": 1, "n": {"x": 1, "y": 2}}), &json!({"a": 1, "n": {"x": 9, "y": 2}, "b": 3}));
/// assert_eq!(d, vec!["b".to_string(), "n.x".to_string()]);
/// ```
pub fn field_diff(before: &Value, after: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    leaves(after, "", &mut paths);
    leaves(before, "", &mut paths);
    paths.sort();
    paths.dedup();
    // An empty leaf (`null`, `""`, `[]`, `{}`) and an absent one mean the same ("no value"):
    // Twenty answers them for composite sub-fields a mapping never sets (`primaryLinkUrl: ""`,
    // `additionalEmails: []`) and stores a TEXT `""` as null, so they are not changes (and are
    // not patched to null).
    fn value<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
        get_path(v, path).filter(|x| !is_empty_value(x))
    }
    paths.retain(|p| value(before, p) != value(after, p));
    paths
}

fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(child, &p, out);
            }
        }
        _ if !prefix.is_empty() => out.push(prefix.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_of_equal_values_is_empty() {
        let v = json!({"a": {"b": [1, 2]}, "c": null});
        assert!(field_diff(&v, &v).is_empty());
    }

    #[test]
    fn null_and_absent_leaves_are_the_same() {
        let twenty = json!({"name": "Acme", "address": {"addressLat": null, "addressCity": null}});
        let mapped = json!({"name": "Acme Ltd", "address": {"addressCity": null}});
        assert_eq!(field_diff(&twenty, &mapped), vec!["name".to_string()]);
        assert_eq!(
            field_diff(&json!({"a": 1}), &json!({"a": null})),
            vec!["a".to_string()]
        );
    }

    #[test]
    fn empty_strings_arrays_and_objects_equal_absent_leaves() {
        // What Twenty answers for a LINKS / EMAILS composite the mapping only partly sets.
        let twenty = json!({"name": "Acme", "linkedinLink": {"primaryLinkUrl": "", "secondaryLinks": []},
                            "emails": {"primaryEmail": "a@b.co", "additionalEmails": []}, "extra": {}});
        let mapped = json!({"name": "Acme", "emails": {"primaryEmail": "a@b.co"}});
        assert!(field_diff(&twenty, &mapped).is_empty());
        assert!(field_diff(&mapped, &twenty).is_empty());
        // Clearing a value is still a change, whichever way the local side says "empty".
        let before = json!({"jobTitle": "CTO", "tags": ["a"]});
        assert_eq!(
            field_diff(&before, &json!({"jobTitle": "", "tags": []})),
            vec!["jobTitle".to_string(), "tags".to_string()]
        );
        assert_eq!(
            field_diff(&before, &json!({})),
            vec!["jobTitle".to_string(), "tags".to_string()]
        );
    }

    #[test]
    fn diff_lists_removed_and_added_leaves() {
        let d = field_diff(&json!({"a": 1, "gone": 2}), &json!({"a": 1, "new": 3}));
        assert_eq!(d, vec!["gone".to_string(), "new".to_string()]);
    }

    #[test]
    fn sorted_plans_compare_independently_of_order() {
        let w = |k: &str| PlannedWrite {
            entity: "e".into(),
            direction: SyncDirection::Push,
            action: PlannedAction::Create,
            local_key: k.into(),
            twenty_id: None,
            changed_fields: vec![],
        };
        let mut a = Plan::default();
        a.record(w("1"), true);
        a.record(w("2"), true);
        let mut b = Plan::default();
        b.record(w("2"), true);
        b.record(w("1"), true);
        assert_ne!(a, b);
        assert_eq!(a.sorted(), b.sorted());
        assert_eq!(a.count(PlannedAction::Create), 2);
    }

    #[test]
    fn a_plan_that_keeps_no_writes_still_counts_them() {
        let w = |k: &str, action| PlannedWrite {
            entity: "e".into(),
            direction: SyncDirection::Push,
            action,
            local_key: k.into(),
            twenty_id: None,
            changed_fields: vec![],
        };
        let mut kept = Plan::default();
        let mut counted = Plan::default();
        assert!(counted.is_empty());
        for (k, a) in [
            ("1", PlannedAction::Create),
            ("2", PlannedAction::Update),
            ("3", PlannedAction::Create),
        ] {
            kept.record(w(k, a), true);
            counted.record(w(k, a), false);
        }
        assert!(counted.writes.is_empty());
        assert!(!counted.is_empty());
        assert_eq!(counted.totals, kept.totals);
        assert_eq!(counted.count(PlannedAction::Create), 2);
        assert_eq!(counted.count(PlannedAction::Update), 1);
        assert_eq!(counted.count(PlannedAction::Delete), 0);
    }
}
