//! `location`: free-text or structured locations into Twenty's ADDRESS (city, state, ISO country).
//!
//! ```
//! use serde_json::json;
//! use twenty_mapping::apply_builtin;
//! assert_eq!(apply_builtin("location", &json!({}), json!("Lyon, France")).unwrap(),
//!            json!({"addressCity": "Lyon", "addressCountry": "FR"}));
//! assert_eq!(apply_builtin("location", &json!({}), json!("Austin, TX, United States")).unwrap(),
//!            json!({"addressCity": "Austin", "addressState": "TX", "addressCountry": "US"}));
//! assert_eq!(apply_builtin("location", &json!({"default_country": "DE"}), json!({"city": "Berlin"})).unwrap(),
//!            json!({"addressCity": "Berlin", "addressCountry": "DE"}));
//! ```
//!
//! In text of two parts, "City, X", the second part is read as follows:
//!
//! * a country name or alias ("France", "USA") is the country;
//! * two letters that are a US state or territory code ("CA", "GA", "DC") are the state when
//!   `default_country` is `US` or not set, so "San Francisco, CA" is in California, not Canada
//!   (with `US` as default country the country is then `US`; without one it stays unset);
//! * other two letters that are an ISO 3166 code ("FR"), and any two letters when
//!   `default_country` is another country, are the country;
//! * anything else is the state or region, as written.
//!
//! Three or more parts end with "City, State, Country"; the last one must be a country.
//!
//! ```
//! use serde_json::json;
//! use twenty_mapping::apply_builtin;
//! assert_eq!(apply_builtin("location", &json!({}), json!("San Francisco, CA")).unwrap(),
//!            json!({"addressCity": "San Francisco", "addressState": "CA"}));
//! assert_eq!(apply_builtin("location", &json!({"default_country": "US"}), json!("Atlanta, GA")).unwrap(),
//!            json!({"addressCity": "Atlanta", "addressState": "GA", "addressCountry": "US"}));
//! assert_eq!(apply_builtin("location", &json!({}), json!("Paris, FR")).unwrap(),
//!            json!({"addressCity": "Paris", "addressCountry": "FR"}));
//! assert_eq!(apply_builtin("location", &json!({"default_country": "DE"}), json!("Berlin, DE")).unwrap(),
//!            json!({"addressCity": "Berlin", "addressCountry": "DE"}));
//! ```

use std::str::FromStr;

use phonenumber::country::Id;
use serde_json::{Map, Value};

use super::{Inverse, TransformArgs, TransformRegistry, TransformStep, builtin, json_type_name};
use crate::error::TransformError;
use crate::types::ValueKind;

pub(super) fn register(r: &mut TransformRegistry) {
    builtin(r, "location", &["default_country"], build);
}

fn build(args: &TransformArgs<'_>) -> Result<Box<dyn TransformStep>, String> {
    let default_country = match args.str("default_country")? {
        Some(c) => Some(
            country_code(c)
                .ok_or_else(|| format!("`default_country` {c:?} is not a known country"))?,
        ),
        None => None,
    };
    Ok(Box::new(Location { default_country }))
}

/// Common country names and aliases → ISO 3166-1 alpha-2. Two-letter codes are checked against
/// the CLDR region list instead.
const COUNTRY_NAMES: &[(&str, &str)] = &[
    ("united states", "US"),
    ("united states of america", "US"),
    ("usa", "US"),
    ("u.s.a.", "US"),
    ("u.s.", "US"),
    ("america", "US"),
    ("united kingdom", "GB"),
    ("uk", "GB"),
    ("great britain", "GB"),
    ("england", "GB"),
    ("scotland", "GB"),
    ("wales", "GB"),
    ("northern ireland", "GB"),
    ("ireland", "IE"),
    ("france", "FR"),
    ("germany", "DE"),
    ("deutschland", "DE"),
    ("spain", "ES"),
    ("españa", "ES"),
    ("portugal", "PT"),
    ("italy", "IT"),
    ("italia", "IT"),
    ("netherlands", "NL"),
    ("the netherlands", "NL"),
    ("holland", "NL"),
    ("belgium", "BE"),
    ("luxembourg", "LU"),
    ("switzerland", "CH"),
    ("austria", "AT"),
    ("denmark", "DK"),
    ("sweden", "SE"),
    ("norway", "NO"),
    ("finland", "FI"),
    ("iceland", "IS"),
    ("poland", "PL"),
    ("czech republic", "CZ"),
    ("czechia", "CZ"),
    ("slovakia", "SK"),
    ("hungary", "HU"),
    ("romania", "RO"),
    ("bulgaria", "BG"),
    ("greece", "GR"),
    ("turkey", "TR"),
    ("türkiye", "TR"),
    ("ukraine", "UA"),
    ("russia", "RU"),
    ("estonia", "EE"),
    ("latvia", "LV"),
    ("lithuania", "LT"),
    ("croatia", "HR"),
    ("slovenia", "SI"),
    ("serbia", "RS"),
    ("canada", "CA"),
    ("mexico", "MX"),
    ("brazil", "BR"),
    ("argentina", "AR"),
    ("chile", "CL"),
    ("colombia", "CO"),
    ("peru", "PE"),
    ("australia", "AU"),
    ("new zealand", "NZ"),
    ("japan", "JP"),
    ("china", "CN"),
    ("south korea", "KR"),
    ("korea", "KR"),
    ("india", "IN"),
    ("singapore", "SG"),
    ("hong kong", "HK"),
    ("taiwan", "TW"),
    ("indonesia", "ID"),
    ("malaysia", "MY"),
    ("thailand", "TH"),
    ("vietnam", "VN"),
    ("philippines", "PH"),
    ("israel", "IL"),
    ("united arab emirates", "AE"),
    ("uae", "AE"),
    ("saudi arabia", "SA"),
    ("egypt", "EG"),
    ("south africa", "ZA"),
    ("nigeria", "NG"),
    ("kenya", "KE"),
    ("morocco", "MA"),
    ("tunisia", "TN"),
];

