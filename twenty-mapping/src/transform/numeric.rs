//! `number` and `money`: exact decimal parsing (no float rounding) into NUMBER and CURRENCY.
//!
//! ```
//! use serde_json::json;
//! use twenty_mapping::apply_builtin;
//! assert_eq!(apply_builtin("money", &json!({"currency": "EUR"}), json!("1 234,56")).unwrap_err().reason,
//!            "amount \"1 234,56\" is not a decimal number");
//! assert_eq!(apply_builtin("money", &json!({"currency": "EUR", "decimal_separator": ",", "thousands_separator": " "}),
//!            json!("1 234,56")).unwrap(), json!({"amountMicros": 1234560000, "currencyCode": "EUR"}));
//! assert_eq!(apply_builtin("money", &json!({}), json!("$0.1")).unwrap(),
//!            json!({"amountMicros": 100000, "currencyCode": "USD"}));
//! // A symbol keeps the configured currency when that currency is written with it.
//! assert_eq!(apply_builtin("money", &json!({"currency": "CAD"}), json!("$12")).unwrap(),
//!            json!({"amountMicros": 12000000, "currencyCode": "CAD"}));
//! assert_eq!(apply_builtin("money", &json!({"currency": "CNY"}), json!("¥5")).unwrap(),
//!            json!({"amountMicros": 5000000, "currencyCode": "CNY"}));
//! assert_eq!(apply_builtin("money", &json!({"currency": "EUR"}), json!("$12")).unwrap(),
//!            json!({"amountMicros": 12000000, "currencyCode": "USD"}));
//! assert_eq!(apply_builtin("money", &json!({"output": "micros"}), json!(19.99)).unwrap(), json!(19990000));
//! assert_eq!(apply_builtin("number", &json!({}), json!(" 42 ")).unwrap(), json!(42));
//! ```

use serde_json::{Map, Number, Value};

use super::{Inverse, TransformArgs, TransformRegistry, TransformStep, builtin, json_type_name};
use crate::error::TransformError;
use crate::types::ValueKind;

pub(super) fn register(r: &mut TransformRegistry) {
    builtin(
        r,
        "number",
        &["decimal_separator", "thousands_separator"],
        |args| {
            Ok(Box::new(NumberStep {
                seps: Separators::from_args(args)?,
            }))
        },
    );
    builtin(
        r,
        "money",
        &[
            "currency",
            "output",
            "decimal_separator",
            "thousands_separator",
            "as_number",
        ],
        build_money,
    );
}

#[derive(Clone, Copy)]
struct Separators {
    decimal: char,
    thousands: Option<char>,
}

impl Separators {
    fn from_args(args: &TransformArgs<'_>) -> Result<Self, String> {
        let one = |key: &str, default: Option<char>| -> Result<Option<char>, String> {
            match args.str(key)? {
                None => Ok(default),
                Some(s) if s.chars().count() == 1 => Ok(s.chars().next()),
                Some(s) => Err(format!("`{key}` must be one character, got {s:?}")),
            }
        };
        let decimal = one("decimal_separator", Some('.'))?.unwrap_or('.');
        let thousands = one("thousands_separator", None)?;
        if thousands == Some(decimal) {
            return Err("`decimal_separator` and `thousands_separator` must differ".to_owned());
        }
        Ok(Separators { decimal, thousands })
    }
}

/// A decimal number parsed exactly: sign, integer digits, fraction digits.
struct Decimal<'a> {
    negative: bool,
    int: String,
    frac: &'a str,
}

/// Parses `-1,234.56` style text into digits without going through floats.
fn parse_decimal<'a>(s: &'a str, seps: Separators) -> Option<Decimal<'a>> {
    let s = s.trim();
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int_part, frac_part) = match body.find(seps.decimal) {
        Some(i) => (&body[..i], &body[i + seps.decimal.len_utf8()..]),
        None => (body, ""),
    };
    let mut int = String::with_capacity(int_part.len());
    for c in int_part.chars() {
        if c.is_ascii_digit() {
            int.push(c);
        } else if Some(c) == seps.thousands {
            continue;
        } else {
            return None;
        }
    }
    if int.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !frac_part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if body.ends_with(seps.decimal) && frac_part.is_empty() && int.is_empty() {
        return None;
    }
    Some(Decimal {
        negative,
        int,
        frac: frac_part,
    })
}

