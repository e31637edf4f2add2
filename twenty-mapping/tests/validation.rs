//! Config syntax errors carry file/line/column; compile reports every semantic problem at once.

use std::sync::Arc;

use serde_json::json;
use twenty_mapping::{
    FnTransform, MappingFile, TransformError, TransformRegistry, TwentySchema, ValueKind, compile,
};

fn builtins() -> TransformRegistry {
    TransformRegistry::with_builtins()
}

#[test]
fn toml_syntax_error_has_file_line_and_column() {
    let src = "[entities.c]\ntwenty_object = \"people\"\nlocal_key = = \"id\"\n";
    let err = MappingFile::from_toml_str(src, "contacts.toml").unwrap_err();
    assert_eq!((err.file.as_str(), err.line), ("contacts.toml", 3));
    assert!(err.column > 0);
    assert!(err.to_string().starts_with("contacts.toml:3:"), "{err}");
}

#[test]
fn toml_unknown_key_is_located() {
    let src =
        "[entities.c]\ntwenty_object = \"people\"\nlocal_key = \"id\"\ndirektion = \"push\"\n";
    let err = MappingFile::from_toml_str(src, "m.toml").unwrap_err();
    assert_eq!(err.line, 4, "{err}");
    assert!(err.message.contains("direktion"), "{err}");
}

#[test]
fn json_syntax_error_has_line_and_column() {
    let src = "{\n  \"entities\": {\n    \"c\": { \"twenty_object\": \"people\", }\n  }\n}";
    let err = MappingFile::from_json_str(src, "m.json").unwrap_err();
    assert_eq!(err.line, 3, "{err}");
    assert!(err.column > 0);
    assert!(
        !err.message.contains("at line"),
        "position is reported separately: {err}"
    );
}

