//! Embedded, versioned migrations of the state schema.
//!
//! Each migration is a SQL file under `migrations/`, embedded with `include_str!` and rendered
//! with the (quoted) state schema name. [`run`] applies the missing ones in one transaction under
//! a transaction-scoped advisory lock keyed by the schema name, so concurrent starts serialise and
//! the second one finds nothing to do; applying twice is a no-op.

use tokio_postgres::Transaction;
use twenty_sync_core::StoreResult;

use crate::error::Redactor;
use crate::ident::{quote_ident, quote_literal};

/// One embedded migration.
///
/// ```
/// use sink_postgres::MIGRATIONS;
///
/// for migration in MIGRATIONS {
///     assert!(!migration.name.is_empty());
///     // Templates are rendered for the configured state schema.
///     assert!(migration.sql.contains("{{schema}}"), "migration {}", migration.version);
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version number: applied in increasing order, recorded in `schema_migrations`.
    pub version: i32,
    /// Short name.
    pub name: &'static str,
    /// SQL template (`{{schema}}`, `{{schema_lit}}`, `{{fn}}` placeholders).
    pub sql: &'static str,
}

/// All migrations, oldest first.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
/// # let state = format!("doc_{}", uuid::Uuid::new_v4().simple());
/// # let data = format!("{state}_data");
/// use sink_postgres::MIGRATIONS;
///
/// let versions: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
/// assert!(versions.windows(2).all(|w| w[0] < w[1]));
/// # use secrecy::SecretString;
/// # use sink_postgres::{PostgresSink, SinkConfig};
/// let sink = PostgresSink::builder(SinkConfig { state_schema: state.clone(), ..SinkConfig::default() })
///     .connection_string(SecretString::from(url))
///     .build()
///     .await?;
/// // Building the sink applied every migration, recorded in the state schema.
/// let client = sink.pool().get().await?;
/// let rows = client.query(&format!("SELECT version FROM {state}.schema_migrations ORDER BY 1"), &[]).await?;
/// let applied: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
/// assert_eq!(applied, versions);
/// # sink.pool().get().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {data} CASCADE; DROP SCHEMA IF EXISTS {state} CASCADE")).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "state",
        sql: include_str!("../migrations/0001_state.sql"),
    },
    Migration {
        version: 2,
        name: "outbox",
        sql: include_str!("../migrations/0002_outbox.sql"),
    },
    Migration {
        version: 3,
        name: "audit_log",
        sql: include_str!("../migrations/0003_audit_log.sql"),
    },
    Migration {
        version: 4,
        name: "record_state_fillfactor",
        sql: include_str!("../migrations/0004_record_state_fillfactor.sql"),
    },
    Migration {
        version: 5,
        name: "audit_key_hashes",
        sql: include_str!("../migrations/0005_audit_key_hashes.sql"),
    },
    Migration {
        version: 6,
        name: "record_state_field_hashes",
        sql: include_str!("../migrations/0006_record_state_field_hashes.sql"),
    },
];

/// Renders a migration template for `schema` in one pass (a name containing a placeholder is not
/// expanded twice).
pub(crate) fn render(template: &str, schema: &str) -> String {
    let mut tag = "$twenty_sync$".to_owned();
    while schema.contains(&tag) {
        tag.insert(tag.len() - 1, '_');
    }
    let schema_q = quote_ident(schema);
    let schema_lit = quote_literal(schema);
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                match &after[..end] {
                    "schema" => out.push_str(&schema_q),
                    "schema_lit" => out.push_str(&schema_lit),
                    "fn" => out.push_str(&tag),
                    other => {
                        out.push_str("{{");
                        out.push_str(other);
                        out.push_str("}}");
                    }
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Takes the setup lock of `schema` for the rest of the transaction.
pub(crate) async fn lock(
    tx: &Transaction<'_>,
    schema: &str,
    redactor: &Redactor,
) -> StoreResult<()> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('twenty_sync.setup:' || $1, 0))",
        &[&schema],
    )
    .await
    .map_err(|e| redactor.db("taking the setup lock", &e))?;
    Ok(())
}

/// Applies the missing migrations to `schema` inside `tx` (which must hold [`lock`]).
/// Returns the versions applied.
pub(crate) async fn run(
    tx: &Transaction<'_>,
    schema: &str,
    redactor: &Redactor,
) -> StoreResult<Vec<i32>> {
    let q = quote_ident(schema);
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {q};
         CREATE TABLE IF NOT EXISTS {q}.schema_migrations (
             version    integer     PRIMARY KEY,
             name       text        NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(|e| {
        redactor
            .db("creating the state schema", &e)
            .with_context("schema", schema)
    })?;
    let done: Vec<i32> = tx
        .query(&format!("SELECT version FROM {q}.schema_migrations"), &[])
        .await
        .map_err(|e| redactor.db("reading schema_migrations", &e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        if done.contains(&m.version) {
            continue;
        }
        tx.batch_execute(&render(m.sql, schema))
            .await
            .map_err(|e| {
                redactor
                    .db(&format!("migration {} ({})", m.version, m.name), &e)
                    .with_context("schema", schema)
            })?;
        tx.execute(
            &format!("INSERT INTO {q}.schema_migrations (version, name) VALUES ($1, $2)"),
            &[&m.version, &m.name],
        )
        .await
        .map_err(|e| redactor.db("recording a migration", &e))?;
        applied.push(m.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_quotes_the_schema_and_picks_a_dollar_tag_not_in_it() {
        let out = render(
            "{{schema}}.t {{schema_lit}} {{fn}} {{other}}",
            "we$twenty_sync$ird\"",
        );
        assert!(out.starts_with("\"we$twenty_sync$ird\"\"\".t 'we$twenty_sync$ird\"' "));
        assert!(out.contains("$twenty_sync_$"));
        assert!(out.ends_with("{{other}}"));
    }

    #[test]
    fn render_does_not_expand_placeholders_inside_the_schema_name() {
        let out = render("{{schema}}", "{{fn}}");
        assert_eq!(out, "\"{{fn}}\"");
    }

    #[test]
    fn migrations_are_in_increasing_version_order() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
    }
}
