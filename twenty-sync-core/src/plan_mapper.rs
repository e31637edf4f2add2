//! Drives the engine from a compiled `twenty-mapping` plan: [`PlanMapper`] adapts an
//! [`EntityPlan`] to the engine's [`EntityMapper`] trait.
//!
//! This is how a mapping *file* (TOML or JSON, no code) becomes a running sync:
//!
//! ```
//! use std::sync::Arc;
//! use twenty_mapping::{compile, MappingFile, TransformRegistry};
//! use twenty_sync_core::engine::EntityMapper;
//! use twenty_sync_core::PlanMapper;
//!
//! let file = MappingFile::from_toml_str(r#"
//! [entities.contacts]
//! twenty_object = "people"
//! local_key = "id"
//! match_keys = ["emails.primaryEmail"]
//!
//! [[entities.contacts.fields]]
//! from = "email"
//! to = "emails.primaryEmail"
//! transforms = ["email"]
//! "#, "contacts.toml").unwrap();
//! let mapping = Arc::new(compile(&file, &TransformRegistry::with_builtins(), None).unwrap());
//! let mappers = PlanMapper::all(&mapping);
//! assert_eq!(mappers[0].name(), "contacts");
//! assert_eq!(mappers[0].twenty_object_singular(), "person");
//! let out = mappers[0].to_twenty(&serde_json::json!({"id": "c1", "email": " Ada@Example.COM "}));
//! assert_eq!(out.value["emails"]["primaryEmail"], "Ada@example.com");
//! assert!(out.errors.is_empty());
//! ```

use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use twenty_mapping::{CompiledMapping, EntityPlan};

use crate::engine::{ConflictPolicy, EntityMapper, FieldError, FieldOwner, FieldSpec, Mapped};

/// An [`EntityMapper`] backed by one entity of a compiled mapping.
///
/// ```
/// # use std::sync::Arc;
/// # use twenty_mapping::{compile, MappingFile, TransformRegistry};
/// # let file = MappingFile::from_toml_str(r#"
/// # [entities.contacts]
/// # twenty_object = "people"
/// # local_key = "id"
/// # [[entities.contacts.fields]]
/// # from = "name"
/// # to = "jobTitle"
/// # [entities.pets]
/// # twenty_object = "pets"
/// # local_key = "id"
/// # [[entities.pets.fields]]
/// # from = "name"
/// # to = "name"
/// # "#, "mapping.toml").unwrap();
/// # let mapping = Arc::new(compile(&file, &TransformRegistry::with_builtins(), None).unwrap());
/// use twenty_sync_core::engine::EntityMapper;
/// use twenty_sync_core::PlanMapper;
///
/// let contacts = PlanMapper::new(Arc::clone(&mapping), "contacts").unwrap();
/// assert_eq!(contacts.twenty_object(), "people");
/// let local = contacts.to_local(&serde_json::json!({"id": "tw-1", "jobTitle": "CTO"}));
/// assert_eq!(local.value["name"], "CTO");
/// ```
#[derive(Clone)]
pub struct PlanMapper {
    mapping: Arc<CompiledMapping>,
    entity: String,
    singular: String,
    fields: Vec<FieldSpec>,
}

impl fmt::Debug for PlanMapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlanMapper")
            .field("entity", &self.entity)
            .field("twenty_object", &self.plan().twenty_object())
            .finish()
    }
}

impl PlanMapper {
    /// The mapper of entity `name`, or `None` if the mapping has no such entity.
    ///
    /// The singular object name (used to route webhook events) is known for Twenty's standard
    /// objects; for custom objects it is guessed from the plural (`pets` → `pet`) unless given with
    /// [`with_singular`](Self::with_singular).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # [[entities.contacts.fields]]
    /// # from = "name"
    /// # to = "jobTitle"
    /// # [entities.pets]
    /// # twenty_object = "pets"
    /// # local_key = "id"
    /// # [[entities.pets.fields]]
    /// # from = "name"
    /// # to = "name"
    /// # "#, "mapping.toml").unwrap();
    /// # let mapping = Arc::new(compile(&file, &TransformRegistry::with_builtins(), None).unwrap());
    /// use twenty_sync_core::engine::EntityMapper;
    /// use twenty_sync_core::PlanMapper;
    ///
    /// let pets = PlanMapper::new(Arc::clone(&mapping), "pets").unwrap();
    /// assert_eq!(pets.twenty_object_singular(), "pet"); // guessed from "pets"
    /// assert!(PlanMapper::new(mapping, "invoices").is_none());
    /// ```
    pub fn new(mapping: Arc<CompiledMapping>, name: &str) -> Option<Self> {
        let plan = mapping.entity(name)?;
        let singular = singular_of(plan.twenty_object());
        let fields = plan
            .fields()
            .iter()
            .filter_map(|f| {
                Some(FieldSpec {
                    local_path: f.local_path().to_owned(),
                    twenty_path: f.twenty_path().to_owned(),
                    owner: effective_owner(plan, f)?,
                    conflict_policy: f.conflict_policy(),
                })
            })
            .collect();
        Some(PlanMapper {
            entity: name.to_owned(),
            singular,
            fields,
            mapping,
        })
    }

