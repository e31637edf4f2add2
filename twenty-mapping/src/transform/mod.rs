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
    ///
    /// ```
    /// use serde_json::{json, Map};
    /// use twenty_mapping::TransformRegistry;
    /// let registry = TransformRegistry::with_builtins();
    /// let phone = registry.get("phone").unwrap();
    /// assert_eq!(phone.accepted_args(), Some(&["default_region", "output"][..]));
    /// // Any other argument is refused before the transform is built.
    /// let args = Map::from_iter([("region".to_owned(), json!("GB"))]);
    /// let err = registry.build("phone", &args).err().unwrap();
    /// assert!(err.contains("unknown argument(s) region"));
    /// ```
    fn accepted_args(&self) -> Option<&[&str]> {
        None
    }

    /// Builds a step from the rule's arguments; `Err` is a compile error explaining the argument problem.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::{TransformArgs, TransformRegistry};
    /// let registry = TransformRegistry::with_builtins();
    /// let phone = registry.get("phone").unwrap();
    /// let args = json!({"default_region": "FR"});
    /// let step = phone.build(&TransformArgs::new(args.as_object().unwrap()))?;
    /// assert_eq!(step.apply(json!("06 12 34 56 78"))?["primaryPhoneCallingCode"], "+33");
    ///
    /// let bad = json!({"default_region": 33});
    /// assert!(phone.build(&TransformArgs::new(bad.as_object().unwrap())).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn build(&self, args: &TransformArgs<'_>) -> Result<Box<dyn TransformStep>, String>;
}

/// How a step is undone on pull (Twenty → local).
///
/// ```
/// use serde_json::{json, Map};
/// use twenty_mapping::{Inverse, TransformRegistry};
/// let registry = TransformRegistry::with_builtins();
/// let step = |name: &str| registry.build(name, &Map::new()).unwrap();
/// assert!(matches!(step("trim").inverse(), Inverse::Identity));
/// assert!(matches!(step("concat").inverse(), Inverse::OneWay));
/// let Inverse::Step(join) = step("split_name").inverse() else { panic!("split_name inverts") };
/// let full = join.apply(json!({"firstName": "Ada", "lastName": "Lovelace"}))?;
/// assert_eq!(full, json!("Ada Lovelace"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub enum Inverse {
    /// The step is a normaliser: the Twenty value is already normal, pull passes it unchanged.
    Identity,
    /// Undo the step with this step.
    Step(Box<dyn TransformStep>),
    /// The step loses information; a rule using it on pull must declare `inverse`.
    OneWay,
}

