//! Typed builder for Twenty's REST `filter` and `order_by` query syntax.
//!
//! Twenty parses `field[op]:value`, comma-separated conditions (AND-ed), `and(..)`, `or(..)`, `not(..)`.
//! Its parser (2.x) splits on commas outside parentheses, `[..]` and quotes, toggling a quote state on every
//! `"` and `'` and a bracket state on every `[`/`]` it sees, and counting every `(`/`)`; it strips one pair of
//! surrounding quotes from a value and has **no escape character**. This builder therefore quotes every
//! string value with `"` (or `'` when the value contains `"`) and refuses, with a [`crate::ErrorKind::Config`]
//! error at send time, values that cannot survive that parser (both quote kinds, an unbalanced quote of the
//! other kind, unbalanced brackets or parentheses). Commas, colons and balanced parentheses are fine.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::Error;

/// A filter value.
///
/// Conditions take anything that converts into one (`&str`, `String`, integers, `f64`, `bool`,
/// `DateTime<Utc>`); each renders the way Twenty's parser expects.
///
/// ```
/// use chrono::TimeZone;
/// use twenty_client::{Filter, FilterValue};
/// assert_eq!(FilterValue::from(42), FilterValue::Int(42));
/// let since = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
/// let f = Filter::field("updatedAt").gte(FilterValue::DateTime(since));
/// assert_eq!(f.to_query_string(), r#"updatedAt[gte]:"2026-01-02T03:04:05.000Z""#);
/// assert_eq!(Filter::field("idealCustomerProfile").eq(true).to_query_string(), "idealCustomerProfile[eq]:true");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FilterValue {
    /// A string (quoted on the wire).
    String(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A timestamp, sent as RFC 3339 with milliseconds and `Z`.
    DateTime(DateTime<Utc>),
}

impl From<&str> for FilterValue {
    fn from(v: &str) -> Self {
        FilterValue::String(v.to_owned())
    }
}
impl From<String> for FilterValue {
    fn from(v: String) -> Self {
        FilterValue::String(v)
    }
}
impl From<&String> for FilterValue {
    fn from(v: &String) -> Self {
        FilterValue::String(v.clone())
    }
}
impl From<i64> for FilterValue {
    fn from(v: i64) -> Self {
        FilterValue::Int(v)
    }
}
impl From<i32> for FilterValue {
    fn from(v: i32) -> Self {
        FilterValue::Int(v.into())
    }
}
impl From<u32> for FilterValue {
    fn from(v: u32) -> Self {
        FilterValue::Int(v.into())
    }
}
impl From<f64> for FilterValue {
    fn from(v: f64) -> Self {
        FilterValue::Float(v)
    }
}
impl From<bool> for FilterValue {
    fn from(v: bool) -> Self {
        FilterValue::Bool(v)
    }
}
impl From<DateTime<Utc>> for FilterValue {
    fn from(v: DateTime<Utc>) -> Self {
        FilterValue::DateTime(v)
    }
}

impl FilterValue {
    fn write(&self, out: &mut String, problems: &mut Vec<String>) {
        match self {
            FilterValue::String(s) => out.push_str(&quote(s, problems)),
            FilterValue::Int(i) => {
                let _ = write!(out, "{i}");
            }
            FilterValue::Float(f) => {
                if !f.is_finite() {
                    problems.push(format!("non-finite number {f}"));
                }
                let _ = write!(out, "{f}");
            }
            FilterValue::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            FilterValue::DateTime(d) => {
                out.push('"');
                out.push_str(&d.to_rfc3339_opts(SecondsFormat::Millis, true));
                out.push('"');
            }
        }
    }
}

