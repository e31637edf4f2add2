//! House rule: every public module's `//!` documentation carries a runnable example.

/// The `//!` lines at the top of a source file.
fn module_doc(source: &str) -> String {
    source
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_public_module_doc_has_a_runnable_example() {
    let modules = [
        ("metadata", include_str!("../src/metadata/mod.rs")),
        ("model", include_str!("../src/model/mod.rs")),
        ("records", include_str!("../src/records/mod.rs")),
        ("webhook", include_str!("../src/webhook/mod.rs")),
    ];
    for (name, source) in modules {
        let doc = module_doc(source);
        assert!(doc.contains("//! ```"), "`{name}` has no example:\n{doc}");
        assert!(
            !doc.contains("```ignore") && !doc.contains("```no_run"),
            "`{name}`: not runnable"
        );
    }
}
