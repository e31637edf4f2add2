//! Errors: config syntax ([`ConfigError`]), validation ([`CompileErrors`]), per-field apply
//! problems ([`FieldError`]) and transform failures ([`TransformError`]).

use std::fmt;

/// A mapping file that cannot be read or parsed. Displays as `file:line:col: message`.
///
/// ```
/// use twenty_mapping::MappingFile;
/// let src = "[entities.contacts]\ntwenty_object = \"people\"\nlocal_key = \"id\"\ncolour = \"blue\"\n";
/// let err = MappingFile::from_toml_str(src, "contacts.toml").unwrap_err();
/// assert_eq!((err.file.as_str(), err.line, err.column), ("contacts.toml", 4, 1));
/// assert!(err.message.contains("colour"));
/// assert!(err.to_string().starts_with("contacts.toml:4:1: "));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigError {
    /// The file (origin) the error is in.
    pub file: String,
    /// 1-based line; 0 when unknown (e.g. the file could not be read).
    pub line: usize,
    /// 1-based column; 0 when unknown.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(file: &str, line: usize, column: usize, message: String) -> Self {
        ConfigError {
            file: file.to_owned(),
            line,
            column,
            message,
        }
    }
}

/// One semantic problem found by [`compile`](crate::compile), located by its rule path.
///
/// ```
/// use twenty_mapping::{compile, MappingFile, TransformRegistry};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [[entities.contacts.fields]]
/// from = "email"
/// to = "emails.primaryEmail"
/// transforms = ["trim", "no_such_transform"]
/// "#, "contacts.toml")?;
/// let errors = compile(&file, &TransformRegistry::with_builtins(), None).unwrap_err();
/// let first = &errors.errors[0];
/// assert_eq!(first.path, "entities.contacts.fields[0].transforms[1]");
/// assert!(first.message.contains("unknown transform `no_such_transform`"));
/// assert!(first.to_string().starts_with("entities.contacts.fields[0].transforms[1]: "));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// Where in the file, e.g. `entities.contacts.fields[3].transforms[1]`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found while compiling a mapping, reported at once.
///
/// ```
/// use twenty_mapping::{compile, MappingFile, TransformRegistry};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [[entities.contacts.fields]]
/// from = "a"
/// to = "jobTitle"
/// [[entities.contacts.fields]]
/// from = "b"
/// to = "jobTitle"
/// transforms = ["shout"]
/// "#, "contacts.toml")?;
/// let errors = compile(&file, &TransformRegistry::with_builtins(), None).unwrap_err();
/// assert_eq!(errors.errors.len(), 2); // every problem at once
/// assert!(errors.to_string().starts_with("the mapping has 2 problem(s):"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CompileErrors {
    /// The problems, in file order.
    pub errors: Vec<CompileError>,
}

impl CompileErrors {
    /// True if some problem's path starts with `path_prefix` and its message contains `needle`.
    ///
    /// ```
    /// use twenty_mapping::{compile, MappingFile, TransformRegistry};
    /// let file = MappingFile::from_toml_str(r#"
    /// [entities.contacts]
    /// twenty_object = "people"
    /// local_key = "id"
    /// [[entities.contacts.fields]]
    /// from = "email"
    /// to = "emails.primaryEmail"
    /// transforms = ["emial"]
    /// "#, "contacts.toml")?;
    /// let errors = compile(&file, &TransformRegistry::with_builtins(), None).unwrap_err();
    /// assert!(errors.contains("entities.contacts.fields[0]", "unknown transform"));
    /// assert!(!errors.contains("entities.other", "unknown transform"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn contains(&self, path_prefix: &str, needle: &str) -> bool {
        self.errors
            .iter()
            .any(|e| e.path.starts_with(path_prefix) && e.message.contains(needle))
    }
}

