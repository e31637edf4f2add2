//! Criterion benchmarks of twenty-mapping: a realistic person record (ten fields: name split,
//! email, E.164 phone, title, tags, two JSON blobs, ...) and a simple five-field record, in both
//! directions. Throughput is reported in records per second on one core.
//!
//! `cargo bench -p benches --bench mapping -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use twenty_mapping::{compile, MappingFile, TransformRegistry};

const REALISTIC: &str = r#"
[entities.contacts]
twenty_object = "people"
local_key = "id"
match_keys = ["emails.primaryEmail"]

[entities.contacts.custom_fields.relationshipCategory]
type = "SELECT"
options = ["FRIEND", "CLIENT", "COLLEAGUE", "OTHER"]
[entities.contacts.custom_fields.contactTags]
type = "MULTI_SELECT"
options = ["VIP", "MENTOR", "INVESTOR", "NEWSLETTER"]
[entities.contacts.custom_fields.llmContext]
type = "TEXT"
[entities.contacts.custom_fields.communicationStats]
type = "TEXT"

[[entities.contacts.fields]]
from = "full_name"
to = "name"
transforms = ["collapse_whitespace", "title_case", "split_name"]
[[entities.contacts.fields]]
from = "email"
to = "emails.primaryEmail"
transforms = [{ name = "email", lowercase_local = true }]
[[entities.contacts.fields]]
from = "phone"
to = "phones"
transforms = [{ name = "phone", default_region = "FR" }]
[[entities.contacts.fields]]
from = "title"
to = "jobTitle"
transforms = [{ name = "job_title", synonyms = { cto = "Chief Technology Officer" } }]
[[entities.contacts.fields]]
from = "tags"
to = "contactTags"
transforms = [{ name = "tags", map = { vip = "VIP", mentor = "MENTOR", investor = "INVESTOR", newsletter = "NEWSLETTER" }, fallback = "@drop" }]
[[entities.contacts.fields]]
from = "llm_context"
to = "llmContext"
transforms = ["json_encode"]
[[entities.contacts.fields]]
from = "communication_stats"
to = "communicationStats"
transforms = ["json_encode"]
[[entities.contacts.fields]]
from = "address.city"
to = "city"
transforms = ["trim"]
[[entities.contacts.fields]]
from = "linkedin"
to = "linkedinLink.primaryLinkUrl"
transforms = ["url"]
[[entities.contacts.fields]]
from = "relationship"
to = "relationshipCategory"
transforms = [{ name = "value_map", map = { friend = "FRIEND", client = "CLIENT", colleague = "COLLEAGUE" }, fallback = "OTHER" }]
"#;

const SIMPLE: &str = r#"
[entities.people]
twenty_object = "people"
local_key = "id"
[[entities.people.fields]]
from = "first_name"
to = "name.firstName"
[[entities.people.fields]]
from = "last_name"
to = "name.lastName"
[[entities.people.fields]]
from = "email"
to = "emails.primaryEmail"
[[entities.people.fields]]
from = "city"
to = "city"
[[entities.people.fields]]
from = "title"
to = "jobTitle"
"#;

fn bench_mapping(c: &mut Criterion) {
    let registry = TransformRegistry::with_builtins();
    let realistic = compile(
        &MappingFile::from_toml_str(REALISTIC, "realistic.toml").expect("bench mapping parses"),
        &registry,
        None,
    )
    .expect("bench mapping compiles");
    let simple = compile(
        &MappingFile::from_toml_str(SIMPLE, "simple.toml").expect("bench mapping parses"),
        &registry,
        None,
    )
    .expect("bench mapping compiles");
    let contacts = realistic.entity("contacts").expect("entity exists");
    let people = simple.entity("people").expect("entity exists");

    let person = json!({
        "id": "c-1042",
        "full_name": "  siobhan   o'brien-mcdonald ",
        "email": "Siobhan.OBrien@Example.IE",
        "phone": "+33612345678",
        "title": "head of  product",
        "tags": ["vip", "mentor", "unknown"],
        "llm_context": {"summary": "Met at RustConf 2025; interested in CRM sync", "topics": ["sync", "crm", "rust"],
                         "last_model": "assistant-v2", "confidence": 87},
        "communication_stats": {"emails": 42, "calls": 3, "meetings": 5, "last_channel": "email"},
        "address": {"city": " Dublin "},
        "linkedin": "linkedin.com/in/siobhan-obrien",
        "relationship": "Client",
        "notes_private": "never leaves"
    });
    let national_phone = {
        let mut p = person.clone();
        p["phone"] = json!("06 12 34 56 78");
        p
    };
    let simple_record = json!({
        "id": 7, "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
        "city": "London", "title": "Mathematician"
    });

    let pushed_person = contacts.to_twenty(&person);
    assert!(
        pushed_person.errors.is_empty(),
        "{:?}",
        pushed_person.errors
    );
    let pushed_simple = people.to_twenty(&simple_record);

    let mut g = c.benchmark_group("mapping");
    g.throughput(Throughput::Elements(1));
    g.bench_function("realistic_person_to_twenty", |b| {
        b.iter(|| contacts.to_twenty(black_box(&person)))
    });
    g.bench_function("realistic_person_national_phone_to_twenty", |b| {
        b.iter(|| contacts.to_twenty(black_box(&national_phone)))
    });
    g.bench_function("realistic_person_to_local", |b| {
        b.iter(|| contacts.to_local(black_box(&pushed_person.record)))
    });
    g.bench_function("simple_five_fields_to_twenty", |b| {
        b.iter(|| people.to_twenty(black_box(&simple_record)))
    });
    g.bench_function("simple_five_fields_to_local", |b| {
        b.iter(|| people.to_local(black_box(&pushed_simple.record)))
    });
    g.finish();
}

criterion_group!(benches, bench_mapping);
criterion_main!(benches);
