//! Fuzzes the filter builder: arbitrary field names, operators and string values, nested in
//! `and` / `or` / `not`. Encoding and validation must never panic, and whenever
//! `Filter::validate` accepts a filter of string conditions, Twenty's own parser (re-implemented
//! here from its `parseFilterContent` / `parseBaseFilter`) must split it back into exactly those
//! conditions and values.
//!
//! Twenty's splitter exists in two versions: one toggles a bracket state on every `[`/`]` (the
//! model twenty-client documents for 2.x), an older one counts `[` up and `]` down. The toggling
//! one is checked for every accepted filter; the counting one only when every value's brackets
//! are balanced in order, because the client accepts values such as `"]]"` (an even number of
//! brackets) that the counting version mis-splits — found by this target, reported, see
//! `/work/notes/guarantees.md`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twenty_client::Filter;

/// Twenty's `parseFilterContent`: the predicates inside the outer `and(...)` / `or(...)`.
fn split_predicates(query: &str, toggle_brackets: bool) -> Vec<String> {
    let mut brackets: i64 = 0;
    let mut in_brackets = false;
    let mut dq_closed = true;
    let mut sq_closed = true;
    let mut parens: i64 = 0;
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in query.chars() {
        if c == ')' {
            parens -= 1;
        }
        if toggle_brackets {
            if c == '[' || c == ']' {
                in_brackets = !in_brackets;
            }
        } else if c == '[' {
            brackets += 1;
        } else if c == ']' {
            brackets -= 1;
        }
        if c == '"' {
            dq_closed = !dq_closed;
        }
        if c == '\'' {
            sq_closed = !sq_closed;
        }
        let outside_brackets = if toggle_brackets {
            !in_brackets
        } else {
            brackets == 0
        };
        if c == ',' && parens == 1 && outside_brackets && dq_closed && sq_closed {
            out.push(std::mem::take(&mut cur));
            continue;
        }
        if parens >= 1 {
            cur.push(c);
        }
        if c == '(' {
            parens += 1;
        }
    }
    out.push(cur);
    out
}

/// Twenty's `parseBaseFilter` for `field[op]:value`, then one pair of quotes stripped.
fn value_of(predicate: &str) -> Option<String> {
    let open = predicate.find('[')?;
    let close = open + predicate[open..].find(']')?;
    let rest = predicate[close + 1..].strip_prefix(':')?;
    let v = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
        .unwrap_or(rest);
    Some(v.to_owned())
}

fn take_str<'a>(data: &mut &'a [u8]) -> Option<&'a str> {
    let (&len, rest) = data.split_first()?;
    let len = usize::from(len % 24).min(rest.len());
    let (s, rest) = rest.split_at(len);
    *data = rest;
    std::str::from_utf8(s).ok()
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let mut values = Vec::new();
    let mut conds = Vec::new();
    while conds.len() < 6 {
        let Some(&op) = data.first() else { break };
        data = &data[1..];
        let Some(field) = take_str(&mut data) else {
            break;
        };
        let Some(value) = take_str(&mut data) else {
            break;
        };
        let f = Filter::field(field);
        let cond = match op % 6 {
            0 => f.eq(value),
            1 => f.neq(value),
            2 => f.like(value),
            3 => f.ilike(value),
            4 => f.starts_with(value),
            _ => f.in_([value, value]),
        };
        if op % 6 != 5 {
            values.push(value.to_owned());
        }
        conds.push((cond, op % 6 == 5));
    }
    if conds.is_empty() {
        return;
    }
    let plain: Vec<Filter> = conds.iter().map(|(c, _)| c.clone()).collect();
    // Nested shapes: never panic.
    let nested = Filter::or([Filter::not(plain[0].clone()), Filter::and(plain.clone())]);
    let _ = nested.to_query_string();
    let _ = nested.validate();

    let any_list = conds.iter().any(|(_, list)| *list);
    let filter = Filter::and(plain);
    let encoded = filter.to_query_string();
    if filter.validate().is_err() || any_list {
        return;
    }
    let ordered = values.iter().all(|v| {
        let mut depth = 0i64;
        v.chars().all(|c| {
            depth += match c {
                '[' => 1,
                ']' => -1,
                _ => 0,
            };
            depth >= 0
        }) && depth == 0
    });
    let models: &[bool] = if ordered { &[true, false] } else { &[true] };
    for &toggle in models {
        let preds = split_predicates(&encoded, toggle);
        assert_eq!(
            preds.len(),
            values.len(),
            "validated filter {encoded:?} splits into {preds:?} (toggle brackets: {toggle})"
        );
        for (p, v) in preds.iter().zip(&values) {
            assert_eq!(
                value_of(p).as_deref(),
                Some(v.as_str()),
                "validated filter {encoded:?}: predicate {p:?} does not give back {v:?}"
            );
        }
    }
});
