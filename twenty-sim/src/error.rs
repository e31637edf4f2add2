//! Error answers in Twenty's shapes (`messages[]` on 2.x, `message` on legacy servers).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::config::ServerFlavor;

/// An error answer of the simulated API.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: u16,
    pub message: String,
    /// A complete body that replaces the generic shape (metadata validation errors).
    pub body: Option<Value>,
}

impl ApiError {
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            message: message.into(),
            body: None,
        }
    }

    pub fn not_found() -> Self {
        ApiError {
            status: 404,
            message: "Record not found".into(),
            body: None,
        }
    }

    pub fn with_status(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            body: None,
        }
    }

    pub fn duplicate() -> Self {
        Self::bad("A duplicate entry was detected")
    }

    /// 501 for an endpoint a real Twenty server answers but the simulator does not simulate
    /// (`GET /rest/{plural}/groupBy`, `/rest/open-api/*`, ...): a status no record error uses, so
    /// a test cannot mistake it for the server's verdict on its input.
    pub fn not_simulated(method: &http::Method, path: &str) -> Self {
        Self::with_status(
            501,
            format!(
                "twenty-sim does not simulate {method} {path}: a real Twenty server answers it, \
                 this simulator has no model of it (see \"What it does NOT simulate\" in \
                 twenty-sim's README)"
            ),
        )
    }

    fn error_name(&self) -> &'static str {
        match self.status {
            400 => "BadRequestException",
            401 => "UNAUTHENTICATED",
            403 => "FORBIDDEN_EXCEPTION",
            404 => "NotFoundException",
            409 => "ConflictException",
            429 => "HttpException",
            501 => "NotImplementedException",
            _ => "InternalServerErrorException",
        }
    }

    /// Render for a flavour.
    pub fn render(&self, flavor: ServerFlavor) -> Response {
        let body = match &self.body {
            Some(b) => b.clone(),
            None => match flavor {
                ServerFlavor::Legacy => json!({
                    "statusCode": self.status,
                    "error": self.error_name(),
                    "message": self.message,
                }),
                _ => json!({
                    "statusCode": self.status,
                    "error": self.error_name(),
                    "messages": [self.message],
                }),
            },
        };
        json_response(self.status, body.to_string())
    }
}

/// A JSON response with Twenty's headers.
pub(crate) fn json_response(status: u16, body: String) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("WWW-Authenticate"),
    );
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.render(ServerFlavor::V2_21)
    }
}

/// The 400 Nest's body parser answers for malformed JSON (capture 71).
pub(crate) fn malformed_json(body: &[u8], err: &serde_json::Error) -> Response {
    let text = String::from_utf8_lossy(body);
    let (line, col) = (err.line(), err.column());
    let mut pos = 0usize;
    for (i, l) in text.split('\n').enumerate() {
        if i + 1 == line {
            pos += col.saturating_sub(1);
            break;
        }
        pos += l.len() + 1;
    }
    let msg = err.to_string();
    let message = if err.is_eof() {
        "Unexpected end of JSON input".to_string()
    } else if msg.starts_with("key must be a string") {
        format!(
            "Expected property name or '}}' in JSON at position {pos} (line {line} column {col})"
        )
    } else {
        format!("Unexpected token in JSON at position {pos} (line {line} column {col})")
    };
    let mut resp = json_response(
        400,
        json!({"message": message, "error": "Bad Request", "statusCode": 400}).to_string(),
    );
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET,HEAD,PUT,PATCH,POST,DELETE"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Origin, X-Requested-With, Content-Type, Accept"),
    );
    resp
}
