//! Measures the CPU time per record of each mapping stage (for tuning; the benchmark of record is
//! `benches/benches/mapping.rs`). Uses thread CPU time, so it is robust on a busy machine.
//!
//! `cargo run --release -p twenty-mapping --example perf_probe`

use std::hint::black_box;

use serde_json::json;
use twenty_mapping::{MappingFile, TransformRegistry, compile, content_hash};

/// Thread CPU time in seconds (utime + stime from /proc, 100 Hz ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn measure(name: &str, n: usize, mut f: impl FnMut()) {
    let start = cpu_seconds();
    for _ in 0..n {
        f();
    }
    let secs = cpu_seconds() - start;
    println!(
        "{name:40} {:>8.0} ns/op  {:>10.0} op/s",
        secs * 1e9 / n as f64,
        n as f64 / secs
    );
}

fn main() {
    let registry = TransformRegistry::with_builtins();
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/mappings/contacts.toml"
    ))
    .expect("example mapping exists");
    let file = MappingFile::from_toml_str(&src, "contacts.toml").expect("parses");
    let mapping = compile(&file, &registry, None).expect("compiles");
    let contacts = mapping.entity("contacts").expect("entity");
    let person = json!({
        "id": "c-1042", "full_name": "  siobhan   o'brien-mcdonald ", "email": "Siobhan.OBrien@Example.IE",
        "phone": "+33612345678", "title": "head of  product", "tags": ["vip", "mentor", "unknown"],
        "llm_context": {"summary": "Met at RustConf 2025", "topics": ["sync", "crm", "rust"], "confidence": 87},
        "communication_stats": {"emails": 42, "calls": 3, "meetings": 5, "last_channel": "email"},
        "address": {"city": " Dublin "}, "linkedin": "linkedin.com/in/siobhan-obrien", "relationship": "Client",
    });
    let out = contacts.to_twenty(&person);
    let n = 200_000;
    measure("contacts.to_twenty", n, || {
        black_box(contacts.to_twenty(black_box(&person)));
    });
    measure("contacts.to_local", n, || {
        black_box(contacts.to_local(black_box(&out.record)));
    });
    measure("content_hash(mapped)", n, || {
        black_box(content_hash(black_box(&out.record)));
    });
    measure("clone(person)", n, || {
        black_box(black_box(&person).clone());
    });
    for (name, args, input) in [
        ("phone e164", json!({}), json!("+33612345678")),
        (
            "phone national",
            json!({"default_region": "FR"}),
            json!("06 12 34 56 78"),
        ),
        ("phone +44", json!({}), json!("+447400123456")),
        ("title_case", json!({}), json!("siobhan o'brien-mcdonald")),
        ("split_name", json!({}), json!("Siobhan O'Brien")),
        (
            "email",
            json!({"lowercase_local": true}),
            json!("Siobhan.OBrien@Example.IE"),
        ),
        ("json_encode", json!({}), person["llm_context"].clone()),
        ("job_title", json!({}), json!("head of  product")),
        ("url", json!({}), json!("linkedin.com/in/x")),
    ] {
        let step = TransformRegistry::with_builtins()
            .build(
                name.split(' ').next().unwrap_or(name),
                args.as_object().expect("object"),
            )
            .expect("builds");
        measure(name, n / 4, || {
            black_box(step.apply(black_box(input.clone())).ok());
        });
    }
}