    /// One mapper per entity of the mapping, in the mapping's order.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # [[entities.contacts.fields]]
    /// # from = "name"
    /// # to = "jobTitle"
    /// # [entities.pets]
    /// # twenty_object = "pets"
    /// # local_key = "id"
    /// # [[entities.pets.fields]]
    /// # from = "name"
    /// # to = "name"
    /// # "#, "mapping.toml").unwrap();
    /// # let mapping = Arc::new(compile(&file, &TransformRegistry::with_builtins(), None).unwrap());
    /// use twenty_sync_core::engine::EntityMapper;
    /// use twenty_sync_core::PlanMapper;
    ///
    /// let names: Vec<String> = PlanMapper::all(&mapping).iter().map(|m| m.name().to_owned()).collect();
    /// assert_eq!(names, ["contacts", "pets"]);
    /// ```
    pub fn all(mapping: &Arc<CompiledMapping>) -> Vec<PlanMapper> {
        mapping
            .entities()
            .filter_map(|e| PlanMapper::new(Arc::clone(mapping), e.name()))
            .collect()
    }

    /// Overrides the singular object name (custom objects whose plural is irregular).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// # let file = MappingFile::from_toml_str(r#"
    /// # [entities.contacts]
    /// # twenty_object = "people"
    /// # local_key = "id"
    /// # [[entities.contacts.fields]]
    /// # from = "name"
    /// # to = "jobTitle"
    /// # [entities.pets]
    /// # twenty_object = "geese"
    /// # local_key = "id"
    /// # [[entities.pets.fields]]
    /// # from = "name"
    /// # to = "name"
    /// # "#, "mapping.toml").unwrap();
    /// # let mapping = Arc::new(compile(&file, &TransformRegistry::with_builtins(), None).unwrap());
    /// use twenty_sync_core::engine::EntityMapper;
    /// use twenty_sync_core::PlanMapper;
    ///
    /// let geese = PlanMapper::new(mapping, "pets").unwrap();
    /// assert_eq!(geese.twenty_object_singular(), "geese"); // no plain "s" to drop
    /// let geese = geese.with_singular("goose");
    /// assert_eq!(geese.twenty_object_singular(), "goose");
    /// ```
    pub fn with_singular(mut self, singular: impl Into<String>) -> Self {
        self.singular = singular.into();
        self
    }

    fn plan(&self) -> &EntityPlan {
        self.mapping
            .entity(&self.entity)
            .expect("PlanMapper is only built for an entity the mapping has")
    }
}

/// Singular names of Twenty's standard objects; a plain `s` is dropped otherwise.
fn singular_of(plural: &str) -> String {
    match plural {
        "people" => "person".into(),
        "companies" => "company".into(),
        "opportunities" => "opportunity".into(),
        "noteTargets" => "noteTarget".into(),
        "taskTargets" => "taskTarget".into(),
        "workspaceMembers" => "workspaceMember".into(),
        "timelineActivities" => "timelineActivity".into(),
        other => other.strip_suffix('s').unwrap_or(other).to_owned(),
    }
}

fn convert(mapped: twenty_mapping::Mapped) -> Mapped {
    Mapped {
        value: mapped.record,
        errors: mapped
            .errors
            .into_iter()
            .map(|e| FieldError {
                reason: format!("{} (rule {})", e.reason, e.rule),
                field: e.field,
            })
            .collect(),
    }
}

impl EntityMapper for PlanMapper {
    fn name(&self) -> &str {
        &self.entity
    }
    fn twenty_object(&self) -> &str {
        self.plan().twenty_object()
    }
    fn twenty_object_singular(&self) -> &str {
        &self.singular
    }
    fn match_keys(&self) -> &[String] {
        self.plan().match_keys()
    }
    fn conflict_policy(&self) -> ConflictPolicy {
        self.plan().conflict_policy()
    }
    fn fields(&self) -> &[FieldSpec] {
        &self.fields
    }
    fn to_twenty(&self, local: &Value) -> Mapped {
        convert(self.plan().to_twenty(local))
    }
    fn to_local(&self, twenty: &Value) -> Mapped {
        convert(self.plan().to_local(twenty))
    }
    fn local_key_of(&self, local: &Value) -> Option<String> {
        self.plan().local_key_of(local)
    }
    fn twenty_fields_read(&self) -> Option<Vec<String>> {
        // Every rule reads its own Twenty path and nothing else.
        let plan = self.plan();
        Some(crate::engine::top_level_fields(
            plan.fields()
                .iter()
                .map(|f| f.twenty_path())
                .chain(plan.match_keys().iter().map(String::as_str)),
        ))
    }
}

/// The owner the engine uses for `f`: a field only one direction writes (its `direction`, or an
/// allowlist) belongs to that side whatever its `owner` says, so that the other side's view
/// leaves it out (a push never "clears" a pull-only field in Twenty because the local mapping
/// does not produce it). `None`: neither direction writes it.
fn effective_owner(plan: &EntityPlan, f: &twenty_mapping::FieldPlan) -> Option<FieldOwner> {
    match (plan.pushes(f), plan.pulls(f)) {
        (true, true) => Some(f.owner()),
        (true, false) => Some(FieldOwner::Local),
        (false, true) => Some(FieldOwner::Twenty),
        (false, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::singular_of;

    #[test]
    fn singular_names_of_standard_and_custom_objects() {
        assert_eq!(singular_of("people"), "person");
        assert_eq!(singular_of("companies"), "company");
        assert_eq!(singular_of("pets"), "pet");
        assert_eq!(singular_of("fish"), "fish");
    }
}
