//! Twenty's REST `filter` syntax: `field[op]:value`, comma = AND, `and(..)`, `or(..)`, `not(..)`,
//! dotted composite sub-fields and `"`/`'` quoted values; parsing with Twenty's error messages and
//! evaluation against stored rows (system columns are read without parsing the record).

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::schema::{ObjectMeta, composite_subfields, get_path};
use crate::store::{Row, fmt_id, parse_ms};

/// Comparison operators accepted by the REST parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Neq,
    In,
    ContainsAny,
    Is,
    Gt,
    Gte,
    Lt,
    Lte,
    StartsWith,
    EndsWith,
    Like,
    Ilike,
}

const OPS: &str =
    "eq, neq, in, containsAny, is, gt, gte, lt, lte, startsWith, endsWith, like, ilike";

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "eq" => Op::Eq,
            "neq" => Op::Neq,
            "in" => Op::In,
            "containsAny" => Op::ContainsAny,
            "is" => Op::Is,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "startsWith" => Op::StartsWith,
            "endsWith" => Op::EndsWith,
            "like" => Op::Like,
            "ilike" => Op::Ilike,
            _ => return None,
        })
    }
}

/// How values of a path compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Time,
    Number,
    Bool,
    Text,
}

/// One `field[op]:value` condition.
#[derive(Debug, Clone)]
pub(crate) struct Cond {
    pub path: String,
    pub op: Op,
    pub values: Vec<String>,
    pub kind: Kind,
}

/// A parsed filter tree.
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Cond(Cond),
}

/// Split on commas that are not inside brackets, parentheses or quotes.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut cur = String::new();
    for c in s.chars() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                cur.push(c);
            }
            None => match c {
                '"' | '\'' => {
                    quote = Some(c);
                    cur.push(c);
                }
                '(' | '[' => {
                    depth += 1;
                    cur.push(c);
                }
                ')' | ']' => {
                    depth -= 1;
                    cur.push(c);
                }
                ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            },
        }
    }
    out.push(cur);
    out
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return s[1..s.len() - 1].to_string();
        }
    }
    s.to_string()
}

/// Kind of comparison for a path of an object, or an error naming the unknown field.
pub(crate) fn path_kind(meta: &ObjectMeta, path: &str) -> Result<Kind, String> {
    let unknown = || {
        format!(
            "Object {} doesn't have any \"{}\" field.",
            meta.singular, path
        )
    };
    let mut parts = path.splitn(2, '.');
    let first = parts.next().unwrap_or_default();
    let sub = parts.next();
    let field = meta.field_by_column(first).ok_or_else(unknown)?;
    if let Some(sub) = sub {
        let subs = composite_subfields(&field.ftype).ok_or_else(unknown)?;
        if !subs.contains(&sub) {
            return Err(unknown());
        }
        return Ok(match sub {
            "amountMicros" | "addressLat" | "addressLng" => Kind::Number,
            _ => Kind::Text,
        });
    }
    Ok(match field.ftype.as_str() {
        "DATE_TIME" | "DATE" => Kind::Time,
        "NUMBER" | "NUMERIC" | "POSITION" => Kind::Number,
        "BOOLEAN" => Kind::Bool,
        _ => Kind::Text,
    })
}

fn invalid(cond: &str) -> String {
    format!("'filter' invalid for '{cond}'. eg: price[gte]:10")
}

fn parse_cond(meta: &ObjectMeta, s: &str) -> Result<Filter, String> {
    let s = s.trim();
    let open = s.find('[').ok_or_else(|| invalid(s))?;
    let close = s[open..]
        .find("]:")
        .map(|i| i + open)
        .ok_or_else(|| invalid(s))?;
    let path = s[..open].trim();
    let op_str = &s[open + 1..close];
    let raw = s[close + 2..].trim();
    let op = Op::parse(op_str)
        .ok_or_else(|| format!("'filter' invalid for '{s}', comparator {op_str} not in {OPS}"))?;
    if path.is_empty() {
        return Err(invalid(s));
    }
    let kind = path_kind(meta, path)?;
    let values = if raw.starts_with('[') && raw.ends_with(']') {
        split_top(&raw[1..raw.len() - 1])
            .iter()
            .map(|v| unquote(v))
            .filter(|v| !v.is_empty())
            .collect()
    } else {
        vec![unquote(raw)]
    };
    if matches!(op, Op::In | Op::ContainsAny) && !raw.starts_with('[') {
        return Err(format!(
            "'filter' invalid for '{s}', value must be an array like [a,b] for comparator {op_str}"
        ));
    }
    if op == Op::Is
        && !matches!(
            values.first().map(String::as_str),
            Some("NULL" | "NOT_NULL")
        )
    {
        return Err(format!(
            "'filter' invalid for '{s}', comparator is only accepts NULL or NOT_NULL"
        ));
    }
    Ok(Filter::Cond(Cond {
        path: path.to_string(),
        op,
        values,
        kind,
    }))
}