/// Quote `s` so that Twenty's filter parser reads it back unchanged, or record why it cannot.
fn quote(s: &str, problems: &mut Vec<String>) -> String {
    let dq = s.matches('"').count();
    let sq = s.matches('\'').count();
    let q = if dq == 0 && sq % 2 == 0 {
        '"'
    } else if sq == 0 && dq % 2 == 0 {
        '\''
    } else {
        problems.push(format!(
            "value {s:?} mixes quote characters in a way Twenty's filter parser cannot read (it has no escape character)"
        ));
        '"'
    };
    // Twenty 2.x toggles a bracket state on every `[`/`]`; older parsers count depth. A value
    // survives both only when its brackets (and parentheses) are balanced *in order*: `]]` or
    // `]x[` have an even count but close before they open (found by the filter fuzz target).
    if !balanced_in_order(s, '[', ']') {
        problems.push(format!("value {s:?} has an unbalanced `[`/`]`"));
    }
    if !balanced_in_order(s, '(', ')') {
        problems.push(format!("value {s:?} has unbalanced parentheses"));
    }
    format!("{q}{s}{q}")
}

/// Whether every `close` in `s` closes an earlier `open` and every `open` is closed.
fn balanced_in_order(s: &str, open: char, close: char) -> bool {
    let mut depth: usize = 0;
    for c in s.chars() {
        if c == open {
            depth += 1;
        } else if c == close {
            match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            }
        }
    }
    depth == 0
}

/// A filter expression. Build one with [`Filter::field`], [`Filter::and`], [`Filter::or`], [`Filter::not`].
///
/// ```
/// use twenty_client::Filter;
/// let f = Filter::and([
///     Filter::field("emails.primaryEmail").eq("ada@example.com"),
///     Filter::field("deletedAt").is_null(),
///     Filter::or([
///         Filter::field("employees").gte(1000),
///         Filter::field("name").ilike("%air, inc (us)%"),
///     ]),
/// ]);
/// assert_eq!(
///     f.to_query_string(),
///     r#"and(emails.primaryEmail[eq]:"ada@example.com",deletedAt[is]:NULL,or(employees[gte]:1000,name[ilike]:"%air, inc (us)%"))"#
/// );
/// assert!(f.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Filter {
    /// `field[op]:value`.
    Condition {
        /// Dotted field path, e.g. `name.firstName`.
        field: String,
        /// Operator name as Twenty spells it.
        op: &'static str,
        /// Value (rendered).
        value: ConditionValue,
    },
    /// `and(a,b,..)`.
    And(Vec<Filter>),
    /// `or(a,b,..)`.
    Or(Vec<Filter>),
    /// `not(a)`.
    Not(Box<Filter>),
}

/// Right-hand side of a condition.
///
/// ```
/// use twenty_client::{ConditionValue, Filter, FilterValue};
/// match Filter::field("stage").in_(["NEW", "MEETING"]) {
///     Filter::Condition { field, op, value: ConditionValue::List(values) } => {
///         assert_eq!((field.as_str(), op), ("stage", "in"));
///         assert_eq!(values[1], FilterValue::from("MEETING"));
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConditionValue {
    /// One value.
    One(FilterValue),
    /// `[a,b,..]` for `in` / `containsAny`.
    List(Vec<FilterValue>),
    /// `NULL` / `NOT_NULL` for `is`.
    Null(bool),
}

/// Start of a condition on one field: `Filter::field("name.firstName").eq("Ada")`.
///
/// ```
/// use twenty_client::{FieldFilter, Filter};
/// let city: FieldFilter = Filter::field("city");
/// let f = Filter::or([city.clone().eq("Paris"), city.eq("Lyon")]);
/// assert_eq!(f.to_query_string(), r#"or(city[eq]:"Paris",city[eq]:"Lyon")"#);
/// ```
#[derive(Debug, Clone)]
pub struct FieldFilter {
    field: String,
}

