//! The SQL the sink runs. Identifiers are validated by the config (plain names only) and always
//! back-quoted; every value travels as a named query parameter, never spliced into the text.

use crate::config::{BigQueryConfig, EntityTable};
use crate::schema::{BATCH, DELETED_AT, LOADED_AT, OP, SEQ};

/// Result-column aliases of the read queries.
pub(crate) const K: &str = "_twenty_sync_key";
pub(crate) const U: &str = "_twenty_sync_updated_at";
pub(crate) const D: &str = "_twenty_sync_deleted";

/// Staged operations.
pub(crate) const OP_UPSERT: &str = "upsert";
pub(crate) const OP_TOMBSTONE: &str = "tombstone";
pub(crate) const OP_DELETE: &str = "delete";

fn table_ref(config: &BigQueryConfig, table: &str) -> String {
    format!("`{}.{}.{}`", config.project_id, config.dataset, table)
}

fn q(ident: &str) -> String {
    format!("`{ident}`")
}

/// The newest staged row per key of batch `@batch`, loaded since `@loaded_since` (prunes the
/// staging partitions).
fn staged_source(config: &BigQueryConfig, e: &EntityTable) -> String {
    let mut cols = vec![q(&e.key_column), q(&e.updated_at_column), q(OP)];
    cols.extend(e.columns.iter().map(|c| q(&c.name)));
    format!(
        "SELECT {cols} FROM (SELECT {cols}, ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {seq} \
         DESC, {loaded} DESC) AS _twenty_sync_rn FROM {staging} WHERE {batch} = @batch AND \
         {loaded} >= @loaded_since) WHERE _twenty_sync_rn = 1",
        cols = cols.join(", "),
        key = q(&e.key_column),
        seq = q(SEQ),
        loaded = q(LOADED_AT),
        staging = table_ref(config, &config.staging_table(e)),
        batch = q(BATCH),
    )
}

/// `MERGE` of one staged batch into the target: newest `updated_at` wins (ties re-apply, so a
/// replayed batch is a no-op in effect), upserts insert or update, tombstones mark, deletes remove.
pub(crate) fn merge_target(config: &BigQueryConfig, e: &EntityTable) -> String {
    let key = q(&e.key_column);
    let upd = q(&e.updated_at_column);
    let newer = format!("(T.{upd} IS NULL OR S.{upd} >= T.{upd})");
    let mut set: Vec<String> = e
        .columns
        .iter()
        .map(|c| format!("{0} = S.{0}", q(&c.name)))
        .collect();
    set.push(format!("{upd} = S.{upd}"));
    let mut insert_cols = vec![key.clone(), upd.clone()];
    insert_cols.extend(e.columns.iter().map(|c| q(&c.name)));
    let insert_vals: Vec<String> = insert_cols.iter().map(|c| format!("S.{c}")).collect();
    let mut sql = format!(
        "MERGE {target} AS T USING ({source}) AS S ON T.{key} = S.{key}\n",
        target = table_ref(config, &e.table),
        source = staged_source(config, e),
    );
    sql.push_str(&format!(
        "WHEN MATCHED AND S.{op} = '{OP_DELETE}' AND {newer} THEN DELETE\n",
        op = q(OP)
    ));
    if let Some(tomb) = e.tombstone_column() {
        let tomb = q(tomb);
        sql.push_str(&format!(
            "WHEN MATCHED AND S.{op} = '{OP_TOMBSTONE}' AND {newer} THEN UPDATE SET {tomb} = \
             S.{upd}, {upd} = S.{upd}\n",
            op = q(OP)
        ));
        set.push(format!("{tomb} = NULL"));
    }
    sql.push_str(&format!(
        "WHEN MATCHED AND S.{op} = '{OP_UPSERT}' AND {newer} THEN UPDATE SET {set}\n",
        op = q(OP),
        set = set.join(", ")
    ));
    sql.push_str(&format!(
        "WHEN NOT MATCHED AND S.{op} = '{OP_UPSERT}' THEN INSERT ({cols}) VALUES ({vals})",
        op = q(OP),
        cols = insert_cols.join(", "),
        vals = insert_vals.join(", ")
    ));
    sql
}

/// Records the batch's deletes in the deletes table (once per key and time).
pub(crate) fn merge_deletes(config: &BigQueryConfig, e: &EntityTable, deletes: &str) -> String {
    let key = q(&e.key_column);
    let upd = q(&e.updated_at_column);
    let del = q(DELETED_AT);
    format!(
        "MERGE {table} AS T USING (SELECT {key}, {upd} FROM ({source}) WHERE {op} IN \
         ('{OP_DELETE}', '{OP_TOMBSTONE}')) AS S ON T.{key} = S.{key} AND T.{del} = S.{upd}\n\
         WHEN NOT MATCHED THEN INSERT ({key}, {del}) VALUES (S.{key}, S.{upd})",
        table = table_ref(config, deletes),
        source = staged_source(config, e),
        op = q(OP),
    )
}

