//! The metadata (schema) API: objects and fields, custom field creation, and idempotent
//! `ensure_fields` / `verify_fields` for an app's declared custom fields.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
//! let key = secrecy::SecretString::from("sim-key");
//! let client = twenty_client::Client::builder(sim.base_url(), key).build()?;
//! use twenty_client::metadata::{FieldSpec, FieldType};
//! let specs = [FieldSpec::new("people", "externalId", FieldType::Text)];
//! assert_eq!(client.metadata().ensure_fields(&specs).await?.created.len(), 1);
//! // Idempotent: the second run finds the field and creates nothing.
//! let again = client.metadata().ensure_fields(&specs).await?;
//! assert_eq!((again.created.len(), again.already_present.len()), (0, 1));
//! let person = client.metadata().object("person").await?;
//! assert!(person.field("externalId").is_some());
//! # sim.shutdown().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod names;
mod reconcile;
mod types;

pub use names::{MAX_NAME_LENGTH, RESERVED_NAMES, validate_field_name};
pub use reconcile::verify_fields_in;
pub use types::{
    CreateField, EnsureReport, FieldMetadata, FieldMismatch, FieldOption, FieldRef, FieldSpec,
    FieldType, ObjectMetadata,
};

use reqwest::Method;

use crate::client::Client;
use crate::envelope::ListEnvelope;
use crate::error::{Error, ErrorKind};
use crate::transport::{Call, decode};
use reconcile::Finding;

/// Page size used when listing metadata objects.
const METADATA_PAGE: u32 = 200;

/// Entry point of the metadata API (`client.metadata()`).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::metadata::{FieldOption, FieldSpec, FieldType};
/// let specs = [
///     FieldSpec::new("people", "externalId", FieldType::Text).label("External id"),
///     FieldSpec::new("people", "tier", FieldType::Select)
///         .options([FieldOption::new("GOLD", "Gold"), FieldOption::new("SILVER", "Silver")]),
/// ];
/// let report = client.metadata().ensure_fields(&specs).await?;
/// assert!(report.mismatched.is_empty(), "{:?}", report.mismatched);
/// assert_eq!(report.created.len(), 2);
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct MetadataHandler {
    client: Client,
}

impl MetadataHandler {
    pub(crate) fn new(client: Client) -> Self {
        MetadataHandler { client }
    }

    /// Every object with its fields (`GET /rest/metadata/objects`, following cursors).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// let objects = client.metadata().objects().await?;
    /// let people = objects.iter().find(|o| o.name_plural == "people").unwrap();
    /// assert_eq!(people.name_singular, "person");
    /// assert!(people.field("emails").is_some());
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn objects(&self) -> Result<Vec<ObjectMetadata>, Error> {
        let op = "metadata.objects";
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = self.client.url(&["rest", "metadata", "objects"]);
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("limit", &METADATA_PAGE.to_string());
                if let Some(c) = &cursor {
                    q.append_pair("starting_after", c);
                }
            }
            let call = Call::new(Method::GET, url, op);
            let env: ListEnvelope<ObjectMetadata> = self.client.send_json(&call).await?;
            let n = env.data.0.len();
            out.extend(env.data.0);
            match env.page_info.end_cursor {
                Some(c) if env.page_info.has_next_page && n > 0 && cursor.as_ref() != Some(&c) => {
                    cursor = Some(c)
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// One object by singular or plural name.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::ErrorKind;
    /// use twenty_client::metadata::FieldType;
    /// let person = client.metadata().object("person").await?; // or "people"
    /// assert_eq!(person.name_plural, "people");
    /// assert_eq!(person.field("emails").unwrap().field_type, FieldType::Emails);
    /// let err = client.metadata().object("spaceships").await.unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::NotFound);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn object(&self, name: &str) -> Result<ObjectMetadata, Error> {
        self.objects()
            .await?
            .into_iter()
            .find(|o| o.name_plural == name || o.name_singular == name)
            .ok_or_else(|| {
                Error::new(ErrorKind::NotFound, format!("no object named `{name}`"))
                    .with_operation("metadata.object")
                    .with_context("object", name)
            })
    }

    /// Create a custom field (`POST /rest/metadata/fields`). The name is validated first; a duplicate
    /// name is [`ErrorKind::Conflict`] (409 on newer servers, 400 `METADATA_VALIDATION_ERROR` on 2.21.0).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::ErrorKind;
    /// use twenty_client::metadata::{CreateField, FieldOption, FieldType};
    /// let person = client.metadata().object("people").await?;
    /// let tier = || CreateField::new(person.id.clone(), "loyaltyTier", "Loyalty tier", FieldType::Select)
    ///     .options(vec![FieldOption::new("GOLD", "Gold"), FieldOption::new("SILVER", "Silver")]);
    /// let created = client.metadata().create_field(tier()).await?;
    /// assert_eq!((created.name.as_str(), created.field_type), ("loyaltyTier", FieldType::Select));
    /// let again = client.metadata().create_field(tier()).await.unwrap_err();
    /// assert_eq!(again.kind(), &ErrorKind::Conflict);
    /// // Invalid names never reach the server.
    /// let bad = CreateField::new(person.id.clone(), "loyalty_tier", "Tier", FieldType::Text);
    /// assert_eq!(client.metadata().create_field(bad).await.unwrap_err().kind(), &ErrorKind::Config);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn create_field(&self, field: CreateField) -> Result<FieldMetadata, Error> {
        let op = "metadata.create_field";
        validate_field_name(&field.name).map_err(|e| e.with_operation(op))?;
        if field.field_type.has_options() && field.options.as_ref().is_none_or(|o| o.is_empty()) {
            return Err(Error::config(format!(
                "{} field `{}` needs at least one option",
                field.field_type, field.name
            ))
            .with_operation(op)
            .with_context("field", field.name.clone()));
        }
        let url = self.client.url(&["rest", "metadata", "fields"]);
        let call = Call::new(Method::POST, url, op)
            .context("field", field.name.clone())
            .json(&field)?;
        let raw = self.client.send_raw(&call).await?;
        let value: serde_json::Value = decode(&raw).map_err(|e| e.with_operation(op))?;
        let inner = unwrap_data(value);
        serde_json::from_value(inner).map_err(|e| {
            Error::new(
                ErrorKind::Decode {
                    path: "data.createOneField".into(),
                },
                format!("unexpected field JSON: {e}"),
            )
            .with_operation(op)
        })
    }

