//! Twenty field types, the kinds of value a transform produces, and which fit where.

use std::fmt;

/// A Twenty field type (`FieldMetadataType`), as found in the metadata API.
///
/// ```
/// use twenty_mapping::{standard_field_type, FieldType, ValueKind};
/// let emails = standard_field_type("people", "emails").unwrap();
/// assert_eq!(emails, FieldType::Emails);
/// assert_eq!(emails.to_string(), "EMAILS");
/// assert!(emails.accepts(ValueKind::Emails) && !emails.accepts(ValueKind::Text));
/// assert_eq!(emails.sub_field_kind("primaryEmail"), Some(ValueKind::Text));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldType {
    /// `TEXT`
    Text,
    /// `NUMBER`
    Number,
    /// `NUMERIC`
    Numeric,
    /// `BOOLEAN`
    Boolean,
    /// `UUID`
    Uuid,
    /// `DATE_TIME`
    DateTime,
    /// `DATE`
    Date,
    /// `SELECT`
    Select,
    /// `MULTI_SELECT`
    MultiSelect,
    /// `RATING`
    Rating,
    /// `RAW_JSON`
    RawJson,
    /// `ARRAY`
    Array,
    /// `POSITION`
    Position,
    /// `RELATION`
    Relation,
    /// `FULL_NAME`
    FullName,
    /// `EMAILS`
    Emails,
    /// `PHONES`
    Phones,
    /// `LINKS`
    Links,
    /// `CURRENCY`
    Currency,
    /// `ADDRESS`
    Address,
    /// `ACTOR`
    Actor,
    /// `RICH_TEXT`: the rich-text composite `{blocknote, markdown}` as Twenty 2.x names it
    /// (2.21.0's metadata types `notes.bodyV2` so). Servers before 2.x called the composite
    /// `RICH_TEXT_V2` and used `RICH_TEXT` for a legacy plain-text body; the mapping follows the
    /// newest servers, so the two names are [the same type](FieldType::is_same_type).
    RichText,
    /// `RICH_TEXT_V2`: the rich-text composite `{blocknote, markdown}` as servers before 2.x name
    /// it; the same type as [`FieldType::RichText`].
    RichTextV2,
    /// `FILES`
    Files,
    /// Any other type name (newer servers); not type-checked.
    Other(String),
}

impl FieldType {
    /// Parses a metadata type name such as `"EMAILS"`.
    ///
    /// ```
    /// use twenty_mapping::FieldType;
    /// assert_eq!(FieldType::parse("EMAILS"), FieldType::Emails);
    /// assert_eq!(FieldType::parse("SOMETHING_NEW"), FieldType::Other("SOMETHING_NEW".into()));
    /// ```
    pub fn parse(name: &str) -> FieldType {
        match name {
            "TEXT" => FieldType::Text,
            "NUMBER" => FieldType::Number,
            "NUMERIC" => FieldType::Numeric,
            "BOOLEAN" => FieldType::Boolean,
            "UUID" => FieldType::Uuid,
            "DATE_TIME" => FieldType::DateTime,
            "DATE" => FieldType::Date,
            "SELECT" => FieldType::Select,
            "MULTI_SELECT" => FieldType::MultiSelect,
            "RATING" => FieldType::Rating,
            "RAW_JSON" => FieldType::RawJson,
            "ARRAY" => FieldType::Array,
            "POSITION" => FieldType::Position,
            "RELATION" => FieldType::Relation,
            "FULL_NAME" => FieldType::FullName,
            "EMAILS" => FieldType::Emails,
            "PHONES" => FieldType::Phones,
            "LINKS" => FieldType::Links,
            "CURRENCY" => FieldType::Currency,
            "ADDRESS" => FieldType::Address,
            "ACTOR" => FieldType::Actor,
            "RICH_TEXT" => FieldType::RichText,
            "RICH_TEXT_V2" => FieldType::RichTextV2,
            "FILES" => FieldType::Files,
            other => FieldType::Other(other.to_owned()),
        }
    }

