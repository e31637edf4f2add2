//! The example mapping shipped in `examples/mapping.toml` (and shown in the README) parses and
//! validates.

use sink_bigquery::{BigQueryConfig, BqType, DeleteTracking};

#[test]
fn the_example_mapping_parses_and_validates() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/mapping.toml"
    ))
    .expect("the example exists");
    let config: BigQueryConfig = toml::from_str(&text).expect("the example parses");
    config.validate().expect("the example is valid");
    let contacts = config.entity("contacts").expect("contacts");
    assert_eq!(contacts.key_column, "contact_id");
    assert!(
        contacts
            .columns
            .iter()
            .any(|c| c.name == "context" && c.bq_type == BqType::Json)
    );
    let businesses = config.entity("businesses").expect("businesses");
    assert_eq!(
        businesses.deletes,
        DeleteTracking::DeletesTable {
            table: "businesses_deleted".into()
        }
    );
}

#[test]
fn the_readme_mapping_is_the_example_file() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("the README exists");
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/mapping.toml"
    ))
    .expect("the example exists");
    assert!(
        readme.contains(example.trim()),
        "README.md must quote examples/mapping.toml verbatim"
    );
}

fn example_twenty_mapping() -> twenty_mapping::CompiledMapping {
    use twenty_mapping::{MappingFile, TransformRegistry, compile};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/twenty-mapping.toml");
    let text = std::fs::read_to_string(path).expect("the example exists");
    let file = MappingFile::from_toml_str(&text, path).expect("the mapping parses");
    compile(&file, &TransformRegistry::with_builtins(), None)
        .unwrap_or_else(|e| panic!("the example mapping compiles: {e}"))
}

/// The tables derived from the twenty-mapping file store the same local fields, with the same
/// types, as the hand-written sink configuration of the README.
#[test]
fn tables_derived_from_the_example_twenty_mapping_match_the_example_config() {
    let derived =
        BigQueryConfig::from_mapping("my-gcp-project", "crm", &example_twenty_mapping(), None)
            .expect("the derived config validates");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/mapping.toml"
    ))
    .expect("the example exists");
    let written: BigQueryConfig = toml::from_str(&text).expect("the example parses");
    for entity in ["contacts", "businesses"] {
        let d = derived.entity(entity).expect("derived entity");
        let w = written.entity(entity).expect("written entity");
        assert_eq!(d.key_column, w.key_column, "{entity}");
        let fields = |t: &sink_bigquery::EntityTable| {
            let mut v: Vec<(String, BqType, bool)> = t
                .columns
                .iter()
                .map(|c| (c.field_path().to_owned(), c.bq_type, c.required))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        assert_eq!(fields(d), fields(w), "{entity}: derived vs README config");
    }
    let contacts = derived.entity("contacts").unwrap();
    assert_eq!(contacts.updated_at_column, "updated_at");
    assert_eq!(contacts.tombstone_column(), Some("deleted_at"));
}
