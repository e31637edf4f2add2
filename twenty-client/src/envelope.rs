//! Response envelopes. Twenty wraps results in `{"data": {"<name>": ...}}` where `<name>` depends on the
//! object (`people`, `person`, `createPerson`, `createPeople`, …). For custom objects the singular is not
//! known, so the single key inside `data` is decoded whatever its name.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// The value of the only (first) key of a JSON object; further keys are ignored.
pub(crate) struct SingleKey<T>(pub(crate) T);

impl<'de, T: DeserializeOwned> Deserialize<'de> for SingleKey<T> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: DeserializeOwned> Visitor<'de> for V<T> {
            type Value = SingleKey<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object with one result key")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let Some(_key) = map.next_key::<serde::de::IgnoredAny>()? else {
                    return Err(serde::de::Error::custom("`data` is empty"));
                };
                let value: T = map.next_value()?;
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(SingleKey(value))
            }
        }
        de.deserialize_map(V(PhantomData))
    }
}

/// `{"data": {"<key>": T}}`.
#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
pub(crate) struct Data<T> {
    pub(crate) data: SingleKey<T>,
}

/// `{"data": {"<plural>": [T]}, "totalCount": n, "pageInfo": {...}}`.
#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
pub(crate) struct ListEnvelope<T> {
    pub(crate) data: SingleKey<Vec<T>>,
    #[serde(rename = "totalCount", default)]
    pub(crate) total_count: Option<u64>,
    #[serde(rename = "pageInfo", default)]
    pub(crate) page_info: crate::records::PageInfo,
}

/// `{"id": "..."}` of delete answers.
#[derive(Deserialize)]
pub(crate) struct IdOnly {
    pub(crate) id: String,
}
