//! Lists that keep only some fields of each record: [`FieldSelection`] and [`SelectedList`].
//!
//! Twenty's REST list answers every field of every record (a person of 2.21.0 has twenty,
//! about 1.4 kB of JSON, `searchVector` included), and the API has no field selection. A caller
//! that reads a few fields can still avoid building the others: the page is decoded in one pass
//! that keeps the selected top-level fields of each record and skips the rest without
//! allocating, hashing or storing anything of them.

use std::fmt;
use std::sync::Arc;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::list::{ListRecords, Page, PageInfo};
use crate::envelope::ListEnvelope;
use crate::error::Error;
use crate::model::Key;
use crate::record::Record;
use crate::transport::decode;

/// The fields every selection keeps: what identifies a record and orders a walk.
///
/// ```
/// use twenty_client::records::{FieldSelection, ALWAYS_KEPT};
/// let s = FieldSelection::new(["city"]);
/// assert!(ALWAYS_KEPT.iter().all(|f| s.keeps(f)));
/// assert!(ALWAYS_KEPT.contains(&"updatedAt"));
/// ```
pub const ALWAYS_KEPT: [&str; 4] = ["id", "createdAt", "updatedAt", "deletedAt"];

/// Top-level fields to keep of each listed record ([`ALWAYS_KEPT`] included).
///
/// ```
/// use twenty_client::records::FieldSelection;
/// let s = FieldSelection::new(["name", "emails"]);
/// assert!(s.keeps("emails") && s.keeps("updatedAt"));
/// assert!(!s.keeps("searchVector"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSelection(Arc<[String]>);

impl FieldSelection {
    /// `fields` (top-level names; a dotted path keeps its first segment) and [`ALWAYS_KEPT`].
    ///
    /// ```
    /// use twenty_client::records::FieldSelection;
    /// let s = FieldSelection::new(["name.firstName", "name.lastName", "city"]);
    /// assert!(s.keeps("name"), "a dotted path keeps its top-level field");
    /// assert_eq!(s.fields().count(), 4 + 2, "ALWAYS_KEPT, then name and city once each");
    /// ```
    pub fn new<I, S>(fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut kept: Vec<String> = ALWAYS_KEPT.iter().map(|f| (*f).to_owned()).collect();
        for f in fields {
            let top = f.as_ref().split('.').next().unwrap_or_default();
            if !top.is_empty() && !kept.iter().any(|k| k == top) {
                kept.push(top.to_owned());
            }
        }
        FieldSelection(kept.into())
    }

    /// Whether records keep the top-level field `name`.
    ///
    /// ```
    /// use twenty_client::records::FieldSelection;
    /// let s = FieldSelection::new(["emails"]);
    /// assert!(s.keeps("emails") && s.keeps("id"));
    /// assert!(!s.keeps("emails.primaryEmail"), "only top-level names are kept or not");
    /// assert!(!s.keeps("phones"));
    /// ```
    pub fn keeps(&self, name: &str) -> bool {
        self.0.iter().any(|k| k == name)
    }

    /// The kept fields.
    ///
    /// ```
    /// use twenty_client::records::FieldSelection;
    /// let s = FieldSelection::new(["jobTitle"]);
    /// let kept: Vec<&str> = s.fields().collect();
    /// assert_eq!(kept, ["id", "createdAt", "updatedAt", "deletedAt", "jobTitle"]);
    /// ```
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// A list request whose records keep only a [`FieldSelection`]; made by
/// [`ListRecords::keep_fields`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(5)).await?;
/// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
/// use twenty_client::records::FieldSelection;
/// let page = client
///     .records("people")
///     .list()
///     .limit(200)
///     .keep_fields(FieldSelection::new(["name", "emails.primaryEmail"]))
///     .send()
///     .await?;
/// assert_eq!(page.records.len(), 5);
/// assert!(page.records.iter().all(|r| r.fields().get("searchVector").is_none()));
/// # sim.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SelectedList {
    list: ListRecords<Record>,
    selection: FieldSelection,
}

impl ListRecords<Record> {
    /// Keeps only `selection` of each record (the others are skipped while the page is
    /// decoded). Twenty still sends every field: this saves the client's work, not the transfer.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(2)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::records::FieldSelection;
    /// let selection = FieldSelection::new(["jobTitle"]);
    /// let list = client.records("people").list().keep_fields(selection.clone());
    /// let page = list.send().await?;
    /// assert!(page.records.iter().all(|r| r.fields().keys().all(|k| selection.keeps(k))));
    /// assert!(page.records[0].get("jobTitle").is_some() && page.records[0].get("emails").is_none());
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn keep_fields(self, selection: FieldSelection) -> SelectedList {
        SelectedList {
            list: self,
            selection,
        }
    }
}

impl SelectedList {
    /// Fetch one page.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key")).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// use twenty_client::{records::FieldSelection, Filter};
    /// # sim.handle().insert_record("people", serde_json::json!({"jobTitle": "CEO", "name": {"firstName": "Ola", "lastName": "Nordmann"}}));
    /// let page = client
    ///     .records("people")
    ///     .list()
    ///     .filter(Filter::field("name.lastName").eq("Nordmann"))
    ///     .keep_fields(FieldSelection::new(["jobTitle"]))
    ///     .send()
    ///     .await?;
    /// assert_eq!(page.total_count, Some(1));
    /// assert_eq!(page.records[0].get("jobTitle"), Some(&serde_json::json!("CEO")));
    /// assert!(page.records[0].get("name").is_none());
    /// # sim.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send(self) -> Result<Page<Record>, Error> {
        let call = self.list.call()?;
        let selection = self.selection;
        self.list
            .handler
            .client
            .send_decoded(&call, |body| decode_selected(body, &selection))
            .await
    }
}

