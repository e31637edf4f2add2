//! The workspace schema: standard objects (from a real 2.21.0 `/rest/metadata/objects` answer)
//! plus custom fields created at run time, and the record shape each field type produces.

use serde_json::{Map, Value, json};

/// The 2.21.0 metadata of the simulated standard objects (trimmed to the objects served).
const STANDARD_OBJECTS: &str = include_str!("schema/standard_objects.json");

/// Workspace id of the simulated workspace (the seeded dev workspace "Apple").
pub(crate) const WORKSPACE_ID: &str = "20202020-1c25-4d02-bf25-6aeccf7ea419";
/// Application id stamped on custom metadata and webhooks.
pub(crate) const APPLICATION_ID: &str = "438d96fa-bc51-4e4a-b1b4-a47e4f3a5c6e";

/// Relation kinds of a field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Relation {
    /// Many-to-one: the record holds `join_column`, pointing into `target` (plural).
    ManyToOne { join_column: String, target: String },
    /// One-to-many: records of `target` point here through `join_column`.
    OneToMany { target: String, join_column: String },
    /// Relation to an object the simulator does not serve (always empty at depth 1).
    Unsupported,
}

/// One field of an object.
#[derive(Debug, Clone)]
pub(crate) struct FieldMeta {
    pub name: String,
    pub ftype: String,
    pub is_unique: bool,
    pub options: Vec<String>,
    pub default: Value,
    pub relation: Option<Relation>,
    /// The metadata JSON as served by `/rest/metadata/fields`.
    pub json: Value,
}

impl FieldMeta {
    /// The record column this field occupies (join column for relations), if any.
    pub fn column(&self) -> Option<&str> {
        match &self.relation {
            Some(Relation::ManyToOne { join_column, .. }) => Some(join_column),
            Some(_) => None,
            None => Some(&self.name),
        }
    }
}

/// One object (table).
#[derive(Debug, Clone)]
pub(crate) struct ObjectMeta {
    pub id: String,
    pub singular: String,
    pub plural: String,
    pub fields: Vec<FieldMeta>,
    /// Object metadata JSON without `fields`.
    pub json: Map<String, Value>,
}

/// Sub-fields of composite field types.
pub(crate) fn composite_subfields(ftype: &str) -> Option<&'static [&'static str]> {
    Some(match ftype {
        "FULL_NAME" => &["firstName", "lastName"],
        "EMAILS" => &["primaryEmail", "additionalEmails"],
        "LINKS" => &["primaryLinkLabel", "primaryLinkUrl", "secondaryLinks"],
        "PHONES" => &[
            "primaryPhoneNumber",
            "primaryPhoneCountryCode",
            "primaryPhoneCallingCode",
            "additionalPhones",
        ],
        "ADDRESS" => &[
            "addressStreet1",
            "addressStreet2",
            "addressCity",
            "addressPostcode",
            "addressState",
            "addressCountry",
            "addressLat",
            "addressLng",
        ],
        "CURRENCY" => &["amountMicros", "currencyCode"],
        "ACTOR" => &["source", "workspaceMemberId", "name", "context"],
        "RICH_TEXT" | "RICH_TEXT_V2" => &["blocknote", "markdown"],
        _ => return None,
    })
}

/// Strip SQL quotes from metadata default values (`"'NEW'"` → `"NEW"`).
fn unquote(v: &Value) -> Value {
    match v {
        Value::String(s) if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') => {
            Value::String(s[1..s.len() - 1].to_string())
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), unquote(v))).collect()),
        other => other.clone(),
    }
}

/// The value a record holds for a field nobody wrote (as the 2.21.0 captures show).
pub(crate) fn empty_value(ftype: &str, default: &Value) -> Value {
    let d = unquote(default);
    match ftype {
        "TEXT" => match d {
            Value::String(s) => Value::String(s),
            _ => Value::String(String::new()),
        },
        "FULL_NAME" => json!({"firstName": "", "lastName": ""}),
        "EMAILS" => json!({"primaryEmail": "", "additionalEmails": []}),
        "LINKS" => json!({"primaryLinkLabel": "", "primaryLinkUrl": "", "secondaryLinks": []}),
        "PHONES" => {
            let get = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            json!({
                "primaryPhoneNumber": get("primaryPhoneNumber"),
                "primaryPhoneCountryCode": get("primaryPhoneCountryCode"),
                "primaryPhoneCallingCode": get("primaryPhoneCallingCode"),
                "additionalPhones": []
            })
        }
        "ADDRESS" => json!({
            "addressStreet1": "", "addressStreet2": "", "addressCity": "", "addressPostcode": "",
            "addressState": "", "addressCountry": "", "addressLat": null, "addressLng": null
        }),
        "CURRENCY" => json!({"amountMicros": null, "currencyCode": null}),
        "RICH_TEXT" | "RICH_TEXT_V2" => json!({"blocknote": null, "markdown": null}),
        "MULTI_SELECT" => Value::Array(vec![]),
        "POSITION" => json!(0),
        "BOOLEAN" | "NUMBER" | "SELECT" | "RATING" => match d {
            Value::String(s) if s == "uuid" || s == "now" => Value::Null,
            other => other,
        },
        _ => Value::Null,
    }
}

/// Plural of the object a many-to-one relation points to, by relation name.
fn many_to_one_target(name: &str) -> Option<&'static str> {
    Some(match name {
        "company" | "targetCompany" => "companies",
        "person" | "pointOfContact" | "targetPerson" => "people",
        "opportunity" | "targetOpportunity" => "opportunities",
        "note" => "notes",
        "task" => "tasks",
        "accountOwner" | "owner" | "assignee" => "workspaceMembers",
        _ => return None,
    })
}

