//! Criterion benchmarks of twenty-mapping: a realistic person record (ten fields: name split,
//! email, E.164 phone, title, tags, two JSON blobs, ...) and a simple five-field record, in both
//! directions, over 10,000 distinct generated records each (names, emails, phones from several
//! regions and formats, titles, tags), cycled. Throughput is reported in records per second
//! (criterion `Throughput::Elements`), single-threaded.
//!
//! `cargo bench -p benches --bench mapping -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

/// The allocator the twenty-sync binaries ship with (see the examples crate); RESULTS.md also
/// gives the figures under glibc's malloc, what a library user who keeps the default gets.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use twenty_mapping::{MappingFile, TransformRegistry, compile};

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

/// A small deterministic generator (SplitMix64), so every run maps the same records.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

const FIRST: &[&str] = &[
    "ada",
    "Grace",
    "SIOBHAN",
    "jean-luc",
    "Élodie",
    "mary ann",
    "Hiroshi",
    "Søren",
    "lucía",
    "Oluwaseun",
    "Priya",
    "Zhang",
    "Olga",
    "Mateus",
    "Fatima",
    "noah",
    "Chloé",
    "Liam",
    "Aarav",
    "Ingrid",
    "Kwame",
    "Yuki",
    "björn",
    "Marta",
    "Dmitri",
    "Ana",
    "Tomás",
    "Freya",
    "Omar",
];
const LAST: &[&str] = &[
    "lovelace",
    "Hopper",
    "o'brien-mcdonald",
    "PICARD",
    "Durand",
    "van der Berg",
    "Tanaka",
    "Kierkegaard",
    "García",
    "Adeyemi",
    "Sharma",
    "Wei",
    "Ivanova",
    "de la Cruz",
    "Haddad",
    "mckay",
    "Dubois",
    "Murphy",
    "Patel",
    "Lindqvist",
    "Mensah",
    "Sato",
    "von Trapp",
    "Rossi",
    "Petrov",
    "dos Santos",
    "Nakamura",
    "O'Neill",
    "Schmidt",
];
const DOMAINS: &[&str] = &[
    "Example.com",
    "example.IE",
    "mail.example.org",
    "ACME.io",
    "corp.example.co.uk",
    "startup.dev",
    "uni.example.edu",
    "example.fr",
    "example.de",
    "example.jp",
];
const TITLES: &[&str] = &[
    "head of  product",
    "CTO",
    "cto",
    "vp of engineering",
    "Software Engineer",
    "co-founder & ceo",
    "Account Executive",
    "director of sales emea",
    "  data scientist ",
    "HR business partner",
    "chief of staff",
    "Product Designer (UX)",
    "Head of R&D",
    "Marketing Manager",
    "cfo",
];
const TAGS: &[&str] = &[
    "vip",
    "mentor",
    "investor",
    "newsletter",
    "VIP",
    "Mentor",
    "unknown",
    "beta",
];
const CITIES: &[&str] = &[
    " Dublin ",
    "Paris",
    "Berlin ",
    "London",
    "  Tokyo",
    "Madrid",
    "Amsterdam",
    "Rome",
    "New York",
    "Toronto",
    "Sydney",
    "Lisbon",
];
const RELATIONSHIPS: &[&str] = &[
    "Client",
    "friend",
    "COLLEAGUE",
    "colleague",
    "stranger",
    "Friend",
];
const TOPICS: &[&str] = &[
    "sync",
    "crm",
    "rust",
    "pricing",
    "onboarding",
    "api",
    "sso",
    "billing",
];
const CHANNELS: &[&str] = &["email", "phone", "meeting", "chat"];

/// A phone number in one of several regions and formats: E.164, spaced international, and
/// national formats for the mapping's default region (FR).
fn phone(g: &mut Gen) -> String {
    // Mobile and fixed ranges that are assigned in the metadata (invalid numbers would only
    // measure the error path).
    let fr_mobile = [
        "60", "61", "62", "64", "65", "66", "67", "68", "73", "75", "77", "78",
    ];
    match g.below(12) {
        0 => format!("+33{}{}", g.pick(&fr_mobile), g.digits(7)),
        1 => {
            let m = g.pick(&fr_mobile);
            let (a, b) = m.split_at(1);
            format!(
                "0{a} {b}{} {} {} {}",
                g.digits(1),
                g.digits(2),
                g.digits(2),
                g.digits(2)
            )
        }
        2 => {
            let m = g.pick(&fr_mobile);
            let (a, b) = m.split_at(1);
            format!(
                "0{a}.{b}{}.{}.{}.{}",
                g.digits(1),
                g.digits(2),
                g.digits(2),
                g.digits(2)
            )
        }
        3 => format!(
            "01 {} {} {} {}",
            g.digits(2),
            g.digits(2),
            g.digits(2),
            g.digits(2)
        ),
        4 => format!("+44 7{}{} {}", 4 + g.below(2), g.digits(2), g.digits(6)),
        5 => format!("+4917{}", g.digits(8)),
        6 => format!("+39 3{}{}", 1 + g.below(8), g.digits(8)),
        7 => format!("+34 6{}", g.digits(8)),
        8 => format!("+31 6{}{}", 1 + g.below(5), g.digits(7)),
        9 => format!(
            "+1 {} {}{} {}",
            g.pick(&["202", "415", "646", "312", "416"]),
            2 + g.below(8),
            g.digits(2),
            g.digits(4)
        ),
        10 => format!("+81 90 {}{} {}", 1 + g.below(9), g.digits(3), g.digits(4)),
        _ => format!(
            "+61 4{}{} {} {}",
            g.below(4),
            g.digits(1),
            g.digits(3),
            g.digits(3)
        ),
    }
}