fn parse_expr(meta: &ObjectMeta, s: &str) -> Result<Filter, String> {
    let t = s.trim();
    for (name, ctor) in [("and", 0), ("or", 1), ("not", 2)] {
        if t.starts_with(name) && t[name.len()..].starts_with('(') && t.ends_with(')') {
            let inner = &t[name.len() + 1..t.len() - 1];
            let parts: Vec<Filter> = split_top(inner)
                .iter()
                .filter(|p| !p.trim().is_empty())
                .map(|p| parse_expr(meta, p))
                .collect::<Result<_, _>>()?;
            return match ctor {
                0 => Ok(Filter::And(parts)),
                1 => Ok(Filter::Or(parts)),
                _ => {
                    if parts.len() != 1 {
                        return Err(format!(
                            "'filter' invalid. 'not' conjunction should contain only 1 condition. eg: not(field[eq]:1) - got '{t}'"
                        ));
                    }
                    Ok(Filter::Not(Box::new(
                        parts.into_iter().next().ok_or_else(|| invalid(t))?,
                    )))
                }
            };
        }
    }
    parse_cond(meta, t)
}

impl Filter {
    /// Parse a filter for an object; the error is Twenty's message.
    pub fn parse(meta: &ObjectMeta, s: &str) -> Result<Filter, String> {
        let parts = split_top(s);
        if parts.len() == 1 {
            parse_expr(meta, &parts[0])
        } else {
            Ok(Filter::And(
                parts
                    .iter()
                    .map(|p| parse_expr(meta, p))
                    .collect::<Result<_, _>>()?,
            ))
        }
    }

    /// Whether a column is referenced anywhere (used for `deletedAt`).
    pub fn mentions(&self, column: &str) -> bool {
        match self {
            Filter::And(v) | Filter::Or(v) => v.iter().any(|f| f.mentions(column)),
            Filter::Not(f) => f.mentions(column),
            Filter::Cond(c) => c.path == column || c.path.starts_with(&format!("{column}.")),
        }
    }

    /// Lower bound (ms, inclusive?) on a time column implied by top-level AND conditions.
    pub fn lower_bound(&self, column: &str) -> Option<i64> {
        match self {
            Filter::And(v) => v.iter().filter_map(|f| f.lower_bound(column)).max(),
            Filter::Cond(c) if c.path == column => match c.op {
                Op::Gte | Op::Eq => c.values.first().and_then(|v| parse_ms(v)),
                Op::Gt => c.values.first().and_then(|v| parse_ms(v)).map(|m| m + 1),
                _ => None,
            },
            _ => None,
        }
    }

    /// Evaluate against a row view.
    pub fn eval(&self, view: &mut RowView<'_>) -> bool {
        match self {
            Filter::And(v) => v.iter().all(|f| f.eval(view)),
            Filter::Or(v) => v.iter().any(|f| f.eval(view)),
            Filter::Not(f) => !f.eval(view),
            Filter::Cond(c) => eval_cond(c, view),
        }
    }
}

/// A stored row read lazily: system columns come from the index data, the rest from JSON.
pub(crate) struct RowView<'a> {
    pub id: u128,
    pub row: &'a Row,
    parsed: Option<Map<String, Value>>,
}

impl<'a> RowView<'a> {
    pub fn new(id: u128, row: &'a Row) -> Self {
        RowView {
            id,
            row,
            parsed: None,
        }
    }

