//! Errors: config syntax ([`ConfigError`]), validation ([`CompileErrors`]), per-field apply
//! problems ([`FieldError`]) and transform failures ([`TransformError`]).

use std::fmt;

/// A mapping file that cannot be read or parsed. Displays as `file:line:col: message`.
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CompileErrors {
    /// The problems, in file order.
    pub errors: Vec<CompileError>,
}

impl CompileErrors {
    /// True if some problem's path starts with `path_prefix` and its message contains `needle`.
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct TransformError {
    /// Why the value was rejected, e.g. `email has no '@'`.
    pub reason: String,
}

impl TransformError {
    /// A new error with a reason.
    pub fn new(reason: impl Into<String>) -> Self {
        TransformError {
            reason: reason.into(),
        }
    }
}

/// One field of one record that could not be mapped; the rest of the record still maps.
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
