//! Validation and coercion of record input (create, update, upsert), with Twenty's messages.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::schema::{FieldMeta, ObjectMeta, composite_subfields};
use crate::store::{fmt_ms, parse_id, parse_ms};

/// Columns the server manages itself; client values are ignored.
const SERVER_MANAGED: &[&str] = &[
    "updatedAt",
    "deletedAt",
    "searchVector",
    "createdBy",
    "updatedBy",
];

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn coerce_sub(field: &FieldMeta, sub: &str, v: &Value) -> Result<Value, ApiError> {
    let name = &field.name;
    match sub {
        "additionalEmails" | "secondaryLinks" | "additionalPhones" => match v {
            Value::Null => Ok(Value::Array(vec![])),
            Value::Array(items) => {
                if sub == "additionalEmails" {
                    Ok(Value::Array(
                        items
                            .iter()
                            .map(|i| match i {
                                Value::String(s) => Value::String(s.trim().to_lowercase()),
                                o => o.clone(),
                            })
                            .collect(),
                    ))
                } else {
                    Ok(v.clone())
                }
            }
            other => Err(ApiError::bad(format!(
                "Invalid array value '{}' for field \"{name}.{sub}\"",
                show(other)
            ))),
        },
        "amountMicros" | "addressLat" | "addressLng" => match v {
            Value::Null | Value::Number(_) => Ok(v.clone()),
            Value::String(s) => s.parse::<f64>().map(Value::from).map_err(|_| {
                ApiError::bad(format!(
                    "Invalid number value '{s}' for field \"{name}.{sub}\""
                ))
            }),
            other => Err(ApiError::bad(format!(
                "Invalid number value '{}' for field \"{name}.{sub}\"",
                show(other)
            ))),
        },
        "context" => Ok(v.clone()),
        "blocknote" | "markdown" | "workspaceMemberId" | "currencyCode" => match v {
            Value::Null | Value::String(_) => Ok(v.clone()),
            other => Ok(Value::String(show(other))),
        },
        "primaryEmail" => match v {
            Value::Null => Ok(Value::String(String::new())),
            Value::String(s) => Ok(Value::String(s.trim().to_lowercase())),
            other => Err(ApiError::bad(format!(
                "Invalid string value '{}' for field \"{name}.{sub}\"",
                show(other)
            ))),
        },
        _ => match v {
            Value::Null => Ok(Value::String(String::new())),
            Value::String(_) => Ok(v.clone()),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            other => Err(ApiError::bad(format!(
                "Invalid string value '{}' for field \"{name}.{sub}\"",
                show(other)
            ))),
        },
    }
}

fn coerce(field: &FieldMeta, current: Option<&Value>, v: &Value) -> Result<Value, ApiError> {
    let name = &field.name;
    if let Some(subs) = composite_subfields(&field.ftype) {
        return match v {
            Value::Null => Ok(field.default.clone()),
            Value::Object(input) => {
                let mut out = match current {
                    Some(Value::Object(m)) => m.clone(),
                    _ => field.default.as_object().cloned().unwrap_or_default(),
                };
                for (k, sv) in input {
                    if subs.contains(&k.as_str()) {
                        out.insert(k.clone(), coerce_sub(field, k, sv)?);
                    }
                }
                Ok(Value::Object(out))
            }
            other => Err(ApiError::bad(format!(
                "Invalid object value '{}' for field \"{name}\"",
                show(other)
            ))),
        };
    }
    match field.ftype.as_str() {
        "TEXT" => match v {
            Value::Null => Ok(Value::String(String::new())),
            Value::String(_) => Ok(v.clone()),
            other => Err(ApiError::bad(format!(
                "Invalid string value '{}' for field \"{name}\"",
                show(other)
            ))),
        },
        "NUMBER" | "NUMERIC" | "POSITION" => match v {
            Value::Null | Value::Number(_) => Ok(v.clone()),
            Value::String(s) => s.trim().parse::<f64>().map(Value::from).map_err(|_| {
                ApiError::bad(format!("Invalid number value '{s}' for field \"{name}\""))
            }),
            other => Err(ApiError::bad(format!(
                "Invalid number value '{}' for field \"{name}\"",
                show(other)
            ))),
        },
        "BOOLEAN" => match v {
            Value::Null | Value::Bool(_) => Ok(v.clone()),
            other => Err(ApiError::bad(format!(
                "Invalid boolean value '{}' for field \"{name}\"",
                show(other)
            ))),
        },
        "SELECT" | "RATING" => match v {
            Value::Null => Ok(Value::Null),
            Value::String(s) if field.options.iter().any(|o| o == s) => Ok(v.clone()),
            other => Err(ApiError::bad(format!(
                "Invalid value \"{}\" for field \"{name}\". Valid values are: {}",
                show(other),
                field.options.join(", ")
            ))),
        },
        "MULTI_SELECT" => match v {
            Value::Null => Ok(Value::Array(vec![])),
            Value::Array(items) => {
                for i in items {
                    if !i
                        .as_str()
                        .is_some_and(|s| field.options.iter().any(|o| o == s))
                    {
                        return Err(ApiError::bad(format!(
                            "Invalid value \"{}\" for field \"{name}\". Valid values are: {}",
                            show(i),
                            field.options.join(", ")
                        )));
                    }
                }
                Ok(v.clone())
            }
            other => Err(ApiError::bad(format!(
                "Invalid value \"{}\" for field \"{name}\". Valid values are: {}",
                show(other),
                field.options.join(", ")
            ))),
        },
        "DATE_TIME" => match v {
            Value::Null => Ok(Value::Null),
            Value::String(s) => parse_ms(s)
                .map(|ms| Value::String(fmt_ms(ms)))
                .ok_or_else(|| {
                    ApiError::bad(format!("Invalid date value '{s}' for field \"{name}\""))
                }),
            other => Err(ApiError::bad(format!(
                "Invalid date value '{}' for field \"{name}\"",
                show(other)
            ))),
        },
        "UUID" | "RELATION" | "MORPH_RELATION" => match v {
            Value::Null => Ok(Value::Null),
            Value::String(s) if parse_id(s).is_some() => Ok(Value::String(s.to_lowercase())),
            other => Err(ApiError::bad(format!(
                "'{}' is not a valid UUID",
                show(other)
            ))),
        },
        _ => Ok(v.clone()),
    }
}

