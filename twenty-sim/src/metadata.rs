//! The metadata API: objects and fields (custom objects and fields with Twenty's rules).

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use http::Method;
use serde_json::{Value, json};

use crate::config::ServerFlavor;
use crate::error::{ApiError, json_response};
use crate::routes::read_json;
use crate::schema::{APPLICATION_ID, WORKSPACE_ID, field_from_json};
use crate::server::Shared;
use crate::store::fmt_ms;

/// Names that custom fields may not take.
const RESERVED: &[&str] = &[
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
    "billingCustomer",
    "billingSubscription",
    "pageLayout",
    "pageLayouts",
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

/// Field types accepted by `POST /rest/metadata/fields`. As on 2.21.0, whose metadata OpenAPI
/// enumerates `RICH_TEXT` and no `RICH_TEXT_V2`: the rich-text composite (`{blocknote, markdown}`,
/// which older servers called `RICH_TEXT_V2`) is created as `RICH_TEXT`, and `RICH_TEXT_V2` is
/// refused.
const CREATABLE_TYPES: &[&str] = &[
    "TEXT",
    "NUMBER",
    "NUMERIC",
    "BOOLEAN",
    "DATE_TIME",
    "DATE",
    "SELECT",
    "MULTI_SELECT",
    "RATING",
    "RAW_JSON",
    "LINKS",
    "EMAILS",
    "PHONES",
    "CURRENCY",
    "FULL_NAME",
    "ADDRESS",
    "UUID",
    "ARRAY",
    "RICH_TEXT",
    "FILES",
];

fn query(req: &Request) -> std::collections::HashMap<String, String> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// Items a metadata page holds when the request names no `limit` (Twenty's
/// `DEFAULT_METADATA_REST_PAGE_SIZE`).
const METADATA_PAGE_DEFAULT: usize = 1000;

/// The most items one metadata page holds; larger `limit`s are clamped to it (Twenty's
/// `MAX_METADATA_REST_PAGE_SIZE`).
const METADATA_PAGE_MAX: usize = 1000;

/// Parse a metadata list's `limit` like Twenty's `parseLimitRestRequest`: absent or empty is the
/// default, a negative, fractional or non-numeric value is a 400, and anything above
/// [`METADATA_PAGE_MAX`] (however large) is clamped to it.
fn metadata_limit(raw: Option<&String>) -> Result<usize, ApiError> {
    let Some(text) = raw.filter(|l| !l.is_empty()) else {
        return Ok(METADATA_PAGE_DEFAULT);
    };
    let invalid = || ApiError::bad(format!("limit '{text}' is invalid. Should be an integer"));
    let n: f64 = text.trim().parse().map_err(|_| invalid())?;
    if !n.is_finite() || n < 0.0 || n.fract() != 0.0 {
        return Err(invalid());
    }
    // In range after the clamp, so the cast is exact.
    Ok(n.min(METADATA_PAGE_MAX as f64) as usize)
}

/// The `[start, end)` slice of `total` items that a page of at most `limit` items covers,
/// starting after the item at `after` or ending before the one at `before` (positions of the
/// cursors; an unknown cursor pages from the start, or up to the end). Never out of bounds.
fn page_bounds(
    total: usize,
    limit: usize,
    after: Option<Option<usize>>,
    before: Option<Option<usize>>,
) -> (usize, usize) {
    match (after, before) {
        (Some(pos), _) => {
            let start = pos.map_or(0, |p| p.saturating_add(1)).min(total);
            (start, start.saturating_add(limit).min(total))
        }
        (None, Some(pos)) => {
            let end = pos.unwrap_or(total).min(total);
            (end.saturating_sub(limit), end)
        }
        (None, None) => (0, limit.min(total)),
    }
}

/// Page a metadata list by UUID cursors (`limit`, `starting_after`, `ending_before`).
fn page(
    items: Vec<Value>,
    key: &str,
    q: &std::collections::HashMap<String, String>,
) -> Result<Response, ApiError> {
    let limit = metadata_limit(q.get("limit"))?;
    let total = items.len();
    let pos = |c: &String| {
        items
            .iter()
            .position(|i| i["id"].as_str() == Some(c.as_str()))
    };
    let (start, end) = page_bounds(
        total,
        limit,
        q.get("starting_after").map(pos),
        q.get("ending_before").map(pos),
    );
    let slice = items[start..end].to_vec();
    let body = json!({
        "data": { key: slice },
        "pageInfo": {
            "hasNextPage": end < total,
            "startCursor": slice.first().map(|v| v["id"].clone()),
            "endCursor": slice.last().map(|v| v["id"].clone()),
        },
        "totalCount": total,
    });
    Ok(json_response(200, body.to_string()))
}

/// `/rest/metadata/...`
pub(crate) async fn route(shared: &Arc<Shared>, req: Request, segs: &[&str]) -> Response {
    let flavor = shared.flavor;
    let r = match segs {
        ["webhooks", rest @ ..] if flavor != ServerFlavor::Legacy => {
            crate::webhooks::routes(shared, req, rest).await
        }
        ["objects"] if req.method() == Method::GET => {
            let q = query(&req);
            let db = shared.db.read().unwrap_or_else(|e| e.into_inner());
            let mut objs: Vec<&crate::store::Table> = db.tables.values().collect();
            objs.sort_by(|a, b| b.meta.id.cmp(&a.meta.id));
            page(
                objs.iter().map(|t| t.meta.to_json()).collect(),
                "objects",
                &q,
            )
        }
        ["objects", id] if req.method() == Method::GET => {
            let db = shared.db.read().unwrap_or_else(|e| e.into_inner());
            db.tables
                .values()
                .find(|t| t.meta.id == *id)
                .map(|t| {
                    json_response(
                        200,
                        json!({"data": {"object": t.meta.to_json()}}).to_string(),
                    )
                })
                .ok_or_else(|| ApiError::with_status(404, "Object metadata not found"))
        }
        ["fields"] if req.method() == Method::GET => {
            let q = query(&req);
            let db = shared.db.read().unwrap_or_else(|e| e.into_inner());
            let mut fields: Vec<Value> = db
                .tables
                .values()
                .flat_map(|t| t.meta.fields.iter().map(|f| f.json.clone()))
                .collect();
            fields.sort_by(|a, b| b["id"].as_str().cmp(&a["id"].as_str()));
            page(fields, "fields", &q)
        }
        ["fields", id] if req.method() == Method::GET => {
            let db = shared.db.read().unwrap_or_else(|e| e.into_inner());
            db.tables
                .values()
                .flat_map(|t| t.meta.fields.iter())
                .find(|f| f.json["id"].as_str() == Some(id))
                .map(|f| json_response(200, json!({"data": {"field": f.json}}).to_string()))
                .ok_or_else(|| ApiError::with_status(404, "Field metadata not found"))
        }
        ["fields"] if req.method() == Method::POST => create_field(shared, req).await,
        ["objects" | "fields", _] if matches!(*req.method(), Method::PATCH | Method::DELETE) => {
            Err(ApiError::not_simulated(req.method(), req.uri().path()))
        }
        ["relations", ..] => Err(ApiError::not_simulated(req.method(), req.uri().path())),
        ["objects"] if req.method() == Method::POST => create_object(shared, req).await,
        _ => Err(ApiError::bad(format!(
            "Query path '/rest/metadata/{}' invalid. Valid examples: /rest/metadata/objects or /rest/metadata/fields",
            segs.join("/")
        ))),
    };
    r.unwrap_or_else(|e| e.render(flavor))
}

fn validation_error(name: &str, object_uid: &str, code: &str, message: String) -> ApiError {
    ApiError {
        status: 400,
        message: message.clone(),
        body: Some(json!({
            "statusCode": 400,
            "error": "METADATA_VALIDATION_ERROR",
            "message": "Multiple validation errors occurred while creating fields",
            "errors": {"fieldMetadata": [{
                "status": "fail",
                "errors": [{"code": code, "value": name, "message": message, "userFriendlyMessage": message}],
                "flatEntityMinimalInformation": {
                    "universalIdentifier": uuid::Uuid::new_v4().to_string(),
                    "name": name,
                    "objectMetadataUniversalIdentifier": object_uid
                },
                "metadataName": "fieldMetadata",
                "type": "create"
            }]},
            "summary": {"totalErrors": 1, "fieldMetadata": 1},
            "userFriendlyMessage": "Many validation errors"
        })),
    }
}

/// Twenty's field-name rules; returns (code, message) on violation.
pub(crate) fn check_field_name(name: &str) -> Result<(), (&'static str, String)> {
    let valid_chars = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric());
    if name.is_empty() {
        return Err((
            "INVALID_NAME",
            "Name is too short: it must be at least one character long".into(),
        ));
    }
    if name.len() > 63 {
        return Err((
            "INVALID_NAME",
            format!("Name \"{name}\" exceeds 63 characters"),
        ));
    }
    if !valid_chars {
        return Err((
            "INVALID_NAME",
            format!("Name \"{name}\" should be in camelCase"),
        ));
    }
    if RESERVED.contains(&name) {
        return Err(("RESERVED_KEYWORD", format!("Name \"{name}\" is reserved")));
    }
    Ok(())
}

