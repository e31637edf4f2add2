//! Transforms: the [`Transform`] plugin trait, compiled [`TransformStep`]s, arguments and the registry.
//!
//! A [`Transform`] is a named factory. At compile time it reads its arguments once
//! ([`TransformArgs`]) and builds a [`TransformStep`] that holds everything pre-computed (regexes,
//! lookup tables, parsed formats), so applying it to a record does no config lookups.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::TransformError;
use crate::types::ValueKind;

mod combine;
mod contact;
mod datetime;
mod fixed_object;
mod json;
mod json_parse;
mod location;
mod lookup;
mod name;
mod numeric;
mod phone_fast;
mod select;
mod text;
mod web;

/// A named transform that can be used from a mapping file. Register your own with
/// [`TransformRegistry::register`].
///
/// ```
/// use std::sync::Arc;
/// use twenty_mapping::{FnTransform, TransformError, TransformRegistry, ValueKind};
/// let mut registry = TransformRegistry::with_builtins();
/// registry.register("reverse", Arc::new(FnTransform::new(ValueKind::Text, |v| {
///     let s = v.as_str().ok_or_else(|| TransformError::new("expected text"))?;
///     Ok(serde_json::Value::String(s.chars().rev().collect()))
/// })));
/// assert!(registry.get("reverse").is_some());
/// ```
pub trait Transform: Send + Sync {
    /// Argument names this transform accepts; `None` accepts anything. Unknown arguments are
    /// reported by `compile`.
    fn accepted_args(&self) -> Option<&[&str]> {
        None
    }

    /// Builds a step from the rule's arguments; `Err` is a compile error explaining the argument problem.
    fn build(&self, args: &TransformArgs<'_>) -> Result<Box<dyn TransformStep>, String>;
}

/// How a step is undone on pull (Twenty → local).
pub enum Inverse {
    /// The step is a normaliser: the Twenty value is already normal, pull passes it unchanged.
    Identity,
    /// Undo the step with this step.
    Step(Box<dyn TransformStep>),
    /// The step loses information; a rule using it on pull must declare `inverse`.
    OneWay,
}

/// A compiled transform, applied to one value at a time.
pub trait TransformStep: Send + Sync {
    /// The kind of value produced (for type-checking against the target field).
    fn output_kind(&self) -> ValueKind;

    /// Converts a value. Never receives `null` unless [`handles_null`](Self::handles_null) is true.
    fn apply(&self, input: Value) -> Result<Value, TransformError>;

    /// Converts a borrowed value (the first step of a pipeline reads the record in place). The
    /// default clones and calls [`apply`](Self::apply); steps that only read their input
    /// override it so mapping a record copies nothing it does not output.
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        self.apply(input.clone())
    }

    /// The inverse used on pull. Default: one-way.
    fn inverse(&self) -> Inverse {
        Inverse::OneWay
    }

    /// Whether the step wants `null`/missing input (e.g. `default`, `constant`, `coalesce`).
    fn handles_null(&self) -> bool {
        false
    }

    /// The values this step can produce when it is a closed set (SELECT options), for validation.
    fn output_values(&self) -> Option<Vec<String>> {
        None
    }
}

/// The arguments of one transform in a rule, with typed accessors that explain mistakes.
#[derive(Debug, Clone, Copy)]
pub struct TransformArgs<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> TransformArgs<'a> {
    /// Wraps an argument table.
    pub fn new(map: &'a Map<String, Value>) -> Self {
        TransformArgs { map }
    }

    /// The raw value of an argument.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// The argument names present.
    pub fn keys(&self) -> impl Iterator<Item = &'a str> {
        self.map.keys().map(String::as_str)
    }

    /// An optional string argument.
    pub fn str(&self, key: &str) -> Result<Option<&'a str>, String> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!("argument `{key}` must be a string, got {other}")),
        }
    }

    /// A required string argument.
    pub fn required_str(&self, key: &str) -> Result<&'a str, String> {
        self.str(key)?
            .ok_or_else(|| format!("missing required argument `{key}`"))
    }

    /// An optional boolean argument with a default.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.map.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(format!(
                "argument `{key}` must be true or false, got {other}"
            )),
        }
    }

    /// An optional list of strings (a single string counts as a one-element list).
    pub fn str_list(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("argument `{key}` must be a list of strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(format!("argument `{key}` must be a list of strings")),
        }
    }

    /// An optional table of string to string, in file order.
    pub fn str_map(&self, key: &str) -> Result<Option<Vec<(String, String)>>, String> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(format!(
                        "argument `{key}`: value for `{k}` must be a string, got {other}"
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(format!("argument `{key}` must be a table of strings")),
        }
    }
}

