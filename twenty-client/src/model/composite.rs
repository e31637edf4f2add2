//! Twenty's composite field types.
//!
//! Sub-fields are all optional so that partial payloads (PATCH) and older/newer servers decode. Composite
//! types keep only the sub-fields Twenty documents; unknown *top-level* fields of a record are preserved by
//! the record types themselves.

use serde::{Deserialize, Deserializer, Serialize};

/// `FULL_NAME`: `{firstName, lastName}`.
///
/// ```
/// use twenty_client::model::FullName;
/// let name: FullName = serde_json::from_value(serde_json::json!({"firstName": "Ada", "lastName": ""}))?;
/// assert_eq!(name.first_name.as_deref(), Some("Ada"));
/// // Unset sub-fields are left out, so a PATCH touches only what is set.
/// let patch = FullName { last_name: Some("Lovelace".into()), ..Default::default() };
/// assert_eq!(serde_json::to_value(&patch)?, serde_json::json!({"lastName": "Lovelace"}));
/// # Ok::<(), serde_json::Error>(())
/// ```
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
///
/// ```
/// use twenty_client::model::Emails;
/// let emails: Emails = serde_json::from_value(serde_json::json!(
///     {"primaryEmail": "ada@example.com", "additionalEmails": ["ada@work.example"]}
/// ))?;
/// assert_eq!(emails.additional_emails.as_deref(), Some(&["ada@work.example".to_owned()][..]));
/// // Older servers send the list as a JSON string: it decodes the same.
/// let old: Emails = serde_json::from_value(serde_json::json!(
///     {"primaryEmail": "ada@example.com", "additionalEmails": "[\"ada@work.example\"]"}
/// ))?;
/// assert_eq!(old, emails);
/// # Ok::<(), serde_json::Error>(())
/// ```
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
///
/// ```
/// use twenty_client::model::Phones;
/// let phones: Phones = serde_json::from_value(serde_json::json!({"additionalPhones": [
///     {"number": "612345678", "countryCode": "FR", "callingCode": "+33"}
/// ]}))?;
/// let other = &phones.additional_phones.unwrap()[0];
/// assert_eq!((other.calling_code.as_deref(), other.number.as_deref()), (Some("+33"), Some("612345678")));
/// # Ok::<(), serde_json::Error>(())
/// ```
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
///
/// ```
/// use twenty_client::model::Phones;
/// let phones = Phones {
///     primary_phone_number: Some("2079460958".into()),
///     primary_phone_country_code: Some("GB".into()),
///     primary_phone_calling_code: Some("+44".into()),
///     ..Default::default()
/// };
/// let wire = serde_json::to_value(&phones)?;
/// assert_eq!(wire["primaryPhoneCallingCode"], "+44");
/// assert!(wire.get("additionalPhones").is_none());
/// assert_eq!(serde_json::from_value::<Phones>(wire)?, phones);
/// # Ok::<(), serde_json::Error>(())
/// ```
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
///
/// ```
/// use twenty_client::model::Links;
/// let links: Links = serde_json::from_value(serde_json::json!({
///     "primaryLinkUrl": "https://acme.example",
///     "secondaryLinks": [{"url": "https://blog.acme.example", "label": "Blog"}]
/// }))?;
/// let blog = &links.secondary_links.unwrap()[0];
/// assert_eq!(blog.label.as_deref(), Some("Blog"));
/// # Ok::<(), serde_json::Error>(())
/// ```
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
///
/// ```
/// use twenty_client::model::{Company, Links};
/// let acme = Company {
///     name: Some("Acme".into()),
///     domain_name: Some(Links { primary_link_url: Some("https://acme.example".into()), ..Default::default() }),
///     ..Default::default()
/// };
/// let wire = serde_json::to_value(&acme)?;
/// assert_eq!(wire["domainName"], serde_json::json!({"primaryLinkUrl": "https://acme.example"}));
/// # Ok::<(), serde_json::Error>(())
/// ```
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
///
/// ```
/// use twenty_client::model::Currency;
/// // Some servers send micros as a string: both forms decode.
/// let deal: Currency = serde_json::from_value(serde_json::json!(
///     {"amountMicros": "1500000000", "currencyCode": "EUR"}
/// ))?;
/// assert_eq!(deal.amount_micros, Some(1_500_000_000));
/// assert_eq!(deal.amount(), Some(1500.0));
/// # Ok::<(), serde_json::Error>(())
/// ```
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
    ///
    /// ```
    /// use twenty_client::model::Currency;
    /// let price = Currency { amount_micros: Some(19_990_000), currency_code: Some("USD".into()) };
    /// assert_eq!(price.amount(), Some(19.99));
    /// assert_eq!(Currency::default().amount(), None);
    /// ```
    pub fn amount(&self) -> Option<f64> {
        self.amount_micros.map(|m| m as f64 / 1_000_000.0)
    }
}

/// `ADDRESS`.
///
/// ```
/// use twenty_client::model::Address;
/// let hq: Address = serde_json::from_value(serde_json::json!({
///     "addressStreet1": "1 Rue de la Paix", "addressCity": "Paris",
///     "addressCountry": "France", "addressLat": 48.869, "addressLng": 2.331
/// }))?;
/// assert_eq!(hq.address_city.as_deref(), Some("Paris"));
/// assert_eq!(hq.address_lat, Some(48.869));
/// assert!(hq.address_street2.is_none());
/// # Ok::<(), serde_json::Error>(())
/// ```
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
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::model::Person;
/// let saved = client.people().create(&Person { job_title: Some("CFO".into()), ..Default::default() })
///     .send().await?;
/// // Filled by the server: an API key wrote this record.
/// let actor = saved.created_by.unwrap();
/// assert_eq!(actor.source.as_deref(), Some("API"));
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
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
///
/// ```
/// use twenty_client::model::{Note, RichTextV2};
/// let note = Note {
///     title: Some("Call notes".into()),
///     body_v2: Some(RichTextV2 { markdown: Some("**Renewal** in May".into()), blocknote: None }),
///     ..Default::default()
/// };
/// let wire = serde_json::to_value(&note)?;
/// assert_eq!(wire["bodyV2"], serde_json::json!({"markdown": "**Renewal** in May"}));
/// # Ok::<(), serde_json::Error>(())
/// ```
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
///
/// ```
/// use twenty_client::model::Person;
/// let p: Person = serde_json::from_value(serde_json::json!({
///     "id": "p1", "avatarFile": [{"fileId": "f1", "label": "ada.png", "extension": "png"}]
/// }))?;
/// let file = &p.avatar_file.as_ref().unwrap()[0];
/// assert_eq!((file.file_id.as_deref(), file.label.as_deref()), (Some("f1"), Some("ada.png")));
/// assert_eq!(file.extra["extension"], "png"); // kept for the round trip
/// # Ok::<(), serde_json::Error>(())
/// ```
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