/// Decodes a list answer keeping `selection` of each record. A body this cannot decode is
/// decoded again in full, which fails at the same place with the JSON path named.
pub(crate) fn decode_selected(
    body: &[u8],
    selection: &FieldSelection,
) -> Result<Page<Record>, Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let fast = EnvelopeSeed(selection)
        .deserialize(&mut de)
        .and_then(|page| de.end().map(|()| page));
    if let Ok(page) = fast {
        return Ok(page);
    }
    let env: ListEnvelope<Record> = decode(body)?;
    Ok(Page {
        records: env
            .data
            .0
            .into_iter()
            .map(|r| {
                let mut map = r.into_map();
                map.retain(|k, _| selection.keeps(k));
                Record::from(map)
            })
            .collect(),
        total_count: env.total_count,
        page_info: env.page_info,
    })
}

/// `{"data": {"<plural>": [records]}, "totalCount": n, "pageInfo": {...}}`.
struct EnvelopeSeed<'s>(&'s FieldSelection);

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_> {
    type Value = Page<Record>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_> {
    type Value = Page<Record>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list answer")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut records = None;
        let mut total_count = None;
        let mut page_info = PageInfo::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.as_str() {
                "data" => records = Some(map.next_value_seed(DataSeed(self.0))?),
                "totalCount" => total_count = map.next_value::<Option<u64>>()?,
                "pageInfo" => page_info = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let records = records.ok_or_else(|| serde::de::Error::missing_field("data"))?;
        Ok(Page {
            records,
            total_count,
            page_info,
        })
    }
}

/// `{"<plural>": [records]}`: the value of the first key, further keys ignored.
struct DataSeed<'s>(&'s FieldSelection);

impl<'de> DeserializeSeed<'de> for DataSeed<'_> {
    type Value = Vec<Record>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_> {
    type Value = Vec<Record>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with one result key")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if map.next_key::<IgnoredAny>()?.is_none() {
            return Err(serde::de::Error::custom("`data` is empty"));
        }
        let records = map.next_value_seed(RecordsSeed(self.0))?;
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(records)
    }
}

/// `[record, ...]`.
struct RecordsSeed<'s>(&'s FieldSelection);

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = Vec<Record>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = Vec<Record>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(r) = seq.next_element_seed(RecordSeed(self.0))? {
            out.push(r);
        }
        Ok(out)
    }
}

/// One record, keeping the selected fields.
struct RecordSeed<'s>(&'s FieldSelection);

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Record;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = Record;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record (a JSON object)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kept = Map::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if self.0.keeps(key.as_str()) {
                let value: Value = map.next_value()?;
                kept.insert(key.into_string(), value);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Record::from(kept))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A list answer as Twenty writes it; the second record's `name` key is escaped
    /// (`\u006d` is `m`).
    fn body() -> Vec<u8> {
        br#"{"data": {"people": [
            {"id": "a", "updatedAt": "2026-01-01T00:00:00.000Z", "deletedAt": null,
             "name": {"firstName": "Ada", "lastName": "Lovelace"},
             "searchVector": "'ada':1 'lovelace':2", "position": 1,
             "emails": {"primaryEmail": "ada@example.com", "additionalEmails": []},
             "createdBy": {"source": "MANUAL", "name": "x\"y"}},
            {"id": "b", "na\u006de": {"firstName": "Esc"}, "position": 2}
        ]},
        "totalCount": 2,
        "pageInfo": {"hasNextPage": true, "endCursor": "c2"},
        "extra": [1, 2, 3]}"#
            .to_vec()
    }

    #[test]
    fn a_page_keeps_only_the_selected_fields_and_the_ones_always_kept() {
        let page =
            decode_selected(&body(), &FieldSelection::new(["name.firstName", "emails"])).unwrap();
        assert_eq!(page.total_count, Some(2));
        assert!(page.page_info.has_next_page);
        assert_eq!(page.page_info.end_cursor.as_deref(), Some("c2"));
        assert_eq!(
            page.records[0].clone().into_value(),
            json!({"id": "a", "updatedAt": "2026-01-01T00:00:00.000Z", "deletedAt": null,
                   "name": {"firstName": "Ada", "lastName": "Lovelace"},
                   "emails": {"primaryEmail": "ada@example.com", "additionalEmails": []}})
        );
        // An escaped key is compared unescaped.
        assert_eq!(
            page.records[1].clone().into_value(),
            json!({"id": "b", "name": {"firstName": "Esc"}})
        );
    }

    #[test]
    fn the_same_page_decoded_in_full_then_trimmed_is_identical() {
        let sel = FieldSelection::new(["name", "emails", "position"]);
        let fast = decode_selected(&body(), &sel).unwrap();
        let env: ListEnvelope<Record> = decode(&body()).unwrap();
        let trimmed: Vec<Record> = env
            .data
            .0
            .into_iter()
            .map(|r| {
                let mut m = r.into_map();
                m.retain(|k, _| sel.keeps(k));
                Record::from(m)
            })
            .collect();
        assert_eq!(fast.records, trimmed);
    }

    #[test]
    fn a_malformed_page_fails_naming_where() {
        let body = br#"{"data": {"people": [{"id": "a", "name": {"firstName": 7}}, 5]}}"#;
        let err = decode_selected(body, &FieldSelection::new(["name"])).unwrap_err();
        assert!(err.to_string().contains("data"), "{err}");
        let cut = br#"{"data": {"people": [{"id": "a", "name": {"firstN"#;
        let err = decode_selected(cut, &FieldSelection::new(["name"])).unwrap_err();
        assert!(err.is_temporary(), "a body cut off is temporary: {err}");
    }
}
