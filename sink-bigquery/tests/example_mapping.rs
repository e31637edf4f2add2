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
    assert!(contacts
        .columns
        .iter()
        .any(|c| c.name == "context" && c.bq_type == BqType::Json));
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