    /// The value at a path.
    pub fn get(&mut self, path: &str) -> Value {
        match path {
            "id" => Value::String(fmt_id(self.id)),
            "updatedAt" => Value::String(crate::store::fmt_ms(self.row.updated)),
            "createdAt" => Value::String(crate::store::fmt_ms(self.row.created)),
            "deletedAt" => self
                .row
                .deleted
                .map(|d| Value::String(crate::store::fmt_ms(d)))
                .unwrap_or(Value::Null),
            _ => {
                let parsed = self.parsed.get_or_insert_with(|| self.row.parse());
                get_path(parsed, path).cloned().unwrap_or(Value::Null)
            }
        }
    }

    fn time(&mut self, path: &str) -> Option<i64> {
        match path {
            "updatedAt" => Some(self.row.updated),
            "createdAt" => Some(self.row.created),
            "deletedAt" => self.row.deleted,
            _ => self.get(path).as_str().and_then(parse_ms),
        }
    }
}

fn like(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative wildcard match with backtracking on the last '%'.
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}

fn compare(kind: Kind, v: &Value, time: Option<i64>, want: &str) -> Option<Ordering> {
    match kind {
        Kind::Time => Some(time?.cmp(&parse_ms(want)?)),
        Kind::Number => {
            let a = match v {
                Value::Number(n) => n.as_f64()?,
                Value::String(s) => s.parse().ok()?,
                _ => return None,
            };
            a.partial_cmp(&want.parse::<f64>().ok()?)
        }
        Kind::Bool => {
            let a = v.as_bool()?;
            Some(a.cmp(&want.eq_ignore_ascii_case("true")))
        }
        Kind::Text => match v {
            Value::String(s) => Some(s.as_str().cmp(want)),
            Value::Number(n) => Some(n.to_string().as_str().cmp(want)),
            Value::Bool(b) => Some(b.to_string().as_str().cmp(want)),
            _ => None,
        },
    }
}

fn eval_cond(c: &Cond, view: &mut RowView<'_>) -> bool {
    let v = view.get(&c.path);
    let time = if c.kind == Kind::Time {
        view.time(&c.path)
    } else {
        None
    };
    let first = c.values.first().map(String::as_str).unwrap_or("");
    match c.op {
        Op::Is => {
            let is_null = v.is_null();
            if first == "NULL" { is_null } else { !is_null }
        }
        _ if v.is_null() => false,
        Op::Eq => compare(c.kind, &v, time, first) == Some(Ordering::Equal),
        Op::Neq => matches!(
            compare(c.kind, &v, time, first),
            Some(Ordering::Less | Ordering::Greater)
        ),
        Op::Gt => compare(c.kind, &v, time, first) == Some(Ordering::Greater),
        Op::Gte => matches!(
            compare(c.kind, &v, time, first),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        Op::Lt => compare(c.kind, &v, time, first) == Some(Ordering::Less),
        Op::Lte => matches!(
            compare(c.kind, &v, time, first),
            Some(Ordering::Less | Ordering::Equal)
        ),
        Op::In => c
            .values
            .iter()
            .any(|w| compare(c.kind, &v, time, w) == Some(Ordering::Equal)),
        Op::ContainsAny => match &v {
            Value::Array(items) => items
                .iter()
                .any(|i| i.as_str().is_some_and(|s| c.values.iter().any(|w| w == s))),
            other => c
                .values
                .iter()
                .any(|w| compare(c.kind, other, time, w) == Some(Ordering::Equal)),
        },
        Op::StartsWith => v.as_str().is_some_and(|s| s.starts_with(first)),
        Op::EndsWith => v.as_str().is_some_and(|s| s.ends_with(first)),
        Op::Like => v.as_str().is_some_and(|s| like(first, s)),
        Op::Ilike => v
            .as_str()
            .is_some_and(|s| like(&first.to_lowercase(), &s.to_lowercase())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_percent_and_underscore_wildcards() {
        assert!(like("%a%", "Sarah"));
        assert!(like("a_c", "abc"));
        assert!(!like("a_c", "abbc"));
        assert!(like("%air%", "airSlate"));
        assert!(!like("%xyz", "airSlate"));
    }

    #[test]
    fn split_top_respects_brackets_quotes_and_parentheses() {
        let parts = split_top(r#"a[in]:[1,2],or(b[eq]:"x,y",c[eq]:'z'),d[eq]:1"#);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1], r#"or(b[eq]:"x,y",c[eq]:'z')"#);
    }
}