macro_rules! ops {
    ($($(#[$m:meta])* $name:ident => $op:literal),* $(,)?) => {
        $( $(#[$m])* pub fn $name(self, value: impl Into<FilterValue>) -> Filter {
            self.cond($op, ConditionValue::One(value.into()))
        } )*
    };
}

impl FieldFilter {
    fn cond(self, op: &'static str, value: ConditionValue) -> Filter {
        Filter::Condition {
            field: self.field,
            op,
            value,
        }
    }
    ops! {
        /// `[eq]`
        ///
        /// ```
        /// use twenty_client::Filter;
        /// let f = Filter::field("name.firstName").eq("Ada");
        /// assert_eq!(f.to_query_string(), r#"name.firstName[eq]:"Ada""#);
        /// ```
        eq => "eq",
        /// `[neq]`
        ///
        /// ```
        /// use twenty_client::Filter;
        /// let f = Filter::field("status").neq("DONE");
        /// assert_eq!(f.to_query_string(), r#"status[neq]:"DONE""#);
        /// ```
        neq => "neq",
        /// `[gt]`
        ///
        /// ```
        /// use twenty_client::Filter;
        /// let f = Filter::field("employees").gt(10);
        /// assert_eq!(f.to_query_string(), r#"employees[gt]:10"#);
        /// ```
        gt => "gt",
        /// `[gte]`
        ///
        /// ```
        /// use twenty_client::Filter;
        /// let f = Filter::field("employees").gte(1000);
        /// assert_eq!(f.to_query_string(), r#"employees[gte]:1000"#);
        /// ```
        gte => "gte",
        /// `[lt]`
        ///
        /// ```
        /// use twenty_client::Filter;
        /// let f = Filter::field("score").lt(2.5);
        /// assert_eq!(f.to_query_string(), r#"score[lt]:2.5"#);
        /// ```
        lt => "lt",
        /// `[lte]`
        ///
        /// ```
        /// use twenty_client::Filter;
        /// let f = Filter::field("balance").lte(-3);
        /// assert_eq!(f.to_query_string(), r#"balance[lte]:-3"#);
        /// ```
        lte => "lte",
        /// `[startsWith]`
        ///
        /// ```
        /// use twenty_client::Filter;
        /// let f = Filter::field("name.lastName").starts_with("van ");
        /// assert_eq!(f.to_query_string(), r#"name.lastName[startsWith]:"van ""#);
        /// ```
        starts_with => "startsWith",
        /// `[endsWith]`
        ///
        /// ```
        /// use twenty_client::Filter;
        /// let f = Filter::field("emails.primaryEmail").ends_with("@example.com");
        /// assert_eq!(f.to_query_string(), r#"emails.primaryEmail[endsWith]:"@example.com""#);
        /// ```
        ends_with => "endsWith",
        /// `[like]` with `%` wildcards.
        ///
        /// ```
        /// use twenty_client::Filter;
        /// // `_` matches the apostrophe that cannot be sent inside a quoted value.
        /// let f = Filter::field("name.lastName").like("O_Brien%");
        /// assert_eq!(f.to_query_string(), r#"name.lastName[like]:"O_Brien%""#);
        /// assert!(f.validate().is_ok());
        /// ```
        like => "like",
        /// `[ilike]` (case-insensitive) with `%` wildcards.
        ///
        /// ```
        /// use twenty_client::Filter;
        /// let f = Filter::field("jobTitle").ilike("%engineer%");
        /// assert_eq!(f.to_query_string(), r#"jobTitle[ilike]:"%engineer%""#);
        /// ```
        ilike => "ilike",
    }
    /// `[in]:[a,b]`.
    ///
    /// ```
    /// use twenty_client::Filter;
    /// let f = Filter::field("id").in_(["a1", "b2"]);
    /// assert_eq!(f.to_query_string(), r#"id[in]:["a1","b2"]"#);
    /// assert_eq!(Filter::field("position").in_([1, 2]).to_query_string(), "position[in]:[1,2]");
    /// ```
    pub fn in_<V: Into<FilterValue>>(self, values: impl IntoIterator<Item = V>) -> Filter {
        self.cond(
            "in",
            ConditionValue::List(values.into_iter().map(Into::into).collect()),
        )
    }
    /// `[containsAny]:[a,b]` (multi-select / array fields).
    ///
    /// ```
    /// use twenty_client::Filter;
    /// let f = Filter::field("tags").contains_any(["VIP", "PARTNER"]);
    /// assert_eq!(f.to_query_string(), r#"tags[containsAny]:["VIP","PARTNER"]"#);
    /// ```
    pub fn contains_any<V: Into<FilterValue>>(self, values: impl IntoIterator<Item = V>) -> Filter {
        self.cond(
            "containsAny",
            ConditionValue::List(values.into_iter().map(Into::into).collect()),
        )
    }
    /// `[is]:NULL`.
    ///
    /// ```
    /// use twenty_client::Filter;
    /// assert_eq!(Filter::field("deletedAt").is_null().to_query_string(), "deletedAt[is]:NULL");
    /// ```
    pub fn is_null(self) -> Filter {
        self.cond("is", ConditionValue::Null(true))
    }
    /// `[is]:NOT_NULL`.
    ///
    /// ```
    /// use twenty_client::Filter;
    /// // The trash: soft-deleted records only.
    /// let f = Filter::field("deletedAt").is_not_null();
    /// assert_eq!(f.to_query_string(), "deletedAt[is]:NOT_NULL");
    /// ```
    pub fn is_not_null(self) -> Filter {
        self.cond("is", ConditionValue::Null(false))
    }
}

impl Filter {
    /// Begin a condition on `field` (dotted paths address composite sub-fields).
    ///
    /// ```
    /// use twenty_client::Filter;
    /// let f = Filter::field("address.addressCity").eq("Berlin");
    /// assert_eq!(f.to_query_string(), r#"address.addressCity[eq]:"Berlin""#);
    /// // Field paths are checked when the filter is validated (before any request).
    /// assert!(Filter::field("bad field").eq("x").validate().is_err());
    /// ```
    pub fn field(field: impl Into<String>) -> FieldFilter {
        FieldFilter {
            field: field.into(),
        }
    }
    /// All of `filters`.
    ///
    /// ```
    /// use twenty_client::Filter;
    /// let f = Filter::and([
    ///     Filter::field("city").eq("Paris"),
    ///     Filter::field("jobTitle").is_not_null(),
    /// ]);
    /// assert_eq!(f.to_query_string(), r#"and(city[eq]:"Paris",jobTitle[is]:NOT_NULL)"#);
    /// // An empty and() is refused.
    /// assert!(Filter::and([]).validate().is_err());
    /// ```
    pub fn and(filters: impl IntoIterator<Item = Filter>) -> Filter {
        Filter::And(filters.into_iter().collect())
    }
    /// Any of `filters`.
    ///
    /// ```
    /// use twenty_client::Filter;
    /// let f = Filter::or([Filter::field("stage").eq("NEW"), Filter::field("stage").eq("MEETING")]);
    /// assert_eq!(f.to_query_string(), r#"or(stage[eq]:"NEW",stage[eq]:"MEETING")"#);
    /// ```
    pub fn or(filters: impl IntoIterator<Item = Filter>) -> Filter {
        Filter::Or(filters.into_iter().collect())
    }
    /// Negation of `filter`.
    ///
    /// ```
    /// use twenty_client::Filter;
    /// let f = Filter::not(Filter::field("status").eq("DONE"));
    /// assert_eq!(f.to_query_string(), r#"not(status[eq]:"DONE")"#);
    /// ```
    #[allow(clippy::should_implement_trait)]
    pub fn not(filter: Filter) -> Filter {
        Filter::Not(Box::new(filter))
    }
    /// `text` as a `like` / `ilike` pattern Twenty's filter syntax can always carry: each
    /// character the syntax cannot escape (`"`, `'`, `[`, `]`, `(`, `)`) becomes `_`, the
    /// wildcard of one character, which still matches it.
    ///
    /// For a value [`validate`](Self::validate) refuses, such as a name with a lone apostrophe.
    /// The pattern can match a little more than `text` (another character in those places, and
    /// `%` or `_` in `text` are wildcards too): where only `text` will do, compare the records
    /// that come back.
    ///
    /// ```
    /// use twenty_client::Filter;
    /// assert!(Filter::field("name").eq("O'Reilly").validate().is_err());
    /// let pattern = Filter::like_pattern("O'Reilly");
    /// assert_eq!(pattern, "O_Reilly");
    /// let f = Filter::field("name").ilike(pattern.as_str());
    /// assert!(f.validate().is_ok());
    /// assert_eq!(f.to_query_string(), r#"name[ilike]:"O_Reilly""#);
    /// assert_eq!(Filter::like_pattern(r#"say "hi" (o'clock) [x"#), "say _hi_ _o_clock_ _x");
    /// ```
    pub fn like_pattern(text: &str) -> String {
        text.chars()
            .map(|c| match c {
                '"' | '\'' | '[' | ']' | '(' | ')' => '_',
                c => c,
            })
            .collect()
    }

    /// Shorthand for `id[eq]:"<id>"`.
    ///
    /// ```
    /// use twenty_client::Filter;
    /// let id = "20202020-0000-4000-8000-000000000001";
    /// assert_eq!(Filter::id(id), Filter::field("id").eq(id));
    /// assert_eq!(Filter::id(id).to_query_string(), format!(r#"id[eq]:"{id}""#));
    /// ```
    pub fn id(id: impl Into<String>) -> Filter {
        Filter::field("id").eq(id.into())
    }

    /// The `filter` query parameter value (before URL encoding).
    ///
    /// ```
    /// use twenty_client::Filter;
    /// // Values are quoted, so commas and parentheses survive Twenty's parser;
    /// // a value with `"` is quoted with `'` instead.
    /// assert_eq!(
    ///     Filter::field("name").eq("Smith, John (CEO)").to_query_string(),
    ///     r#"name[eq]:"Smith, John (CEO)""#
    /// );
    /// assert_eq!(Filter::field("name").eq(r#"the "best" co"#).to_query_string(), r#"name[eq]:'the "best" co'"#);
    /// ```
    pub fn to_query_string(&self) -> String {
        let mut out = String::new();
        let mut problems = Vec::new();
        self.write(&mut out, &mut problems);
        out
    }

    /// Check that every value survives Twenty's parser and field names are well formed.
    ///
    /// ```
    /// use twenty_client::{ErrorKind, Filter};
    /// // Twenty's parser has no escape character: a lone apostrophe cannot be sent.
    /// let err = Filter::field("name.lastName").eq("O'Brien").validate().unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::Config);
    /// // Match it with a wildcard instead.
    /// assert!(Filter::field("name.lastName").like("O_Brien").validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        let mut out = String::new();
        let mut problems = Vec::new();
        self.write(&mut out, &mut problems);
        match problems.first() {
            None => Ok(()),
            Some(p) => Err(Error::config(format!(
                "filter cannot be encoded for Twenty: {p}; match it another way, e.g. `like` with `_`/`%` wildcards in place of the offending characters"
            ))),
        }
    }

    fn write(&self, out: &mut String, problems: &mut Vec<String>) {
        match self {
            Filter::Condition { field, op, value } => {
                if field.is_empty()
                    || !field
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
                {
                    problems.push(format!("field name {field:?} is not a valid field path"));
                }
                let _ = write!(out, "{field}[{op}]:");
                match value {
                    ConditionValue::One(v) => v.write(out, problems),
                    ConditionValue::List(vs) => {
                        out.push('[');
                        for (i, v) in vs.iter().enumerate() {
                            if i > 0 {
                                out.push(',');
                            }
                            v.write(out, problems);
                        }
                        out.push(']');
                    }
                    ConditionValue::Null(true) => out.push_str("NULL"),
                    ConditionValue::Null(false) => out.push_str("NOT_NULL"),
                }
            }
            Filter::And(fs) | Filter::Or(fs) => {
                if fs.is_empty() {
                    problems.push("empty and()/or()".to_owned());
                }
                out.push_str(if matches!(self, Filter::And(_)) {
                    "and("
                } else {
                    "or("
                });
                for (i, f) in fs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    f.write(out, problems);
                }
                out.push(')');
            }
            Filter::Not(f) => {
                out.push_str("not(");
                f.write(out, problems);
                out.push(')');
            }
        }
    }
}