async fn create_field(shared: &Arc<Shared>, req: Request) -> Result<Response, ApiError> {
    let flavor = shared.flavor;
    let body = match read_json(req).await {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    let input = body.as_object().cloned().unwrap_or_default();
    let object_id = input
        .get("objectMetadataId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let name = input
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let ftype = input
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let label = input
        .get("label")
        .and_then(Value::as_str)
        .unwrap_or(&name)
        .to_string();
    let mut db = shared.db.write().unwrap_or_else(|e| e.into_inner());
    let clock_now = db.clock.tick();
    let table = db
        .tables
        .values_mut()
        .find(|t| t.meta.id == object_id)
        .ok_or_else(|| ApiError::bad(format!("Object metadata '{object_id}' not found: pass the id of an object listed by /rest/metadata/objects")))?;
    let object_uid = table
        .meta
        .json
        .get("universalIdentifier")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Err((code, msg)) = check_field_name(&name) {
        return Err(validation_error(&name, &object_uid, code, msg));
    }
    if !CREATABLE_TYPES.contains(&ftype.as_str()) {
        return Err(ApiError::bad(format!(
            "Field type '{ftype}' is not supported; use one of {}",
            CREATABLE_TYPES.join(", ")
        )));
    }
    let taken = table
        .meta
        .fields
        .iter()
        .any(|f| f.name == name || f.column() == Some(name.as_str()));
    if taken {
        let msg =
            format!("Name \"{name}\" is not available as it is already used by another field");
        if flavor == ServerFlavor::Newest {
            return Err(ApiError {
                status: 409,
                message: msg.clone(),
                body: Some(
                    json!({"statusCode": 409, "error": "ConflictException", "messages": [msg], "code": "FIELD_ALREADY_EXISTS"}),
                ),
            });
        }
        return Err(validation_error(&name, &object_uid, "NOT_AVAILABLE", msg));
    }
    let options = match input.get("options") {
        Some(Value::Array(opts)) => {
            let mut out = Vec::new();
            for (i, o) in opts.iter().enumerate() {
                let value = o.get("value").and_then(Value::as_str).unwrap_or_default();
                if value.is_empty() {
                    return Err(ApiError::bad(format!(
                        "Option {i} of field \"{name}\" has no value"
                    )));
                }
                out.push(json!({
                    "id": uuid::Uuid::new_v4().to_string(),
                    "color": o.get("color").cloned().unwrap_or(json!("gray")),
                    "label": o.get("label").cloned().unwrap_or(json!(value)),
                    "value": value,
                    "position": o.get("position").cloned().unwrap_or(json!(i)),
                }));
            }
            Value::Array(out)
        }
        _ => Value::Null,
    };
    if matches!(ftype.as_str(), "SELECT" | "MULTI_SELECT")
        && options.as_array().is_none_or(|o| o.is_empty())
    {
        return Err(ApiError::bad(format!(
            "Options are required for {ftype} field \"{name}\""
        )));
    }
    let options = if ftype == "RATING" && options.is_null() {
        Value::Array((1..=5).map(|i| json!({"id": uuid::Uuid::new_v4().to_string(), "label": i.to_string(), "value": format!("RATING_{i}"), "position": i - 1})).collect())
    } else {
        options
    };
    let now = fmt_ms(clock_now);
    let field_json = json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "universalIdentifier": uuid::Uuid::new_v4().to_string(),
        "label": label,
        "name": name,
        "objectMetadataId": object_id,
        "type": ftype,
        "workspaceId": WORKSPACE_ID,
        "defaultValue": input.get("defaultValue").cloned().unwrap_or(Value::Null),
        "isActive": true,
        "isLabelSyncedWithName": input.get("isLabelSyncedWithName").cloned().unwrap_or(json!(false)),
        "isSystem": false,
        "isUIEditable": true,
        "isUIReadOnly": false,
        "options": options,
        "createdAt": now,
        "updatedAt": now,
        "isNullable": input.get("isNullable").cloned().unwrap_or(json!(true)),
        "isUnique": input.get("isUnique").cloned().unwrap_or(json!(false)),
        "applicationId": APPLICATION_ID,
        "description": input.get("description").cloned().unwrap_or(Value::Null),
        "icon": input.get("icon").cloned().unwrap_or(Value::Null),
    });
    let field = field_from_json(&table.meta.singular.clone(), field_json.clone());
    let column = name.clone();
    let default = field.default.clone();
    table.meta.fields.push(field);
    // Existing records get the new column at once.
    let ids: Vec<u128> = table.rows.keys().copied().collect();
    for id in ids {
        if let Some(mut rec) = table.get(id) {
            rec.insert(column.clone(), default.clone());
            let _ = table.put(&rec);
        }
    }
    table.refresh_uniques();
    Ok(json_response(
        201,
        json!({"data": {"createOneField": field_json}}).to_string(),
    ))
}

