//! Lookup transforms: `value_map` (enum → SELECT), `tags` (→ MULTI_SELECT) and `job_title`.
//!
//! ```
//! use serde_json::json;
//! use twenty_mapping::apply_builtin;
//! let args = json!({"map": {"friend": "FRIEND", "client": "CUSTOMER"}, "fallback": "OTHER"});
//! assert_eq!(apply_builtin("value_map", &args, json!("Client")).unwrap(), json!("CUSTOMER"));
//! assert_eq!(apply_builtin("value_map", &args, json!("stranger")).unwrap(), json!("OTHER"));
//! assert_eq!(apply_builtin("tags", &json!({}), json!("vip, early adopter,vip")).unwrap(),
//!            json!(["VIP", "EARLY_ADOPTER"]));
//! assert_eq!(apply_builtin("job_title", &json!({"synonyms": {"cto": "Chief Technology Officer"}}),
//!            json!("  CTO ")).unwrap(), json!("Chief Technology Officer"));
//! assert_eq!(apply_builtin("job_title", &json!({}), json!("head  of  SALES")).unwrap(),
//!            json!("Head of Sales"));
//! ```

use std::collections::HashMap;

use serde_json::Value;

use super::lookup::Lookup;
use super::text::{collapse_whitespace, collapse_whitespace_ref};
use super::{
    Inverse, TransformArgs, TransformRegistry, TransformStep, builtin, json_type_name, text_ref,
};
use crate::error::TransformError;
use crate::types::ValueKind;

pub(super) fn register(r: &mut TransformRegistry) {
    builtin(
        r,
        "value_map",
        &[
            "map",
            "fallback",
            "case_sensitive",
            "inverse_map",
            "inverse_fallback",
        ],
        |args| Ok(Box::new(ValueMap::build(args)?)),
    );
    builtin(r, "tags", &["map", "fallback", "separator"], |args| {
        Ok(Box::new(Tags::build(args)?))
    });
    builtin(r, "job_title", &["synonyms", "case"], build_job_title);
}

/// What to do with a value missing from a table.
#[derive(Clone)]
enum Fallback {
    Error,
    Value(String),
    Keep,
    Drop,
}

fn parse_fallback(v: Option<&str>) -> Fallback {
    match v {
        None => Fallback::Error,
        Some("@keep") => Fallback::Keep,
        Some("@drop") => Fallback::Drop,
        Some(other) => Fallback::Value(other.to_owned()),
    }
}

#[derive(Clone)]
struct ValueMap {
    table: Lookup,
    case_sensitive: bool,
    fallback: Fallback,
    inverse: HashMap<String, String>,
    inverse_fallback: Fallback,
    outputs: Vec<String>,
}

impl ValueMap {
    fn build(args: &TransformArgs<'_>) -> Result<ValueMap, String> {
        let pairs = args
            .str_map("map")?
            .ok_or("missing required argument `map` (a table from local value to Twenty option)")?;
        let case_sensitive = args.bool_or("case_sensitive", false)?;
        let key = |k: &str| {
            if case_sensitive {
                k.to_owned()
            } else {
                k.to_lowercase()
            }
        };
        let mut table = HashMap::with_capacity(pairs.len());
        let mut outputs = Vec::new();
        let mut inverse = HashMap::new();
        for (k, v) in &pairs {
            table.insert(key(k), v.clone());
            if !outputs.contains(v) {
                outputs.push(v.clone());
            }
            inverse.entry(v.clone()).or_insert_with(|| k.clone());
        }
        if let Some(explicit) = args.str_map("inverse_map")? {
            inverse = explicit.into_iter().collect();
        }
        let fallback = parse_fallback(args.str("fallback")?);
        if let Fallback::Value(v) = &fallback {
            if !outputs.contains(v) {
                outputs.push(v.clone());
            }
        }
        Ok(ValueMap {
            table: table.into(),
            case_sensitive,
            fallback,
            inverse,
            inverse_fallback: parse_fallback(args.str("inverse_fallback")?),
            outputs,
        })
    }

    fn lookup(&self, s: &str) -> Option<&String> {
        if self.case_sensitive {
            self.table.get(s)
        } else if s.chars().any(char::is_uppercase) || s.trim().len() != s.len() {
            self.table.get_lowercased(s.trim())
        } else {
            self.table.get(s)
        }
    }
}