/// ISO alpha-2 code for a country name, alias or code.
pub(crate) fn country_code(text: &str) -> Option<String> {
    let t = text.trim();
    if t.len() == 2 && t.chars().all(|c| c.is_ascii_alphabetic()) {
        let upper = t.to_ascii_uppercase();
        return Id::from_str(&upper).ok().map(|_| upper);
    }
    let lower = t.to_lowercase();
    COUNTRY_NAMES
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, code)| (*code).to_owned())
}

/// USPS codes of the US states, the District of Columbia and the inhabited territories.
const US_STATE_CODES: [&str; 56] = [
    "AK", "AL", "AR", "AS", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "GU", "HI", "IA", "ID",
    "IL", "IN", "KS", "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MP", "MS", "MT", "NC", "ND",
    "NE", "NH", "NJ", "NM", "NV", "NY", "OH", "OK", "OR", "PA", "PR", "RI", "SC", "SD", "TN", "TX",
    "UT", "VA", "VI", "VT", "WA", "WI", "WV", "WY",
];

/// Whether `text` is the two-letter USPS code of a US state or territory, in any case.
fn is_us_state_code(text: &str) -> bool {
    text.len() == 2
        && US_STATE_CODES
            .iter()
            .any(|code| code.eq_ignore_ascii_case(text))
}

struct Location {
    default_country: Option<String>,
}

impl Location {
    /// The ISO country named by the part after the city in "City, X", or `None` when that part
    /// is a state or region. Two letters are a US state code when the default country is the
    /// US or unset ("San Francisco, CA" is California, not Canada), otherwise an ISO code; a
    /// country name is always a country.
    fn country_after_city(&self, part: &str) -> Option<String> {
        if self.reads_us_state_codes() && is_us_state_code(part) {
            return None;
        }
        country_code(part)
    }

    /// Whether "City, XX" is read with XX as a US state code (the default country is the US or
    /// unset).
    fn reads_us_state_codes(&self) -> bool {
        self.default_country.as_deref().is_none_or(|c| c == "US")
    }
}

fn text_of<'a>(m: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| m.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

impl TransformStep for Location {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Address
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        let (city, state, country): (Option<String>, Option<String>, Option<String>) = match &input
        {
            Value::String(s) => {
                let parts: Vec<&str> = s
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .collect();
                match parts.as_slice() {
                    [] => return Ok(Value::Null),
                    [one] => match country_code(one) {
                        Some(c) if one.len() > 2 => (None, None, Some(c)),
                        _ => (Some((*one).to_owned()), None, None),
                    },
                    [city, second] => {
                        let city = Some((*city).to_owned());
                        match self.country_after_city(second) {
                            Some(c) => (city, None, Some(c)),
                            None => (city, Some((*second).to_owned()), None),
                        }
                    }
                    [.., city, state, country] => {
                        let c = country_code(country).ok_or_else(|| {
                            TransformError::new(format!("unknown country {country:?} in location"))
                        })?;
                        (Some((*city).to_owned()), Some((*state).to_owned()), Some(c))
                    }
                }
            }
            Value::Object(m) => {
                let country = match text_of(m, &["country", "country_code", "addressCountry"]) {
                    Some(c) => Some(country_code(c).ok_or_else(|| {
                        TransformError::new(format!("unknown country {c:?} in location"))
                    })?),
                    None => None,
                };
                (
                    text_of(m, &["city", "addressCity"]).map(str::to_owned),
                    text_of(m, &["state", "region", "addressState"]).map(str::to_owned),
                    country,
                )
            }
            other => {
                return Err(TransformError::new(format!(
                    "location expects text or an object, got {}",
                    json_type_name(other)
                )));
            }
        };
        let country = country.or_else(|| self.default_country.clone());
        let mut out = Map::with_capacity(3);
        if let Some(c) = city {
            out.insert("addressCity".to_owned(), Value::String(c));
        }
        if let Some(s) = state {
            out.insert("addressState".to_owned(), Value::String(s));
        }
        if let Some(c) = country {
            out.insert("addressCountry".to_owned(), Value::String(c));
        }
        Ok(Value::Object(out))
    }
    fn inverse(&self) -> Inverse {
        Inverse::Step(Box::new(FormatLocation))
    }
}