/// A compiled transform, applied to one value at a time.
///
/// ```
/// use std::sync::Arc;
/// use serde_json::{json, Value};
/// use twenty_mapping::{compile, Inverse, MappingFile, Transform, TransformArgs, TransformError,
///                      TransformRegistry, TransformStep, ValueKind};
///
/// /// Adds a prefix on push; removes it on pull.
/// struct Prefix { prefix: String, add: bool }
/// impl TransformStep for Prefix {
///     fn output_kind(&self) -> ValueKind { ValueKind::Text }
///     fn apply(&self, input: Value) -> Result<Value, TransformError> {
///         let s = input.as_str().ok_or_else(|| TransformError::new("expected text"))?;
///         Ok(Value::from(match self.add {
///             true => format!("{}{s}", self.prefix),
///             false => s.strip_prefix(&self.prefix).unwrap_or(s).to_owned(),
///         }))
///     }
///     fn inverse(&self) -> Inverse {
///         Inverse::Step(Box::new(Prefix { prefix: self.prefix.clone(), add: !self.add }))
///     }
/// }
/// struct PrefixTransform;
/// impl Transform for PrefixTransform {
///     fn accepted_args(&self) -> Option<&[&str]> { Some(&["prefix"]) }
///     fn build(&self, args: &TransformArgs<'_>) -> Result<Box<dyn TransformStep>, String> {
///         Ok(Box::new(Prefix { prefix: args.required_str("prefix")?.to_owned(), add: true }))
///     }
/// }
///
/// let mut registry = TransformRegistry::with_builtins();
/// registry.register("prefix", Arc::new(PrefixTransform));
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [[entities.contacts.fields]]
/// from = "source"
/// to = "jobTitle"
/// transforms = [{ name = "prefix", prefix = "app:" }]
/// "#, "contacts.toml")?;
/// let mapping = compile(&file, &registry, None)?;
/// let contacts = mapping.entity("contacts").unwrap();
/// let pushed = contacts.to_twenty(&json!({"id": 1, "source": "crm"}));
/// assert_eq!(pushed.record, json!({"jobTitle": "app:crm"}));
/// assert_eq!(contacts.to_local(&pushed.record).record, json!({"source": "crm"}));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait TransformStep: Send + Sync {
    /// The kind of value produced (for type-checking against the target field).
    ///
    /// ```
    /// use serde_json::Map;
    /// use twenty_mapping::{TransformRegistry, ValueKind};
    /// let registry = TransformRegistry::with_builtins();
    /// assert_eq!(registry.build("split_name", &Map::new())?.output_kind(), ValueKind::FullName);
    /// assert_eq!(registry.build("trim", &Map::new())?.output_kind(), ValueKind::Text);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn output_kind(&self) -> ValueKind;

    /// Converts a value. Never receives `null` unless [`handles_null`](Self::handles_null) is true.
    ///
    /// ```
    /// use serde_json::{json, Map};
    /// use twenty_mapping::TransformRegistry;
    /// let title_case = TransformRegistry::with_builtins().build("title_case", &Map::new())?;
    /// assert_eq!(title_case.apply(json!("o'brien"))?, json!("O'Brien"));
    /// assert!(title_case.apply(json!({"not": "text"})).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn apply(&self, input: Value) -> Result<Value, TransformError>;

    /// Converts a borrowed value (the first step of a pipeline reads the record in place). The
    /// default clones and calls [`apply`](Self::apply); steps that only read their input
    /// override it so mapping a record copies nothing it does not output.
    ///
    /// ```
    /// use serde_json::{json, Map};
    /// use twenty_mapping::TransformRegistry;
    /// let email = TransformRegistry::with_builtins().build("email", &Map::new())?;
    /// let record = json!({"email": " Ada@Example.COM "});
    /// assert_eq!(email.apply_ref(&record["email"])?, json!("Ada@example.com"));
    /// assert_eq!(record["email"], " Ada@Example.COM "); // the record is untouched
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        self.apply(input.clone())
    }

    /// The inverse used on pull. Default: one-way.
    ///
    /// ```
    /// use serde_json::{json, Map};
    /// use twenty_mapping::{Inverse, TransformRegistry};
    /// let registry = TransformRegistry::with_builtins();
    /// let args = json!({"map": {"client": "CUSTOMER"}});
    /// let value_map = registry.build("value_map", args.as_object().unwrap())?;
    /// let Inverse::Step(back) = value_map.inverse() else { panic!("value_map inverts") };
    /// assert_eq!(back.apply(json!("CUSTOMER"))?, json!("client"));
    /// assert!(matches!(registry.build("concat", &Map::new())?.inverse(), Inverse::OneWay));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn inverse(&self) -> Inverse {
        Inverse::OneWay
    }

    /// Whether the step wants `null`/missing input (e.g. `default`, `constant`, `coalesce`).
    ///
    /// ```
    /// use serde_json::{json, Map};
    /// use twenty_mapping::TransformRegistry;
    /// let registry = TransformRegistry::with_builtins();
    /// let constant = registry.build("constant", json!({"value": "IMPORT"}).as_object().unwrap())?;
    /// assert!(constant.handles_null());
    /// assert_eq!(constant.apply(json!(null))?, json!("IMPORT"));
    /// assert!(!registry.build("trim", &Map::new())?.handles_null()); // null skips it
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn handles_null(&self) -> bool {
        false
    }

    /// The values this step can produce when it is a closed set (SELECT options), for validation.
    ///
    /// ```
    /// use serde_json::{json, Map};
    /// use twenty_mapping::TransformRegistry;
    /// let registry = TransformRegistry::with_builtins();
    /// let args = json!({"map": {"client": "CUSTOMER", "friend": "FRIEND"}, "fallback": "OTHER"});
    /// let select = registry.build("value_map", args.as_object().unwrap())?;
    /// assert_eq!(select.output_values(), Some(vec!["CUSTOMER".into(), "FRIEND".into(), "OTHER".into()]));
    /// assert_eq!(registry.build("trim", &Map::new())?.output_values(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn output_values(&self) -> Option<Vec<String>> {
        None
    }
}

