//! Property tests: for invertible rules, local → Twenty → local is the identity on valid inputs.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use twenty_mapping::{CompiledMapping, Inverse, MappingFile, TransformRegistry, compile};

const MAPPING: &str = r#"
[entities.people]
twenty_object = "people"
local_key = "id"
match_keys = ["emails.primaryEmail"]

[entities.people.custom_fields.context]
type = "TEXT"
[entities.people.custom_fields.blob]
type = "RAW_JSON"
[entities.people.custom_fields.kind]
type = "SELECT"
options = ["FRIEND", "CLIENT", "OTHER"]
[entities.people.custom_fields.labels]
type = "MULTI_SELECT"
options = ["VIP", "MENTOR", "INVESTOR"]
[entities.people.custom_fields.budget]
type = "CURRENCY"
[entities.people.custom_fields.seenAt]
type = "DATE_TIME"

[[entities.people.fields]]
from = "full_name"
to = "name"
transforms = ["collapse_whitespace", "title_case", "split_name"]
[[entities.people.fields]]
from = "email"
to = "emails.primaryEmail"
transforms = [{ name = "email", lowercase_local = true }]
[[entities.people.fields]]
from = "phone"
to = "phones"
transforms = [{ name = "phone", default_region = "FR" }]
[[entities.people.fields]]
from = "context"
to = "context"
transforms = ["json_encode"]
[[entities.people.fields]]
from = "blob_text"
to = "blob"
transforms = ["json_decode"]
[[entities.people.fields]]
from = "kind"
to = "kind"
transforms = [{ name = "value_map", map = { friend = "FRIEND", client = "CLIENT", other = "OTHER" } }]
[[entities.people.fields]]
from = "tags"
to = "labels"
transforms = [{ name = "tags", map = { vip = "VIP", mentor = "MENTOR", investor = "INVESTOR" } }]
[[entities.people.fields]]
from = "budget"
to = "budget"
transforms = [{ name = "money", currency = "EUR" }]
[[entities.people.fields]]
from = "seen"
to = "seenAt"
transforms = [{ name = "datetime", formats = ["%Y-%m-%d %H:%M"], timezone = "Europe/Paris" }]
[[entities.people.fields]]
from = "city"
to = "city"
transforms = ["trim"]
"#;

fn mapping() -> CompiledMapping {
    let file = MappingFile::from_toml_str(MAPPING, "roundtrip.toml").unwrap();
    compile(&file, &TransformRegistry::with_builtins(), None).unwrap_or_else(|e| panic!("{e}"))
}

fn word() -> impl Strategy<Value = String> {
    // Capitalised words that are not name particles and carry no Mc prefix.
    "[A-LN-Z][a-z]{2,9}".prop_filter("not a particle", |w| {
        !matches!(
            w.to_lowercase().as_str(),
            "van"
                | "der"
                | "den"
                | "del"
                | "della"
                | "von"
                | "dos"
                | "das"
                | "ter"
                | "ten"
                | "bin"
                | "ibn"
        )
    })
}

fn full_name() -> impl Strategy<Value = String> {
    (word(), proptest::option::of(word()), word()).prop_map(|(a, b, c)| match b {
        Some(b) => format!("{a} {b} {c}"),
        None => format!("{a} {c}"),
    })
}

fn email() -> impl Strategy<Value = String> {
    (
        "[a-z][a-z0-9]{0,8}(\\.[a-z0-9]{1,5})?",
        "[a-z]{2,10}",
        prop::sample::select(vec!["com", "io", "de", "co.uk"]),
    )
        .prop_map(|(l, d, t)| format!("{l}@{d}.{t}"))
}

fn phone() -> impl Strategy<Value = String> {
    prop_oneof![
        // French mobiles are 6x (x not 3 or 9) or 73-79; "+33 70..." is well-formed but not
        // assigned, and the phone transform rejects it.
        "(6[0-24-8]|7[3-9])[0-9]{7}".prop_map(|n| format!("+33{n}")),
        "[0-9]{7}".prop_map(|n| format!("+44740{n}")),
    ]
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (
            "[a-z]{1,6}",
            prop_oneof![
                any::<i32>().prop_map(|i| json!(i)),
                "[ -~]{0,12}".prop_map(Value::String),
                any::<bool>().prop_map(Value::Bool),
                prop::collection::vec("[a-z]{0,4}", 0..3).prop_map(|v| json!(v)),
            ],
        ),
        0..5,
    )
    .prop_map(|pairs| {
        let mut m = Map::new();
        for (k, v) in pairs {
            m.insert(k, v);
        }
        Value::Object(m)
    })
}

fn decimal() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        0u64..10_000_000_000,
        proptest::option::of("[0-9]{0,5}[1-9]"),
    )
        .prop_map(|(neg, int, frac)| {
            let mut s = String::new();
            if neg && (int != 0 || frac.is_some()) {
                s.push('-');
            }
            s.push_str(&int.to_string());
            if let Some(f) = frac {
                s.push('.');
                s.push_str(&f);
            }
            s
        })
}

fn local_time() -> impl Strategy<Value = String> {
    (2000i32..2035, 1u32..13, 1u32..29, 4u32..23, 0u32..60)
        .prop_map(|(y, mo, d, h, mi)| format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}"))
}