/// Sort direction as Twenty spells it.
///
/// ```
/// use twenty_client::{Direction, OrderBy};
/// let o = OrderBy::by("closeDate", Direction::AscNullsLast);
/// assert_eq!(o.to_query_string(), "closeDate[AscNullsLast]");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// Ascending, nulls first (Twenty's default).
    AscNullsFirst,
    /// Ascending, nulls last.
    AscNullsLast,
    /// Descending, nulls first.
    DescNullsFirst,
    /// Descending, nulls last.
    DescNullsLast,
}

impl Direction {
    /// Wire name.
    ///
    /// ```
    /// use twenty_client::Direction;
    /// assert_eq!(Direction::DescNullsFirst.as_str(), "DescNullsFirst");
    /// assert_eq!(Direction::AscNullsFirst.as_str(), "AscNullsFirst");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            Direction::AscNullsFirst => "AscNullsFirst",
            Direction::AscNullsLast => "AscNullsLast",
            Direction::DescNullsFirst => "DescNullsFirst",
            Direction::DescNullsLast => "DescNullsLast",
        }
    }
}

/// An `order_by` list. Twenty adds an implicit `id` tiebreak.
///
/// ```
/// use twenty_client::{Direction, OrderBy};
/// let o = OrderBy::asc("updatedAt").then_asc("id").then("name.lastName", Direction::DescNullsLast);
/// assert_eq!(o.to_query_string(), "updatedAt[AscNullsFirst],id[AscNullsFirst],name.lastName[DescNullsLast]");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    keys: Vec<(String, Direction)>,
}

