//! Integration tests of sink-postgres against a real PostgreSQL server (`DATABASE_URL`, or the
//! local server at 127.0.0.1:5432). Each test works in its own schemas, dropped at the end.

mod apply_path;
mod capture;
mod common;
mod copy_path;
mod crash;
mod hostile;
mod migrations;
mod roundtrip;
mod security;
mod state;
mod tls;
