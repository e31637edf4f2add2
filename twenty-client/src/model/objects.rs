//! Typed standard objects. Every struct carries the system fields and keeps every other field
//! (custom fields, relations fetched with `depth=1`, fields newer than this crate) in `extra`, so a
//! read-modify-write round trip sends them back untouched.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::TwentyObject;
use super::composite::{
    Actor, Address, Currency, Emails, FileRef, FullName, Links, Phones, RichTextV2,
};

/// A map key, borrowed from the input when possible.
pub(crate) struct Key<'de>(Cow<'de, str>);

impl Key<'_> {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
    pub(crate) fn into_string(self) -> String {
        self.0.into_owned()
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct KV;
        impl<'de> Visitor<'de> for KV {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        de.deserialize_str(KV)
    }
}

macro_rules! twenty_object {
    (
        $(#[$meta:meta])*
        $name:ident, $singular:literal, $plural:literal {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $wire:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// Record id (UUID). Leave `None` on create to let the server pick one.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub id: Option<String>,
            /// Creation time (server-maintained).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub created_at: Option<DateTime<Utc>>,
            /// Last update time (server-maintained, millisecond precision).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub updated_at: Option<DateTime<Utc>>,
            /// Soft-deletion time; `Some` for records in the trash.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub deleted_at: Option<DateTime<Utc>>,
            /// Manual ordering position.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub position: Option<f64>,
            /// Who created the record (server-filled).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub created_by: Option<Actor>,
            /// Who last updated the record (server-filled).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub updated_by: Option<Actor>,
            $( $(#[$fmeta])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $field: Option<$ty>, )*
            /// Every other field, exactly as received (custom fields, relations, `searchVector` …).
            #[serde(flatten)]
            pub extra: serde_json::Map<String, serde_json::Value>,
        }

        // Hand-written (macro-generated) decoding: one pass over the JSON object, known keys straight
        // into typed fields, everything else into `extra` — much faster than `#[serde(flatten)]`,
        // which buffers every record before decoding it.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a ", $singular, " record object"))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<Key<'de>>()? {
                            match key.as_str() {
                                "id" => out.id = map.next_value()?,
                                "createdAt" => out.created_at = map.next_value()?,
                                "updatedAt" => out.updated_at = map.next_value()?,
                                "deletedAt" => out.deleted_at = map.next_value()?,
                                "position" => out.position = map.next_value()?,
                                "createdBy" => out.created_by = map.next_value()?,
                                "updatedBy" => out.updated_by = map.next_value()?,
                                $( $wire => out.$field = map.next_value()?, )*
                                _ => {
                                    let value: serde_json::Value = map.next_value()?;
                                    out.extra.insert(key.into_string(), value);
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                de.deserialize_map(V)
            }
        }

        impl TwentyObject for $name {
            const NAME_SINGULAR: &'static str = $singular;
            const NAME_PLURAL: &'static str = $plural;
            fn id(&self) -> Option<&str> {
                self.id.as_deref()
            }
            fn updated_at(&self) -> Option<DateTime<Utc>> {
                self.updated_at
            }
            fn deleted_at(&self) -> Option<DateTime<Utc>> {
                self.deleted_at
            }
        }
    };
}

twenty_object! {
    /// A person (`people`). Unique on `emails.primaryEmail`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::{Emails, FullName, Person};
    /// let ada = Person {
    ///     name: Some(FullName { first_name: Some("Ada".into()), last_name: Some("Lovelace".into()) }),
    ///     emails: Some(Emails { primary_email: Some("ada@example.com".into()), ..Default::default() }),
    ///     job_title: Some("Mathematician".into()),
    ///     ..Default::default()
    /// };
    /// let saved = client.people().create(&ada).send().await?;
    /// let read = client.people().get(saved.id.as_deref().unwrap()).send().await?;
    /// assert_eq!(read.job_title.as_deref(), Some("Mathematician"));
    /// assert_eq!(read.emails.and_then(|e| e.primary_email).as_deref(), Some("ada@example.com"));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    Person, "person", "people" {
        /// First and last name.
        name: FullName = "name",
        /// Emails (primary is unique).
        emails: Emails = "emails",
        /// LinkedIn profile.
        linkedin_link: Links = "linkedinLink",
        /// X (Twitter) profile.
        x_link: Links = "xLink",
        /// Job title.
        job_title: String = "jobTitle",
        /// Phones.
        phones: Phones = "phones",
        /// City.
        city: String = "city",
        /// Avatar URL.
        avatar_url: String = "avatarUrl",
        /// Avatar file (newer servers, `FILES`).
        avatar_file: Vec<FileRef> = "avatarFile",
        /// Company (join column).
        company_id: String = "companyId",
    }
}

twenty_object! {
    /// A company (`companies`). Unique on `domainName.primaryLinkUrl`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::{Company, Links};
    /// let acme = Company {
    ///     name: Some("Acme".into()),
    ///     domain_name: Some(Links { primary_link_url: Some("https://acme.example".into()), ..Default::default() }),
    ///     employees: Some(40.0),
    ///     ..Default::default()
    /// };
    /// let saved = client.companies().create(&acme).send().await?;
    /// assert_eq!(saved.name.as_deref(), Some("Acme"));
    /// assert_eq!(saved.employees, Some(40.0));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    Company, "company", "companies" {
        /// Name.
        name: String = "name",
        /// Domain (unique on `primaryLinkUrl`).
        domain_name: Links = "domainName",
        /// Postal address.
        address: Address = "address",
        /// Number of employees.
        employees: f64 = "employees",
        /// LinkedIn page.
        linkedin_link: Links = "linkedinLink",
        /// X (Twitter) account.
        x_link: Links = "xLink",
        /// Annual recurring revenue.
        annual_recurring_revenue: Currency = "annualRecurringRevenue",
        /// Ideal customer profile flag.
        ideal_customer_profile: bool = "idealCustomerProfile",
        /// Account owner (workspace member id).
        account_owner_id: String = "accountOwnerId",
    }
}

twenty_object! {
    /// An opportunity (`opportunities`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::{Currency, Opportunity};
    /// let deal = Opportunity {
    ///     name: Some("Acme renewal".into()),
    ///     amount: Some(Currency { amount_micros: Some(12_000_000_000), currency_code: Some("EUR".into()) }),
    ///     stage: Some("MEETING".into()),
    ///     ..Default::default()
    /// };
    /// let saved = client.opportunities().create(&deal).send().await?;
    /// assert_eq!(saved.amount.and_then(|a| a.amount()), Some(12_000.0));
    /// assert_eq!(saved.stage.as_deref(), Some("MEETING"));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    Opportunity, "opportunity", "opportunities" {
        /// Name.
        name: String = "name",
        /// Amount.
        amount: Currency = "amount",
        /// Expected close date.
        close_date: DateTime<Utc> = "closeDate",
        /// Stage option value (`NEW`, `SCREENING`, `MEETING`, `PROPOSAL`, `CUSTOMER` by default).
        stage: String = "stage",
        /// Point of contact (person id).
        point_of_contact_id: String = "pointOfContactId",
        /// Company id.
        company_id: String = "companyId",
        /// Owner (workspace member id; newer servers).
        owner_id: String = "ownerId",
    }
}