/// Apply client input onto a record; returns the columns whose value changed.
pub(crate) fn apply_input(
    meta: &ObjectMeta,
    rec: &mut Map<String, Value>,
    input: &Map<String, Value>,
    creating: bool,
) -> Result<Vec<String>, ApiError> {
    let mut changed = Vec::new();
    for (k, v) in input {
        if SERVER_MANAGED.contains(&k.as_str()) {
            continue;
        }
        if k == "id" {
            if creating {
                match v.as_str().and_then(parse_id) {
                    Some(_) => {
                        rec.insert(
                            "id".into(),
                            Value::String(v.as_str().unwrap_or_default().to_lowercase()),
                        );
                    }
                    None => {
                        return Err(ApiError::bad(format!("'{}' is not a valid UUID", show(v))));
                    }
                }
            }
            continue;
        }
        if k == "createdAt" {
            if creating {
                if let Some(ms) = v.as_str().and_then(parse_ms) {
                    rec.insert(k.clone(), Value::String(fmt_ms(ms)));
                }
            }
            continue;
        }
        let field = meta.field_by_column(k).ok_or_else(|| {
            ApiError::bad(format!(
                "Object {} doesn't have any \"{k}\" field.",
                meta.singular
            ))
        })?;
        let new = coerce(field, rec.get(k), v)?;
        if rec.get(k) != Some(&new) {
            changed.push(k.clone());
        }
        rec.insert(k.clone(), new);
    }
    Ok(changed)
}

/// A Postgres-like `searchVector` text for a record (`'word':position ...`).
pub(crate) fn search_vector(meta: &ObjectMeta, rec: &Map<String, Value>) -> Value {
    if meta.field("searchVector").is_none() {
        return Value::Null;
    }
    let mut words: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        for w in s.split(|c: char| c.is_whitespace() || c == ',') {
            let w = w.trim().to_lowercase();
            if !w.is_empty() {
                words.push(w);
            }
        }
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    match meta.singular.as_str() {
        "person" => {
            let name = rec.get("name");
            push(&text(name.and_then(|n| n.get("firstName"))));
            push(&text(name.and_then(|n| n.get("lastName"))));
            let email = text(rec.get("emails").and_then(|e| e.get("primaryEmail")));
            if !email.is_empty() {
                push(&email);
                if let Some((_, domain)) = email.split_once('@') {
                    push(domain);
                }
            }
            push(&text(
                rec.get("phones").and_then(|p| p.get("primaryPhoneNumber")),
            ));
            push(&text(rec.get("jobTitle")));
        }
        "company" => {
            push(&text(rec.get("name")));
            push(&text(
                rec.get("domainName").and_then(|d| d.get("primaryLinkUrl")),
            ));
        }
        "workspaceMember" => {
            let name = rec.get("name");
            push(&text(name.and_then(|n| n.get("firstName"))));
            push(&text(name.and_then(|n| n.get("lastName"))));
            push(&text(rec.get("userEmail")));
        }
        _ => {
            push(&text(rec.get("name")));
            push(&text(rec.get("title")));
        }
    }
    let mut entries: Vec<(String, usize)> = Vec::new();
    for (i, w) in words.into_iter().enumerate() {
        if !entries.iter().any(|(e, _)| *e == w) {
            entries.push((w, i + 1));
        }
    }
    entries.sort();
    Value::String(
        entries
            .iter()
            .map(|(w, p)| format!("'{}':{p}", w.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(" "),
    )
}
