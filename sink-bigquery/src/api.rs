//! The BigQuery REST calls the sink makes, on top of `gcp-bigquery-client`, with one place that
//! maps failures to [`StoreError`]s and one counter of bytes processed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gcp_bigquery_client::Client;
use gcp_bigquery_client::error::BQError;
use gcp_bigquery_client::model::data_format_options::DataFormatOptions;
use gcp_bigquery_client::model::dataset::Dataset;
use gcp_bigquery_client::model::error_proto::ErrorProto;
use gcp_bigquery_client::model::get_query_results_parameters::GetQueryResultsParameters;
use gcp_bigquery_client::model::query_parameter::QueryParameter;
use gcp_bigquery_client::model::query_parameter_type::QueryParameterType;
use gcp_bigquery_client::model::query_parameter_value::QueryParameterValue;
use gcp_bigquery_client::model::query_request::QueryRequest;
use gcp_bigquery_client::model::query_response::QueryResponse;
use gcp_bigquery_client::model::table::Table;
use gcp_bigquery_client::model::table_data_insert_all_request::TableDataInsertAllRequest;
use gcp_bigquery_client::model::table_row::TableRow;
use serde_json::Value;
use twenty_sync_core::{StoreError, StoreErrorKind, StoreResult};

use crate::auth::MetadataServerAuth;

/// Rows per `tabledata.insertAll` request (BigQuery recommends at most 500).
pub(crate) const INSERT_CHUNK: usize = 500;

/// The waits before each new attempt of an `insertAll` chunk answered with a temporary error:
/// three attempts in all, then the error is the apply's (temporary: the run can be retried).
pub(crate) const INSERT_RETRY_DELAYS: [Duration; 2] =
    [Duration::from_millis(250), Duration::from_millis(1000)];

/// A named query parameter.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    /// A scalar of this BigQuery type (`"STRING"`, `"TIMESTAMP"`, `"INT64"`...).
    Scalar(&'static str, String),
    /// An array of scalars of this type.
    Array(&'static str, Vec<String>),
}

/// The rows of a finished query, with the column names of its schema.
#[derive(Debug, Default)]
pub(crate) struct QueryRows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<Value>>>,
}

impl QueryRows {
    pub(crate) fn index(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }
}

/// The REST surface of the sink.
pub(crate) struct Api {
    client: Client,
    project: String,
    location: Option<String>,
    bytes: Arc<AtomicU64>,
    metadata: Option<MetadataServerAuth>,
    credentials: String,
}

impl Api {
    pub(crate) fn new(
        client: Client,
        project: String,
        location: Option<String>,
        metadata: Option<MetadataServerAuth>,
        credentials: String,
    ) -> Self {
        Api {
            client,
            project,
            location,
            bytes: Arc::new(AtomicU64::new(0)),
            metadata,
            credentials,
        }
    }