fn apply_fallback(
    fallback: &Fallback,
    s: &str,
    what: &str,
) -> Result<Option<String>, TransformError> {
    match fallback {
        Fallback::Error => Err(TransformError::new(format!(
            "{what} {s:?} is not in the map and no `fallback` is declared"
        ))),
        Fallback::Value(v) => Ok(Some(v.clone())),
        Fallback::Keep => Ok(Some(s.to_owned())),
        Fallback::Drop => Ok(None),
    }
}

impl TransformStep for ValueMap {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        self.apply_ref(&input)
    }
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        let s = text_ref(input, "value_map")?;
        if let Some(v) = self.lookup(&s) {
            return Ok(Value::String(v.clone()));
        }
        Ok(apply_fallback(&self.fallback, &s, "value")?.map_or(Value::Null, Value::String))
    }
    fn inverse(&self) -> Inverse {
        Inverse::Step(Box::new(InverseMap {
            table: self.inverse.clone().into(),
            fallback: self.inverse_fallback.clone(),
        }))
    }
    fn output_values(&self) -> Option<Vec<String>> {
        match self.fallback {
            Fallback::Keep => None,
            _ => Some(self.outputs.clone()),
        }
    }
}

/// Twenty option → local value (the inverse of `value_map`).
struct InverseMap {
    table: Lookup,
    fallback: Fallback,
}

impl TransformStep for InverseMap {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        self.apply_ref(&input)
    }
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        let s = text_ref(input, "value_map inverse")?;
        if let Some(v) = self.table.get(&s) {
            return Ok(Value::String(v.clone()));
        }
        Ok(apply_fallback(&self.fallback, &s, "Twenty option")?.map_or(Value::Null, Value::String))
    }
}

/// Tags → MULTI_SELECT option values. Without a map, a tag becomes an option value by
/// uppercasing and replacing non-alphanumerics with `_` ("early adopter" → "EARLY_ADOPTER").
struct Tags {
    map: Option<ValueMap>,
    separator: char,
}

impl Tags {
    fn build(args: &TransformArgs<'_>) -> Result<Tags, String> {
        let map = if args.get("map").is_some() {
            Some(ValueMap::build(args)?)
        } else {
            if args.get("fallback").is_some() {
                return Err("`fallback` needs a `map`".to_owned());
            }
            None
        };
        let separator = match args.str("separator")? {
            None => ',',
            Some(s) if s.chars().count() == 1 => s.chars().next().unwrap_or(','),
            Some(s) => return Err(format!("`separator` must be one character, got {s:?}")),
        };
        Ok(Tags { map, separator })
    }

    fn one(&self, tag: &str, out: &mut Vec<Value>) -> Result<(), TransformError> {
        let tag = tag.trim();
        if tag.is_empty() {
            return Ok(());
        }
        let value = match &self.map {
            Some(map) => match map.lookup(tag) {
                Some(v) => Some(v.clone()),
                None => apply_fallback(&map.fallback, tag, "tag")?,
            },
            None => Some(option_value(tag)),
        };
        if let Some(v) = value {
            if !out.iter().any(|x| x.as_str() == Some(v.as_str())) {
                out.push(Value::String(v));
            }
        }
        Ok(())
    }
}

/// "early adopter" → "EARLY_ADOPTER".
fn option_value(tag: &str) -> String {
    let mut out = String::with_capacity(tag.len());
    let mut last_underscore = true;
    for c in tag.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_uppercase());
            last_underscore = false;
        } else if !last_underscore {
            out.push('_');
            last_underscore = true;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

impl TransformStep for Tags {
    fn output_kind(&self) -> ValueKind {
        ValueKind::TextList
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        self.apply_ref(&input)
    }
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        let mut out = Vec::new();
        match input {
            Value::String(s) => {
                for tag in s.split(self.separator) {
                    self.one(tag, &mut out)?;
                }
            }
            Value::Array(items) => {
                out.reserve(items.len());
                for item in items {
                    match item {
                        Value::String(s) => self.one(s, &mut out)?,
                        Value::Null => {}
                        other => {
                            return Err(TransformError::new(format!(
                                "tags expects text items, got {}",
                                json_type_name(other)
                            )));
                        }
                    }
                }
            }
            other => {
                return Err(TransformError::new(format!(
                    "tags expects a list or comma-separated text, got {}",
                    json_type_name(other)
                )));
            }
        }
        Ok(Value::Array(out))
    }
    fn inverse(&self) -> Inverse {
        match &self.map {
            None => Inverse::Identity,
            Some(map) => Inverse::Step(Box::new(InverseTags(InverseMap {
                table: map.inverse.clone().into(),
                fallback: map.inverse_fallback.clone(),
            }))),
        }
    }
    fn output_values(&self) -> Option<Vec<String>> {
        self.map.as_ref().and_then(|m| m.output_values())
    }
}

