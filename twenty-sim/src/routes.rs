//! Path parsing and the records endpoints (`/rest/{plural}`, `/rest/batch/...`, `/rest/restore/...`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use http::Method;
use serde_json::{Map, Value, json};

use crate::config::ServerFlavor;
use crate::error::{ApiError, json_response, malformed_json};
use crate::filter::Filter;
use crate::list::{ListQuery, parse_order_by, select};
use crate::schema::Relation;
use crate::server::Shared;
use crate::store::{Table, parse_id};

pub(crate) type Query = HashMap<String, String>;

fn parse_query(req: &Request) -> Query {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// `{"data":{key: value}}` with a status.
fn data(status: u16, key: &str, value: Value) -> Response {
    let mut m = Map::new();
    m.insert(key.to_string(), value);
    json_response(status, json!({ "data": Value::Object(m) }).to_string())
}

/// Read and parse the JSON body (Nest's 400 for malformed JSON).
pub(crate) async fn read_json(req: Request) -> Result<Value, Response> {
    let bytes = axum::body::to_bytes(req.into_body(), 256 * 1024 * 1024)
        .await
        .map_err(|e| {
            ApiError::bad(format!("cannot read request body: {e}")).render(ServerFlavor::V2_21)
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(&bytes).map_err(|e| malformed_json(&bytes, &e))
}

/// Route one authenticated, non-faulted request.
pub(crate) async fn route(shared: &Arc<Shared>, req: Request) -> Response {
    let flavor = shared.flavor;
    let path = req.uri().path().to_string();
    let segs: Vec<String> = path
        .strip_prefix("/rest")
        .unwrap_or(&path)
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match segs.first().copied() {
        Some("metadata") => return crate::metadata::route(shared, req, &segs[1..]).await,
        Some("webhooks") => return crate::webhooks::legacy_webhooks(shared, req, &segs[1..]).await,
        _ => {}
    }
    let result = records(shared, req, &path, &segs).await;
    result.unwrap_or_else(|e| e.render(flavor))
}

fn invalid_path(path: &str) -> ApiError {
    ApiError::bad(format!(
        "Query path '{path}' invalid. Valid examples: /rest/companies/id or /rest/companies or /rest/batch/companies"
    ))
}

fn parse_filter(shared: &Shared, plural: &str, q: &Query) -> Result<Option<Filter>, ApiError> {
    let Some(f) = q.get("filter").filter(|f| !f.trim().is_empty()) else {
        return Ok(None);
    };
    let db = shared.db.read().unwrap_or_else(|e| e.into_inner());
    let table = db.table(plural)?;
    Filter::parse(&table.meta, f)
        .map(Some)
        .map_err(ApiError::bad)
}

fn require_filter(shared: &Shared, plural: &str, q: &Query) -> Result<Filter, ApiError> {
    parse_filter(shared, plural, q)?.ok_or_else(|| {
        ApiError::bad("'filter' query parameter is required when no record id is given in the path")
    })
}

fn flag(q: &Query, name: &str) -> bool {
    q.get(name).is_some_and(|v| v == "true" || v == "1")
}

async fn records(
    shared: &Arc<Shared>,
    req: Request,
    path: &str,
    segs: &[&str],
) -> Result<Response, ApiError> {
    let method = req.method().clone();
    let q = parse_query(&req);
    let flavor = shared.flavor;
    match segs {
        ["batch", plural] if method == Method::POST => {
            shared
                .db
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .check_object(plural)?;
            let body = match read_json(req).await {
                Ok(b) => b,
                Err(r) => return Ok(r),
            };
            let items = body
                .as_array()
                .ok_or_else(|| ApiError::bad("Batch create expects a JSON array of records"))?;
            let upsert = flag(&q, "upsert");
            let mut db = shared.db.write().unwrap_or_else(|e| e.into_inner());
            let (v, events) = db.create_many(plural, items, upsert, flavor.max_batch())?;
            shared.emit(&db, &events);
            let key = format!("create{}", upper_first(plural));
            Ok(data(201, &key, v))
        }
        ["restore", plural] if method == Method::PATCH => {
            let filter = require_filter(shared, plural, &q)?;
            let mut db = shared.db.write().unwrap_or_else(|e| e.into_inner());
            let (v, events) = db.restore_many(plural, &filter)?;
            shared.emit(&db, &events);
            Ok(data(200, &format!("restore{}", upper_first(plural)), v))
        }
        ["restore", plural, id] if method == Method::PATCH => {
            if flavor == ServerFlavor::V2_21 {
                return Err(invalid_path(path));
            }
            let id =
                parse_id(id).ok_or_else(|| ApiError::bad(format!("'{id}' is not a valid UUID")))?;
            let mut db = shared.db.write().unwrap_or_else(|e| e.into_inner());
            let singular = db.table(plural)?.meta.singular.clone();
            let (v, events) = db.restore_one(plural, id)?;
            shared.emit(&db, &events);
            Ok(data(200, &format!("restore{}", upper_first(&singular)), v))
        }
        [plural] => collection(shared, req, plural, &q).await,
        ["open-api", _] if method == Method::GET => Err(ApiError::not_simulated(&method, path)),
        [plural, "groupBy"] if method == Method::GET => {
            not_simulated_on(shared, plural, &method, path)
        }
        [plural, "merge"] if method == Method::PATCH => {
            not_simulated_on(shared, plural, &method, path)
        }
        [plural, "duplicates"] if method == Method::POST => duplicates(shared, req, plural).await,
        [plural, id] => {
            let Some(uid) = parse_id(id) else {
                return Err(ApiError::bad(format!("'{id}' is not a valid UUID")));
            };
            one(shared, req, plural, uid, &q).await
        }
        _ => Err(invalid_path(path)),
    }
}

/// The 501 of an unsimulated endpoint of an object (group-by, merge), once the object is known to
/// exist: an unknown one gets Twenty's 400 as on any other path.
fn not_simulated_on(
    shared: &Shared,
    plural: &str,
    method: &Method,
    path: &str,
) -> Result<Response, ApiError> {
    shared
        .db
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .check_object(plural)?;
    Err(ApiError::not_simulated(method, path))
}

async fn collection(
    shared: &Arc<Shared>,
    req: Request,
    plural: &str,
    q: &Query,
) -> Result<Response, ApiError> {
    shared
        .db
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .check_object(plural)?;
    let plural_key = upper_first(plural);
    match *req.method() {
        Method::GET => {
            let resp = list(shared, plural, q)?;
            shared.after_list(plural);
            Ok(resp)
        }
        Method::POST => {
            let body = match read_json(req).await {
                Ok(b) => b,
                Err(r) => return Ok(r),
            };
            let upsert = flag(q, "upsert");
            let mut db = shared.db.write().unwrap_or_else(|e| e.into_inner());
            let singular = db.table(plural)?.meta.singular.clone();
            let (v, events) = db.create_one(plural, &body, upsert)?;
            shared.emit(&db, &events);
            Ok(data(201, &format!("create{}", upper_first(&singular)), v))
        }
        Method::PATCH | Method::PUT => {
            let filter = require_filter(shared, plural, q)?;
            let body = match read_json(req).await {
                Ok(b) => b,
                Err(r) => return Ok(r),
            };
            let mut db = shared.db.write().unwrap_or_else(|e| e.into_inner());
            let (v, events) = db.update_many(plural, &filter, &body)?;
            shared.emit(&db, &events);
            Ok(data(200, &format!("update{plural_key}"), v))
        }
        Method::DELETE => {
            let filter = require_filter(shared, plural, q)?;
            let soft = flag(q, "soft_delete");
            let mut db = shared.db.write().unwrap_or_else(|e| e.into_inner());
            let (v, events) = db.delete_many(plural, &filter, soft)?;
            shared.emit(&db, &events);
            Ok(data(200, &format!("delete{plural_key}"), v))
        }
        _ => Err(ApiError::with_status(
            404,
            format!("Cannot {} /rest/{plural}", req.method()),
        )),
    }
}

async fn one(
    shared: &Arc<Shared>,
    req: Request,
    plural: &str,
    id: u128,
    q: &Query,
) -> Result<Response, ApiError> {
    let singular = {
        let db = shared.db.read().unwrap_or_else(|e| e.into_inner());
        db.table(plural)?.meta.singular.clone()
    };
    let key = upper_first(&singular);
    match *req.method() {
        Method::GET => {
            let depth = q.get("depth").map(String::as_str) == Some("1");
            let db = shared.db.read().unwrap_or_else(|e| e.into_inner());
            let table = db.table(plural)?;
            let row = table
                .rows
                .get(&id)
                .filter(|r| r.deleted.is_none())
                .ok_or_else(ApiError::not_found)?;
            let mut rec = row.parse();
            if depth {
                expand(&db.tables, table, std::slice::from_mut(&mut rec));
            }
            Ok(data(200, &singular, Value::Object(rec)))
        }
        Method::PATCH | Method::PUT => {
            let body = match read_json(req).await {
                Ok(b) => b,
                Err(r) => return Ok(r),
            };
            let mut db = shared.db.write().unwrap_or_else(|e| e.into_inner());
            let (v, events) = db.update_one(plural, id, &body)?;
            shared.emit(&db, &events);
            Ok(data(200, &format!("update{key}"), v))
        }
        Method::DELETE => {
            let soft = flag(q, "soft_delete");
            let mut db = shared.db.write().unwrap_or_else(|e| e.into_inner());
            let (v, events) = db.delete_one(plural, id, soft)?;
            shared.emit(&db, &events);
            Ok(data(200, &format!("delete{key}"), v))
        }
        _ => Err(ApiError::with_status(
            404,
            format!("Cannot {} /rest/{plural}/{{id}}", req.method()),
        )),
    }
}

/// Add depth-1 relations to records of `table`.
fn expand(tables: &HashMap<String, Table>, table: &Table, recs: &mut [Map<String, Value>]) {
    for f in &table.meta.fields {
        match &f.relation {
            Some(Relation::ManyToOne {
                join_column,
                target,
            }) if f.ftype == "RELATION" => {
                for rec in recs.iter_mut() {
                    let related = rec
                        .get(join_column)
                        .and_then(Value::as_str)
                        .and_then(parse_id)
                        .and_then(|id| {
                            tables
                                .get(target)?
                                .rows
                                .get(&id)
                                .filter(|r| r.deleted.is_none())
                        })
                        .map(|r| Value::Object(r.parse()))
                        .unwrap_or(Value::Null);
                    rec.insert(f.name.clone(), related);
                }
            }
            Some(Relation::OneToMany {
                target,
                join_column,
            }) => {
                let mut by_parent: HashMap<String, Vec<Value>> = HashMap::new();
                let ids: std::collections::HashSet<String> = recs
                    .iter()
                    .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_string))
                    .collect();
                if let Some(t) = tables.get(target) {
                    for row in t.rows.values().filter(|r| r.deleted.is_none()) {
                        let rec = row.parse();
                        if let Some(p) = rec.get(join_column).and_then(Value::as_str) {
                            if ids.contains(p) {
                                by_parent
                                    .entry(p.to_string())
                                    .or_default()
                                    .push(Value::Object(rec));
                            }
                        }
                    }
                }
                for rec in recs.iter_mut() {
                    let id = rec
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    rec.insert(
                        f.name.clone(),
                        Value::Array(by_parent.remove(&id).unwrap_or_default()),
                    );
                }
            }
            Some(Relation::Unsupported) => {
                let one_to_many =
                    f.json["settings"]["relationType"].as_str() != Some("MANY_TO_ONE");
                for rec in recs.iter_mut() {
                    rec.insert(
                        f.name.clone(),
                        if one_to_many {
                            Value::Array(vec![])
                        } else {
                            Value::Null
                        },
                    );
                }
            }
            _ => {}
        }
    }
}

fn list(shared: &Arc<Shared>, plural: &str, q: &Query) -> Result<Response, ApiError> {
    let flavor = shared.flavor;
    let limit = match q.get("limit") {
        None => 60,
        Some(l) => {
            let n: f64 = l.trim().parse().map_err(|_| {
                ApiError::bad(format!("limit '{l}' is invalid. Should be an integer"))
            })?;
            if n.is_nan() || n < 0.0 {
                return Err(ApiError::bad(format!(
                    "limit '{l}' is invalid. Should be an integer"
                )));
            }
            (n as usize).min(flavor.max_page())
        }
    };
    let depth = match q.get("depth").map(String::as_str) {
        None | Some("0") => false,
        Some("1") => true,
        Some(d) => {
            return Err(ApiError::bad(format!(
                "'depth={d}' parameter invalid. Allowed values are 0, 1"
            )));
        }
    };
    let filter = parse_filter(shared, plural, q)?;
    let db = shared.db.read().unwrap_or_else(|e| e.into_inner());
    let table = db.table(plural)?;
    let order = match q.get("order_by").filter(|o| !o.trim().is_empty()) {
        Some(o) => parse_order_by(&table.meta, o).map_err(ApiError::bad)?,
        None => Vec::new(),
    };
    let query = ListQuery {
        limit,
        starting_after: q.get("starting_after").filter(|s| !s.is_empty()).cloned(),
        ending_before: q.get("ending_before").filter(|s| !s.is_empty()).cloned(),
        filter_text: q.get("filter").cloned().unwrap_or_default(),
        filter,
        order,
    };
    let page = select(table, &query).map_err(ApiError::bad)?;
    let mut body = String::with_capacity(page.rows.len() * 1200 + 256);
    body.push_str("{\"data\":{\"");
    body.push_str(plural);
    body.push_str("\":[");
    if depth {
        let mut recs: Vec<Map<String, Value>> = page.rows.iter().map(|(_, r)| r.parse()).collect();
        expand(&db.tables, table, &mut recs);
        let parts: Vec<String> = recs
            .into_iter()
            .map(|r| Value::Object(r).to_string())
            .collect();
        body.push_str(&parts.join(","));
    } else {
        for (i, (_, r)) in page.rows.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&r.json);
        }
    }
    body.push_str("]},\"totalCount\":");
    body.push_str(&page.total.to_string());
    body.push_str(",\"pageInfo\":");
    body.push_str(
        &json!({
            "startCursor": page.start_cursor,
            "endCursor": page.end_cursor,
            "hasNextPage": page.has_next,
            "hasPreviousPage": page.has_previous,
        })
        .to_string(),
    );
    body.push('}');
    Ok(json_response(200, body))
}