/// Transforms available to mappings, by name.
#[derive(Clone, Default)]
pub struct TransformRegistry {
    transforms: HashMap<String, Arc<dyn Transform>>,
}

impl fmt::Debug for TransformRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.transforms.keys().collect();
        names.sort();
        f.debug_struct("TransformRegistry")
            .field("transforms", &names)
            .finish()
    }
}

impl TransformRegistry {
    /// An empty registry (no built-ins).
    pub fn empty() -> Self {
        Self::default()
    }

    /// A registry with every built-in transform (see the crate README for the list).
    ///
    /// ```
    /// let registry = twenty_mapping::TransformRegistry::with_builtins();
    /// assert!(registry.get("phone").is_some());
    /// assert!(registry.names().any(|n| n == "split_name"));
    /// ```
    pub fn with_builtins() -> Self {
        let mut r = Self::empty();
        text::register(&mut r);
        name::register(&mut r);
        contact::register(&mut r);
        web::register(&mut r);
        select::register(&mut r);
        location::register(&mut r);
        datetime::register(&mut r);
        numeric::register(&mut r);
        json::register(&mut r);
        combine::register(&mut r);
        r
    }

    /// Adds or replaces a transform under `name`.
    pub fn register(
        &mut self,
        name: impl Into<String>,
        transform: Arc<dyn Transform>,
    ) -> &mut Self {
        self.transforms.insert(name.into(), transform);
        self
    }

    /// The transform registered under `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Transform>> {
        self.transforms.get(name)
    }

    /// All registered names (unordered).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.transforms.keys().map(String::as_str)
    }

    /// Builds a step for `name` with `args`, checking argument names first.
    pub fn build(
        &self,
        name: &str,
        args: &Map<String, Value>,
    ) -> Result<Box<dyn TransformStep>, String> {
        let transform = self.get(name).ok_or_else(|| {
            let mut known: Vec<&str> = self.names().collect();
            known.sort_unstable();
            format!("unknown transform `{name}` (known: {})", known.join(", "))
        })?;
        if let Some(accepted) = transform.accepted_args() {
            let unknown: Vec<&str> = args
                .keys()
                .map(String::as_str)
                .filter(|k| !accepted.contains(k))
                .collect();
            if !unknown.is_empty() {
                return Err(format!(
                    "transform `{name}` has unknown argument(s) {} (accepted: {})",
                    unknown.join(", "),
                    if accepted.is_empty() {
                        "none".to_owned()
                    } else {
                        accepted.join(", ")
                    }
                ));
            }
        }
        transform.build(&TransformArgs::new(args))
    }
}

type StepFn = dyn Fn(Value) -> Result<Value, TransformError> + Send + Sync;

/// A custom transform from closures: the quickest way to plug application logic into a mapping.
/// Without [`with_inverse`](FnTransform::with_inverse) it is one-way.
#[derive(Clone)]
pub struct FnTransform {
    kind: ValueKind,
    forward: Arc<StepFn>,
    inverse: Option<Arc<StepFn>>,
}

impl FnTransform {
    /// A one-way transform producing values of `kind`.
    pub fn new(
        kind: ValueKind,
        forward: impl Fn(Value) -> Result<Value, TransformError> + Send + Sync + 'static,
    ) -> Self {
        FnTransform {
            kind,
            forward: Arc::new(forward),
            inverse: None,
        }
    }

    /// Declares how to undo the transform on pull.
    pub fn with_inverse(
        mut self,
        inverse: impl Fn(Value) -> Result<Value, TransformError> + Send + Sync + 'static,
    ) -> Self {
        self.inverse = Some(Arc::new(inverse));
        self
    }
}

impl Transform for FnTransform {
    fn accepted_args(&self) -> Option<&[&str]> {
        Some(&[])
    }
    fn build(&self, _args: &TransformArgs<'_>) -> Result<Box<dyn TransformStep>, String> {
        Ok(Box::new(self.clone()))
    }
}

impl TransformStep for FnTransform {
    fn output_kind(&self) -> ValueKind {
        self.kind
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        (self.forward)(input)
    }
    fn inverse(&self) -> Inverse {
        match &self.inverse {
            Some(inv) => Inverse::Step(Box::new(FnTransform {
                kind: ValueKind::Any,
                forward: inv.clone(),
                inverse: Some(self.forward.clone()),
            })),
            None => Inverse::OneWay,
        }
    }
}

/// A built-in transform: accepted argument names plus a build function.
pub(crate) struct Builtin {
    args: &'static [&'static str],
    build: fn(&TransformArgs<'_>) -> Result<Box<dyn TransformStep>, String>,
}