struct InverseTags(InverseMap);

impl TransformStep for InverseTags {
    fn output_kind(&self) -> ValueKind {
        ValueKind::TextList
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        self.apply_ref(&input)
    }
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        let Value::Array(items) = input else {
            return Err(TransformError::new(format!(
                "expected a MULTI_SELECT list, got {}",
                json_type_name(input)
            )));
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let v = self.0.apply_ref(item)?;
            if !v.is_null() {
                out.push(v);
            }
        }
        Ok(Value::Array(out))
    }
}

/// Small words kept lowercase inside a title.
fn is_small_word(w: &[u8]) -> bool {
    matches!(
        w,
        b"of" | b"and" | b"the" | b"for" | b"in" | b"at" | b"to" | b"&"
    )
}

/// Acronyms kept uppercase.
fn is_acronym(w: &[u8]) -> bool {
    matches!(
        w,
        b"ceo"
            | b"cto"
            | b"cfo"
            | b"coo"
            | b"cmo"
            | b"cio"
            | b"ciso"
            | b"vp"
            | b"svp"
            | b"evp"
            | b"hr"
            | b"it"
            | b"ux"
            | b"ui"
            | b"qa"
            | b"r&d"
            | b"emea"
            | b"apac"
            | b"us"
            | b"uk"
    )
}

#[derive(Clone, Copy, PartialEq)]
enum TitleCase {
    Title,
    Keep,
}

struct JobTitle {
    synonyms: Lookup,
    case: TitleCase,
}

fn build_job_title(args: &TransformArgs<'_>) -> Result<Box<dyn TransformStep>, String> {
    let synonyms = args
        .str_map("synonyms")?
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (collapse_whitespace(k.to_lowercase()), v))
        .collect::<HashMap<_, _>>()
        .into();
    let case = match args.str("case")?.unwrap_or("title") {
        "title" => TitleCase::Title,
        "keep" => TitleCase::Keep,
        other => {
            return Err(format!(
                "`case` must be \"title\" or \"keep\", got {other:?}"
            ));
        }
    };
    Ok(Box::new(JobTitle { synonyms, case }))
}

impl JobTitle {
    /// The title-cased (or synonym) title of collapsed ASCII text, in the text's own buffer:
    /// every change is an ASCII case change, so the words stay where they are. Same result as the
    /// general path of [`apply_ref`](TransformStep::apply_ref).
    fn title_case_ascii(&self, text: String) -> String {
        let mut bytes = text.into_bytes();
        bytes.make_ascii_lowercase();
        let lowered = String::from_utf8(bytes).expect("lowercasing ASCII text keeps it ASCII");
        if let Some(v) = self.synonyms.get(&lowered) {
            return v.clone();
        }
        let mut bytes = lowered.into_bytes();
        for (i, word) in bytes.split_mut(|&b| b == b' ').enumerate() {
            if is_acronym(word) {
                word.make_ascii_uppercase();
            } else if i > 0 && is_small_word(word) {
                // Stays lowercase.
            } else {
                let mut cap = true;
                for b in word.iter_mut() {
                    if cap && b.is_ascii_alphabetic() {
                        b.make_ascii_uppercase();
                        cap = false;
                    }
                    if *b == b'-' || *b == b'/' {
                        cap = true;
                    }
                }
            }
        }
        String::from_utf8(bytes).expect("recasing ASCII letters keeps ASCII text ASCII")
    }

    /// The synonym or title-cased title of collapsed text `s` (any text, any case setting).
    fn title_case_general(&self, s: &str) -> String {
        // Lowercasing keeps every space, so the words of `lowered` line up with those of `s`.
        let lowered = if s.is_ascii() {
            s.to_ascii_lowercase()
        } else {
            s.to_lowercase()
        };
        if let Some(v) = self.synonyms.get(&lowered) {
            return v.clone();
        }
        if self.case == TitleCase::Keep {
            return s.to_owned();
        }
        let mut out = String::with_capacity(s.len());
        for (i, (word, lower)) in s.split(' ').zip(lowered.split(' ')).enumerate() {
            if i > 0 {
                out.push(' ');
            }
            if is_acronym(lower.as_bytes()) {
                if word.is_ascii() {
                    let start = out.len();
                    out.push_str(word);
                    out[start..].make_ascii_uppercase();
                } else {
                    out.push_str(&word.to_uppercase());
                }
            } else if i > 0 && is_small_word(lower.as_bytes()) {
                out.push_str(lower);
            } else {
                let mut cap = true;
                for c in lower.chars() {
                    if cap && c.is_alphabetic() {
                        out.extend(c.to_uppercase());
                        cap = false;
                    } else {
                        out.push(c);
                    }
                    if c == '-' || c == '/' {
                        cap = true;
                    }
                }
            }
        }
        out
    }
}