#[test]
fn from_path_rejects_unknown_extensions_and_missing_files() {
    let err = MappingFile::from_path(std::path::Path::new("/nonexistent/m.toml")).unwrap_err();
    assert!(err.message.contains("cannot read"), "{err}");
    let dir = std::env::temp_dir().join(format!("twenty-mapping-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = dir.join("m.yaml");
    std::fs::write(&yaml, "x").unwrap();
    let err = MappingFile::from_path(&yaml).unwrap_err();
    assert!(err.message.contains(".toml or .json"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

const BAD: &str = r#"
[entities.contacts]
twenty_object = "people"
local_key = "id"
match_keys = ["emails.primaryEmail", "phones.primaryPhoneNumber"]
allow_push = ["name", "nmae"]

[entities.contacts.custom_fields.llm_context]
type = "JSONB"

[entities.contacts.custom_fields.stage]
type = "SELECT"
options = ["NEW", "new"]

[[entities.contacts.fields]]
from = "email"
to = "emails.primaryEmail"
transforms = ["trim", "emial"]

[[entities.contacts.fields]]
from = "age"
to = "name"
transforms = ["number"]

[[entities.contacts.fields]]
from = "first"
to = "name.firstName"

[[entities.contacts.fields]]
to = "jobTitle"
required = true

[[entities.contacts.fields]]
from = "x"
to = "city"
transforms = [{ name = "regex_replace", pattern = "a", replacement = "b" }]

[[entities.contacts.fields]]
from = "stage"
to = "stage"
transforms = [{ name = "value_map", map = { a = "NEW", b = "LOST" } }]

[[entities.contacts.fields]]
from = "n"
to = "name.middleName"
"#;

#[test]
fn compile_reports_every_problem_at_once_with_rule_paths() {
    let file = MappingFile::from_toml_str(BAD, "bad.toml").unwrap();
    let errors = compile(&file, &builtins(), None).unwrap_err();
    let text = errors.to_string();
    for (path, needle) in [
        (
            "entities.contacts.fields[0].transforms[1]",
            "unknown transform `emial`",
        ),
        ("entities.contacts.fields[1].transforms", "FULL_NAME"),
        ("entities.contacts.fields[2].to", "overlaps target `name`"),
        (
            "entities.contacts.fields[3]",
            "required field has no source",
        ),
        ("entities.contacts.fields[4].transforms[0]", "one-way"),
        (
            "entities.contacts.fields[5].transforms[0]",
            "`LOST` is not an option",
        ),
        (
            "entities.contacts.fields[6].to",
            "no sub-field `middleName`",
        ),
        ("entities.contacts.custom_fields.llm_context", "camelCase"),
        (
            "entities.contacts.custom_fields.llm_context.type",
            "unknown Twenty field type `JSONB`",
        ),
        (
            "entities.contacts.custom_fields.stage.options[1]",
            "UPPER_SNAKE_CASE",
        ),
        ("entities.contacts.allow_push[1]", "matches no rule"),
        ("entities.contacts.match_keys[1]", "not written by any rule"),
    ] {
        assert!(
            errors.contains(path, needle),
            "missing `{needle}` at {path} in:\n{text}"
        );
    }
    assert!(errors.errors.len() >= 12, "{text}");
}

fn schema() -> TwentySchema {
    serde_json::from_value(json!({"objects": [{
        "name_singular": "person", "name_plural": "people",
        "fields": [
            {"name": "name", "field_type": "FULL_NAME"},
            {"name": "emails", "field_type": "EMAILS", "is_unique": true},
            {"name": "score", "field_type": "NUMBER"},
            {"name": "tier", "field_type": "SELECT", "options": ["GOLD", "SILVER"]}
        ]
    }]}))
    .unwrap()
}

#[test]
fn schema_checks_objects_targets_types_and_options() {
    let src = r#"
[entities.a]
twenty_object = "people"
local_key = "id"
[[entities.a.fields]]
from = "e"
to = "emails.primaryEmail"
transforms = ["email"]
[[entities.a.fields]]
from = "s"
to = "score"
transforms = ["trim"]
[[entities.a.fields]]
from = "t"
to = "tier"
transforms = [{ name = "value_map", map = { g = "GOLD", b = "BRONZE" } }]
[[entities.a.fields]]
from = "z"
to = "zodiac"

[entities.b]
twenty_object = "dragons"
local_key = "id"
"#;
    let file = MappingFile::from_toml_str(src, "s.toml").unwrap();
    let errors = compile(&file, &builtins(), Some(&schema())).unwrap_err();
    let text = errors.to_string();
    assert!(
        errors.contains(
            "entities.a.fields[1].transforms",
            "produces text but `score` is a NUMBER"
        ),
        "{text}"
    );
    assert!(
        errors.contains(
            "entities.a.fields[2].transforms[0]",
            "`BRONZE` is not an option"
        ),
        "{text}"
    );
    assert!(
        errors.contains("entities.a.fields[3].to", "does not exist on `people`"),
        "{text}"
    );
    assert!(
        errors.contains(
            "entities.b.twenty_object",
            "`dragons` is not in the workspace schema"
        ),
        "{text}"
    );
    assert!(!errors.contains("entities.a.fields[0]", ""), "{text}");
}

#[test]
fn declared_custom_field_must_agree_with_the_schema() {
    let src = r#"
[entities.a]
twenty_object = "people"
local_key = "id"
[entities.a.custom_fields.score]
type = "TEXT"
"#;
    let file = MappingFile::from_toml_str(src, "s.toml").unwrap();
    let errors = compile(&file, &builtins(), Some(&schema())).unwrap_err();
    assert!(
        errors.contains(
            "entities.a.custom_fields.score.type",
            "workspace has `score` as NUMBER"
        ),
        "{errors}"
    );
}

/// Twenty 2.21.0 types the rich-text composite `RICH_TEXT` (its metadata for `notes.bodyV2`);
/// servers before 2.x called it `RICH_TEXT_V2`. A mapping compiled against a 2.x schema writes its
/// sub-fields, and a custom field declared under either name matches the workspace's.
#[test]
fn the_rich_text_composite_has_the_same_rules_under_both_names() {
    let schema: TwentySchema = serde_json::from_value(json!({"objects": [{
        "name_singular": "note", "name_plural": "notes",
        "fields": [
            {"name": "title", "field_type": "TEXT"},
            {"name": "bodyV2", "field_type": "RICH_TEXT"},
            {"name": "summary", "field_type": "RICH_TEXT"}
        ]
    }]}))
    .unwrap();
    let src = r#"
[entities.n]
twenty_object = "notes"
local_key = "id"
[entities.n.custom_fields.summary]
type = "RICH_TEXT_V2"
[[entities.n.fields]]
from = "text"
to = "bodyV2.markdown"
[[entities.n.fields]]
from = "short"
to = "summary.markdown"
transforms = ["trim"]
"#;
    let file = MappingFile::from_toml_str(src, "notes.toml").unwrap();
    let mapping = compile(&file, &builtins(), Some(&schema)).expect("compiles against 2.x names");
    let plan = mapping.entity("n").unwrap();
    let out = plan.to_twenty(&json!({"text": "Met *Ada*", "short": "  intro  "}));
    assert!(out.is_clean(), "{:?}", out.errors);
    assert_eq!(
        out.record,
        json!({"bodyV2": {"markdown": "Met *Ada*"}, "summary": {"markdown": "intro"}})
    );

    // A plain string is no value for the composite, whatever the server calls it.
    let src = r#"
[entities.n]
twenty_object = "notes"
local_key = "id"
[[entities.n.fields]]
from = "text"
to = "bodyV2"
transforms = ["trim"]
"#;
    let file = MappingFile::from_toml_str(src, "notes.toml").unwrap();
    let errors = compile(&file, &builtins(), Some(&schema)).unwrap_err();
    assert!(
        errors.contains("entities.n.fields[0].transforms", "RICH_TEXT"),
        "{errors}"
    );
}

#[test]
fn custom_transforms_are_usable_by_name_and_one_way_unless_inverse_given() {
    let src = r#"
[entities.a]
twenty_object = "people"
local_key = "id"
[[entities.a.fields]]
from = "code"
to = "jobTitle"
transforms = ["shout"]
"#;
    let file = MappingFile::from_toml_str(src, "c.toml").unwrap();
    let mut registry = builtins();
    let shout = FnTransform::new(ValueKind::Text, |v| {
        let s = v
            .as_str()
            .ok_or_else(|| TransformError::new("expected text"))?;
        Ok(json!(format!("{}!", s.to_uppercase())))
    });
    registry.register("shout", Arc::new(shout.clone()));
    let err = compile(&file, &registry, None).unwrap_err();
    assert!(
        err.contains("entities.a.fields[0].transforms[0]", "one-way"),
        "{err}"
    );

    registry.register(
        "shout",
        Arc::new(shout.with_inverse(|v| {
            Ok(json!(
                v.as_str()
                    .unwrap_or("")
                    .trim_end_matches('!')
                    .to_lowercase()
            ))
        })),
    );
    let mapping = compile(&file, &registry, None).unwrap();
    let plan = mapping.entity("a").unwrap();
    let out = plan.to_twenty(&json!({"code": "hi"}));
    assert_eq!(out.record, json!({"jobTitle": "HI!"}));
    assert_eq!(plan.to_local(&out.record).record, json!({"code": "hi"}));
}

#[test]
fn explicit_inverse_makes_a_one_way_rule_pullable() {
    let src = r##"
[entities.a]
twenty_object = "people"
local_key = "id"
[[entities.a.fields]]
from = "digits"
to = "city"
transforms = [{ name = "regex_replace", pattern = "^", replacement = "#" }]
inverse = [{ name = "regex_replace", pattern = "^#", replacement = "" }]
"##;
    let file = MappingFile::from_toml_str(src, "i.toml").unwrap();
    let mapping = compile(&file, &builtins(), None).unwrap();
    let plan = mapping.entity("a").unwrap();
    let out = plan.to_twenty(&json!({"digits": "42"}));
    assert_eq!(out.record, json!({"city": "#42"}));
    assert_eq!(plan.to_local(&out.record).record, json!({"digits": "42"}));
}

#[test]
fn allow_pull_limits_what_is_written_locally() {
    let src = r#"
[entities.a]
twenty_object = "people"
local_key = "id"
allow_pull = ["title"]
[[entities.a.fields]]
from = "title"
to = "jobTitle"
[[entities.a.fields]]
from = "town"
to = "city"
"#;
    let file = MappingFile::from_toml_str(src, "p.toml").unwrap();
    let mapping = compile(&file, &builtins(), None).unwrap();
    let plan = mapping.entity("a").unwrap();
    let local = plan.to_local(&json!({"jobTitle": "CEO", "city": "Paris"}));
    assert_eq!(local.record, json!({"title": "CEO"}));
}

#[test]
fn required_missing_rejects_the_record_but_maps_the_rest() {
    let src = r#"
[entities.a]
twenty_object = "people"
local_key = "id"
[[entities.a.fields]]
from = "email"
to = "emails.primaryEmail"
required = true
[[entities.a.fields]]
from = "town"
to = "city"
"#;
    let file = MappingFile::from_toml_str(src, "r.toml").unwrap();
    let mapping = compile(&file, &builtins(), None).unwrap();
    let out = mapping
        .entity("a")
        .unwrap()
        .to_twenty(&json!({"id": 1, "town": "Oslo"}));
    assert!(out.is_rejected());
    assert_eq!(out.record, json!({"city": "Oslo"}));
    assert!(out.errors[0].reason.contains("required value is missing"));
}