    /// Create every declared field that is missing; report those present, and those that differ.
    /// Names are validated before any request. Existing fields are never modified.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::metadata::{FieldSpec, FieldType};
    /// let specs = [FieldSpec::new("people", "externalRef", FieldType::Text).label("External ref")];
    /// let first = client.metadata().ensure_fields(&specs).await?;
    /// assert_eq!(first.created.len(), 1);
    /// let second = client.metadata().ensure_fields(&specs).await?; // idempotent
    /// assert!(second.created.is_empty() && second.already_present.len() == 1);
    /// assert!(second.is_ok());
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn ensure_fields(&self, specs: &[FieldSpec]) -> Result<EnsureReport, Error> {
        self.reconcile(specs, true).await
    }

    /// Like [`MetadataHandler::ensure_fields`] but read-only: missing fields are reported, not created.
    /// To check objects already read, see [`verify_fields_in`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::metadata::{FieldSpec, FieldType};
    /// let specs = [
    ///     FieldSpec::new("people", "jobTitle", FieldType::Number), // TEXT on the server
    ///     FieldSpec::new("people", "externalRef", FieldType::Text),
    /// ];
    /// let report = client.metadata().verify_fields(&specs).await?;
    /// assert_eq!(report.mismatched[0].field.field, "jobTitle");
    /// assert_eq!(report.missing[0].field, "externalRef"); // reported, not created
    /// assert!(!report.is_ok() && report.created.is_empty());
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn verify_fields(&self, specs: &[FieldSpec]) -> Result<EnsureReport, Error> {
        self.reconcile(specs, false).await
    }

    async fn reconcile(&self, specs: &[FieldSpec], create: bool) -> Result<EnsureReport, Error> {
        let op = if create {
            "metadata.ensure_fields"
        } else {
            "metadata.verify_fields"
        };
        reconcile::validate_specs(specs).map_err(|e| e.with_operation(op))?;
        let objects = self.objects().await.map_err(|e| e.with_operation(op))?;
        let mut report = EnsureReport::default();
        for (spec, finding) in reconcile::findings(&objects, specs) {
            let (object, wanted) = match finding {
                Finding::Missing { object, wanted } if create => (object, wanted),
                other => {
                    other.record(spec, &mut report);
                    continue;
                }
            };
            let mut body = CreateField::new(
                object.id.clone(),
                spec.name.clone(),
                spec.label.clone(),
                wanted,
            );
            if spec.field_type.has_options() {
                body = body.options(spec.options.clone());
            }
            body.description = spec.description.clone();
            if spec.unique {
                body.is_unique = Some(true);
            }
            match self.create_field(body).await {
                Ok(_) => report.created.push(reconcile::field_ref(spec)),
                // Created concurrently by someone else: it exists now.
                Err(e) if e.kind() == &ErrorKind::Conflict => {
                    report.already_present.push(reconcile::field_ref(spec))
                }
                Err(e) => {
                    return Err(e
                        .with_operation(op)
                        .with_context("object", spec.object.clone()));
                }
            }
        }
        Ok(report)
    }
}

/// `{"data": {"<key>": X}}` → `X`; anything else unchanged.
pub(crate) fn unwrap_data(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(mut m) if m.len() <= 3 && m.contains_key("data") => {
            match m.remove("data") {
                Some(serde_json::Value::Object(inner)) if inner.len() == 1 => {
                    inner.into_iter().next().map(|(_, v)| v).unwrap_or_default()
                }
                Some(other) => other,
                None => serde_json::Value::Null,
            }
        }
        other => other,
    }
}
