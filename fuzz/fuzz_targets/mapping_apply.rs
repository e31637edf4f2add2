//! Fuzzes `to_twenty` / `to_local` with arbitrary JSON against a mapping that uses every kind of
//! built-in transform: apply must never panic, whatever the record holds.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use twenty_mapping::{compile, CompiledMapping, MappingFile, TransformRegistry};

const MAPPING: &str = r#"
[entities.c]
twenty_object = "people"
local_key = "id"
[entities.c.custom_fields.ctx]
type = "TEXT"
[entities.c.custom_fields.blob]
type = "RAW_JSON"
[entities.c.custom_fields.kind]
type = "SELECT"
options = ["A", "OTHER"]
[entities.c.custom_fields.tagz]
type = "MULTI_SELECT"
options = ["X"]
[entities.c.custom_fields.amount]
type = "CURRENCY"
[entities.c.custom_fields.seen]
type = "DATE_TIME"
[entities.c.custom_fields.score]
type = "NUMBER"
[entities.c.custom_fields.place]
type = "ADDRESS"
[entities.c.custom_fields.summary]
type = "TEXT"

[[entities.c.fields]]
from = "name"
to = "name"
transforms = ["collapse_whitespace", "title_case", "split_name"]
[[entities.c.fields]]
from = "email"
to = "emails.primaryEmail"
transforms = [{ name = "email", lowercase_local = true }]
[[entities.c.fields]]
from = "phone"
to = "phones"
transforms = [{ name = "phone", default_region = "US" }]
[[entities.c.fields]]
from = "title"
to = "jobTitle"
transforms = ["job_title"]
[[entities.c.fields]]
from = "web"
to = "linkedinLink.primaryLinkUrl"
transforms = ["url"]
[[entities.c.fields]]
from = "ctx"
to = "ctx"
transforms = ["json_encode"]
[[entities.c.fields]]
from = "blob"
to = "blob"
transforms = ["json_decode"]
[[entities.c.fields]]
from = "kind"
to = "kind"
transforms = [{ name = "value_map", map = { a = "A" }, fallback = "OTHER" }]
[[entities.c.fields]]
from = "tags"
to = "tagz"
transforms = [{ name = "tags", map = { x = "X" }, fallback = "@drop" }]
[[entities.c.fields]]
from = "money"
to = "amount"
transforms = [{ name = "money", currency = "EUR" }]
[[entities.c.fields]]
from = "when"
to = "seen"
transforms = [{ name = "datetime", formats = ["%d/%m/%Y %H:%M"], timezone = "Europe/Paris" }]
[[entities.c.fields]]
from = "n"
to = "score"
transforms = ["number"]
[[entities.c.fields]]
from = "where"
to = "place"
transforms = ["location"]
[[entities.c.fields]]
from = ["a", "b", "c"]
to = "summary"
transforms = ["coalesce", { name = "template", template = "{0}!" }, { name = "regex_replace", pattern = "!+", replacement = "!" }]
direction = "push"
[[entities.c.fields]]
from = "site"
to = "city"
transforms = ["domain"]
"#;

fn mapping() -> &'static CompiledMapping {
    static PLAN: OnceLock<CompiledMapping> = OnceLock::new();
    PLAN.get_or_init(|| {
        let file = MappingFile::from_toml_str(MAPPING, "fuzz.toml").expect("fuzz mapping parses");
        compile(&file, &TransformRegistry::with_builtins(), None).expect("fuzz mapping compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let plan = mapping().entity("c").expect("entity exists");
    let pushed = plan.to_twenty(&value);
    let _ = plan.to_local(&pushed.record);
    let _ = plan.to_local(&value);
    let _ = plan.local_key_of(&value);
    // Also feed the value to every single source field.
    if let serde_json::Value::Object(_) = &value {
        return;
    }
    for key in [
        "name", "email", "phone", "title", "web", "ctx", "blob", "kind", "tags", "money", "when",
        "n", "where", "site",
    ] {
        let record = serde_json::json!({ key: value.clone() });
        let _ = plan.to_twenty(&record);
    }
});
