//! A chunk's updates of linked records in batches ([`EngineConfig::batch_writes`]): one
//! `POST /rest/batch/{plural}?upsert=true` of `{id, ...patch}` bodies per `batch_size`. Twenty's
//! upsert matches each body to the record with its id and writes only the fields it carries, as
//! a PATCH does. What a batch does not settle (a lone update, an adoption, an update that gives a
//! match key another value, a record of a rejected batch its halves did not settle, see
//! `isolate`) is left to the one-by-one PATCH in `apply`.
//!
//! [`EngineConfig::batch_writes`]: crate::engine::EngineConfig::batch_writes

use super::isolate::{self, Split, Write};
use super::*;

/// What the batches settled, by Twenty id.
#[derive(Debug, Default)]
pub(super) struct BatchedUpdates {
    /// Written by a batch: the record's `updatedAt` in Twenty's answer.
    pub(super) written: HashMap<String, Option<DateTime<Utc>>>,
    /// Sent in a batch Twenty accepted, but missing from its answer: not known to be written.
    pub(super) unanswered: HashSet<String>,
}

/// `patch` with the record's `id`, the body of one batched update.
fn body(id: &str, patch: &Value) -> Value {
    let mut body = patch.clone();
    if let Value::Object(map) = &mut body {
        map.insert("id".into(), Value::String(id.to_owned()));
    }
    body
}

/// Whether an update that changes the fields at `changed` (leaf paths) from `current` to `new`
/// gives one of `m`'s match keys another value, compared as [`key_values`] normalises them. An
/// upsert matches on unique values as well as on the id, so such a body could meet another
/// record: the batch would be refused (two matches) or, were its own record gone, write to that
/// other one. A value only re-cased or re-spaced names the same record (Twenty lower-cases
/// emails); should Twenty still find another by it, it finds two and refuses the batch, which
/// then goes one record at a time.
pub(super) fn rekeys(
    m: &dyn EntityMapper,
    changed: &[String],
    current: &Value,
    new: &Value,
) -> bool {
    let keys = m.match_keys();
    let changed_keys = |v: &Value| -> Vec<(usize, String)> {
        key_values(m, v)
            .into_iter()
            .filter(|(i, _)| changed.iter().any(|p| *p == keys[*i]))
            .collect()
    };
    changed_keys(current) != changed_keys(new)
}

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    /// Sends the batchable [`Op::Update`]s of `ops` (a patch that gives no match key another
    /// value), when there are at least two, in batches of `batch_size`; a rejected batch is
    /// sent again as its halves (see `isolate`).
    pub(super) async fn send_update_batches(
        &self,
        m: &dyn EntityMapper,
        ops: &[Op],
    ) -> Result<BatchedUpdates, SyncError> {
        let mut out = BatchedUpdates::default();
        if !self.config.batch_writes {
            return Ok(out);
        }
        let bodies: Vec<(&str, Value)> = ops
            .iter()
            .filter_map(|o| match o {
                Op::Update {
                    id,
                    patch: Some(patch),
                    rekeys: false,
                    ..
                } => Some((id.as_str(), body(id, patch))),
                _ => None,
            })
            .collect();
        if bodies.len() < 2 {
            return Ok(out);
        }
        let plural = m.twenty_object();
        let settled = isolate::send_isolating(
            m.name(),
            Write::Update,
            &bodies,
            self.config.batch_size,
            Split::WhileSparse,
            |batch| self.create_batch(plural, batch.iter().map(|(_, body)| body), true),
        )
        .await?;
        for (range, records) in settled.accepted {
            let answered: HashMap<&str, Option<DateTime<Utc>>> = records
                .iter()
                .filter_map(|r| Some((r.id()?, r.updated_at())))
                .collect();
            for (id, _) in &bodies[range] {
                match answered.get(id) {
                    Some(at) => {
                        out.written.insert((*id).to_owned(), *at);
                    }
                    None => {
                        out.unanswered.insert((*id).to_owned());
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::mapper::FieldMap;

    #[test]
    fn a_body_is_the_patch_with_the_records_id() {
        let patch = json!({"jobTitle": "CTO", "name": {"firstName": "Ada", "lastName": "L"}});
        assert_eq!(
            body("p-1", &patch),
            json!({"id": "p-1", "jobTitle": "CTO", "name": {"firstName": "Ada", "lastName": "L"}})
        );
    }

    #[test]
    fn a_new_match_key_value_rekeys_and_a_recased_one_does_not() {
        let m = FieldMap::new("contacts", "people", "person")
            .field("email", "emails.primaryEmail")
            .field("title", "jobTitle")
            .match_key("emails.primaryEmail");
        let current = json!({"emails": {"primaryEmail": "Ada@Example.com"}, "jobTitle": "A"});
        let email = vec!["emails.primaryEmail".to_string()];
        let title = vec!["jobTitle".to_string()];
        let moved = json!({"emails": {"primaryEmail": "ada@elsewhere.example"}, "jobTitle": "A"});
        assert!(rekeys(&m, &email, &current, &moved));
        let recased = json!({"emails": {"primaryEmail": " ada@example.com"}, "jobTitle": "A"});
        assert!(!rekeys(&m, &email, &current, &recased));
        let retitled = json!({"emails": {"primaryEmail": "Ada@Example.com"}, "jobTitle": "B"});
        assert!(!rekeys(&m, &title, &current, &retitled));
        // A match key cleared is another value too.
        let cleared = json!({"emails": {"primaryEmail": ""}, "jobTitle": "A"});
        assert!(rekeys(&m, &email, &current, &cleared));
    }
}
