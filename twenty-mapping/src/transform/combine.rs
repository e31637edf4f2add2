//! Value-producing and combining transforms: `constant`, `default`, `coalesce`, `concat`, `template`.
//!
//! Rules with several sources (`from = ["a", "b"]`) hand these an array of the source values.
//!
//! ```
//! use serde_json::json;
//! use twenty_mapping::apply_builtin;
//! assert_eq!(apply_builtin("constant", &json!({"value": "IMPORT"}), json!(null)).unwrap(), json!("IMPORT"));
//! assert_eq!(apply_builtin("default", &json!({"value": "n/a"}), json!("")).unwrap(), json!("n/a"));
//! assert_eq!(apply_builtin("coalesce", &json!({}), json!([null, "", "b", "c"])).unwrap(), json!("b"));
//! assert_eq!(apply_builtin("concat", &json!({"separator": " / "}), json!(["a", null, "c"])).unwrap(),
//!            json!("a / c"));
//! assert_eq!(apply_builtin("template", &json!({"template": "{0} ({1})"}), json!(["Acme", "FR"])).unwrap(),
//!            json!("Acme (FR)"));
//! assert_eq!(apply_builtin("template", &json!({"template": "{city}!"}), json!({"city": "Oslo"})).unwrap(),
//!            json!("Oslo!"));
//! ```

use serde_json::Value;

use super::{Inverse, TransformArgs, TransformRegistry, TransformStep, builtin};
use crate::error::TransformError;
use crate::types::ValueKind;

pub(super) fn register(r: &mut TransformRegistry) {
    builtin(r, "constant", &["value"], |args| {
        let value = args
            .get("value")
            .cloned()
            .ok_or("missing required argument `value`")?;
        Ok(Box::new(Constant(value)))
    });
    builtin(r, "default", &["value"], |args| {
        let value = args
            .get("value")
            .cloned()
            .ok_or("missing required argument `value`")?;
        Ok(Box::new(Default(value)))
    });
    builtin(r, "coalesce", &[], |_| Ok(Box::new(Coalesce)));
    builtin(r, "concat", &["separator"], |args| {
        Ok(Box::new(Concat {
            separator: args.str("separator")?.unwrap_or(" ").to_owned(),
        }))
    });
    builtin(r, "template", &["template"], build_template);
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

struct Constant(Value);

impl TransformStep for Constant {
    fn output_kind(&self) -> ValueKind {
        ValueKind::of(&self.0)
    }
    fn apply(&self, _input: Value) -> Result<Value, TransformError> {
        Ok(self.0.clone())
    }
    fn handles_null(&self) -> bool {
        true
    }
    fn output_values(&self) -> Option<Vec<String>> {
        self.0.as_str().map(|s| vec![s.to_owned()])
    }
}

struct Default(Value);

impl TransformStep for Default {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Any
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        Ok(if is_empty(&input) {
            self.0.clone()
        } else {
            input
        })
    }
    fn handles_null(&self) -> bool {
        true
    }
    fn inverse(&self) -> Inverse {
        Inverse::Identity
    }
}

struct Coalesce;

impl TransformStep for Coalesce {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Any
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        match input {
            Value::Array(items) => Ok(items
                .into_iter()
                .find(|v| !is_empty(v))
                .unwrap_or(Value::Null)),
            other => Ok(other),
        }
    }
    fn handles_null(&self) -> bool {
        true
    }
}

fn scalar_text(v: &Value, out: &mut String) -> Result<(), TransformError> {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => {}
        _ => {
            return Err(TransformError::new(
                "cannot put an object or array into text",
            ));
        }
    }
    Ok(())
}

struct Concat {
    separator: String,
}

impl TransformStep for Concat {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        let items = match input {
            Value::Array(items) => items,
            other => vec![other],
        };
        let mut out = String::new();
        for item in items.iter().filter(|v| !is_empty(v)) {
            if !out.is_empty() {
                out.push_str(&self.separator);
            }
            scalar_text(item, &mut out)?;
        }
        Ok(if out.is_empty() {
            Value::Null
        } else {
            Value::String(out)
        })
    }
    fn handles_null(&self) -> bool {
        true
    }
}

enum Part {
    Lit(String),
    Index(usize),
    Key(String),
}

struct Template(Vec<Part>);

fn build_template(args: &TransformArgs<'_>) -> Result<Box<dyn TransformStep>, String> {
    let text = args.required_str("template")?;
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                lit.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err(format!("template {text:?} has an unclosed `{{`")),
                    }
                }
                if name.is_empty() {
                    return Err(format!("template {text:?} has an empty placeholder `{{}}`"));
                }
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(match name.parse::<usize>() {
                    Ok(i) => Part::Index(i),
                    Err(_) => Part::Key(name),
                });
            }
            '}' => return Err(format!("template {text:?} has a stray `}}` (write `}}}}`)")),
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        parts.push(Part::Lit(lit));
    }
    Ok(Box::new(Template(parts)))
}

impl TransformStep for Template {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Index(i) => {
                    let v = match &input {
                        Value::Array(items) => items.get(*i).unwrap_or(&Value::Null),
                        scalar if *i == 0 => scalar,
                        _ => &Value::Null,
                    };
                    scalar_text(v, &mut out)?;
                }
                Part::Key(k) => {
                    let v = match &input {
                        Value::Object(m) => m.get(k).unwrap_or(&Value::Null),
                        scalar if k == "value" => scalar,
                        _ => &Value::Null,
                    };
                    scalar_text(v, &mut out)?;
                }
            }
        }
        Ok(Value::String(out))
    }
    fn handles_null(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::step;
    use serde_json::json;

    #[test]
    fn template_escapes_braces_and_rejects_bad_templates() {
        let s = step("template", json!({"template": "{{{0}}}"}));
        assert_eq!(s.apply(json!(["x"])).unwrap(), json!("{x}"));
        let r = super::TransformRegistry::with_builtins();
        for bad in ["{0", "{}", "a}b"] {
            let args = json!({"template": bad}).as_object().cloned().unwrap();
            assert!(r.build("template", &args).is_err(), "{bad}");
        }
    }

    #[test]
    fn concat_of_nothing_is_null() {
        assert_eq!(
            step("concat", json!({})).apply(json!([null, ""])).unwrap(),
            json!(null)
        );
    }

    #[test]
    fn constant_is_one_way_and_default_is_identity_on_pull() {
        assert!(matches!(
            step("constant", json!({"value": 1})).inverse(),
            super::Inverse::OneWay
        ));
        assert!(matches!(
            step("default", json!({"value": 1})).inverse(),
            super::Inverse::Identity
        ));
    }
}