impl fmt::Display for CompileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the mapping has {} problem(s):", self.errors.len())?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// A transform could not convert a value; the reason is meant for people.
///
/// ```
/// use serde_json::json;
/// use twenty_mapping::apply_builtin;
/// let err = apply_builtin("email", &json!({}), json!("ada.example.com")).unwrap_err();
/// assert_eq!(err.reason, "email has no '@'");
/// assert_eq!(err.to_string(), err.reason);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct TransformError {
    /// Why the value was rejected, e.g. `email has no '@'`.
    pub reason: String,
}

impl TransformError {
    /// A new error with a reason.
    ///
    /// ```
    /// use twenty_mapping::{FnTransform, TransformError, TransformStep, ValueKind};
    /// let positive = FnTransform::new(ValueKind::Number, |v| match v.as_f64() {
    ///     Some(n) if n > 0.0 => Ok(v),
    ///     _ => Err(TransformError::new("expected a positive number")),
    /// });
    /// let err = positive.apply(serde_json::json!(-3)).unwrap_err();
    /// assert_eq!(err.reason, "expected a positive number");
    /// ```
    pub fn new(reason: impl Into<String>) -> Self {
        TransformError {
            reason: reason.into(),
        }
    }
}

/// One field of one record that could not be mapped; the rest of the record still maps.
///
/// ```
/// use serde_json::json;
/// use twenty_mapping::{compile, MappingFile, TransformRegistry};
/// let file = MappingFile::from_toml_str(r#"
/// [entities.contacts]
/// twenty_object = "people"
/// local_key = "id"
/// [[entities.contacts.fields]]
/// from = "email"
/// to = "emails.primaryEmail"
/// transforms = ["email"]
/// required = true
/// "#, "contacts.toml")?;
/// let mapping = compile(&file, &TransformRegistry::with_builtins(), None)?;
/// let out = mapping.entity("contacts").unwrap().to_twenty(&json!({"id": 1, "email": "ada.example.com"}));
/// let err = &out.errors[0];
/// assert_eq!((err.entity.as_str(), err.field.as_str()), ("contacts", "emails.primaryEmail"));
/// assert_eq!((err.rule.as_str(), err.rule_index), ("entities.contacts.fields[0]", 0));
/// assert_eq!(err.excerpt.as_deref(), Some("ada.example.com"));
/// assert!(err.required && out.is_rejected());
/// assert_eq!(err.to_string(), "contacts field `emails.primaryEmail` (entities.contacts.fields[0]): \
///     email has no '@' (value: \"ada.example.com\")");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Local entity name.
    pub entity: String,
    /// Target path of the rule (Twenty path on push, local path on pull).
    pub field: String,
    /// Rule path in the mapping file, e.g. `entities.contacts.fields[2]`.
    pub rule: String,
    /// Index of the rule in the entity's `fields`.
    pub rule_index: usize,
    /// Why it failed.
    pub reason: String,
    /// A bounded excerpt of the offending value; `None` when redacted or absent.
    pub excerpt: Option<String>,
    /// True when the rule is `required`: the record must not be written.
    pub required: bool,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} field `{}` ({}): {}",
            self.entity, self.field, self.rule, self.reason
        )?;
        if let Some(x) = &self.excerpt {
            write!(f, " (value: {x:?})")?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldError {}

/// A bounded excerpt of a value for an error message: at most `max` characters, then `…`.
pub(crate) fn excerpt(value: &serde_json::Value, max: usize) -> String {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() <= max {
        return text;
    }
    let mut out: String = text.chars().take(max).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_error_displays_file_line_column() {
        let e = ConfigError::new("m.toml", 3, 7, "bad".into());
        assert_eq!(e.to_string(), "m.toml:3:7: bad");
    }

    #[test]
    fn excerpt_is_bounded() {
        let v = serde_json::json!("abcdefghij");
        assert_eq!(excerpt(&v, 4), "abcd…");
        assert_eq!(excerpt(&v, 40), "abcdefghij");
    }
}