twenty_object! {
    /// A task (`tasks`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::Task;
    /// let task = Task { title: Some("Send the contract".into()), status: Some("TODO".into()), ..Default::default() };
    /// let saved = client.tasks().create(&task).send().await?;
    /// let done = client.tasks()
    ///     .update(saved.id.as_deref().unwrap(), serde_json::json!({"status": "DONE"})).send().await?;
    /// assert_eq!(done.status.as_deref(), Some("DONE"));
    /// assert_eq!(done.title.as_deref(), Some("Send the contract"));
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    Task, "task", "tasks" {
        /// Title.
        title: String = "title",
        /// Body.
        body_v2: RichTextV2 = "bodyV2",
        /// Due time.
        due_at: DateTime<Utc> = "dueAt",
        /// Status option value (`TODO`, `IN_PROGRESS`, `DONE`).
        status: String = "status",
        /// Assignee (workspace member id).
        assignee_id: String = "assigneeId",
    }
}

twenty_object! {
    /// A note (`notes`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::Note;
    /// let saved = client.notes().create(&Note { title: Some("Kick-off".into()), ..Default::default() })
    ///     .send().await?;
    /// assert_eq!(saved.title.as_deref(), Some("Kick-off"));
    /// assert!(saved.id.is_some() && saved.deleted_at.is_none());
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    Note, "note", "notes" {
        /// Title.
        title: String = "title",
        /// Body.
        body_v2: RichTextV2 = "bodyV2",
    }
}