    /// The metadata type name, e.g. `"FULL_NAME"`.
    ///
    /// ```
    /// use twenty_mapping::FieldType;
    /// assert_eq!(FieldType::FullName.as_str(), "FULL_NAME");
    /// assert_eq!(FieldType::parse("RICH_TEXT_V2").as_str(), "RICH_TEXT_V2");
    /// assert_eq!(FieldType::parse("NEW_TYPE").as_str(), "NEW_TYPE");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            FieldType::Text => "TEXT",
            FieldType::Number => "NUMBER",
            FieldType::Numeric => "NUMERIC",
            FieldType::Boolean => "BOOLEAN",
            FieldType::Uuid => "UUID",
            FieldType::DateTime => "DATE_TIME",
            FieldType::Date => "DATE",
            FieldType::Select => "SELECT",
            FieldType::MultiSelect => "MULTI_SELECT",
            FieldType::Rating => "RATING",
            FieldType::RawJson => "RAW_JSON",
            FieldType::Array => "ARRAY",
            FieldType::Position => "POSITION",
            FieldType::Relation => "RELATION",
            FieldType::FullName => "FULL_NAME",
            FieldType::Emails => "EMAILS",
            FieldType::Phones => "PHONES",
            FieldType::Links => "LINKS",
            FieldType::Currency => "CURRENCY",
            FieldType::Address => "ADDRESS",
            FieldType::Actor => "ACTOR",
            FieldType::RichText => "RICH_TEXT",
            FieldType::RichTextV2 => "RICH_TEXT_V2",
            FieldType::Files => "FILES",
            FieldType::Other(s) => s,
        }
    }

    /// Whether a field of type `self` and one of type `other` hold the same values: equal types,
    /// and the two names of the rich-text composite (`RICH_TEXT` on Twenty 2.x, `RICH_TEXT_V2`
    /// before).
    ///
    /// ```
    /// use twenty_mapping::FieldType;
    /// assert!(FieldType::RichTextV2.is_same_type(&FieldType::parse("RICH_TEXT")));
    /// assert!(FieldType::Text.is_same_type(&FieldType::Text));
    /// assert!(!FieldType::RichText.is_same_type(&FieldType::Text));
    /// ```
    pub fn is_same_type(&self, other: &FieldType) -> bool {
        let rich = |t: &FieldType| matches!(t, FieldType::RichText | FieldType::RichTextV2);
        self == other || (rich(self) && rich(other))
    }

    /// The kind of value a sub-field of this composite type holds (`FULL_NAME` + `firstName` gives
    /// text); `None` when the type has no such sub-field. `RAW_JSON` accepts any sub-path.
    ///
    /// ```
    /// use twenty_mapping::{FieldType, ValueKind};
    /// assert_eq!(FieldType::FullName.sub_field_kind("firstName"), Some(ValueKind::Text));
    /// assert_eq!(FieldType::Currency.sub_field_kind("amountMicros"), Some(ValueKind::Number));
    /// assert_eq!(FieldType::Emails.sub_field_kind("firstName"), None);
    /// assert_eq!(FieldType::RawJson.sub_field_kind("any.path"), Some(ValueKind::Any));
    /// ```
    pub fn sub_field_kind(&self, sub: &str) -> Option<ValueKind> {
        use ValueKind::*;
        let kind = match (self, sub) {
            (FieldType::RawJson | FieldType::Other(_), _) => Any,
            (FieldType::FullName, "firstName" | "lastName") => Text,
            (FieldType::Emails, "primaryEmail") => Text,
            (FieldType::Emails, "additionalEmails") => TextList,
            (
                FieldType::Phones,
                "primaryPhoneNumber" | "primaryPhoneCountryCode" | "primaryPhoneCallingCode",
            ) => Text,
            (FieldType::Phones, "additionalPhones") => Any,
            (FieldType::Links, "primaryLinkUrl" | "primaryLinkLabel") => Text,
            (FieldType::Links, "secondaryLinks") => Any,
            (FieldType::Currency, "amountMicros") => Number,
            (FieldType::Currency, "currencyCode") => Text,
            (
                FieldType::Address,
                "addressStreet1" | "addressStreet2" | "addressCity" | "addressPostcode"
                | "addressState" | "addressCountry",
            ) => Text,
            (FieldType::Address, "addressLat" | "addressLng") => Number,
            (FieldType::RichText | FieldType::RichTextV2, "blocknote" | "markdown") => Text,
            (FieldType::Actor, "source" | "name" | "workspaceMemberId") => Text,
            (FieldType::Actor, "context") => Any,
            _ => return None,
        };
        Some(kind)
    }

    /// Whether a value of `kind` may be written to a field of this type.
    ///
    /// ```
    /// use twenty_mapping::{FieldType, ValueKind};
    /// assert!(FieldType::Number.accepts(ValueKind::Number));
    /// assert!(!FieldType::Number.accepts(ValueKind::Text));
    /// assert!(FieldType::MultiSelect.accepts(ValueKind::TextList));
    /// assert!(FieldType::Boolean.accepts(ValueKind::Any)); // unknown kinds are never an error
    /// ```
    pub fn accepts(&self, kind: ValueKind) -> bool {
        use ValueKind as K;
        match kind {
            K::Any => true,
            K::Text => matches!(
                self,
                FieldType::Text
                    | FieldType::Uuid
                    | FieldType::DateTime
                    | FieldType::Date
                    | FieldType::Select
                    | FieldType::Rating
                    | FieldType::RawJson
                    | FieldType::Numeric
                    | FieldType::Array
                    | FieldType::Relation
                    | FieldType::Other(_)
            ),
            K::Number => matches!(
                self,
                FieldType::Number | FieldType::Numeric | FieldType::Position | FieldType::Other(_)
            ),
            K::Bool => matches!(self, FieldType::Boolean | FieldType::Other(_)),
            K::TextList => matches!(
                self,
                FieldType::MultiSelect
                    | FieldType::Array
                    | FieldType::RawJson
                    | FieldType::Other(_)
            ),
            K::Json => matches!(self, FieldType::RawJson | FieldType::Other(_)),
            K::FullName => matches!(self, FieldType::FullName | FieldType::Other(_)),
            K::Emails => matches!(self, FieldType::Emails | FieldType::Other(_)),
            K::Phones => matches!(self, FieldType::Phones | FieldType::Other(_)),
            K::Links => matches!(self, FieldType::Links | FieldType::Other(_)),
            K::Currency => matches!(self, FieldType::Currency | FieldType::Other(_)),
            K::Address => matches!(self, FieldType::Address | FieldType::Other(_)),
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of JSON value a transform produces, used to type-check rules against target fields.
///
/// ```
/// use serde_json::json;
/// use twenty_mapping::{FieldType, ValueKind};
/// let kind = ValueKind::of(&json!(["vip", "new"]));
/// assert_eq!(kind, ValueKind::TextList);
/// assert!(FieldType::MultiSelect.accepts(kind));
/// assert_eq!(kind.to_string(), "list of text");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueKind {
    /// Unknown or anything (never a type error).
    Any,
    /// A JSON string.
    Text,
    /// A JSON number.
    Number,
    /// A JSON boolean.
    Bool,
    /// An array of strings (MULTI_SELECT, ARRAY).
    TextList,
    /// Arbitrary JSON (RAW_JSON).
    Json,
    /// `{firstName, lastName}`.
    FullName,
    /// `{primaryEmail, additionalEmails}`.
    Emails,
    /// `{primaryPhoneNumber, primaryPhoneCountryCode, primaryPhoneCallingCode}`.
    Phones,
    /// `{primaryLinkUrl, ...}`.
    Links,
    /// `{amountMicros, currencyCode}`.
    Currency,
    /// `{addressCity, addressState, addressCountry, ...}`.
    Address,
}

impl ValueKind {
    /// Whether a value of this kind fits a slot expecting `expected` (a sub-field kind).
    ///
    /// ```
    /// use twenty_mapping::ValueKind;
    /// assert!(ValueKind::Text.fits(ValueKind::Text));
    /// assert!(ValueKind::Number.fits(ValueKind::Json)); // JSON slots take anything
    /// assert!(ValueKind::Any.fits(ValueKind::Number));
    /// assert!(!ValueKind::Number.fits(ValueKind::Text));
    /// ```
    pub fn fits(self, expected: ValueKind) -> bool {
        self == ValueKind::Any
            || expected == ValueKind::Any
            || self == expected
            || (expected == ValueKind::Json)
    }

    /// The kind of a concrete JSON value.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::ValueKind;
    /// assert_eq!(ValueKind::of(&json!("Ada")), ValueKind::Text);
    /// assert_eq!(ValueKind::of(&json!(4.5)), ValueKind::Number);
    /// assert_eq!(ValueKind::of(&json!(["a", "b"])), ValueKind::TextList);
    /// assert_eq!(ValueKind::of(&json!({"firstName": "Ada"})), ValueKind::Any);
    /// ```
    pub fn of(value: &serde_json::Value) -> ValueKind {
        match value {
            serde_json::Value::String(_) => ValueKind::Text,
            serde_json::Value::Number(_) => ValueKind::Number,
            serde_json::Value::Bool(_) => ValueKind::Bool,
            serde_json::Value::Array(items) if items.iter().all(|v| v.is_string()) => {
                ValueKind::TextList
            }
            _ => ValueKind::Any,
        }
    }
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ValueKind::Any => "any value",
            ValueKind::Text => "text",
            ValueKind::Number => "number",
            ValueKind::Bool => "boolean",
            ValueKind::TextList => "list of text",
            ValueKind::Json => "JSON value",
            ValueKind::FullName => "FULL_NAME object",
            ValueKind::Emails => "EMAILS object",
            ValueKind::Phones => "PHONES object",
            ValueKind::Links => "LINKS object",
            ValueKind::Currency => "CURRENCY object",
            ValueKind::Address => "ADDRESS object",
        };
        f.write_str(s)
    }
}