async fn duplicates(
    shared: &Arc<Shared>,
    req: Request,
    plural: &str,
) -> Result<Response, ApiError> {
    let body = match read_json(req).await {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    let db = shared.db.read().unwrap_or_else(|e| e.into_inner());
    let table = db.table(plural)?;
    let key = format!("{}Duplicates", table.meta.singular);
    let mut probes: Vec<(Map<String, Value>, Option<u128>)> = Vec::new();
    if let Some(ids) = body.get("ids").and_then(Value::as_array) {
        for id in ids {
            let s = id.as_str().unwrap_or_default();
            let uid =
                parse_id(s).ok_or_else(|| ApiError::bad(format!("'{s}' is not a valid UUID")))?;
            let rec = table.get(uid).ok_or_else(ApiError::not_found)?;
            probes.push((rec, Some(uid)));
        }
    } else if let Some(items) = body.get("data").and_then(Value::as_array) {
        for item in items {
            let mut rec = table.meta.blank_record();
            crate::input::apply_input(
                &table.meta,
                &mut rec,
                item.as_object().unwrap_or(&Map::new()),
                true,
            )?;
            probes.push((rec, None));
        }
    } else {
        return Err(ApiError::bad(
            "The body must contain either 'data' (records) or 'ids'",
        ));
    }
    let mut out = Vec::new();
    for (probe, exclude) in probes {
        let found = db.duplicates_of(plural, &probe, exclude)?;
        let mut m = Map::new();
        m.insert("totalCount".into(), json!(found.len()));
        m.insert(
            "pageInfo".into(),
            json!({"hasNextPage": false, "startCursor": found.first().and_then(|r| r.get("id")).cloned(), "endCursor": found.last().and_then(|r| r.get("id")).cloned()}),
        );
        m.insert(key.clone(), Value::Array(found));
        out.push(Value::Object(m));
    }
    Ok(json_response(200, json!({ "data": out }).to_string()))
}