/// The deletes-table mode's two `MERGE`s (target, then deletes table) as one multi-statement
/// transaction in a single query job: both land or neither does.
///
/// Scripts take the batch id and the staging lower bound as literals, not as query parameters
/// (the emulator does not bind parameters inside scripts). Both are values the sink generates
/// itself, never user data: the id must be lowercase hex (checked here) and the timestamp is
/// formatted by the sink; `None` is returned for an id of any other shape.
pub(crate) fn merge_transaction(
    config: &BigQueryConfig,
    e: &EntityTable,
    deletes: &str,
    batch_id: &str,
    loaded_since: &str,
) -> Option<String> {
    let hex = !batch_id.is_empty()
        && batch_id
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    let ts_ok = loaded_since
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | ':' | ' ' | '.' | '+'));
    if !hex || !ts_ok {
        return None;
    }
    let bind = |sql: String| {
        sql.replace("@batch", &format!("'{batch_id}'"))
            .replace("@loaded_since", &format!("TIMESTAMP '{loaded_since}'"))
    };
    Some(format!(
        "BEGIN TRANSACTION;\n{};\n{};\nCOMMIT TRANSACTION;",
        bind(merge_target(config, e)),
        bind(merge_deletes(config, e, deletes)),
    ))
}

/// Resume condition over `(updated_at, key, deleted)` after `(@since_ts, @since_key, @since_del)`.
fn after_checkpoint() -> String {
    format!(
        "({U} > @since_ts OR ({U} = @since_ts AND ({K} > @since_key OR ({K} = @since_key AND \
         {D} > @since_del))))"
    )
}

/// One page of the change feed: rows with `updated_at` in `(checkpoint, @until]`, ordered by
/// `(updated_at, key, deleted)`, limited to `@page`. The `updated_at` bounds sit on the partition
/// column itself so BigQuery prunes partitions; only mapped columns are selected.
pub(crate) fn changes_page(config: &BigQueryConfig, e: &EntityTable, resume: bool) -> String {
    let key = q(&e.key_column);
    let upd = q(&e.updated_at_column);
    let lower = if resume { "@since_ts" } else { "" };
    let range = |col: &str| {
        if resume {
            format!("{col} >= {lower} AND {col} <= @until")
        } else {
            format!("{col} <= @until")
        }
    };
    let data_cols: Vec<String> = e.columns.iter().map(|c| q(&c.name)).collect();
    let data = if data_cols.is_empty() {
        String::new()
    } else {
        format!(", {}", data_cols.join(", "))
    };
    let deleted_expr = match e.tombstone_column() {
        Some(t) => format!("IF({} IS NULL, 0, 1)", q(t)),
        None => "0".to_owned(),
    };
    let mut inner = format!(
        "SELECT {key} AS {K}, {upd} AS {U}, {deleted_expr} AS {D}{data} FROM {target} WHERE {range}",
        target = table_ref(config, &e.table),
        range = range(&upd),
    );
    if let Some(deletes) = e.deletes_table() {
        let nulls: Vec<String> = e
            .columns
            .iter()
            .map(|c| format!("CAST(NULL AS {}) AS {}", c.bq_type.as_str(), q(&c.name)))
            .collect();
        let nulls = if nulls.is_empty() {
            String::new()
        } else {
            format!(", {}", nulls.join(", "))
        };
        inner.push_str(&format!(
            " UNION ALL SELECT {key} AS {K}, {del} AS {U}, 1 AS {D}{nulls} FROM {table} WHERE {range}",
            del = q(DELETED_AT),
            table = table_ref(config, deletes),
            range = range(&q(DELETED_AT)),
        ));
    }
    let filter = if resume {
        format!(" WHERE {}", after_checkpoint())
    } else {
        String::new()
    };
    format!("SELECT * FROM ({inner}){filter} ORDER BY {U}, {K}, {D} LIMIT @page")
}