impl Transform for Builtin {
    fn accepted_args(&self) -> Option<&[&str]> {
        Some(self.args)
    }
    fn build(&self, args: &TransformArgs<'_>) -> Result<Box<dyn TransformStep>, String> {
        (self.build)(args)
    }
}

/// Registers a built-in.
pub(crate) fn builtin(
    r: &mut TransformRegistry,
    name: &str,
    args: &'static [&'static str],
    build: fn(&TransformArgs<'_>) -> Result<Box<dyn TransformStep>, String>,
) {
    r.register(name, Arc::new(Builtin { args, build }));
}

/// Text of a scalar input: strings as-is, numbers and booleans as their JSON text.
pub(crate) fn into_text(input: Value, what: &str) -> Result<String, TransformError> {
    match input {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(TransformError::new(format!(
            "{what} expects text, got {}",
            json_type_name(&other)
        ))),
    }
}

/// Text of a borrowed scalar input, like [`into_text`] but without copying strings.
pub(crate) fn text_ref<'v>(input: &'v Value, what: &str) -> Result<Cow<'v, str>, TransformError> {
    match input {
        Value::String(s) => Ok(Cow::Borrowed(s)),
        Value::Number(n) => Ok(Cow::Owned(n.to_string())),
        Value::Bool(b) => Ok(Cow::Borrowed(if *b { "true" } else { "false" })),
        other => Err(TransformError::new(format!(
            "{what} expects text, got {}",
            json_type_name(other)
        ))),
    }
}

/// `map[key]` for the few keys of a composite value (FULL_NAME, PHONES...): comparing the keys
/// costs less than hashing `key`, up to a handful of them.
pub(crate) fn small_map_get<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    if map.len() <= 8 {
        map.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    } else {
        map.get(key)
    }
}

/// The JSON type name of a value, for messages.
pub(crate) fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Builds a step and applies it to one value: handy for docs and tests.
///
/// ```
/// use serde_json::json;
/// let out = twenty_mapping::apply_builtin("trim", &json!({}), json!("  hi ")).unwrap();
/// assert_eq!(out, json!("hi"));
/// ```
pub fn apply_builtin(name: &str, args: &Value, input: Value) -> Result<Value, TransformError> {
    let empty = Map::new();
    let args = args.as_object().unwrap_or(&empty);
    let step = TransformRegistry::with_builtins()
        .build(name, args)
        .map_err(TransformError::new)?;
    step.apply(input)
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    /// Builds a builtin step from JSON args, panicking on config errors (tests only).
    pub fn step(name: &str, args: Value) -> Box<dyn TransformStep> {
        let map = args.as_object().cloned().unwrap_or_default();
        TransformRegistry::with_builtins()
            .build(name, &map)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Applies the inverse of a step.
    pub fn invert(step: &dyn TransformStep, v: Value) -> Value {
        match step.inverse() {
            Inverse::Identity => v,
            Inverse::Step(s) => s.apply(v).unwrap(),
            Inverse::OneWay => panic!("one-way"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn small_map_get_equals_get() {
        for size in [0, 1, 8, 9, 20] {
            let map: Map<String, Value> = (0..size).map(|i| (format!("k{i}"), json!(i))).collect();
            for key in ["k0", "k7", "k8", "k19", "missing", ""] {
                assert_eq!(small_map_get(&map, key), map.get(key), "{size} {key}");
            }
        }
    }

    #[test]
    fn unknown_arguments_are_rejected_with_the_accepted_list() {
        let r = TransformRegistry::with_builtins();
        let mut args = Map::new();
        args.insert("defualt_region".into(), json!("GB"));
        let err = r.build("phone", &args).err().unwrap();
        assert!(
            err.contains("defualt_region") && err.contains("default_region"),
            "{err}"
        );
    }

    #[test]
    fn unknown_transform_lists_known_names() {
        let err = TransformRegistry::with_builtins()
            .build("trimm", &Map::new())
            .err()
            .unwrap();
        assert!(
            err.contains("unknown transform `trimm`") && err.contains("trim"),
            "{err}"
        );
    }

    #[test]
    fn fn_transform_with_inverse_round_trips() {
        let t = FnTransform::new(ValueKind::Number, |v| {
            Ok(json!(v.as_i64().unwrap_or(0) * 2))
        })
        .with_inverse(|v| Ok(json!(v.as_i64().unwrap_or(0) / 2)));
        let step = t.build(&TransformArgs::new(&Map::new())).unwrap();
        let out = step.apply(json!(21)).unwrap();
        assert_eq!(out, json!(42));
        assert_eq!(test_util::invert(step.as_ref(), out), json!(21));
    }
}