/// Target and join column of a one-to-many relation of the standard objects.
fn one_to_many(object: &str, name: &str) -> Option<(&'static str, &'static str)> {
    Some(match (object, name) {
        ("company", "people") => ("people", "companyId"),
        ("company", "opportunities") => ("opportunities", "companyId"),
        ("company", "taskTargets") => ("taskTargets", "targetCompanyId"),
        ("company", "noteTargets") => ("noteTargets", "targetCompanyId"),
        ("person", "taskTargets") => ("taskTargets", "targetPersonId"),
        ("person", "noteTargets") => ("noteTargets", "targetPersonId"),
        ("person", "pointOfContactForOpportunities") => ("opportunities", "pointOfContactId"),
        ("opportunity", "taskTargets") => ("taskTargets", "targetOpportunityId"),
        ("opportunity", "noteTargets") => ("noteTargets", "targetOpportunityId"),
        ("note", "noteTargets") => ("noteTargets", "noteId"),
        ("task", "taskTargets") => ("taskTargets", "taskId"),
        ("workspaceMember", "accountOwnerForCompanies") => ("companies", "accountOwnerId"),
        ("workspaceMember", "ownedOpportunities") => ("opportunities", "ownerId"),
        ("workspaceMember", "assignedTasks") => ("tasks", "assigneeId"),
        _ => return None,
    })
}

/// Build a [`FieldMeta`] from its metadata JSON.
pub(crate) fn field_from_json(object_singular: &str, json: Value) -> FieldMeta {
    let name = json["name"].as_str().unwrap_or_default().to_string();
    let ftype = json["type"].as_str().unwrap_or_default().to_string();
    let relation = match ftype.as_str() {
        "RELATION" => {
            let settings = &json["settings"];
            match settings["relationType"].as_str() {
                Some("MANY_TO_ONE") => {
                    let join_column = settings["joinColumnName"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("{name}Id"));
                    match many_to_one_target(&name) {
                        Some(t) => Some(Relation::ManyToOne {
                            join_column,
                            target: t.to_string(),
                        }),
                        None => Some(Relation::Unsupported),
                    }
                }
                _ => match one_to_many(object_singular, &name) {
                    Some((t, j)) => Some(Relation::OneToMany {
                        target: t.to_string(),
                        join_column: j.to_string(),
                    }),
                    None => Some(Relation::Unsupported),
                },
            }
        }
        "MORPH_RELATION" => Some(Relation::ManyToOne {
            join_column: format!("{name}Id"),
            target: many_to_one_target(&name).unwrap_or("").to_string(),
        }),
        _ => None,
    };
    let options = json["options"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| o["value"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let default = empty_value(&ftype, &json["defaultValue"]);
    FieldMeta {
        is_unique: json["isUnique"].as_bool().unwrap_or(false),
        name,
        ftype,
        options,
        default,
        relation,
        json,
    }
}

/// Load the standard objects.
pub(crate) fn standard_objects() -> Vec<ObjectMeta> {
    let doc: Value = serde_json::from_str(STANDARD_OBJECTS)
        .expect("embedded standard_objects.json is valid JSON");
    let mut out = Vec::new();
    for obj in doc["objects"].as_array().into_iter().flatten() {
        let mut json = obj.as_object().cloned().unwrap_or_default();
        let fields = json.remove("fields").unwrap_or(Value::Array(vec![]));
        let singular = json["nameSingular"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let fields = fields
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| field_from_json(&singular, f.clone()))
            .collect();
        out.push(ObjectMeta {
            id: json["id"].as_str().unwrap_or_default().to_string(),
            plural: json["namePlural"].as_str().unwrap_or_default().to_string(),
            singular,
            fields,
            json,
        });
    }
    out
}

impl ObjectMeta {
    /// Find a field by record column name (join columns resolve to their relation field).
    pub fn field_by_column(&self, column: &str) -> Option<&FieldMeta> {
        self.fields.iter().find(|f| f.column() == Some(column))
    }

    /// Find a field by name.
    pub fn field(&self, name: &str) -> Option<&FieldMeta> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Unique keys used for upsert matching and unique constraints, as dotted paths.
    pub fn unique_paths(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| f.is_unique && f.relation.is_none())
            .map(|f| match f.ftype.as_str() {
                "EMAILS" => format!("{}.primaryEmail", f.name),
                "LINKS" => format!("{}.primaryLinkUrl", f.name),
                "PHONES" => format!("{}.primaryPhoneNumber", f.name),
                _ => f.name.clone(),
            })
            .collect()
    }

    /// The metadata JSON with its fields, as `/rest/metadata/objects` serves it.
    pub fn to_json(&self) -> Value {
        let mut m = self.json.clone();
        m.insert(
            "fields".into(),
            Value::Array(self.fields.iter().map(|f| f.json.clone()).collect()),
        );
        Value::Object(m)
    }

    /// A record of this object with every column at its empty/default value.
    pub fn blank_record(&self) -> Map<String, Value> {
        let mut m = Map::new();
        for f in &self.fields {
            if let Some(col) = f.column() {
                m.insert(col.to_string(), f.default.clone());
            }
        }
        m
    }
}

/// Path of a value inside a record: `emails.primaryEmail` → `["emails","primaryEmail"]`.
pub(crate) fn get_path<'a>(record: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let first = parts.next()?;
    let mut cur = record.get(first)?;
    for p in parts {
        cur = cur.get(p)?;
    }
    Some(cur)
}