/// ADDRESS → "City, State, CC" (the inverse of `location` on its canonical text form).
struct FormatLocation;

impl TransformStep for FormatLocation {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        let Value::Object(m) = &input else {
            return Err(TransformError::new(format!(
                "expected an ADDRESS object, got {}",
                json_type_name(&input)
            )));
        };
        let parts: Vec<&str> = ["addressCity", "addressState", "addressCountry"]
            .iter()
            .filter_map(|k| m.get(*k).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            return Ok(Value::Null);
        }
        Ok(Value::String(parts.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{invert, step};
    use super::*;
    use serde_json::json;

    #[test]
    fn country_codes_are_validated() {
        assert_eq!(country_code("fr").as_deref(), Some("FR"));
        assert_eq!(country_code("Deutschland").as_deref(), Some("DE"));
        assert_eq!(country_code("ZZ"), None);
        assert_eq!(country_code("Atlantis"), None);
    }

    #[test]
    fn location_with_unknown_country_reports_it() {
        let err = step("location", json!({}))
            .apply(json!("Springfield, Ohio, Atlantis"))
            .unwrap_err();
        assert!(err.reason.contains("Atlantis"));
    }

    #[test]
    fn city_and_us_state_code_is_a_state_when_the_default_country_is_us_or_unset() {
        for (args, input, want) in [
            (
                json!({}),
                "San Francisco, CA",
                json!({"addressCity": "San Francisco", "addressState": "CA"}),
            ),
            (
                json!({"default_country": "US"}),
                "Atlanta, GA",
                json!({"addressCity": "Atlanta", "addressState": "GA", "addressCountry": "US"}),
            ),
            (
                json!({"default_country": "United States"}),
                "Chicago, IL",
                json!({"addressCity": "Chicago", "addressState": "IL", "addressCountry": "US"}),
            ),
            (
                json!({}),
                "Washington, DC",
                json!({"addressCity": "Washington", "addressState": "DC"}),
            ),
        ] {
            assert_eq!(
                step("location", args.clone()).apply(json!(input)).unwrap(),
                want,
                "{input:?} with {args}"
            );
        }
    }

    #[test]
    fn city_and_country_name_or_non_state_code_is_a_country() {
        for (args, input, want) in [
            (
                json!({}),
                "Ottawa, Canada",
                json!({"addressCity": "Ottawa", "addressCountry": "CA"}),
            ),
            (
                json!({"default_country": "US"}),
                "Tel Aviv, Israel",
                json!({"addressCity": "Tel Aviv", "addressCountry": "IL"}),
            ),
            (
                json!({}),
                "Paris, FR",
                json!({"addressCity": "Paris", "addressCountry": "FR"}),
            ),
            (
                json!({"default_country": "US"}),
                "Lyon, FR",
                json!({"addressCity": "Lyon", "addressCountry": "FR"}),
            ),
            // Another default country: two letters are an ISO code, as before.
            (
                json!({"default_country": "DE"}),
                "Berlin, DE",
                json!({"addressCity": "Berlin", "addressCountry": "DE"}),
            ),
            (
                json!({"default_country": "FR"}),
                "Montreal, CA",
                json!({"addressCity": "Montreal", "addressCountry": "CA"}),
            ),
            // Not a country either: a state or region as written.
            (
                json!({"default_country": "CA"}),
                "Toronto, ON",
                json!({"addressCity": "Toronto", "addressState": "ON", "addressCountry": "CA"}),
            ),
        ] {
            assert_eq!(
                step("location", args.clone()).apply(json!(input)).unwrap(),
                want,
                "{input:?} with {args}"
            );
        }
    }

    #[test]
    fn city_and_state_round_trips_without_becoming_a_country() {
        let s = step("location", json!({}));
        let address = json!({"addressCity": "San Francisco", "addressState": "CA"});
        let text = invert(s.as_ref(), address.clone());
        assert_eq!(text, json!("San Francisco, CA"));
        assert_eq!(s.apply(text).unwrap(), address);
    }

    #[test]
    fn location_round_trips_its_canonical_text() {
        let s = step("location", json!({}));
        let out = s.apply(json!("Austin, TX, US")).unwrap();
        assert_eq!(invert(s.as_ref(), out), json!("Austin, TX, US"));
    }
}