/// The arguments of one transform in a rule, with typed accessors that explain mistakes.
///
/// ```
/// use serde_json::json;
/// use twenty_mapping::TransformArgs;
/// let table = json!({"default_region": "GB", "strict": true, "aliases": ["uk", "gb"]});
/// let args = TransformArgs::new(table.as_object().unwrap());
/// assert_eq!(args.required_str("default_region")?, "GB");
/// assert!(args.bool_or("strict", false)?);
/// assert_eq!(args.str_list("aliases")?, Some(vec!["uk".into(), "gb".into()]));
/// assert_eq!(args.required_str("output").unwrap_err(), "missing required argument `output`");
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TransformArgs<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> TransformArgs<'a> {
    /// Wraps an argument table.
    ///
    /// ```
    /// use serde_json::Map;
    /// use twenty_mapping::TransformArgs;
    /// let empty = Map::new();
    /// let args = TransformArgs::new(&empty);
    /// assert_eq!(args.keys().count(), 0);
    /// assert_eq!(args.bool_or("lowercase_local", false), Ok(false));
    /// ```
    pub fn new(map: &'a Map<String, Value>) -> Self {
        TransformArgs { map }
    }

    /// The raw value of an argument.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::TransformArgs;
    /// let table = json!({"value": 42});
    /// let args = TransformArgs::new(table.as_object().unwrap());
    /// assert_eq!(args.get("value"), Some(&json!(42)));
    /// assert_eq!(args.get("other"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// The argument names present.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::TransformArgs;
    /// let table = json!({"map": {}, "fallback": "OTHER"});
    /// let args = TransformArgs::new(table.as_object().unwrap());
    /// assert_eq!(args.keys().collect::<Vec<_>>(), ["map", "fallback"]);
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.map.keys().map(String::as_str)
    }

    /// An optional string argument.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::TransformArgs;
    /// let table = json!({"separator": " / ", "width": 3});
    /// let args = TransformArgs::new(table.as_object().unwrap());
    /// assert_eq!(args.str("separator"), Ok(Some(" / ")));
    /// assert_eq!(args.str("missing"), Ok(None));
    /// assert_eq!(args.str("width").unwrap_err(), "argument `width` must be a string, got 3");
    /// ```
    pub fn str(&self, key: &str) -> Result<Option<&'a str>, String> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!("argument `{key}` must be a string, got {other}")),
        }
    }

    /// A required string argument.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::TransformArgs;
    /// let table = json!({"pattern": "^app:"});
    /// let args = TransformArgs::new(table.as_object().unwrap());
    /// assert_eq!(args.required_str("pattern"), Ok("^app:"));
    /// assert_eq!(args.required_str("replacement").unwrap_err(), "missing required argument `replacement`");
    /// ```
    pub fn required_str(&self, key: &str) -> Result<&'a str, String> {
        self.str(key)?
            .ok_or_else(|| format!("missing required argument `{key}`"))
    }

    /// An optional boolean argument with a default.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::TransformArgs;
    /// let table = json!({"canonical": true, "strict": "yes"});
    /// let args = TransformArgs::new(table.as_object().unwrap());
    /// assert_eq!(args.bool_or("canonical", false), Ok(true));
    /// assert_eq!(args.bool_or("lowercase_local", false), Ok(false)); // absent: the default
    /// assert!(args.bool_or("strict", false).is_err());
    /// ```
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
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::TransformArgs;
    /// let table = json!({"formats": ["%d/%m/%Y", "%Y%m%d"], "format": "%Y", "bad": [1]});
    /// let args = TransformArgs::new(table.as_object().unwrap());
    /// assert_eq!(args.str_list("formats")?.unwrap().len(), 2);
    /// assert_eq!(args.str_list("format")?, Some(vec!["%Y".to_owned()])); // one string, one item
    /// assert!(args.str_list("bad").is_err());
    /// # Ok::<(), String>(())
    /// ```
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
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::TransformArgs;
    /// let table = json!({"map": {"friend": "FRIEND", "client": "CLIENT"}, "bad": {"x": 1}});
    /// let args = TransformArgs::new(table.as_object().unwrap());
    /// let pairs = args.str_map("map")?.unwrap();
    /// assert_eq!(pairs[0], ("friend".to_owned(), "FRIEND".to_owned())); // file order
    /// assert!(args.str_map("bad").is_err());
    /// # Ok::<(), String>(())
    /// ```
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
///
/// ```
/// use std::sync::Arc;
/// use twenty_mapping::{compile, FnTransform, MappingFile, TransformRegistry, ValueKind};
/// let mut registry = TransformRegistry::with_builtins();
/// registry.register("shout", Arc::new(FnTransform::new(ValueKind::Text, |v| {
///     Ok(v.as_str().map(|s| format!("{s}!")).into())
/// })));
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [[entities.contacts.fields]]
/// from = "title"
/// to = "jobTitle"
/// transforms = ["trim", "shout"]
/// direction = "push"
/// "#, "contacts.toml")?;
/// let mapping = compile(&file, &registry, None)?;
/// let out = mapping.entity("contacts").unwrap().to_twenty(&serde_json::json!({"id": 1, "title": " CTO "}));
/// assert_eq!(out.record["jobTitle"], "CTO!");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    ///
    /// ```
    /// use std::sync::Arc;
    /// use twenty_mapping::{FnTransform, TransformRegistry, ValueKind};
    /// let mut registry = TransformRegistry::empty();
    /// assert_eq!(registry.names().count(), 0);
    /// registry.register("identity", Arc::new(FnTransform::new(ValueKind::Any, Ok)));
    /// assert_eq!(registry.names().collect::<Vec<_>>(), ["identity"]);
    /// assert!(registry.get("trim").is_none()); // no built-ins
    /// ```
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
    ///
    /// ```
    /// use std::sync::Arc;
    /// use serde_json::{json, Map};
    /// use twenty_mapping::{FnTransform, TransformRegistry, ValueKind};
    /// let mut registry = TransformRegistry::with_builtins();
    /// // Replaces the built-in `trim` with one that also drops trailing dots.
    /// registry.register("trim", Arc::new(FnTransform::new(ValueKind::Text, |v| {
    ///     Ok(json!(v.as_str().unwrap_or_default().trim().trim_end_matches('.')))
    /// })));
    /// let trim = registry.build("trim", &Map::new())?;
    /// assert_eq!(trim.apply(json!(" Acme Inc. "))?, json!("Acme Inc"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register(
        &mut self,
        name: impl Into<String>,
        transform: Arc<dyn Transform>,
    ) -> &mut Self {
        self.transforms.insert(name.into(), transform);
        self
    }

    /// The transform registered under `name`.
    ///
    /// ```
    /// use twenty_mapping::TransformRegistry;
    /// let registry = TransformRegistry::with_builtins();
    /// let email = registry.get("email").unwrap();
    /// assert_eq!(email.accepted_args(), Some(&["lowercase_local"][..]));
    /// assert!(registry.get("emial").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Transform>> {
        self.transforms.get(name)
    }

    /// All registered names (unordered).
    ///
    /// ```
    /// use twenty_mapping::TransformRegistry;
    /// let registry = TransformRegistry::with_builtins();
    /// let mut names: Vec<&str> = registry.names().collect();
    /// names.sort_unstable();
    /// assert!(names.contains(&"json_encode") && names.contains(&"value_map"));
    /// ```
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.transforms.keys().map(String::as_str)
    }

    /// Builds a step for `name` with `args`, checking argument names first.
    ///
    /// ```
    /// use serde_json::{json, Map};
    /// use twenty_mapping::TransformRegistry;
    /// let registry = TransformRegistry::with_builtins();
    /// let args = json!({"separator": " - "});
    /// let concat = registry.build("concat", args.as_object().unwrap())?;
    /// assert_eq!(concat.apply(json!(["Acme", "FR"]))?, json!("Acme - FR"));
    /// let err = registry.build("concatenate", &Map::new()).err().unwrap();
    /// assert!(err.starts_with("unknown transform `concatenate` (known: "));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