/// Decimal text of a JSON number, in plain notation when it was written with an exponent.
fn number_text(n: &Number) -> String {
    let s = n.to_string();
    if !s.contains(['e', 'E']) {
        return s;
    }
    // Floats print with an exponent only when tiny or huge; render via f64 formatting.
    n.as_f64().map(|f| format!("{f}")).unwrap_or(s)
}

fn to_micros(d: &Decimal<'_>) -> Result<i64, TransformError> {
    let frac_trimmed = d.frac.trim_end_matches('0');
    if frac_trimmed.len() > 6 {
        return Err(TransformError::new(
            "amount has more than 6 decimal places; CURRENCY stores micros (10^-6)",
        ));
    }
    let int: i64 = if d.int.is_empty() {
        0
    } else {
        d.int
            .parse()
            .map_err(|_| TransformError::new("amount is too large"))?
    };
    let mut frac_micros: i64 = 0;
    for (i, b) in frac_trimmed.bytes().enumerate() {
        frac_micros += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
    }
    let micros = int
        .checked_mul(1_000_000)
        .and_then(|v| v.checked_add(frac_micros))
        .ok_or_else(|| TransformError::new("amount is too large for amountMicros"))?;
    Ok(if d.negative { -micros } else { micros })
}

/// micros → shortest decimal text ("1234.5").
fn micros_to_text(micros: i64) -> String {
    let neg = micros < 0;
    let abs = micros.unsigned_abs();
    let int = abs / 1_000_000;
    let frac = abs % 1_000_000;
    let mut s = if neg {
        format!("-{int}")
    } else {
        int.to_string()
    };
    if frac != 0 {
        let f = format!("{frac:06}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s
}

struct NumberStep {
    seps: Separators,
}

impl TransformStep for NumberStep {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Number
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        match input {
            Value::Number(_) => Ok(input),
            Value::String(s) => {
                let d = parse_decimal(&s, self.seps)
                    .ok_or_else(|| TransformError::new(format!("{s:?} is not a number")))?;
                let frac = d.frac.trim_end_matches('0');
                let text = format!(
                    "{}{}{}{}",
                    if d.negative { "-" } else { "" },
                    if d.int.is_empty() {
                        "0"
                    } else {
                        d.int.as_str()
                    },
                    if frac.is_empty() { "" } else { "." },
                    frac
                );
                if frac.is_empty() {
                    if let Ok(i) = text.parse::<i64>() {
                        return Ok(Value::Number(i.into()));
                    }
                }
                let f: f64 = text
                    .parse()
                    .map_err(|_| TransformError::new(format!("{s:?} is not a number")))?;
                Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| TransformError::new(format!("{s:?} is not a finite number")))
            }
            other => Err(TransformError::new(format!(
                "number expects a number or numeric text, got {}",
                json_type_name(&other)
            ))),
        }
    }
    fn inverse(&self) -> Inverse {
        Inverse::Identity
    }
}

#[derive(Clone, Copy, PartialEq)]
enum MoneyOutput {
    Currency,
    Micros,
}

struct Money {
    currency: String,
    output: MoneyOutput,
    seps: Separators,
    as_number: bool,
}

fn build_money(args: &TransformArgs<'_>) -> Result<Box<dyn TransformStep>, String> {
    let currency = args.str("currency")?.unwrap_or("USD");
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "`currency` must be an ISO 4217 code like \"USD\", got {currency:?}"
        ));
    }
    let output = match args.str("output")?.unwrap_or("currency") {
        "currency" => MoneyOutput::Currency,
        "micros" => MoneyOutput::Micros,
        other => {
            return Err(format!(
                "`output` must be \"currency\" or \"micros\", got {other:?}"
            ));
        }
    };
    Ok(Box::new(Money {
        currency: currency.to_owned(),
        output,
        seps: Separators::from_args(args)?,
        as_number: args.bool_or("as_number", false)?,
    }))
}

/// The currencies written with the symbol `c`, the one it means by default first; empty when
/// `c` is no currency symbol.
fn currencies_of_symbol(c: char) -> &'static [&'static str] {
    match c {
        '$' => &[
            "USD", "CAD", "AUD", "NZD", "SGD", "HKD", "TWD", "MXN", "ARS", "CLP", "COP", "UYU",
            "DOP", "CUP", "BSD", "BBD", "BZD", "BMD", "BND", "KYD", "FJD", "GYD", "JMD", "LRD",
            "NAD", "SBD", "SRD", "TTD", "XCD",
        ],
        '€' => &["EUR"],
        '£' => &["GBP", "GIP", "FKP", "SHP", "EGP"],
        '¥' => &["JPY", "CNY"],
        '₹' => &["INR"],
        '₩' => &["KRW", "KPW"],
        _ => &[],
    }
}