/// The type of a standard field of a standard Twenty object (by plural object name), used to
/// type-check mappings when no schema is given. `None` for unknown objects or fields.
///
/// ```
/// use twenty_mapping::{standard_field_type, FieldType};
/// assert_eq!(standard_field_type("people", "emails"), Some(FieldType::Emails));
/// assert_eq!(standard_field_type("companies", "domainName"), Some(FieldType::Links));
/// assert_eq!(standard_field_type("people", "llmContext"), None);
/// ```
pub fn standard_field_type(object_plural: &str, field: &str) -> Option<FieldType> {
    use FieldType::*;
    let common = match field {
        "id" => Some(Uuid),
        "createdAt" | "updatedAt" | "deletedAt" => Some(DateTime),
        "position" => Some(Position),
        "createdBy" | "updatedBy" => Some(Actor),
        _ => None,
    };
    if common.is_some() {
        return common;
    }
    let t = match (object_plural, field) {
        ("people", "name") => FullName,
        ("people", "emails") => Emails,
        ("people", "linkedinLink" | "xLink") => Links,
        ("people", "jobTitle" | "city" | "avatarUrl") => Text,
        ("people", "phones") => Phones,
        ("people", "companyId") => Uuid,
        ("companies", "name") => Text,
        ("companies", "domainName" | "linkedinLink" | "xLink") => Links,
        ("companies", "address") => Address,
        ("companies", "employees") => Number,
        ("companies", "annualRecurringRevenue") => Currency,
        ("companies", "idealCustomerProfile") => Boolean,
        ("companies", "accountOwnerId") => Uuid,
        ("opportunities", "name") => Text,
        ("opportunities", "amount") => Currency,
        ("opportunities", "closeDate") => DateTime,
        ("opportunities", "stage") => Select,
        ("opportunities", "pointOfContactId" | "companyId" | "ownerId") => Uuid,
        ("tasks", "title") => Text,
        ("tasks", "bodyV2") => RichTextV2,
        ("tasks", "dueAt") => DateTime,
        ("tasks", "status") => Select,
        ("tasks", "assigneeId") => Uuid,
        ("notes", "title") => Text,
        ("notes", "bodyV2") => RichTextV2,
        _ => return None,
    };
    Some(t)
}

/// The select options of a standard SELECT field (e.g. `opportunities.stage`), if known.
pub(crate) fn standard_select_options(
    object_plural: &str,
    field: &str,
) -> Option<&'static [&'static str]> {
    match (object_plural, field) {
        ("opportunities", "stage") => {
            Some(&["NEW", "SCREENING", "MEETING", "PROPOSAL", "CUSTOMER"])
        }
        ("tasks", "status") => Some(&["TODO", "IN_PROGRESS", "DONE"]),
        _ => None,
    }
}

/// Whether `object_plural` is a standard object whose fields [`standard_field_type`] knows.
pub(crate) fn is_known_standard_object(object_plural: &str) -> bool {
    matches!(
        object_plural,
        "people" | "companies" | "opportunities" | "tasks" | "notes"
    )
}