twenty_object! {
    /// Link between a note and a person/company/opportunity (`noteTargets`). Twenty 2.x names the
    /// linked record's column after its morph relation (`targetPersonId`, captured on 2.21.0); older
    /// servers named it `personId`. Both are typed: set the one your server has (the other one is
    /// refused with a 400 that names the field).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::{Note, NoteTarget, Person};
    /// let person = client.people().create(&Person::default()).send().await?;
    /// let note = client.notes().create(&Note { title: Some("Met at a fair".into()), ..Default::default() })
    ///     .send().await?;
    /// // Twenty 2.21 names the person side `targetPersonId` (a morph relation).
    /// let link = NoteTarget {
    ///     note_id: note.id.clone(),
    ///     target_person_id: person.id.clone(),
    ///     ..Default::default()
    /// };
    /// let saved = client.note_targets().create(&link).send().await?;
    /// assert_eq!(saved.note_id, note.id);
    /// assert_eq!(saved.target_person_id, person.id);
    /// assert!(saved.extra.get("targetPersonId").is_none(), "typed, not left in extra");
    ///
    /// // The name of servers before 2.x is refused by this one, naming the field.
    /// let old_style = NoteTarget { note_id: note.id.clone(), person_id: person.id.clone(), ..Default::default() };
    /// let err = client.note_targets().create(&old_style).send().await.unwrap_err();
    /// assert!(err.to_string().contains("personId"), "{err}");
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    NoteTarget, "noteTarget", "noteTargets" {
        /// Note id.
        note_id: String = "noteId",
        /// Person id on Twenty 2.x (`targetPersonId`, the join column of the morph relation
        /// `targetPerson`; captured on 2.21.0).
        target_person_id: String = "targetPersonId",
        /// Company id on Twenty 2.x (`targetCompanyId`).
        target_company_id: String = "targetCompanyId",
        /// Opportunity id on Twenty 2.x (`targetOpportunityId`).
        target_opportunity_id: String = "targetOpportunityId",
        /// Person id on servers before the morph relations (`personId`); 2.x answers 400 for it.
        person_id: String = "personId",
        /// Company id on servers before the morph relations (`companyId`).
        company_id: String = "companyId",
        /// Opportunity id on servers before the morph relations (`opportunityId`).
        opportunity_id: String = "opportunityId",
    }
}

twenty_object! {
    /// Link between a task and a person/company/opportunity (`taskTargets`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::model::{Company, Task, TaskTarget};
    /// let acme = client.companies().create(&Company { name: Some("Acme".into()), ..Default::default() })
    ///     .send().await?;
    /// let task = client.tasks().create(&Task { title: Some("Call back".into()), ..Default::default() })
    ///     .send().await?;
    /// let link = TaskTarget {
    ///     task_id: task.id.clone(),
    ///     target_company_id: acme.id.clone(), // `companyId` on servers before 2.x
    ///     ..Default::default()
    /// };
    /// let saved = client.task_targets().create(&link).send().await?;
    /// assert_eq!(saved.task_id, task.id);
    /// assert_eq!(saved.target_company_id, acme.id);
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    TaskTarget, "taskTarget", "taskTargets" {
        /// Task id.
        task_id: String = "taskId",
        /// Person id on Twenty 2.x (`targetPersonId`, the join column of the morph relation
        /// `targetPerson`; captured on 2.21.0).
        target_person_id: String = "targetPersonId",
        /// Company id on Twenty 2.x (`targetCompanyId`).
        target_company_id: String = "targetCompanyId",
        /// Opportunity id on Twenty 2.x (`targetOpportunityId`).
        target_opportunity_id: String = "targetOpportunityId",
        /// Person id on servers before the morph relations (`personId`); 2.x answers 400 for it.
        person_id: String = "personId",
        /// Company id on servers before the morph relations (`companyId`).
        company_id: String = "companyId",
        /// Opportunity id on servers before the morph relations (`opportunityId`).
        opportunity_id: String = "opportunityId",
    }
}

