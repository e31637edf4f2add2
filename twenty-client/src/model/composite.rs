//! Twenty's composite field types.
//!
//! Sub-fields are all optional so that partial payloads (PATCH) and older/newer servers decode. Composite
//! types keep only the sub-fields Twenty documents; unknown *top-level* fields of a record are preserved by
//! the record types themselves.

use serde::{Deserialize, Deserializer, Serialize};

/// `FULL_NAME`: `{firstName, lastName}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FullName {
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
}

/// `EMAILS`: primary email (unique on people) and additional ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Emails {
    /// Primary email (Twenty stores it lower-case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_email: Option<String>,
    /// Additional emails (older servers may send them as a JSON string; both decode).
    #[serde(
        default,
        deserialize_with = "lenient_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_emails: Option<Vec<String>>,
}

/// One additional phone of [`Phones`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalPhone {
    /// Number without calling code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// ISO country code, e.g. `FR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// Calling code, e.g. `+33`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calling_code: Option<String>,
}

/// `PHONES`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Phones {
    /// Primary number without calling code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_phone_number: Option<String>,
    /// ISO country code of the primary number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_phone_country_code: Option<String>,
    /// Calling code of the primary number, e.g. `+33`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_phone_calling_code: Option<String>,
    /// Other numbers.
    #[serde(
        default,
        deserialize_with = "lenient_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_phones: Option<Vec<AdditionalPhone>>,
}

/// One secondary link of [`Links`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkItem {
    /// URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// `LINKS` (company `domainName` is unique on `primaryLinkUrl`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Links {
    /// Primary URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_link_url: Option<String>,
    /// Primary label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_link_label: Option<String>,
    /// Other links.
    #[serde(
        default,
        deserialize_with = "lenient_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub secondary_links: Option<Vec<LinkItem>>,
}

/// `CURRENCY`: amount in micros (amount × 1,000,000) and ISO currency code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Currency {
    /// Amount × 10^6 (numbers and numeric strings decode).
    #[serde(
        default,
        deserialize_with = "lenient_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub amount_micros: Option<i64>,
    /// ISO 4217 code, e.g. `USD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_code: Option<String>,
}

impl Currency {
    /// Amount in whole units (`amount_micros / 1e6`).
    pub fn amount(&self) -> Option<f64> {
        self.amount_micros.map(|m| m as f64 / 1_000_000.0)
    }
}

/// `ADDRESS`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// Street line 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_street1: Option<String>,
    /// Street line 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_street2: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_city: Option<String>,
    /// Postcode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_postcode: Option<String>,
    /// State.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_state: Option<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_country: Option<String>,
    /// Latitude.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_lat: Option<f64>,
    /// Longitude.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_lng: Option<f64>,
}

/// `ACTOR` (`createdBy`/`updatedBy`; filled by the server on API writes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// `API`, `MANUAL`, `IMPORT`, `WEBHOOK`, `APPLICATION`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Workspace member who acted, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_member_id: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free-form context (may be null).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
}

/// `RICH_TEXT_V2`: BlockNote JSON (as a string) and/or Markdown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RichTextV2 {
    /// BlockNote document serialised as a JSON string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocknote: Option<String>,
    /// Markdown rendering (writing only markdown is allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markdown: Option<String>,
}

/// One entry of a `FILES` field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileRef {
    /// File id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// Label (file name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Other keys the server sends (extension, url …), kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Accept `null`, an array, or a JSON string holding an array.
fn lenient_vec<'de, D, T>(de: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either<T> {
        List(Vec<T>),
        Text(String),
    }
    match Option::<Either<T>>::deserialize(de)? {
        None => Ok(None),
        Some(Either::List(v)) => Ok(Some(v)),
        Some(Either::Text(s)) if s.trim().is_empty() => Ok(Some(Vec::new())),
        Some(Either::Text(s)) => serde_json::from_str(&s)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// Accept a number or a numeric string.
fn lenient_i64<'de, D: Deserializer<'de>>(de: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Int(i64),
        Float(f64),
        Text(String),
    }
    match Option::<Either>::deserialize(de)? {
        None => Ok(None),
        Some(Either::Int(i)) => Ok(Some(i)),
        Some(Either::Float(f)) => Ok(Some(f.round() as i64)),
        Some(Either::Text(s)) => s
            .trim()
            .parse::<f64>()
            .map(|f| Some(f.round() as i64))
            .map_err(serde::de::Error::custom),
    }
}