///
/// ```
/// use std::sync::Arc;
/// use serde_json::{json, Value};
/// use twenty_mapping::{compile, FnTransform, MappingFile, TransformError, TransformRegistry, ValueKind};
/// let cents = FnTransform::new(ValueKind::Number, |v: Value| {
///     let n = v.as_f64().ok_or_else(|| TransformError::new("expected a number"))?;
///     Ok(json!((n * 100.0).round() as i64))
/// });
/// let mut registry = TransformRegistry::with_builtins();
/// registry.register("cents", Arc::new(cents));
/// let file = MappingFile::from_toml_str(r#"
/// [entities.deals]
/// twenty_object = "opportunities"
/// local_key = "id"
/// [[entities.deals.fields]]
/// from = "amount"
/// to = "amount.amountMicros"
/// transforms = ["cents"]
/// "#, "deals.toml")?;
/// // Without an inverse the transform is one-way: a rule that also pulls does not compile.
/// let errors = compile(&file, &registry, None).unwrap_err();
/// assert!(errors.contains("entities.deals.fields[0]", "inverse"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct FnTransform {
    kind: ValueKind,
    forward: Arc<StepFn>,
    inverse: Option<Arc<StepFn>>,
}

impl FnTransform {
    /// A one-way transform producing values of `kind`.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::{FnTransform, TransformError, TransformStep, ValueKind};
    /// let initials = FnTransform::new(ValueKind::Text, |v| {
    ///     let s = v.as_str().ok_or_else(|| TransformError::new("expected text"))?;
    ///     Ok(json!(s.split_whitespace().filter_map(|w| w.chars().next()).collect::<String>()))
    /// });
    /// assert_eq!(initials.apply(json!("Ada Lovelace"))?, json!("AL"));
    /// assert_eq!(initials.output_kind(), ValueKind::Text);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::{FnTransform, Inverse, TransformStep, ValueKind};
    /// let tenfold = FnTransform::new(ValueKind::Number, |v| Ok(json!(v.as_i64().unwrap_or(0) * 10)))
    ///     .with_inverse(|v| Ok(json!(v.as_i64().unwrap_or(0) / 10)));
    /// assert_eq!(tenfold.apply(json!(4))?, json!(40));
    /// let Inverse::Step(back) = tenfold.inverse() else { panic!("declared an inverse") };
    /// assert_eq!(back.apply(json!(40))?, json!(4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