/// Any Unicode text (control characters, combining marks, unassigned and private-use code
/// points, astral planes), up to `max` characters.
fn unicode_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

/// Any JSON value: Unicode keys and strings, integers and floats, nested up to three levels.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>().prop_map(|f| json!(f)),
        unicode_text(12).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((unicode_text(6), inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Every builtin transform, with arguments that reach its less common paths.
fn builtin_steps() -> Vec<(&'static str, Value)> {
    vec![
        ("trim", json!({})),
        ("collapse_whitespace", json!({})),
        ("lowercase", json!({})),
        ("uppercase", json!({})),
        ("title_case", json!({})),
        ("split_name", json!({})),
        ("join_name", json!({})),
        ("email", json!({"lowercase_local": true})),
        ("phone", json!({})),
        ("phone", json!({"default_region": "US", "output": "e164"})),
        ("phone", json!({"default_region": "RU"})),
        ("url", json!({})),
        ("domain", json!({"with_scheme": false})),
        (
            "job_title",
            json!({"synonyms": {"cto": "Chief Technology Officer"}}),
        ),
        ("value_map", json!({"map": {"a": "A"}, "fallback": "@keep"})),
        ("tags", json!({"map": {"vip": "VIP"}, "fallback": "@drop"})),
        ("location", json!({})),
        ("location", json!({"default_country": "US"})),
        (
            "datetime",
            json!({"formats": ["%d/%m/%Y %H:%M"], "timezone": "Europe/Paris"}),
        ),
        ("datetime", json!({"epoch": "millis"})),
        (
            "number",
            json!({"decimal_separator": ",", "thousands_separator": "\u{a0}"}),
        ),
        ("money", json!({"currency": "CAD"})),
        (
            "money",
            json!({"output": "micros", "decimal_separator": "٫"}),
        ),
        ("json_encode", json!({"canonical": true})),
        ("json_decode", json!({})),
        ("default", json!({"value": "x"})),
        ("constant", json!({"value": 1})),
        ("coalesce", json!({})),
        ("concat", json!({})),
        ("template", json!({"template": "{0} ({1}) {name}"})),
        (
            "regex_replace",
            json!({"pattern": "\\s+", "replacement": "$0-"}),
        ),
    ]
}

fn tags() -> impl Strategy<Value = Vec<&'static str>> {
    prop::sample::subsequence(vec!["vip", "mentor", "investor"], 0..=3)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn invertible_rules_round_trip(
        name in full_name(), mail in email(), tel in phone(), ctx in json_object(), blob in json_object(),
        kind in prop::sample::select(vec!["friend", "client", "other"]), labels in tags(),
        money in decimal(), seen in local_time(), city in "[A-Z][a-z]{1,10}( [A-Z][a-z]{1,8})?",
    ) {
        let mapping = mapping();
        let plan = mapping.entity("people").unwrap();
        let local = json!({
            "full_name": name, "email": mail, "phone": tel, "context": ctx,
            "blob_text": serde_json::to_string(&blob).unwrap(), "kind": kind, "tags": labels,
            "budget": money, "seen": seen, "city": city,
        });
        let pushed = plan.to_twenty(&local);
        prop_assert!(pushed.errors.is_empty(), "{:?}", pushed.errors);
        let pulled = plan.to_local(&pushed.record);
        prop_assert!(pulled.errors.is_empty(), "{:?}", pulled.errors);
        prop_assert_eq!(&pulled.record, &local);
        // And pushing again gives the same Twenty record (same hash).
        prop_assert_eq!(plan.to_twenty(&pulled.record).content_hash(), pushed.content_hash());
    }

    #[test]
    fn apply_never_panics_on_arbitrary_json(v in arbitrary_json(), s in unicode_text(30)) {
        let mapping = mapping();
        let plan = mapping.entity("people").unwrap();
        for field in ["full_name", "email", "phone", "context", "blob_text", "kind", "tags", "budget", "seen", "city"] {
            let mut record = Map::new();
            record.insert(field.to_owned(), Value::String(s.clone()));
            let _ = plan.to_twenty(&Value::Object(record.clone()));
            record.insert(field.to_owned(), v.clone());
            let out = plan.to_twenty(&Value::Object(record));
            let _ = plan.to_local(&out.record);
        }
        let _ = plan.to_local(&v);
    }

    /// Every builtin step, its `apply_ref` and its inverse (on the input and on the output) on
    /// arbitrary text and JSON: errors are fine, panics are not.
    #[test]
    fn builtin_transforms_never_panic_on_arbitrary_values(v in arbitrary_json(), s in unicode_text(30)) {
        let registry = TransformRegistry::with_builtins();
        for (name, args) in builtin_steps() {
            let step = registry
                .build(name, args.as_object().unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let inverse = match step.inverse() {
                Inverse::Step(inverse) => Some(inverse),
                Inverse::Identity | Inverse::OneWay => None,
            };
            for input in [Value::String(s.clone()), v.clone()] {
                let _ = step.apply_ref(&input);
                let out = step.apply(input.clone());
                if let Some(inverse) = &inverse {
                    let _ = inverse.apply(input);
                    if let Ok(out) = out {
                        let _ = inverse.apply(out);
                    }
                }
            }
        }
    }
}