/// The currency a symbol means: `configured` when it is one of the currencies written with that
/// symbol ("$" is CAD when CAD is configured, "¥" is CNY when CNY is), otherwise the symbol's
/// usual currency (USD, JPY...). `None` when `c` is no currency symbol.
fn symbol_currency(c: char, configured: &str) -> Option<&str> {
    let currencies = currencies_of_symbol(c);
    if currencies.contains(&configured) {
        return Some(configured);
    }
    currencies.first().copied()
}

impl Money {
    /// Splits a currency symbol or ISO code off the amount text.
    fn split_currency<'a>(&'a self, s: &'a str) -> (&'a str, &'a str) {
        let t = s.trim();
        if let Some(c) = t.chars().next() {
            if let Some(code) = symbol_currency(c, &self.currency) {
                return (code, &t[c.len_utf8()..]);
            }
        }
        if let Some(c) = t.chars().last() {
            if let Some(code) = symbol_currency(c, &self.currency) {
                return (code, &t[..t.len() - c.len_utf8()]);
            }
        }
        let is_code = |w: &str| w.len() == 3 && w.chars().all(|c| c.is_ascii_uppercase());
        if let Some((a, b)) = t.split_once(' ') {
            if is_code(a) {
                return (a, b);
            }
        }
        if let Some((a, b)) = t.rsplit_once(' ') {
            if is_code(b) {
                return (b, a);
            }
        }
        (&self.currency, t)
    }

    fn micros_of_text(&self, text: &str) -> Result<i64, TransformError> {
        let d = parse_decimal(text, self.seps).ok_or_else(|| {
            TransformError::new(format!("amount {text:?} is not a decimal number"))
        })?;
        to_micros(&d)
    }
}

impl TransformStep for Money {
    fn output_kind(&self) -> ValueKind {
        match self.output {
            MoneyOutput::Currency => ValueKind::Currency,
            MoneyOutput::Micros => ValueKind::Number,
        }
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        let (micros, code) = match &input {
            Value::Number(n) => {
                let text = number_text(n);
                let dot = Separators {
                    decimal: '.',
                    thousands: None,
                };
                let d = parse_decimal(&text, dot)
                    .ok_or_else(|| TransformError::new(format!("amount {text} is not finite")))?;
                (to_micros(&d)?, self.currency.as_str())
            }
            Value::String(s) => {
                let (code, amount) = self.split_currency(s);
                (self.micros_of_text(amount)?, code)
            }
            Value::Object(m) => {
                let code = m
                    .get("currency")
                    .or_else(|| m.get("currencyCode"))
                    .and_then(Value::as_str)
                    .unwrap_or(&self.currency);
                let micros = match m.get("amount") {
                    Some(Value::Number(n)) => self
                        .apply(Value::Number(n.clone()))
                        .map(|v| micros_in(&v))?,
                    Some(Value::String(s)) => self.micros_of_text(s)?,
                    _ => return Err(TransformError::new("money object needs an `amount`")),
                };
                (micros, code)
            }
            other => {
                return Err(TransformError::new(format!(
                    "money expects a number, text or {{amount, currency}}, got {}",
                    json_type_name(other)
                )));
            }
        };
        Ok(match self.output {
            MoneyOutput::Micros => Value::Number(micros.into()),
            MoneyOutput::Currency => {
                let mut m = Map::with_capacity(2);
                m.insert("amountMicros".to_owned(), Value::Number(micros.into()));
                m.insert("currencyCode".to_owned(), Value::String(code.to_owned()));
                Value::Object(m)
            }
        })
    }
    fn inverse(&self) -> Inverse {
        Inverse::Step(Box::new(MoneyInverse {
            as_number: self.as_number,
        }))
    }
}

fn micros_in(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::Object(m) => m.get("amountMicros").and_then(Value::as_i64).unwrap_or(0),
        _ => 0,
    }
}

/// CURRENCY (or micros) → decimal text (or a number with `as_number`).
struct MoneyInverse {
    as_number: bool,
}