/// The current (not deleted) rows with these keys (`@keys`); clustering on the key limits the scan.
pub(crate) fn get_rows(config: &BigQueryConfig, e: &EntityTable) -> String {
    let key = q(&e.key_column);
    let data: String = e
        .columns
        .iter()
        .map(|c| format!(", {}", q(&c.name)))
        .collect();
    let live = match e.tombstone_column() {
        Some(t) => format!(" AND {} IS NULL", q(t)),
        None => String::new(),
    };
    format!(
        "SELECT {key} AS {K}, {upd} AS {U}, 0 AS {D}{data} FROM {target} WHERE {key} IN \
         UNNEST(@keys){live}",
        upd = q(&e.updated_at_column),
        target = table_ref(config, &e.table),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BqType, ColumnSpec, DeleteTracking, KeyType};

    fn entity(deletes: DeleteTracking) -> EntityTable {
        EntityTable {
            entity: "contacts".into(),
            table: "contacts".into(),
            key_column: "contact_id".into(),
            key_type: KeyType::String,
            key_field: None,
            updated_at_column: "updated_at".into(),
            columns: vec![
                ColumnSpec::new("canonical_name", BqType::String),
                ColumnSpec::new("context", BqType::Json),
            ],
            deletes,
        }
    }

    #[test]
    fn merge_keeps_the_newest_and_clears_the_tombstone_on_upsert() {
        let e = entity(DeleteTracking::default());
        let c = BigQueryConfig::new("p", "crm", vec![e.clone()]);
        let sql = merge_target(&c, &e);
        assert!(
            sql.starts_with("MERGE `p.crm.contacts` AS T USING"),
            "{sql}"
        );
        assert!(sql.contains("ON T.`contact_id` = S.`contact_id`"), "{sql}");
        assert!(
            sql.contains("(T.`updated_at` IS NULL OR S.`updated_at` >= T.`updated_at`)"),
            "{sql}"
        );
        assert!(sql.contains("`deleted_at` = NULL"), "{sql}");
        assert!(sql.contains("PARTITION BY `contact_id` ORDER BY `_twenty_sync_seq` DESC"));
        assert!(
            sql.contains("`_twenty_sync_loaded_at` >= @loaded_since"),
            "{sql}"
        );
    }

    #[test]
    fn changes_query_bounds_the_partition_column_and_selects_only_mapped_columns() {
        let e = entity(DeleteTracking::default());
        let c = BigQueryConfig::new("p", "crm", vec![e.clone()]);
        let sql = changes_page(&c, &e, true);
        assert!(
            sql.contains("`updated_at` >= @since_ts AND `updated_at` <= @until"),
            "{sql}"
        );
        assert!(!sql.contains("SELECT * FROM `"), "{sql}");
        assert!(sql.ends_with(
            "ORDER BY _twenty_sync_updated_at, _twenty_sync_key, _twenty_sync_deleted LIMIT @page"
        ));
    }

    #[test]
    fn deletes_table_mode_merges_both_tables_in_one_transaction() {
        let e = entity(DeleteTracking::DeletesTable {
            table: "contacts_deleted".into(),
        });
        let c = BigQueryConfig::new("p", "crm", vec![e.clone()]);
        let sql = merge_transaction(
            &c,
            &e,
            "contacts_deleted",
            "0a1b2c",
            "2026-01-02 03:04:05.000006+00:00",
        )
        .unwrap();
        assert!(
            sql.starts_with("BEGIN TRANSACTION;\nMERGE `p.crm.contacts` AS T"),
            "{sql}"
        );
        assert!(
            sql.contains(";\nMERGE `p.crm.contacts_deleted` AS T"),
            "{sql}"
        );
        assert!(sql.ends_with(";\nCOMMIT TRANSACTION;"), "{sql}");
        assert!(
            !sql.contains('@'),
            "no parameter is left in the script: {sql}"
        );
        assert!(sql.contains("`_twenty_sync_batch` = '0a1b2c'"), "{sql}");
        assert!(
            sql.contains(">= TIMESTAMP '2026-01-02 03:04:05.000006+00:00'"),
            "{sql}"
        );
        assert!(
            merge_transaction(&c, &e, "contacts_deleted", "x'; DROP", "2026-01-02").is_none(),
            "only sink-generated hex ids are spliced"
        );
    }

    #[test]
    fn deletes_table_mode_unions_the_deletes_with_typed_nulls() {
        let e = entity(DeleteTracking::DeletesTable {
            table: "contacts_deleted".into(),
        });
        let c = BigQueryConfig::new("p", "crm", vec![e.clone()]);
        let sql = changes_page(&c, &e, false);
        assert!(sql.contains("UNION ALL SELECT `contact_id`"), "{sql}");
        assert!(sql.contains("CAST(NULL AS JSON) AS `context`"), "{sql}");
        assert!(sql.contains("FROM `p.crm.contacts_deleted` WHERE `deleted_at` <= @until"));
    }
}
