//! Twenty's naming rules for fields and objects, checked before any request.

use crate::error::Error;

/// Longest identifier Postgres (and Twenty) accepts.
///
/// ```
/// use twenty_client::metadata::{validate_field_name, MAX_NAME_LENGTH};
/// assert!(validate_field_name(&"a".repeat(MAX_NAME_LENGTH)).is_ok());
/// assert!(validate_field_name(&"a".repeat(MAX_NAME_LENGTH + 1)).is_err());
/// ```
pub const MAX_NAME_LENGTH: usize = 63;

/// Names Twenty reserves (rejected for custom fields/objects).
///
/// ```
/// use twenty_client::metadata::{validate_field_name, RESERVED_NAMES};
/// assert!(RESERVED_NAMES.contains(&"currency"));
/// assert!(validate_field_name("currency").is_err());
/// assert!(validate_field_name("preferredCurrency").is_ok());
/// ```
pub const RESERVED_NAMES: &[&str] = &[
    "user",
    "users",
    "workspace",
    "workspaces",
    "role",
    "roles",
    "featureFlag",
    "featureFlags",
    "job",
    "jobs",
    "appToken",
    "appTokens",
    "billing",
    "billingSubscription",
    "billingSubscriptions",
    "billingCustomer",
    "billingCustomers",
    "billingEntitlement",
    "billingEntitlements",
    "billingMeter",
    "billingMeters",
    "billingPrice",
    "billingPrices",
    "billingProduct",
    "billingProducts",
    "billingSubscriptionItem",
    "billingSubscriptionItems",
    "pageLayout",
    "pageLayouts",
    "pageLayoutTab",
    "pageLayoutTabs",
    "pageLayoutWidget",
    "pageLayoutWidgets",
    "keyValuePair",
    "keyValuePairs",
    "twoFactorMethod",
    "twoFactorMethods",
    "userWorkspace",
    "userWorkspaces",
    "userWorkspaceRole",
    "userWorkspaceRoles",
    "postgresCredential",
    "postgresCredentials",
    "approvedAccessDomain",
    "approvedAccessDomains",
    "plan",
    "plans",
    "event",
    "events",
    "field",
    "fields",
    "link",
    "links",
    "currency",
    "currencies",
    "fullNames",
    "address",
    "addresses",
    "type",
    "types",
    "object",
    "objects",
    "index",
    "relation",
    "relations",
    "aggregate",
];

/// Check `name` against Twenty's rules: camelCase `^[a-z][a-zA-Z0-9]*$`, 1..=63 characters, not reserved.
///
/// ```
/// use twenty_client::metadata::validate_field_name;
/// assert!(validate_field_name("leadSource").is_ok());
/// assert!(validate_field_name("LeadSource").is_err());
/// assert!(validate_field_name("lead_source").is_err());
/// assert!(validate_field_name("type").is_err());
/// ```
pub fn validate_field_name(name: &str) -> Result<(), Error> {
    let fail = |why: String| {
        Err(Error::config(format!("invalid field name {name:?}: {why}"))
            .with_operation("metadata.validate_name")
            .with_context("field", name))
    };
    if name.is_empty() {
        return fail("it is empty".into());
    }
    if name.len() > MAX_NAME_LENGTH {
        return fail(format!(
            "it is {} characters long, the maximum is {MAX_NAME_LENGTH}",
            name.len()
        ));
    }
    let mut chars = name.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
        return fail("it must start with a lower-case ASCII letter (camelCase)".into());
    }
    if !chars.all(|c| c.is_ascii_alphanumeric()) {
        return fail("only ASCII letters and digits are allowed (camelCase, no `_` or `-`)".into());
    }
    if RESERVED_NAMES.contains(&name) {
        return fail("it is reserved by Twenty; pick another name (e.g. add a suffix)".into());
    }
    Ok(())
}