/// `POST /rest/metadata/objects`: a custom object with Twenty's system fields and a `name` field.
async fn create_object(shared: &Arc<Shared>, req: Request) -> Result<Response, ApiError> {
    let body = match read_json(req).await {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (singular, plural) = (text("nameSingular"), text("namePlural"));
    for name in [&singular, &plural] {
        if let Err((code, msg)) = check_field_name(name) {
            return Err(validation_error(name, "", code, msg));
        }
    }
    if singular == plural {
        return Err(ApiError::bad(
            "The singular and plural names of an object must differ",
        ));
    }
    let mut db = shared.db.write().unwrap_or_else(|e| e.into_inner());
    let taken = db.tables.values().any(|t| {
        [&t.meta.singular, &t.meta.plural]
            .iter()
            .any(|n| **n == singular || **n == plural)
    });
    if taken {
        return Err(validation_error(
            &singular,
            "",
            "NOT_AVAILABLE",
            format!("Name \"{singular}\" is not available as it is already used by another object"),
        ));
    }
    let now = fmt_ms(db.clock.tick());
    let template = db
        .tables
        .get("companies")
        .map(|t| t.meta.clone())
        .ok_or_else(|| ApiError::with_status(500, "standard object 'company' is missing"))?;
    let object_id = uuid::Uuid::new_v4().to_string();
    let mut fields = Vec::new();
    for name in [
        "id",
        "createdAt",
        "updatedAt",
        "deletedAt",
        "name",
        "position",
        "createdBy",
        "updatedBy",
        "searchVector",
    ] {
        if let Some(f) = template.field(name) {
            let mut json = f.json.clone();
            json["id"] = json!(uuid::Uuid::new_v4().to_string());
            json["universalIdentifier"] = json!(uuid::Uuid::new_v4().to_string());
            json["objectMetadataId"] = json!(object_id);
            json["applicationId"] = json!(APPLICATION_ID);
            json["createdAt"] = json!(now);
            json["updatedAt"] = json!(now);
            fields.push(field_from_json(&singular, json));
        }
    }
    let mut meta_json = template.json.clone();
    for (k, v) in [
        ("id", json!(object_id)),
        (
            "universalIdentifier",
            json!(uuid::Uuid::new_v4().to_string()),
        ),
        ("applicationId", json!(APPLICATION_ID)),
        ("nameSingular", json!(singular)),
        ("namePlural", json!(plural)),
        (
            "labelSingular",
            body.get("labelSingular")
                .cloned()
                .unwrap_or(json!(singular)),
        ),
        (
            "labelPlural",
            body.get("labelPlural").cloned().unwrap_or(json!(plural)),
        ),
        (
            "description",
            body.get("description").cloned().unwrap_or(Value::Null),
        ),
        (
            "icon",
            body.get("icon").cloned().unwrap_or(json!("IconBox")),
        ),
        ("isCustom", json!(true)),
        ("isSystem", json!(false)),
        (
            "labelIdentifierFieldMetadataId",
            fields
                .iter()
                .find(|f| f.name == "name")
                .map(|f| f.json["id"].clone())
                .unwrap_or(Value::Null),
        ),
        ("duplicateCriteria", Value::Null),
        ("createdAt", json!(now)),
        ("updatedAt", json!(now)),
    ] {
        meta_json.insert(k.to_string(), v);
    }
    meta_json.remove("imageIdentifierFieldMetadataId");
    meta_json.remove("shortcut");
    let meta = crate::schema::ObjectMeta {
        id: object_id,
        singular,
        plural: plural.clone(),
        fields,
        json: meta_json,
    };
    let out = meta.to_json();
    db.tables.insert(plural, crate::store::Table::new(meta));
    Ok(json_response(
        201,
        json!({"data": {"createOneObject": out}}).to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_bounds_stay_inside_the_list_for_any_limit() {
        assert_eq!(page_bounds(10, usize::MAX, Some(Some(3)), None), (4, 10));
        assert_eq!(page_bounds(10, usize::MAX, Some(Some(9)), None), (10, 10));
        assert_eq!(page_bounds(10, usize::MAX, None, Some(Some(3))), (0, 3));
        assert_eq!(page_bounds(10, usize::MAX, None, None), (0, 10));
        assert_eq!(
            page_bounds(10, 2, Some(None), None),
            (0, 2),
            "unknown cursor"
        );
        assert_eq!(
            page_bounds(10, 2, None, Some(None)),
            (8, 10),
            "unknown cursor"
        );
        assert_eq!(page_bounds(0, 5, Some(Some(usize::MAX)), None), (0, 0));
    }

    #[test]
    fn limits_parse_like_twenty_and_clamp_to_the_metadata_maximum() {
        let limit = |s: &str| metadata_limit(Some(&s.to_string())).map_err(|e| e.message);
        assert_eq!(metadata_limit(None).ok(), Some(METADATA_PAGE_DEFAULT));
        assert_eq!(limit("").ok(), Some(METADATA_PAGE_DEFAULT));
        assert_eq!(limit("0").ok(), Some(0));
        assert_eq!(limit("5").ok(), Some(5));
        assert_eq!(limit("18446744073709551616").ok(), Some(METADATA_PAGE_MAX));
        assert_eq!(limit("1e300").ok(), Some(METADATA_PAGE_MAX));
        for bad in ["-1", "1.5", "NaN", "inf", "x"] {
            assert_eq!(
                limit(bad),
                Err(format!("limit '{bad}' is invalid. Should be an integer"))
            );
        }
    }
}