twenty_object! {
    /// A workspace member (`workspaceMembers`), read-only through this API.
    ///
    /// ```
    /// use twenty_client::model::WorkspaceMember;
    /// let member: WorkspaceMember = serde_json::from_value(serde_json::json!({
    ///     "id": "wm-1", "name": {"firstName": "Tim", "lastName": "Apple"},
    ///     "userEmail": "tim@example.com", "locale": "en", "timeZone": "Europe/Paris"
    /// }))?;
    /// assert_eq!(member.user_email.as_deref(), Some("tim@example.com"));
    /// assert_eq!(member.name.and_then(|n| n.first_name).as_deref(), Some("Tim"));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    WorkspaceMember, "workspaceMember", "workspaceMembers" {
        /// Name.
        name: FullName = "name",
        /// Login email.
        user_email: String = "userEmail",
        /// Color scheme.
        color_scheme: String = "colorScheme",
        /// Locale.
        locale: String = "locale",
        /// Avatar URL.
        avatar_url: String = "avatarUrl",
        /// Time zone.
        time_zone: String = "timeZone",
        /// Date format.
        date_format: String = "dateFormat",
        /// Time format.
        time_format: String = "timeFormat",
        /// User id.
        user_id: String = "userId",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip<T: Serialize + for<'de> Deserialize<'de>>(v: serde_json::Value) {
        let typed: T = serde_json::from_value(v.clone()).expect("decodes");
        assert_eq!(serde_json::to_value(&typed).expect("encodes"), v);
    }

    #[test]
    fn every_typed_field_uses_the_same_wire_name_both_ways() {
        let sys = json!({"id": "i", "createdAt": "2026-11-22T19:46:37.441Z", "updatedAt": "2026-11-22T19:46:37.441Z",
            "deletedAt": "2026-11-22T19:46:37.441Z", "position": 1.5,
            "createdBy": {"source": "API", "name": "k"}, "updatedBy": {"source": "API"}, "customThing": {"a": [1]}});
        let with = |extra: serde_json::Value| {
            let mut m = sys.as_object().cloned().unwrap_or_default();
            m.extend(extra.as_object().cloned().unwrap_or_default());
            serde_json::Value::Object(m)
        };
        roundtrip::<Task>(with(
            json!({"title": "t", "bodyV2": {"markdown": "m"}, "dueAt": "2026-11-22T19:46:37.441Z",
            "status": "TODO", "assigneeId": "a"}),
        ));
        roundtrip::<Note>(with(
            json!({"title": "t", "bodyV2": {"blocknote": "[]", "markdown": "m"}}),
        ));
        roundtrip::<NoteTarget>(with(
            json!({"noteId": "n", "personId": "p", "companyId": "c", "opportunityId": "o",
            "targetPersonId": "tp", "targetCompanyId": "tc", "targetOpportunityId": "to"}),
        ));
        roundtrip::<TaskTarget>(with(
            json!({"taskId": "n", "personId": "p", "companyId": "c", "opportunityId": "o",
            "targetPersonId": "tp", "targetCompanyId": "tc", "targetOpportunityId": "to"}),
        ));
        roundtrip::<WorkspaceMember>(with(
            json!({"name": {"firstName": "a", "lastName": "b"}, "userEmail": "e",
            "colorScheme": "Light", "locale": "en", "avatarUrl": "u", "timeZone": "UTC", "dateFormat": "d",
            "timeFormat": "t", "userId": "u"}),
        ));
        roundtrip::<Person>(with(
            json!({"city": "Paris", "xLink": {"primaryLinkUrl": "x"}, "companyId": "c",
            "avatarFile": [{"fileId": "f", "label": "a.png", "extension": "png"}]}),
        ));
        roundtrip::<Company>(with(
            json!({"employees": 10.0, "idealCustomerProfile": true, "accountOwnerId": "w",
            "annualRecurringRevenue": {"amountMicros": 5_000_000, "currencyCode": "EUR"},
            "address": {"addressCity": "Lyon", "addressLat": 45.7}}),
        ));
        roundtrip::<Opportunity>(with(
            json!({"stage": "NEW", "pointOfContactId": "p", "ownerId": "o",
            "closeDate": "2027-01-01T00:00:00Z"}),
        ));
    }

    #[test]
    fn decode_errors_inside_typed_records_name_the_path() {
        let body = br#"[{"id":"a"},{"id":"b","emails":{"primaryEmail":7}}]"#;
        let mut de = serde_json::Deserializer::from_slice(body);
        let err = serde_path_to_error::deserialize::<_, Vec<Person>>(&mut de).expect_err("bad");
        assert_eq!(err.path().to_string(), "[1].emails.primaryEmail");
    }
}
