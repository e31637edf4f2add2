//! The PostgreSQL server the crate's unit tests use.

/// `DATABASE_URL`, else the local test server.
pub(crate) fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}