impl TransformStep for JobTitle {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        self.apply_ref(&input)
    }
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        let text = text_ref(input, "job_title")?;
        let s = collapse_whitespace_ref(&text);
        if self.case == TitleCase::Keep && self.synonyms.is_empty() {
            return Ok(Value::String(s.into_owned()));
        }
        if s.is_ascii() && self.case == TitleCase::Title {
            return Ok(Value::String(self.title_case_ascii(s.into_owned())));
        }
        Ok(Value::String(self.title_case_general(&s)))
    }
    fn inverse(&self) -> Inverse {
        Inverse::Identity
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{invert, step};
    use super::*;
    use serde_json::json;

    #[test]
    fn value_map_without_fallback_rejects_unknown_values() {
        let s = step("value_map", json!({"map": {"a": "A"}}));
        let err = s.apply(json!("b")).unwrap_err();
        assert!(err.reason.contains("not in the map"), "{}", err.reason);
    }

    #[test]
    fn value_map_inverts_to_the_first_declared_key() {
        let s = step(
            "value_map",
            json!({"map": {"client": "CUSTOMER", "friend": "FRIEND"}}),
        );
        assert_eq!(invert(s.as_ref(), json!("CUSTOMER")), json!("client"));
        assert_eq!(s.output_values().unwrap(), vec!["CUSTOMER", "FRIEND"]);
    }

    #[test]
    fn value_map_keep_and_drop_fallbacks() {
        let keep = step("value_map", json!({"map": {"a": "A"}, "fallback": "@keep"}));
        assert_eq!(keep.apply(json!("zz")).unwrap(), json!("zz"));
        let drop = step("value_map", json!({"map": {"a": "A"}, "fallback": "@drop"}));
        assert_eq!(drop.apply(json!("zz")).unwrap(), json!(null));
    }

    #[test]
    fn tags_map_with_drop_fallback_and_inverse() {
        let s = step(
            "tags",
            json!({"map": {"vip": "VIP", "newsletter": "NEWSLETTER"}, "fallback": "@drop"}),
        );
        let out = s.apply(json!(["VIP", "unknown", "newsletter"])).unwrap();
        assert_eq!(out, json!(["VIP", "NEWSLETTER"]));
        assert_eq!(invert(s.as_ref(), out), json!(["vip", "newsletter"]));
        assert!(s.apply(json!(3)).is_err());
    }

    #[test]
    fn job_title_of_ascii_text_in_place_equals_the_general_path() {
        let words = [
            "head",
            "of",
            "PRODUCT",
            "cto",
            "Vp",
            "and",
            "r&d",
            "&",
            "co-founder",
            "ceo/cto",
            "x-ray/ux",
            "3d",
            "-a",
            "a/",
            "hr",
            "",
            "The",
            "it",
            "emea",
            "o'neil",
        ];
        let title = JobTitle {
            synonyms: HashMap::from([
                ("cto".to_owned(), "Chief Technology Officer".to_owned()),
                ("head of it".to_owned(), "IT Lead".to_owned()),
            ])
            .into(),
            case: TitleCase::Title,
        };
        let mut texts = vec!["head of it".to_owned(), "HEAD OF IT".to_owned()];
        for a in words {
            texts.push(a.to_owned());
            for b in words {
                texts.push(format!("{a} {b}"));
                texts.push(format!("{a} {b} of {a}"));
            }
        }
        for text in texts {
            assert_eq!(
                title.title_case_ascii(text.clone()),
                title.title_case_general(&text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn job_title_keeps_acronyms_and_small_words() {
        let s = step("job_title", json!({}));
        assert_eq!(
            s.apply(json!("vp of engineering")).unwrap(),
            json!("VP of Engineering")
        );
        assert_eq!(
            s.apply(json!("co-founder & ceo")).unwrap(),
            json!("Co-Founder & CEO")
        );
    }
}