impl TransformStep for MoneyInverse {
    fn output_kind(&self) -> ValueKind {
        if self.as_number {
            ValueKind::Number
        } else {
            ValueKind::Text
        }
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        let micros = match &input {
            Value::Number(n) => n.as_i64(),
            Value::Object(m) => match m.get("amountMicros") {
                Some(Value::Null) | None => return Ok(Value::Null),
                Some(v) => v.as_i64(),
            },
            _ => None,
        }
        .ok_or_else(|| TransformError::new("expected amountMicros as an integer"))?;
        let text = micros_to_text(micros);
        if self.as_number {
            let f: f64 = text
                .parse()
                .map_err(|_| TransformError::new("amount cannot be represented as a number"))?;
            return Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| TransformError::new("amount cannot be represented as a number"));
        }
        Ok(Value::String(text))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{invert, step};
    use super::*;
    use serde_json::json;

    #[test]
    fn money_parses_exactly_without_float_error() {
        let s = step("money", json!({"output": "micros"}));
        // 0.1 + 0.2 style values that floats get wrong.
        assert_eq!(s.apply(json!("0.29")).unwrap(), json!(290000));
        assert_eq!(
            s.apply(json!("1234567.89")).unwrap(),
            json!(1234567890000i64)
        );
        assert_eq!(s.apply(json!(0.57)).unwrap(), json!(570000));
        assert_eq!(s.apply(json!("-12.5")).unwrap(), json!(-12500000));
        assert_eq!(s.apply(json!("EUR 3")).unwrap(), json!(3000000));
        assert!(s.apply(json!("1.2345678")).is_err());
        assert!(s.apply(json!("12abc")).is_err());
        assert!(s.apply(json!("99999999999999999")).is_err());
    }

    #[test]
    fn money_reads_currency_from_symbols_codes_and_objects() {
        let s = step("money", json!({}));
        assert_eq!(s.apply(json!("£5")).unwrap()["currencyCode"], json!("GBP"));
        assert_eq!(
            s.apply(json!("5 CHF")).unwrap()["currencyCode"],
            json!("CHF")
        );
        assert_eq!(
            s.apply(json!({"amount": "2.5", "currency": "EUR"}))
                .unwrap(),
            json!({"amountMicros": 2500000, "currencyCode": "EUR"})
        );
    }

    #[test]
    fn dollar_sign_keeps_a_configured_dollar_currency() {
        for currency in ["USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN"] {
            let s = step("money", json!({"currency": currency}));
            for text in ["$12", "12$", " $ 12 "] {
                assert_eq!(
                    s.apply(json!(text)).unwrap(),
                    json!({"amountMicros": 12_000_000, "currencyCode": currency}),
                    "{text:?} with {currency}"
                );
            }
        }
        // Another configured currency: `$` is the US dollar.
        let eur = step("money", json!({"currency": "EUR"}));
        assert_eq!(eur.apply(json!("$12")).unwrap()["currencyCode"], "USD");
    }

    #[test]
    fn yen_sign_keeps_a_configured_yuan_or_yen() {
        for (currency, want) in [("CNY", "CNY"), ("JPY", "JPY"), ("USD", "JPY")] {
            let s = step("money", json!({"currency": currency}));
            assert_eq!(
                s.apply(json!("¥100")).unwrap(),
                json!({"amountMicros": 100_000_000, "currencyCode": want}),
                "with {currency}"
            );
        }
    }

    #[test]
    fn an_iso_code_in_the_text_wins_over_the_configured_currency() {
        let s = step("money", json!({"currency": "CAD"}));
        assert_eq!(s.apply(json!("USD 12")).unwrap()["currencyCode"], "USD");
        assert_eq!(s.apply(json!("€3")).unwrap()["currencyCode"], "EUR");
    }

    #[test]
    fn money_inverse_gives_shortest_decimal_text() {
        let s = step("money", json!({}));
        let out = s.apply(json!("1234.50")).unwrap();
        assert_eq!(invert(s.as_ref(), out), json!("1234.5"));
        assert_eq!(micros_to_text(-500_000), "-0.5");
        assert_eq!(micros_to_text(7_000_000), "7");
    }

    #[test]
    fn number_parses_separators_and_rejects_text() {
        let s = step(
            "number",
            json!({"decimal_separator": ",", "thousands_separator": "."}),
        );
        assert_eq!(s.apply(json!("1.234,5")).unwrap(), json!(1234.5));
        assert_eq!(s.apply(json!("-7")).unwrap(), json!(-7));
        assert!(s.apply(json!("seven")).is_err());
        assert!(s.apply(json!(true)).is_err());
    }
}
