//! Declared fields against a workspace's objects: which are present as declared, which differ,
//! and which are missing. Pure: it reads objects already fetched, so one read of the metadata API
//! can serve this and any other check of the same workspace.

use super::types::{
    EnsureReport, FieldMetadata, FieldMismatch, FieldRef, FieldSpec, FieldType, ObjectMetadata,
};
use super::validate_field_name;
use crate::error::Error;

/// Where one declared field stands in the workspace.
pub(super) enum Finding<'a> {
    /// Present with the declared type and options.
    Present,
    /// Present but different, or its object does not exist: why.
    Mismatch(String),
    /// Its object exists and it does not: the object, and the type to create it with.
    Missing {
        object: &'a ObjectMetadata,
        wanted: FieldType,
    },
}

impl Finding<'_> {
    /// Adds the finding to a read-only report.
    pub(super) fn record(self, spec: &FieldSpec, report: &mut EnsureReport) {
        let field = field_ref(spec);
        match self {
            Finding::Present => report.already_present.push(field),
            Finding::Mismatch(reason) => report.mismatched.push(FieldMismatch { field, reason }),
            Finding::Missing { .. } => report.missing.push(field),
        }
    }
}

/// Compares declared fields with objects already read from the metadata API (see
/// [`MetadataHandler::objects`](super::MetadataHandler::objects)), without a request: what
/// [`MetadataHandler::verify_fields`](super::MetadataHandler::verify_fields) does after its read.
/// Names and options are validated first, as there.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::metadata::{verify_fields_in, FieldSpec, FieldType};
/// let objects = client.metadata().objects().await?; // one read, for as many checks as needed
/// let specs = [
///     FieldSpec::new("people", "jobTitle", FieldType::Text),
///     FieldSpec::new("people", "externalRef", FieldType::Text),
///     FieldSpec::new("invoices", "total", FieldType::Number),
/// ];
/// let report = verify_fields_in(&objects, &specs)?;
/// assert_eq!(report.already_present[0].field, "jobTitle");
/// assert_eq!(report.missing[0].field, "externalRef");
/// assert!(report.mismatched[0].reason.contains("`invoices` does not exist"));
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn verify_fields_in(
    objects: &[ObjectMetadata],
    specs: &[FieldSpec],
) -> Result<EnsureReport, Error> {
    validate_specs(specs).map_err(|e| e.with_operation("metadata.verify_fields"))?;
    let mut report = EnsureReport::default();
    for (spec, finding) in findings(objects, specs) {
        finding.record(spec, &mut report);
    }
    Ok(report)
}

/// Every name valid, and every field with options declaring at least one.
pub(super) fn validate_specs(specs: &[FieldSpec]) -> Result<(), Error> {
    for spec in specs {
        validate_field_name(&spec.name)
            .map_err(|e| e.with_context("object", spec.object.clone()))?;
        if spec.field_type.has_options() && spec.options.is_empty() {
            return Err(Error::config(format!(
                "{} field `{}` needs at least one option",
                spec.field_type, spec.name
            ))
            .with_context("field", spec.name.clone()));
        }
    }
    Ok(())
}

/// Each declared field with where it stands, in the order declared.
pub(super) fn findings<'a, 's>(
    objects: &'a [ObjectMetadata],
    specs: &'s [FieldSpec],
) -> Vec<(&'s FieldSpec, Finding<'a>)> {
    let composite = composite_rich_text(objects);
    specs
        .iter()
        .map(|spec| {
            let wanted = in_server_names(&spec.field_type, composite.as_ref());
            let Some(object) = objects
                .iter()
                .find(|o| o.name_plural == spec.object || o.name_singular == spec.object)
            else {
                let reason = format!("object `{}` does not exist in this workspace", spec.object);
                return (spec, Finding::Mismatch(reason));
            };
            let finding = match object.field(&spec.name) {
                Some(existing) => match compare(spec, &wanted, existing) {
                    Some(reason) => Finding::Mismatch(reason),
                    None => Finding::Present,
                },
                None => Finding::Missing { object, wanted },
            };
            (spec, finding)
        })
        .collect()
}

/// The report's name for a declared field.
pub(super) fn field_ref(spec: &FieldSpec) -> FieldRef {
    FieldRef {
        object: spec.object.clone(),
        field: spec.name.clone(),
    }
}

/// The name this server gives the rich-text composite (`{blocknote, markdown}`), read off the
/// standard field that has it on every version (`bodyV2` of notes and tasks): `RICH_TEXT` on 2.x
/// (2.21.0's metadata), `RICH_TEXT_V2` before. `None` when neither object says.
fn composite_rich_text(objects: &[ObjectMetadata]) -> Option<FieldType> {
    objects
        .iter()
        .filter(|o| o.name_plural == "notes" || o.name_plural == "tasks")
        .filter_map(|o| o.field("bodyV2"))
        .map(|f| f.field_type.clone())
        .find(|t| matches!(t, FieldType::RichText | FieldType::RichTextV2))
}

/// The type to create, or to expect, for a field declared `declared` on a server whose
/// rich-text composite is named `composite`: a declared composite takes the server's name (a
/// `RICH_TEXT_V2` declaration is created as `RICH_TEXT` on 2.x, which refuses the old name);
/// every other type is its own name.
fn in_server_names(declared: &FieldType, composite: Option<&FieldType>) -> FieldType {
    match (declared, composite) {
        (FieldType::RichTextV2, Some(name)) => name.clone(),
        _ => declared.clone(),
    }
}

fn compare(spec: &FieldSpec, wanted: &FieldType, existing: &FieldMetadata) -> Option<String> {
    if &existing.field_type != wanted {
        let declared = if wanted == &spec.field_type {
            spec.field_type.to_string()
        } else {
            format!("{} ({wanted} on this server)", spec.field_type)
        };
        return Some(format!(
            "type is {} on the server, declared {declared}",
            existing.field_type
        ));
    }
    if spec.field_type.has_options() {
        let have: Vec<&str> = existing
            .options
            .iter()
            .flatten()
            .map(|o| o.value.as_str())
            .collect();
        let missing: Vec<&str> = spec
            .options
            .iter()
            .map(|o| o.value.as_str())
            .filter(|v| !have.contains(v))
            .collect();
        if !missing.is_empty() {
            return Some(format!(
                "options missing on the server: {} (server has: {})",
                missing.join(", "),
                have.join(", ")
            ));
        }
    }
    None
}
