//! The workspace schema a mapping is checked against, read from Twenty's metadata API.
//!
//! [`twenty_mapping::compile`] checks a mapping's targets against a [`TwentySchema`] when it has
//! one: objects and fields that exist, value kinds that fit the field types, select values that
//! are options. Without one it knows only the standard fields of the documented version, so a
//! target the workspace lacks (2.21.0's demo workspace has no `people.city`) or a select value
//! the workspace does not offer would fail record by record at run time instead. This module
//! builds that schema from the workspace itself.

use twenty_client::Client;
use twenty_client::metadata::{FieldMetadata, FieldType, ObjectMetadata};
use twenty_mapping::{SchemaField, SchemaObject, TwentySchema};

/// The schema of `objects` as a mapping sees it: every active field by name, with its type, its
/// options and whether it is unique, and the join column of every many-to-one relation
/// (`companyId` for `company`, `targetPersonId` for `targetPerson`) as a `UUID` field, since the
/// REST API reads and writes the link under that name. Inactive fields and objects are left
/// out: the API refuses them.
///
/// ```
/// use twenty_client::metadata::ObjectMetadata;
/// use twenty_sync_core::workspace::workspace_schema;
/// let people: ObjectMetadata = serde_json::from_value(serde_json::json!({
///     "id": "o-1", "nameSingular": "person", "namePlural": "people",
///     "fields": [
///         {"id": "f-1", "name": "jobTitle", "type": "TEXT"},
///         {"id": "f-2", "name": "company", "type": "RELATION",
///          "settings": {"relationType": "MANY_TO_ONE", "joinColumnName": "companyId"}},
///         {"id": "f-3", "name": "tier", "type": "SELECT", "isUnique": false,
///          "options": [{"value": "GOLD", "label": "Gold"}]},
///         {"id": "f-4", "name": "retired", "type": "TEXT", "isActive": false}
///     ]
/// }))?;
/// let schema = workspace_schema(&[people]);
/// let people = schema.object("people").unwrap();
/// assert_eq!(people.field("companyId").unwrap().field_type, "UUID");
/// assert_eq!(people.field("tier").unwrap().options, ["GOLD"]);
/// assert!(people.field("retired").is_none());
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn workspace_schema(objects: &[ObjectMetadata]) -> TwentySchema {
    let objects = objects
        .iter()
        .filter(|o| o.is_active != Some(false))
        .map(|o| SchemaObject {
            name_singular: o.name_singular.clone(),
            name_plural: o.name_plural.clone(),
            fields: o
                .fields
                .iter()
                .filter(|f| f.is_active != Some(false))
                .flat_map(schema_fields)
                .collect(),
        })
        .collect();
    TwentySchema { objects }
}

/// Reads the workspace's objects (`GET /rest/metadata/objects`, every page) and returns
/// [`workspace_schema`] of them.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_mapping::{compile, MappingFile, TransformRegistry};
/// use twenty_sync_core::workspace::read_workspace_schema;
/// let schema = read_workspace_schema(&client).await?;
/// let file = MappingFile::from_toml_str(r#"
/// [entities.deals]
/// twenty_object = "opportunities"
/// local_key = "id"
/// [[entities.deals.fields]]
/// from = "stage"
/// to = "stage"
/// transforms = [{ name = "value_map", map = { won = "CUSTOMER", lost = "LOST" } }]
/// [[entities.deals.fields]]
/// from = "account"
/// to = "companyId"
/// "#, "deals.toml")?;
/// // `LOST` is no option of this workspace's opportunity stages.
/// let errors = compile(&file, &TransformRegistry::with_builtins(), Some(&schema)).unwrap_err();
/// assert_eq!(errors.errors.len(), 1, "{errors}");
/// assert!(errors.contains("entities.deals.fields[0]", "LOST"), "{errors}");
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn read_workspace_schema(client: &Client) -> Result<TwentySchema, twenty_client::Error> {
    let objects = client
        .metadata()
        .objects()
        .await
        .map_err(|e| e.with_operation("sync.read_workspace_schema"))?;
    Ok(workspace_schema(&objects))
}

/// The field itself, and its join column when it is the many-to-one side of a relation.
fn schema_fields(f: &FieldMetadata) -> Vec<SchemaField> {
    let mut out = vec![SchemaField {
        name: f.name.clone(),
        field_type: f.field_type.as_str().to_owned(),
        options: f
            .options
            .iter()
            .flatten()
            .map(|o| o.value.clone())
            .collect(),
        is_unique: f.is_unique == Some(true),
    }];
    if let Some(column) = join_column(f) {
        out.push(SchemaField {
            name: column.to_owned(),
            field_type: FieldType::Uuid.as_str().to_owned(),
            options: Vec::new(),
            is_unique: false,
        });
    }
    out
}

/// `settings.joinColumnName` of a `RELATION` or `MORPH_RELATION` field, when it has one (the
/// many-to-one side); `None` for every other field.
fn join_column(f: &FieldMetadata) -> Option<&str> {
    let relation = matches!(&f.field_type, FieldType::Relation)
        || matches!(&f.field_type, FieldType::Other(t) if t == "MORPH_RELATION");
    if !relation {
        return None;
    }
    f.extra
        .get("settings")?
        .get("joinColumnName")?
        .as_str()
        .filter(|c| !c.is_empty() && *c != f.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 2.21.0 capture of `GET /rest/metadata/objects` (the demo workspace "Apple").
    fn captured() -> Vec<ObjectMetadata> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/twenty-api/captures-2.21.0/edge-cases/213_q7_metadata_objects.json"
        );
        let text = std::fs::read_to_string(path).expect("the 2.21.0 capture");
        let exchange: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        serde_json::from_value(exchange["response"]["body_json"]["data"]["objects"].clone())
            .expect("objects")
    }

    #[test]
    fn the_captured_workspace_has_join_columns_and_its_own_custom_fields() {
        let schema = workspace_schema(&captured());
        let people = schema.object("people").expect("people");
        assert_eq!(
            people.field("companyId").map(|f| f.field_type.as_str()),
            Some("UUID")
        );
        assert!(
            people
                .field("emails")
                .is_some_and(|f| f.field_type == "EMAILS")
        );
        assert!(
            people.field("whatsapp").is_some(),
            "a custom field of the workspace"
        );
        assert!(
            people.field("city").is_none(),
            "not in this 2.21.0 workspace"
        );
        assert_eq!(
            people.field("workPreference").map(|f| f.options.clone()),
            Some(vec![
                "ON_SITE".into(),
                "HYBRID".into(),
                "REMOTE_WORK".into()
            ])
        );
        let targets = schema.object("noteTargets").expect("noteTargets");
        for column in [
            "noteId",
            "targetPersonId",
            "targetCompanyId",
            "targetOpportunityId",
        ] {
            assert_eq!(
                targets.field(column).map(|f| f.field_type.as_str()),
                Some("UUID"),
                "{column}"
            );
        }
        assert!(targets.field("personId").is_none(), "the name before 2.x");
        let notes = schema.object("notes").expect("notes");
        assert_eq!(
            notes.field("bodyV2").map(|f| f.field_type.as_str()),
            Some("RICH_TEXT")
        );
    }

    #[test]
    fn one_to_many_sides_add_no_column() {
        let schema = workspace_schema(&captured());
        let people = schema.object("people").expect("people");
        assert!(people.field("noteTargets").is_some());
        assert!(people.field("noteTargetsId").is_none());
        let names: Vec<&str> = people.fields.iter().map(|f| f.name.as_str()).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "no field twice: {names:?}");
    }
}