impl OrderBy {
    /// Sort by `field` in `direction`.
    ///
    /// ```
    /// use twenty_client::{Direction, OrderBy};
    /// let o = OrderBy::by("amount.amountMicros", Direction::DescNullsFirst);
    /// assert_eq!(o.to_query_string(), "amount.amountMicros[DescNullsFirst]");
    /// ```
    pub fn by(field: impl Into<String>, direction: Direction) -> Self {
        OrderBy {
            keys: vec![(field.into(), direction)],
        }
    }
    /// Ascending (nulls first).
    ///
    /// ```
    /// use twenty_client::OrderBy;
    /// assert_eq!(OrderBy::asc("createdAt").to_query_string(), "createdAt[AscNullsFirst]");
    /// ```
    pub fn asc(field: impl Into<String>) -> Self {
        OrderBy::by(field, Direction::AscNullsFirst)
    }
    /// Descending (nulls last).
    ///
    /// ```
    /// use twenty_client::OrderBy;
    /// assert_eq!(OrderBy::desc("updatedAt").to_query_string(), "updatedAt[DescNullsLast]");
    /// ```
    pub fn desc(field: impl Into<String>) -> Self {
        OrderBy::by(field, Direction::DescNullsLast)
    }
    /// Then by `field` in `direction`.
    ///
    /// ```
    /// use twenty_client::{Direction, OrderBy};
    /// let o = OrderBy::desc("employees").then("name", Direction::AscNullsLast);
    /// assert_eq!(o.to_query_string(), "employees[DescNullsLast],name[AscNullsLast]");
    /// ```
    pub fn then(mut self, field: impl Into<String>, direction: Direction) -> Self {
        self.keys.push((field.into(), direction));
        self
    }
    /// Then ascending.
    ///
    /// ```
    /// use twenty_client::OrderBy;
    /// // A stable order for paging: by `updatedAt`, ties broken by `id`.
    /// let o = OrderBy::asc("updatedAt").then_asc("id");
    /// assert_eq!(o.to_query_string(), "updatedAt[AscNullsFirst],id[AscNullsFirst]");
    /// ```
    pub fn then_asc(self, field: impl Into<String>) -> Self {
        self.then(field, Direction::AscNullsFirst)
    }
    /// Then descending.
    ///
    /// ```
    /// use twenty_client::OrderBy;
    /// let o = OrderBy::asc("stage").then_desc("amount.amountMicros");
    /// assert_eq!(o.to_query_string(), "stage[AscNullsFirst],amount.amountMicros[DescNullsLast]");
    /// ```
    pub fn then_desc(self, field: impl Into<String>) -> Self {
        self.then(field, Direction::DescNullsLast)
    }
    /// The `order_by` query value.
    ///
    /// ```
    /// use twenty_client::OrderBy;
    /// let o = OrderBy::desc("updatedAt").then_asc("id");
    /// assert_eq!(o.to_query_string(), "updatedAt[DescNullsLast],id[AscNullsFirst]");
    /// ```
    pub fn to_query_string(&self) -> String {
        self.keys
            .iter()
            .map(|(f, d)| format!("{f}[{}]", d.as_str()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn strings_with_commas_colons_and_parentheses_are_quoted() {
        let f = Filter::field("name").eq("Smith, John: (CEO)");
        assert_eq!(f.to_query_string(), r#"name[eq]:"Smith, John: (CEO)""#);
        assert!(f.validate().is_ok());
    }

    #[test]
    fn double_quotes_switch_to_single_quotes() {
        let f = Filter::field("name").eq(r#"the "best" co"#);
        assert_eq!(f.to_query_string(), r#"name[eq]:'the "best" co'"#);
        assert!(f.validate().is_ok());
    }

    #[test]
    fn unencodable_values_are_refused() {
        assert!(
            Filter::field("name")
                .eq(r#"O'Brien "x""#)
                .validate()
                .is_err()
        );
        // A lone apostrophe inside double quotes flips the parser's single-quote state: refused.
        assert!(Filter::field("name").eq("O'Brien").validate().is_err());
        assert!(Filter::field("name").like("O_Brien").validate().is_ok());
        assert!(Filter::field("name").eq("a(b").validate().is_err());
        assert!(Filter::field("name").eq("a]").validate().is_err());
        // Regression (fuzz target filter_encoding): an even count closed before it opens.
        assert!(Filter::field("b").eq("]]").validate().is_err());
        assert!(Filter::field("b").eq("]x[").validate().is_err());
        assert!(Filter::field("b").eq(")(").validate().is_err());
        assert!(Filter::field("b").eq("[a] and [b]").validate().is_ok());
        assert!(Filter::field("bad field").eq("x").validate().is_err());
        assert!(Filter::and([]).validate().is_err());
    }

    #[test]
    fn typed_values_render_as_twenty_expects() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 22, 20, 25, 4)
            .single()
            .expect("valid date");
        assert_eq!(
            Filter::field("updatedAt").gte(t).to_query_string(),
            r#"updatedAt[gte]:"2026-11-22T20:25:04.000Z""#
        );
        assert_eq!(Filter::field("x").eq(true).to_query_string(), "x[eq]:true");
        assert_eq!(Filter::field("x").lt(1.5).to_query_string(), "x[lt]:1.5");
        assert_eq!(
            Filter::field("id").in_(["a", "b"]).to_query_string(),
            r#"id[in]:["a","b"]"#
        );
        assert_eq!(
            Filter::not(Filter::field("deletedAt").is_not_null()).to_query_string(),
            "not(deletedAt[is]:NOT_NULL)"
        );
        assert_eq!(
            Filter::field("tags").contains_any(["A"]).to_query_string(),
            r#"tags[containsAny]:["A"]"#
        );
    }
}
