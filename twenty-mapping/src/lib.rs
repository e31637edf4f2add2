//! Declarative, compiled field mapping and normalisation between local records and Twenty objects.
//!
//! Users describe how their records map to Twenty in a mapping file (TOML or JSON), never in
//! code. This crate turns that file into a validated plan and applies it to records in both
//! directions. It is pure data transformation: `serde_json::Value` in and out, no HTTP, no I/O
//! beyond reading the mapping file it is given.
//!
//! # Design
//!
//! 1. **Parse** ([`MappingFile`]): serde structures; syntax and shape errors carry file, line and
//!    column ([`ConfigError`]).
//! 2. **Compile** ([`compile`]): every rule is checked before any record flows — unknown
//!    transforms and arguments, type mismatches between a pipeline's output and the target field
//!    (from the workspace [`TwentySchema`] when given, otherwise the known standard fields and the
//!    file's own `custom_fields`), unknown targets, duplicate targets, required fields without a
//!    source, one-way transforms in rules that pull. All problems are returned at once
//!    ([`CompileErrors`]), each with its rule path such as `entities.contacts.fields[3].transforms[1]`.
//!    Transforms are built once here: regexes compiled, lookup tables and date formats parsed,
//!    allowlists resolved into per-rule flags.
//! 3. **Apply** ([`EntityPlan::to_twenty`], [`EntityPlan::to_local`]): each rule reads its source,
//!    runs its pipeline (or the inverse pipeline on pull) and writes its target. A failing field
//!    becomes a [`FieldError`] and never aborts the record or the batch. A result's
//!    [`Mapped::content_hash`] (computed when asked for) is a stable [`ContentHash`], so a caller
//!    can skip writes that change nothing.
//!
//! Transforms are plugins: [`Transform`] builds a [`TransformStep`]; applications register their
//! own in a [`TransformRegistry`] and use them by name from the file.
//!
//! ```
//! use serde_json::json;
//! use twenty_mapping::{compile, MappingFile, TransformRegistry};
//!
//! let file = MappingFile::from_toml_str(r#"
//! [entities.contacts]
//! twenty_object = "people"
//! local_key = "id"
//! match_keys = ["emails.primaryEmail"]
//!
//! [[entities.contacts.fields]]
//! from = "full_name"
//! to = "name"
//! transforms = ["collapse_whitespace", "title_case", "split_name"]
//!
//! [[entities.contacts.fields]]
//! from = "email"
//! to = "emails.primaryEmail"
//! transforms = [{ name = "email", lowercase_local = true }]
//!
//! [[entities.contacts.fields]]
//! from = "phone"
//! to = "phones"
//! transforms = [{ name = "phone", default_region = "FR" }]
//! "#, "contacts.toml").unwrap();
//!
//! let mapping = compile(&file, &TransformRegistry::with_builtins(), None).unwrap();
//! let contacts = mapping.entity("contacts").unwrap();
//! let pushed = contacts.to_twenty(&json!({
//!     "id": 7, "full_name": "ada  LOVELACE", "email": "Ada@Example.com", "phone": "06 12 34 56 78"
//! }));
//! assert!(pushed.errors.is_empty());
//! assert_eq!(pushed.record, json!({
//!     "name": {"firstName": "Ada", "lastName": "Lovelace"},
//!     "emails": {"primaryEmail": "ada@example.com"},
//!     "phones": {"primaryPhoneNumber": "612345678", "primaryPhoneCountryCode": "FR",
//!                "primaryPhoneCallingCode": "+33"}
//! }));
//!
//! let pulled = contacts.to_local(&pushed.record);
//! assert_eq!(pulled.record, json!({
//!     "full_name": "Ada Lovelace", "email": "ada@example.com", "phone": "+33612345678"
//! }));
//! ```
#![warn(missing_docs)]

mod compile;
mod config;
mod error;
mod hash;
mod local_fields;
mod path;
mod paths_hash;
mod plan;
mod schema;
mod template;
#[cfg(test)]
mod test_support;
mod transform;
mod types;

pub use compile::compile;
pub use config::{
    ConflictPolicy, CustomFieldConfig, Direction, EntityConfig, FieldRule, MappingFile, Owner,
    Source, TransformSpec,
};
pub use error::{CompileError, CompileErrors, ConfigError, FieldError, TransformError};
pub use hash::{CONTENT_HASH_TAG, ContentHash, canonical_json, content_hash};
pub use local_fields::{LocalField, LocalKind};
pub use path::FieldPath;
pub use paths_hash::PathsHash;
pub use plan::{CompiledMapping, EntityPlan, FieldPlan, Mapped, RequiredField};
pub use schema::{SchemaField, SchemaObject, TwentySchema};
pub use transform::{
    FnTransform, Inverse, Transform, TransformArgs, TransformRegistry, TransformStep, apply_builtin,
};
pub use types::{FieldType, ValueKind, standard_field_type};
