//! Quoting of SQL identifiers and literals that come from configuration.
//!
//! Every schema, table and column name the user configures goes through [`quote_ident`] before it
//! reaches SQL text; every *value* is a bind parameter. The only literals built into SQL text are
//! the capture trigger's arguments (trigger DDL takes no parameters), quoted by [`quote_literal`].

/// Quotes `name` as a PostgreSQL identifier: wraps it in `"` and doubles every `"` inside.
///
/// The result is always a single identifier, whatever `name` contains, so a name from
/// configuration can never end the identifier early and inject SQL.
///
/// ```
/// use sink_postgres::quote_ident;
/// assert_eq!(quote_ident("contacts"), r#""contacts""#);
/// assert_eq!(quote_ident(r#"a"; DROP TABLE x; --"#), r#""a""; DROP TABLE x; --""#);
/// ```
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `schema.table`, both parts quoted.
///
/// ```
/// use sink_postgres::quote_qualified;
/// assert_eq!(quote_qualified("crm", "people"), r#""crm"."people""#);
/// ```
pub fn quote_qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Checks that `name` can be a PostgreSQL identifier: not empty, no NUL, at most 63 bytes (longer
/// names would be silently truncated by the server). `what` says which setting it came from.
pub(crate) fn check_ident(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if name.contains('\0') {
        return Err(format!("{what} {name:?} contains a NUL character"));
    }
    if name.len() > 63 {
        return Err(format!(
            "{what} {name:?} is {} bytes long; PostgreSQL identifiers are at most 63 bytes",
            name.len()
        ));
    }
    Ok(())
}

/// Quotes `value` as a SQL string literal (`'` doubled; with backslashes, an `E''` literal with
/// them doubled too, so the result means the same whatever `standard_conforming_strings` is).
pub(crate) fn quote_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 3);
    if value.contains('\\') {
        out.push('E');
    }
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_ident_doubles_embedded_quotes() {
        assert_eq!(quote_ident(r#"x"y"#), r#""x""y""#);
        assert_eq!(quote_ident(""), r#""""#);
    }

    #[test]
    fn identifiers_longer_than_63_bytes_are_rejected() {
        assert!(check_ident(&"x".repeat(63), "table").is_ok());
        let err = check_ident(&"x".repeat(64), "table").unwrap_err();
        assert!(err.contains("63"));
        assert!(check_ident("", "column").is_err());
    }

    #[test]
    fn quote_literal_doubles_quotes_and_escapes_backslashes() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(r"a\'b"), r"E'a\\''b'");
    }
}