    pub(crate) fn bytes_processed(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// `datasets.insert`; `Ok(false)` when it already existed.
    pub(crate) async fn create_dataset(&self, dataset: &str) -> StoreResult<bool> {
        let mut ds = Dataset::new(&self.project, dataset);
        if let Some(loc) = &self.location {
            ds = ds.location(loc);
        }
        match self.client.dataset().create(ds).await {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(409) => Ok(false),
            Err(e) => Err(self
                .error(e, "datasets.insert")
                .with_context("dataset", dataset)),
        }
    }

    /// `tables.get`; `Ok(None)` when the table does not exist.
    pub(crate) async fn get_table(&self, dataset: &str, table: &str) -> StoreResult<Option<Table>> {
        match self
            .client
            .table()
            .get(&self.project, dataset, table, None)
            .await
        {
            Ok(t) => Ok(Some(t)),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(self.error(e, "tables.get").with_context("table", table)),
        }
    }

    /// `tables.insert`; `Ok(false)` when it already existed.
    pub(crate) async fn create_table(&self, table: Table) -> StoreResult<bool> {
        let name = table.table_reference.table_id.clone();
        match self.client.table().create(table).await {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(409) => Ok(false),
            Err(e) => Err(self.error(e, "tables.insert").with_context("table", name)),
        }
    }

    /// `tabledata.insertAll` of `(insertId, row)` pairs, in chunks; any row error fails the call.
    /// A chunk answered with a temporary error (5xx, 429, a rate limit) is sent again, with the
    /// same `insertId`s, after [`INSERT_RETRY_DELAYS`]: what BigQuery asks of streaming clients
    /// (a row that did land is dropped as a duplicate, or merged once by the sink's `MERGE`).
    pub(crate) async fn insert_all(
        &self,
        dataset: &str,
        table: &str,
        rows: Vec<(String, Value)>,
        keys: &[String],
    ) -> StoreResult<()> {
        for (chunk_no, chunk) in rows.chunks(INSERT_CHUNK).enumerate() {
            let mut delays = INSERT_RETRY_DELAYS.iter();
            let resp = loop {
                let mut request = TableDataInsertAllRequest::new();
                for (id, row) in chunk {
                    request
                        .add_row(Some(id.clone()), row)
                        .map_err(|e| self.error(e, "tabledata.insertAll"))?;
                }
                let sent = self
                    .client
                    .tabledata()
                    .insert_all(&self.project, dataset, table, request)
                    .await
                    .map_err(|e| {
                        self.error(e, "tabledata.insertAll")
                            .with_context("table", table)
                    });
                match sent {
                    Ok(resp) => break resp,
                    Err(e) if e.is_temporary() => match delays.next() {
                        Some(delay) => {
                            tracing::debug!(table, error = %e, ?delay, "insertAll failed for now; sending the chunk again");
                            tokio::time::sleep(*delay).await;
                        }
                        None => return Err(e),
                    },
                    Err(e) => return Err(e),
                }
            };
            if let Some(first) = resp.insert_errors.as_ref().and_then(|e| e.first()) {
                let index = first.index.unwrap_or(0).max(0) as usize + chunk_no * INSERT_CHUNK;
                let reason = first
                    .errors
                    .as_ref()
                    .and_then(|e| e.first())
                    .map(|e| format!("{e:?}"))
                    .unwrap_or_else(|| "no reason given".to_owned());
                let mut err = StoreError::new(
                    StoreErrorKind::Invalid,
                    format!(
                        "BigQuery refused {} staged row(s); first refusal: {reason}. Check the \
                         column types of the mapping against the data",
                        resp.insert_errors.as_ref().map_or(0, Vec::len)
                    ),
                )
                .with_context("operation", "tabledata.insertAll")
                .with_context("table", table);
                if let Some(key) = keys.get(index) {
                    err = err.with_context("key", key.clone());
                }
                return Err(err);
            }
        }
        Ok(())
    }

    /// `jobs.query` (standard SQL, named parameters), then `jobs.getQueryResults` until the job is
    /// complete and every page is read. Adds `totalBytesProcessed` to the counter.
    pub(crate) async fn query(
        &self,
        sql: &str,
        params: Vec<(&str, Param)>,
    ) -> StoreResult<QueryRows> {
        let mut request = QueryRequest::new(sql);
        request.parameter_mode = Some("NAMED".to_owned());
        request.query_parameters = Some(params.into_iter().map(to_param).collect());
        request.location = self.location.clone();
        request.format_options = Some(DataFormatOptions {
            use_int64_timestamp: Some(true),
        });
        request.timeout_ms = Some(30_000);
        let mut resp = self
            .client
            .job()
            .query(&self.project, request)
            .await
            .map_err(|e| self.error(e, "jobs.query"))?;
        self.count_bytes(&resp);
        let mut out = QueryRows::default();
        let mut collected_first = false;
        loop {
            if resp.job_complete == Some(true) {
                if let Some(errors) = resp.errors.as_ref().filter(|e| !e.is_empty()) {
                    return Err(job_error(errors));
                }
                if !collected_first {
                    out.columns = resp
                        .schema
                        .as_ref()
                        .and_then(|s| s.fields.as_ref())
                        .map(|f| f.iter().map(|f| f.name.clone()).collect())
                        .unwrap_or_default();
                    collected_first = true;
                }
                out.rows
                    .extend(resp.rows.take().unwrap_or_default().into_iter().map(cells));
                if resp.page_token.is_none() {
                    return Ok(out);
                }
            }
            let job = resp
                .job_reference
                .as_ref()
                .and_then(|j| j.job_id.clone())
                .ok_or_else(|| {
                    StoreError::new(
                        StoreErrorKind::Other,
                        "the query is not complete and BigQuery gave no job id to wait on",
                    )
                    .with_context("operation", "jobs.query")
                })?;
            let location = resp
                .job_reference
                .as_ref()
                .and_then(|j| j.location.clone())
                .or_else(|| self.location.clone());
            let params = GetQueryResultsParameters {
                // The client sends these as a query string, which cannot hold the nested
                // `formatOptions`: timestamps then come back as float seconds (decoded exactly).
                format_options: None,
                location,
                max_results: None,
                page_token: resp.page_token.clone(),
                start_index: None,
                timeout_ms: Some(30_000),
            };
            let next = self
                .client
                .job()
                .get_query_results(&self.project, &job, params)
                .await
                .map_err(|e| {
                    self.error(e, "jobs.getQueryResults")
                        .with_context("job", job.clone())
                })?;
            let was_complete = resp.job_complete == Some(true);
            resp = QueryResponse::from(next);
            if !was_complete {
                // Bytes are reported once the job completes.
                self.count_bytes(&resp);
            }
        }
    }

    fn count_bytes(&self, resp: &QueryResponse) {
        if resp.job_complete != Some(true) {
            return;
        }
        if let Some(bytes) = resp
            .total_bytes_processed
            .as_deref()
            .and_then(|b| b.parse::<u64>().ok())
        {
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Maps a client error to a [`StoreError`]: 429/5xx/timeouts are temporary, 404 is NotFound,
    /// 401/403 are Config (fix the credentials or roles), 400 is Invalid.
    pub(crate) fn error(&self, e: BQError, operation: &'static str) -> StoreError {
        let (kind, temporary, message) = match &e {
            BQError::ResponseError { error } => {
                let code = error.error.code;
                let (kind, temporary) = match code {
                    404 => (StoreErrorKind::NotFound, false),
                    401 | 403 if error.error.errors.iter().any(is_rate_limit) => {
                        (StoreErrorKind::Unavailable, true)
                    }
                    401 | 403 => (StoreErrorKind::Config, false),
                    409 => (StoreErrorKind::Conflict, false),
                    429 | 500..=599 => (StoreErrorKind::Unavailable, true),
                    400 => (StoreErrorKind::Invalid, false),
                    _ => (StoreErrorKind::Other, false),
                };
                let advice = match code {
                    401 | 403 if !temporary => {
                        format!(
                            "; check the credentials ({}) and that the account has the BigQuery \
                             Data Editor and Job User roles",
                            self.credentials
                        )
                    }
                    404 => "; run the sink's setup() to create the dataset and tables".to_owned(),
                    _ => String::new(),
                };
                (
                    kind,
                    temporary,
                    format!("BigQuery answered {code}: {}{advice}", error.error.message),
                )
            }
            BQError::RequestError(re) => (
                StoreErrorKind::Unavailable,
                re.is_timeout() || re.is_connect(),
                format!("request to BigQuery failed: {re}"),
            ),
            BQError::NoToken => {
                let reason = self
                    .metadata
                    .as_ref()
                    .and_then(MetadataServerAuth::last_error)
                    .unwrap_or_else(|| "no access token was issued".to_owned());
                (
                    StoreErrorKind::Unavailable,
                    true,
                    format!(
                        "could not get an access token ({}): {reason}",
                        self.credentials
                    ),
                )
            }
            BQError::AuthError(_) | BQError::YupAuthError(_) => (
                StoreErrorKind::Config,
                false,
                format!(
                    "could not get an access token ({}): {e}; check the key and that the \
                     service account is enabled",
                    self.credentials
                ),
            ),
            BQError::SerializationError(se) => (
                StoreErrorKind::Corrupt,
                false,
                format!("unexpected BigQuery response: {se}"),
            ),
            other => (
                StoreErrorKind::Other,
                false,
                format!("BigQuery call failed: {other}"),
            ),
        };
        let err = StoreError::new(kind, message).with_context("operation", operation);
        if temporary { err.temporary() } else { err }
    }
}

/// Maps the errors of a finished query job.
fn job_error(errors: &[ErrorProto]) -> StoreError {
    let reason = errors
        .first()
        .and_then(|e| e.reason.clone())
        .unwrap_or_default();
    let messages: Vec<&str> = errors.iter().filter_map(|e| e.message.as_deref()).collect();
    let (kind, temporary, advice) = match reason.as_str() {
        "notFound" | "accessDenied" => (
            StoreErrorKind::NotFound,
            false,
            "; check that the dataset and tables exist (run the sink's setup()) and that the \
             account may query them",
        ),
        "rateLimitExceeded" | "backendError" | "internalError" | "jobRateLimitExceeded" => {
            (StoreErrorKind::Unavailable, true, "")
        }
        "invalidQuery" | "invalid" => (
            StoreErrorKind::Invalid,
            false,
            "; check the table schema against the mapping with verify()",
        ),
        _ => (StoreErrorKind::Other, false, ""),
    };
    let err = StoreError::new(
        kind,
        format!(
            "the query job failed ({reason}): {}{advice}",
            messages.join("; ")
        ),
    )
    .with_context("operation", "jobs.query");
    if temporary { err.temporary() } else { err }
}

fn is_rate_limit(e: &std::collections::HashMap<String, String>) -> bool {
    e.get("reason")
        .is_some_and(|r| r == "rateLimitExceeded" || r == "quotaExceeded")
}

/// The HTTP status of a response error, if the failure was one.
pub(crate) fn status_of(e: &BQError) -> Option<i64> {
    match e {
        BQError::ResponseError { error } => Some(error.error.code),
        _ => None,
    }
}

fn cells(row: TableRow) -> Vec<Option<Value>> {
    row.columns
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.value)
        .collect()
}

fn to_param((name, p): (&str, Param)) -> QueryParameter {
    let (ty, value) = match p {
        Param::Scalar(ty, v) => (
            QueryParameterType {
                array_type: None,
                struct_types: None,
                r#type: ty.to_owned(),
            },
            QueryParameterValue {
                array_values: None,
                struct_values: None,
                value: Some(v),
            },
        ),
        Param::Array(ty, vs) => (
            QueryParameterType {
                array_type: Some(Box::new(QueryParameterType {
                    array_type: None,
                    struct_types: None,
                    r#type: ty.to_owned(),
                })),
                struct_types: None,
                r#type: "ARRAY".to_owned(),
            },
            QueryParameterValue {
                array_values: Some(
                    vs.into_iter()
                        .map(|v| QueryParameterValue {
                            array_values: None,
                            struct_values: None,
                            value: Some(v),
                        })
                        .collect(),
                ),
                struct_values: None,
                value: None,
            },
        ),
    };
    QueryParameter {
        name: Some(name.to_owned()),
        parameter_type: Some(ty),
        parameter_value: Some(value),
    }
}

/// Default per-request timeout of the HTTP client.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