fn person(g: &mut Gen, i: usize) -> Value {
    let first = g.pick(FIRST);
    let last = g.pick(LAST);
    let full_name = match g.below(4) {
        0 => format!("  {first}   {last} "),
        1 => format!("{last}, {first}"),
        _ => format!("{first} {last}"),
    };
    let local: String = first
        .chars()
        .chain(".".chars())
        .chain(last.chars())
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    let email = format!("{local}{}@{}", i % 97, g.pick(DOMAINS));
    let tags: Vec<&str> = (0..g.below(4)).map(|_| g.pick(TAGS)).collect();
    let topics: Vec<&str> = (0..1 + g.below(3)).map(|_| g.pick(TOPICS)).collect();
    json!({
        "id": format!("c-{i}"),
        "full_name": full_name,
        "email": email,
        "phone": phone(g),
        "title": g.pick(TITLES),
        "tags": tags,
        "llm_context": {
            "summary": format!("Met {first} at event {} ; interested in {}", g.below(500), topics[0]),
            "topics": topics,
            "last_model": "assistant-v2",
            "confidence": g.below(100),
        },
        "communication_stats": {
            "emails": g.below(200), "calls": g.below(20), "meetings": g.below(10),
            "last_channel": g.pick(CHANNELS),
        },
        "address": {"city": g.pick(CITIES)},
        "linkedin": format!("linkedin.com/in/{}-{}", local.to_lowercase().replace('.', "-"), i),
        "relationship": g.pick(RELATIONSHIPS),
        "notes_private": "never leaves",
    })
}

fn simple(g: &mut Gen, i: usize) -> Value {
    let first = g.pick(FIRST);
    let last = g.pick(LAST);
    json!({
        "id": i,
        "first_name": first,
        "last_name": last,
        "email": format!("{}.{}{}@{}", first.to_lowercase(), i, g.below(100), g.pick(DOMAINS)),
        "city": g.pick(CITIES).trim(),
        "title": g.pick(TITLES).trim(),
    })
}

/// Distinct generated records per set; the benchmarks cycle through them.
const RECORDS: usize = 10_000;

/// Benchmarks `f` over `inputs`, one record per iteration, cycling.
fn cycle<R>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    inputs: &[Value],
    f: impl Fn(&Value) -> R,
) {
    g.bench_function(name, |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % inputs.len();
            f(black_box(&inputs[i]))
        })
    });
}

fn bench_mapping(c: &mut Criterion) {
    let registry = TransformRegistry::with_builtins();
    let realistic = compile(
        &MappingFile::from_toml_str(REALISTIC, "realistic.toml").expect("bench mapping parses"),
        &registry,
        None,
    )
    .expect("bench mapping compiles");
    let simple_mapping = compile(
        &MappingFile::from_toml_str(SIMPLE, "simple.toml").expect("bench mapping parses"),
        &registry,
        None,
    )
    .expect("bench mapping compiles");
    let contacts = realistic.entity("contacts").expect("entity exists");
    let people = simple_mapping.entity("people").expect("entity exists");

    let mut rng = Gen(0x5EED);
    let persons: Vec<Value> = (0..RECORDS).map(|i| person(&mut rng, i)).collect();
    let simples: Vec<Value> = (0..RECORDS).map(|i| simple(&mut rng, i)).collect();
    let pushed_persons: Vec<Value> = persons
        .iter()
        .map(|p| {
            let out = contacts.to_twenty(p);
            assert!(out.errors.is_empty(), "{p}: {:?}", out.errors);
            out.record
        })
        .collect();
    let pushed_simples: Vec<Value> = simples.iter().map(|p| people.to_twenty(p).record).collect();

    let mut g = c.benchmark_group("mapping");
    g.throughput(Throughput::Elements(1));
    cycle(&mut g, "realistic_person_to_twenty", &persons, |r| {
        contacts.to_twenty(r)
    });
    cycle(&mut g, "realistic_person_to_local", &pushed_persons, |r| {
        contacts.to_local(r)
    });
    cycle(&mut g, "simple_five_fields_to_twenty", &simples, |r| {
        people.to_twenty(r)
    });
    cycle(
        &mut g,
        "simple_five_fields_to_local",
        &pushed_simples,
        |r| people.to_local(r),
    );
    g.finish();

    // Per-part costs of the push, to explain the totals. Mapping does not hash its records
    // (`Mapped::content_hash` hashes when asked): a caller that wants both pays for both.
    let mut parts = c.benchmark_group("mapping_parts");
    parts.throughput(Throughput::Elements(1));
    cycle(
        &mut parts,
        "realistic_person_to_twenty_and_content_hash",
        &persons,
        |r| {
            let m = contacts.to_twenty(r);
            (m.content_hash(), m)
        },
    );
    cycle(
        &mut parts,
        "simple_five_fields_to_twenty_and_content_hash",
        &simples,
        |r| {
            let m = people.to_twenty(r);
            (m.content_hash(), m)
        },
    );
    cycle(
        &mut parts,
        "content_hash_of_pushed_person",
        &pushed_persons,
        twenty_mapping::content_hash,
    );
    parts.finish();
}

criterion_group!(benches, bench_mapping);
criterion_main!(benches);
