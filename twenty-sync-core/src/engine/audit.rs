//! Whether the audit log records field *values* (it never does by default).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::mapper::get_path;

/// The marker before the values in [`AuditEntry::detail`](crate::AuditEntry::detail).
pub(crate) const VALUES_MARKER: &str = "values: ";

/// Whether audit entries carry the before/after values of the fields a write changed.
///
/// By default ([`AuditValues::Off`]) the audit log holds field **names** and content hashes only.
/// With [`AuditValues::Changed`], creates and updates in both directions (and adoptions) also
/// record `{"field": {"before": …, "after": …}}` for every changed field, except
///
/// - the fields listed as secret (matched against the changed-field paths as they appear in
///   [`AuditEntry::changed_fields`](crate::AuditEntry::changed_fields): Twenty paths such as
///   `emails.primaryEmail` for pushes, local field names for pulls), and
/// - any field whose path looks secret: it contains `password`, `passwd`, `secret`, `token`,
///   `apikey`, `privatekey` or `credential` (case-insensitive, ignoring `_` and `-`).
///
/// The values go into [`AuditEntry::detail`](crate::AuditEntry::detail) (after any other detail,
/// as `values: {json}`); read them back with
/// [`AuditEntry::field_values`](crate::AuditEntry::field_values).
///
/// ```
/// use twenty_sync_core::engine::AuditValues;
///
/// let values = AuditValues::changed_except(["ssn"]);
/// assert!(values.is_recorded("jobTitle"));
/// assert!(!values.is_recorded("ssn"));
/// assert!(!values.is_recorded("integration.apiKey"));
/// assert!(!AuditValues::default().is_recorded("jobTitle"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditValues {
    /// Field names only (the default).
    #[default]
    Off,
    /// Before/after values of changed fields that are not secret.
    Changed {
        /// Fields whose values are never recorded.
        secret_fields: BTreeSet<String>,
    },
}

impl AuditValues {
    /// Records values of every changed field that does not look secret.
    ///
    /// ```
    /// use twenty_sync_core::engine::AuditValues;
    ///
    /// let values = AuditValues::changed();
    /// assert!(values.is_recorded("jobTitle"));
    /// assert!(!values.is_recorded("user_password")); // looks secret: never recorded
    /// ```
    pub fn changed() -> Self {
        AuditValues::Changed {
            secret_fields: BTreeSet::new(),
        }
    }

    /// Records values of changed fields except `secret_fields` (and fields that look secret).
    ///
    /// ```
    /// use twenty_sync_core::engine::AuditValues;
    ///
    /// let values = AuditValues::changed_except(["ssn", "salary"]);
    /// assert!(!values.is_recorded("salary"));
    /// assert!(values.is_recorded("city"));
    /// ```
    pub fn changed_except<I, S>(secret_fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AuditValues::Changed {
            secret_fields: secret_fields.into_iter().map(Into::into).collect(),
        }
    }

    /// Whether the value of field `path` would be recorded.
    ///
    /// ```
    /// use twenty_sync_core::engine::AuditValues;
    ///
    /// assert!(!AuditValues::Off.is_recorded("city"));
    /// let values = AuditValues::changed();
    /// assert!(values.is_recorded("city"));
    /// assert!(!values.is_recorded("oauth-Token")); // case and `-`/`_` are ignored
    /// ```
    pub fn is_recorded(&self, path: &str) -> bool {
        match self {
            AuditValues::Off => false,
            AuditValues::Changed { secret_fields } => {
                !secret_fields.contains(path) && !looks_secret(path)
            }
        }
    }

    /// The `values: {…}` detail for a write changing `changed` from `before` to `after`, or
    /// `None` when values are off or no changed field may be recorded.
    pub(crate) fn detail(
        &self,
        changed: &[String],
        before: &Value,
        after: &Value,
    ) -> Option<String> {
        if *self == AuditValues::Off {
            return None;
        }
        // A struct, so each pair reads "before" then "after" whatever the map's key order.
        #[derive(serde::Serialize)]
        struct Pair<'a> {
            before: &'a Value,
            after: &'a Value,
        }
        let mut values = BTreeMap::new();
        for path in changed.iter().filter(|p| self.is_recorded(p)) {
            let pair = Pair {
                before: get_path(before, path).unwrap_or(&Value::Null),
                after: get_path(after, path).unwrap_or(&Value::Null),
            };
            values.insert(path.as_str(), pair);
        }
        let json = serde_json::to_string(&values).ok()?;
        (!values.is_empty()).then(|| format!("{VALUES_MARKER}{json}"))
    }
}

fn looks_secret(path: &str) -> bool {
    let flat: String = path
        .chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "privatekey",
        "credential",
    ]
    .iter()
    .any(|w| flat.contains(w))
}

/// `detail` followed by `values` (either may be absent).
pub(crate) fn with_values(detail: Option<String>, values: Option<String>) -> Option<String> {
    match (detail, values) {
        (Some(d), Some(v)) => Some(format!("{d}; {v}")),
        (d, None) => d,
        (None, v) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn off_records_nothing() {
        let d = AuditValues::Off.detail(&["a".into()], &json!({"a": 1}), &json!({"a": 2}));
        assert_eq!(d, None);
    }

    #[test]
    fn changed_records_before_and_after_of_non_secret_fields() {
        let v = AuditValues::changed_except(["ssn"]);
        let d = v
            .detail(
                &["name.first".into(), "ssn".into(), "apiToken".into()],
                &json!({"name": {"first": "Ada"}, "ssn": "1", "apiToken": "t0"}),
                &json!({"name": {"first": "Grace"}, "ssn": "2", "apiToken": "t1"}),
            )
            .unwrap();
        assert_eq!(
            d,
            r#"values: {"name.first":{"before":"Ada","after":"Grace"}}"#
        );
        assert_eq!(
            with_values(Some("matched".into()), Some(d.clone())),
            Some(format!("matched; {d}"))
        );
        // Only secret fields changed: no values at all.
        assert_eq!(
            v.detail(&["ssn".into()], &json!({}), &json!({"ssn": "3"})),
            None
        );
    }

    #[test]
    fn secret_looking_names() {
        for p in [
            "password",
            "user.api_key",
            "Private-Key",
            "secretAnswer",
            "oauthToken",
            "credentials.x",
        ] {
            assert!(looks_secret(p), "{p}");
        }
        for p in ["email", "jobTitle", "name.firstName", "city"] {
            assert!(!looks_secret(p), "{p}");
        }
    }
}
