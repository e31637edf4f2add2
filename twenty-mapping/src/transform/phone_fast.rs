//! A fast path for phone numbers made only of digits (optionally `+` first, optionally with
//! spaces, dots, dashes, slashes or parentheses between them).
//!
//! It follows, step by step, what the transform's full parse ([`super::contact::parse_number`]:
//! `phonenumber::parse` followed by `is_valid`) does for such input (country code extraction, the
//! metadata used to strip national prefixes, the national prefix rules, `source_for` region
//! selection, the number-type check behind `is_valid`), but with the crate's metadata regexes
//! compiled once per region into plain [`regex::Regex`]es instead of going through its shared
//! 100-entry regex LRU (which a mix of regions keeps evicting, so the generic path recompiles
//! regexes on most records) and without its generic text parser.
//!
//! A number written with `+` and its calling code is read by the rules of that calling code, as
//! if no default region were given: the default region's national prefix rules would misread it
//! (with default `US`, `+49 1512 3456789` lost its leading `1`).
//!
//! It only ever answers "valid, and these are the parts" ([`fast_parse`] returns `Some`); for
//! anything it is not sure about (invalid numbers, transform rules, IDD prefixes, extensions,
//! letters...) it returns `None` and the caller runs the full parser, so error messages and edge
//! cases stay the full parser's. The equivalence is checked by the property tests of this
//! module's `tests` (`fast_path_agrees_with_the_full_parser`, `random_digits_agree`) over
//! generated numbers from many regions and formats.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::OnceLock;

use phonenumber::country::Id;
use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::{Regex, RegexBuilder};

/// E.164 parts of a valid number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PhoneParts {
    /// Country calling code, e.g. 33.
    pub calling_code: u16,
    /// National significant number, e.g. `612345678`.
    pub national: String,
    /// ISO region, e.g. `FR`; empty for non-geographic codes (+800...).
    pub region: String,
}

/// One descriptor (number type) of a region, compiled.
struct Desc {
    lengths: &'static [u16],
    re: Regex,
}

impl Desc {
    /// `Descriptor::is_match`: the length is possible and the pattern matches from the start.
    fn is_match(&self, v: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(v.len() as u16))) && self.re.is_match(v)
    }
}

/// A region's parsing and validation rules, compiled.
struct Rules {
    general: Desc,
    general_local_lengths: &'static [u16],
    /// The typed descriptors `number_type` tries (any match means "not Unknown").
    types: Vec<Desc>,
    leading_digits: Option<Regex>,
    international_prefix: Option<Regex>,
    prefix_for_parsing: Option<Regex>,
}

/// A region (or non-geographic entity) of the metadata, with its rules compiled on first use.
struct Entry {
    meta: &'static Metadata,
    rules: OnceLock<Option<Rules>>,
    /// What `country().id()` gives for a number of this entry, as text (`Id::from_str` of
    /// the metadata id, written back); empty when the id is not a region (`001`).
    region: String,
}

/// Compiles a metadata pattern so that `is_match` means what the crate's
/// `find(v).map(|m| m.start() == 0)` means (the leftmost match starts at 0 exactly when some
/// match starts at 0). The crate compiles with `ignore_whitespace`; the newline ends a possible
/// `#` comment before the closing parenthesis.
fn anchored(source: &str) -> Option<Regex> {
    RegexBuilder::new(&format!("^(?:{source}\n)"))
        .ignore_whitespace(true)
        .build()
        .ok()
}

fn desc(d: &'static Descriptor) -> Option<Desc> {
    Some(Desc {
        lengths: d.possible_length(),
        re: anchored(d.national_number().as_str())?,
    })
}

fn opt_regex(source: Option<&str>) -> Result<Option<Regex>, ()> {
    match source {
        None => Ok(None),
        Some(src) => anchored(src).map(Some).ok_or(()),
    }
}

fn compile_rules(meta: &'static Metadata) -> Option<Rules> {
    let d = meta.descriptors();
    let mut types = Vec::new();
    // Only "some type matches" matters, so the likeliest types of a contact's number come first.
    for t in [
        d.mobile(),
        d.fixed_line(),
        d.toll_free(),
        d.voip(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ]
    .into_iter()
    .flatten()
    {
        types.push(desc(t)?);
    }
    Some(Rules {
        general: desc(d.general())?,
        general_local_lengths: d.general().possible_local_length(),
        types,
        leading_digits: opt_regex(meta.leading_digits().map(|r| r.as_str())).ok()?,
        international_prefix: opt_regex(meta.international_prefix().map(|r| r.as_str())).ok()?,
        prefix_for_parsing: opt_regex(meta.national_prefix_for_parsing().map(|r| r.as_str()))
            .ok()?,
    })
}

/// What the crate knows about a calling code.
enum CodeInfo {
    /// `Database::by_code` has no entry: the parser tries a longer code.
    Unknown,
    /// Known, but listed in a way the fast path does not replicate: use the full parser.
    Unsupported,
    /// Entry indexes, in the order `Database::region` lists them.
    Regions(Vec<usize>),
}

/// The metadata indexed for the fast path.
struct Index {
    entries: Vec<Entry>,
    codes: Vec<CodeInfo>,
    by_id: HashMap<&'static str, usize>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let db: &'static phonenumber::metadata::Database = &DATABASE;
        let mut entries = Vec::new();
        let mut by_id = HashMap::new();
        let mut codes = Vec::with_capacity(1000);
        let push = |meta: &'static Metadata, entries: &mut Vec<Entry>| {
            entries.push(Entry {
                meta,
                rules: OnceLock::new(),
                region: match Id::from_str(meta.id()) {
                    Ok(id) => id.as_ref().to_owned(),
                    Err(_) => String::new(),
                },
            });
            entries.len() - 1
        };
        for code in 0..1000u16 {
            if db.by_code(&code).is_none() {
                codes.push(CodeInfo::Unknown);
                continue;
            }
            let info = match db.region(&code) {
                Some(regions) if regions == ["001"] => match db.by_code(&code) {
                    Some(metas) if !metas.is_empty() => {
                        CodeInfo::Regions(vec![push(metas[0], &mut entries)])
                    }
                    _ => CodeInfo::Unsupported,
                },
                Some(regions) if !regions.is_empty() => {
                    let mut ids = Vec::with_capacity(regions.len());
                    for r in &regions {
                        match (Id::from_str(r), db.by_id(*r)) {
                            (Ok(_), Some(meta)) => {
                                let i = push(meta, &mut entries);
                                by_id.insert(meta.id(), i);
                                ids.push(i);
                            }
                            _ => break,
                        }
                    }
                    if ids.len() == regions.len() {
                        CodeInfo::Regions(ids)
                    } else {
                        CodeInfo::Unsupported
                    }
                }
                _ => CodeInfo::Unsupported,
            };
            codes.push(info);
        }
        Index {
            entries,
            codes,
            by_id,
        }
    })
}

impl Entry {
    fn rules(&self) -> Option<&Rules> {
        self.rules.get_or_init(|| compile_rules(self.meta)).as_ref()
    }
}

/// A compiled region to use as the default region of [`fast_parse`]; `None` when the region is
/// unknown to the fast path (the caller then always uses the full parser).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DefaultRegion(usize);

impl DefaultRegion {
    /// The fast-path handle of a region.
    pub(crate) fn of(id: Id) -> Option<DefaultRegion> {
        index().by_id.get(id.as_ref()).copied().map(DefaultRegion)
    }
}

/// `validator::number_type(meta, v) != Type::Unknown`.
fn is_known_type(rules: &Rules, v: &str) -> bool {
    rules.general.is_match(v) && rules.types.iter().any(|d| d.is_match(v))
}

/// `validator::source_for`: the entry whose rules apply to `national` under `code`.
/// `Err(())` means "not replicated, use the full parser".
fn source_for(ix: &Index, code: u16, national: &str) -> Result<Option<usize>, ()> {
    Ok(source_for_checked(ix, code, national)?.map(|(i, _)| i))
}

/// [`source_for`], also telling whether the entry was chosen because `national` has a known
/// number type under its rules (so [`is_known_type`] need not run again).
fn source_for_checked(ix: &Index, code: u16, national: &str) -> Result<Option<(usize, bool)>, ()> {
    let CodeInfo::Regions(regions) = &ix.codes[code as usize] else {
        return Err(());
    };
    if let [only] = regions.as_slice() {
        return Ok(Some((*only, false)));
    }
    for &i in regions {
        let rules = ix.entries[i].rules().ok_or(())?;
        match &rules.leading_digits {
            Some(leading) => {
                if leading.is_match(national) {
                    return Ok(Some((i, false)));
                }
            }
            None => {
                if is_known_type(rules, national) {
                    return Ok(Some((i, true)));
                }
            }
        }
    }
    Ok(None)
}

/// `helper::national_number` followed by the second national-prefix strip and the "too short"
/// guard of `parse_with`. `None`: a transform rule applies (not replicated).
fn strip_national_prefix<'a>(meta: &Metadata, rules: &Rules, national: &'a str) -> Option<&'a str> {
    let mut potential = national;
    match &rules.prefix_for_parsing {
        None => {
            if let Some(prefix) = meta.national_prefix() {
                if let Some(rest) = potential.strip_prefix(prefix) {
                    potential = rest;
                }
            }
        }
        Some(parsing) => {
            if let Some(caps) = parsing.captures(potential) {
                let end = caps.get(0).map_or(0, |m| m.end());
                let last = caps.get(caps.len() - 1);
                if meta.national_prefix_transform_rule().is_some() && last.is_some() {
                    return None;
                }
                // The crate's "still viable after stripping" check compares the general pattern
                // with the unstripped number again, so it never prevents the strip.
                potential = &potential[end..];
            }
        }
    }
    if let Some(prefix) = meta.national_prefix() {
        if let Some(rest) = potential.strip_prefix(prefix) {
            potential = rest;
        }
    }
    // `validator::length(meta, potential, Type::Unknown) == TooShort` keeps the original.
    let general = meta.descriptors().general();
    let possible = general.possible_length();
    let len = potential.len() as u16;
    let too_short =
        !possible.is_empty() && !rules.general_local_lengths.contains(&len) && len < possible[0];
    Some(if too_short { national } else { potential })
}

/// The region whose national prefix rules apply to `national` written after `+` and its calling
/// `code`: the one the number's digits point to (`source_for` on them without leading zeros), as
/// `phonenumber::parse` picks it without a default region. `Ok(None)`: no such region, nothing
/// is stripped. `Err(())`: not replicated, use the full parser.
fn own_region<'a>(ix: &'a Index, code: u16, national: &str) -> Result<Option<&'a Entry>, ()> {
    Ok(source_for(ix, code, national.trim_start_matches('0'))?.map(|i| &ix.entries[i]))
}

/// The parts [`super::contact::parse_number`] + `is_valid()` would give, when the input is
/// plain digits and the number is valid; `None` in every other case (use the full parser).
pub(crate) fn fast_parse(default: Option<DefaultRegion>, input: &str) -> Option<PhoneParts> {
    let s = input.trim();
    let (plus, body) = match s.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut digits = [0u8; 17];
    let mut n = 0;
    let mut last_was_digit = false;
    for (i, b) in body.bytes().enumerate() {
        match b {
            b'0'..=b'9' => {
                if n == digits.len() {
                    return None;
                }
                digits[n] = b;
                n += 1;
                last_was_digit = true;
            }
            // Separators only between digits (no leading/trailing/doubled punctuation).
            b' ' | b'-' | b'.' | b'/' if i > 0 && last_was_digit => last_was_digit = false,
            _ => return None,
        }
    }
    if !last_was_digit || n < 6 {
        return None;
    }
    let digits = std::str::from_utf8(&digits[..n]).ok()?;
    let ix = index();
    let default = default.map(|d| &ix.entries[d.0]);
    let default_rules = match default {
        Some(e) => Some(e.rules()?),
        None => None,
    };
    if let Some(idd) = default_rules.and_then(|r| r.international_prefix.as_ref()) {
        if idd.is_match(digits) {
            return None;
        }
    }
    let (code, national) = if plus {
        if digits.starts_with('0') {
            return None;
        }
        let mut found = None;
        for len in 1..=3 {
            let code: u16 = digits[..len].parse().ok()?;
            match ix.codes[code as usize] {
                CodeInfo::Unknown => continue,
                CodeInfo::Unsupported => return None,
                CodeInfo::Regions(_) => {
                    found = Some((code, &digits[len..]));
                    break;
                }
            }
        }
        found?
    } else {
        let meta = default?.meta;
        let code = meta.country_code();
        // `digits` starts with the calling code's decimal digits (a code has no leading zero).
        let code_len = if code >= 100 {
            3
        } else if code >= 10 {
            2
        } else {
            1
        };
        if digits.len() >= code_len && digits[..code_len].parse() == Ok(code) {
            return None;
        }
        (code, digits)
    };
    // National prefix rules: the default region's for a national number, the number's own
    // region's for one written with `+` (whatever the default).
    let strip_with = match default {
        Some(e) if !plus => Some(e),
        _ => own_region(ix, code, national).ok()?,
    };
    let national = match strip_with {
        Some(e) => strip_national_prefix(e.meta, e.rules()?, national)?,
        None => national,
    };
    if !(2..=17).contains(&national.len()) {
        return None;
    }
    let significant = national.trim_start_matches('0');
    if significant.is_empty() || significant.parse::<u64>().ok()? >= 1 << 56 {
        return None;
    }
    // `is_valid`: the rules of `source_for(national)` give a known number type.
    let (valid_index, type_checked) = source_for_checked(ix, code, national).ok()??;
    if !type_checked && !is_known_type(ix.entries[valid_index].rules()?, national) {
        return None;
    }
    // `country().id()`: the region of `source_for` on the number without leading zeros; none
    // (no such region, or a non-geographic entity) gives an empty region, as in the crate.
    let region_index = if significant.len() == national.len() {
        Some(valid_index)
    } else {
        source_for(ix, code, significant).ok()?
    };
    let region = match region_index {
        Some(i) => ix.entries[i].region.clone(),
        None => String::new(),
    };
    Some(PhoneParts {
        calling_code: code,
        national: national.to_owned(),
        region,
    })
}

#[cfg(test)]
mod tests {
    use super::super::contact::parse_number;
    use super::*;
    use phonenumber::Mode;
    use proptest::prelude::*;

    /// What the transform's full parse says: [`parse_number`] (`phonenumber::parse`, with a
    /// number written with its country code read by that country's rules) + `is_valid` + E.164
    /// formatting, split into parts.
    fn reference(default: Option<Id>, input: &str) -> Option<PhoneParts> {
        let n = parse_number(default, input).ok()?;
        if !n.is_valid() {
            return None;
        }
        let parts = PhoneParts {
            calling_code: n.code().value(),
            national: n.national().to_string(),
            region: n
                .country()
                .id()
                .map(|id| id.as_ref().to_owned())
                .unwrap_or_default(),
        };
        assert_eq!(
            n.format().mode(Mode::E164).to_string(),
            format!("+{}{}", parts.calling_code, parts.national),
            "{input}"
        );
        Some(parts)
    }

    fn fast(default: Option<Id>, input: &str) -> Option<PhoneParts> {
        match default {
            None => fast_parse(None, input),
            Some(id) => fast_parse(Some(DefaultRegion::of(id)?), input),
        }
    }

    /// Asserts the fast path never accepts what the full parser rejects or splits differently.
    fn check(default: Option<Id>, input: &str) -> bool {
        let got = fast(default, input);
        if got.is_some() {
            assert_eq!(
                got,
                reference(default, input),
                "{input:?} (default {default:?})"
            );
        }
        got.is_some()
    }

    /// Example numbers of every region and number type in the metadata.
    fn examples() -> &'static [(&'static str, u16, String)] {
        static EXAMPLES: OnceLock<Vec<(&'static str, u16, String)>> = OnceLock::new();
        EXAMPLES.get_or_init(collect_examples)
    }

    fn collect_examples() -> Vec<(&'static str, u16, String)> {
        let mut out = Vec::new();
        for meta in DATABASE.iter() {
            let d = meta.descriptors();
            for desc in [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
                d.voip(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ]
            .into_iter()
            .flatten()
            {
                if let Some(e) = desc.example() {
                    out.push((meta.id(), meta.country_code(), e.to_owned()));
                }
            }
        }
        out.sort();
        out
    }

    fn spaced(digits: &str, every: usize, sep: char) -> String {
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && i % every == 0 {
                out.push(sep);
            }
            out.push(c);
        }
        out
    }

    #[test]
    fn every_metadata_example_agrees_and_most_take_the_fast_path() {
        let mut fast_hits = 0;
        let examples = examples();
        for (region, code, national) in examples {
            let id = Id::from_str(region).ok();
            let prefix = id
                .and_then(|id| DATABASE.by_id(id.as_ref()))
                .and_then(|m| m.national_prefix())
                .unwrap_or("");
            for (default, input) in [
                (None, format!("+{code}{national}")),
                (None, format!("+{code} {}", spaced(national, 3, ' '))),
                (Some(Id::FR), format!("+{code}{national}")),
                (id, format!("{prefix}{national}")),
                (id, spaced(&format!("{prefix}{national}"), 2, '.')),
            ] {
                if check(default, &input) {
                    fast_hits += 1;
                }
            }
        }
        // The fast path must be the common path for well-formed valid numbers, not a rarity.
        assert!(
            fast_hits * 2 > examples.len() * 5,
            "{fast_hits} fast hits for {} examples",
            examples.len()
        );
    }

    #[test]
    fn well_formed_but_invalid_numbers_are_not_accepted() {
        for (default, input) in [
            // Right length for France, but +33 9x.. is not... checked against the parser below.
            (None, "+33012345678"),
            (None, "+331234567890"),  // one digit too long for FR
            (None, "+3361234567"),    // one digit too short for FR
            (None, "+4470000000000"), // GB: too long
            (None, "+4410000000"),    // GB: unassigned 1 0.. area range
            (None, "+4901234567"),    // DE: national number starting with 0
            (None, "+12005550123"),   // NANP: area code 200 is not assigned
            (None, "+11235550123"),   // NANP: area code cannot start with 1
            (None, "+6110000000"),    // AU: unassigned range
            (None, "+8100012345678"), // JP: invalid range
            (None, "+80012345"),      // +800: too short
            (Some(Id::FR), "00 12 34 56 78"),
            (Some(Id::FR), "09 99"),
            (Some(Id::GB), "020 7946 09581"),
        ] {
            assert_eq!(
                reference(default, input),
                None,
                "{input} is valid after all"
            );
            assert_eq!(fast(default, input), None, "{input}");
        }
    }

    #[test]
    fn realistic_formats_take_the_fast_path() {
        for (default, input, region, national) in [
            (None, "+33612345678", "FR", "612345678"),
            (Some(Id::FR), "06 12 34 56 78", "FR", "612345678"),
            (Some(Id::FR), "07.81.23.45.67", "FR", "781234567"),
            (None, "+44 7400 123456", "GB", "7400123456"),
            (Some(Id::GB), "020 7946 0958", "GB", "2079460958"),
            (None, "+12025550123", "US", "2025550123"),
            (None, "+1 416 555 0123", "CA", "4165550123"),
            (None, "+39 312 345 6789", "IT", "3123456789"),
            // The crate finds no region for Italian fixed lines (its region lookup drops the
            // leading zero, which neither IT nor VA then matches); the fast path agrees.
            (None, "+39 06 1234 5678", "", "0612345678"),
            (None, "+81 90 1234 5678", "JP", "9012345678"),
            (None, "+61 412 345 678", "AU", "412345678"),
        ] {
            let got = fast(default, input).unwrap_or_else(|| {
                panic!(
                    "{input}: not fast; full parser: {:?}",
                    reference(default, input)
                )
            });
            assert_eq!(
                (got.region.as_str(), got.national.as_str()),
                (region, national)
            );
            assert_eq!(Some(got), reference(default, input), "{input}");
        }
    }

    /// Numbers written with their country code take the fast path with any default region and
    /// are read by their own country's rules, as the full parse reads them.
    #[test]
    fn plus_numbers_take_the_fast_path_by_their_own_rules_whatever_the_default() {
        for (input, region, national) in [
            ("+49 1512 3456789", "DE", "15123456789"),
            ("+49 01512 3456789", "DE", "15123456789"),
            ("+39 0331 123456", "IT", "0331123456"),
            ("+39 312 345 6789", "IT", "3123456789"),
            ("+44 20 7946 0958", "GB", "2079460958"),
            ("+33 1 42 68 53 00", "FR", "142685300"),
            ("+1 202 555 0123", "US", "2025550123"),
        ] {
            for default in [None, Some(Id::US), Some(Id::FR), Some(Id::GB), Some(Id::DE)] {
                let got = fast(default, input);
                let want = PhoneParts {
                    calling_code: input[1..3].trim().parse().unwrap(),
                    national: national.to_owned(),
                    region: region.to_owned(),
                };
                assert_eq!(got.as_ref(), Some(&want), "{input} (default {default:?})");
                assert_eq!(
                    got,
                    reference(default, input),
                    "{input} (default {default:?})"
                );
            }
        }
    }

    fn default_region(kind: usize, region: &str) -> Option<Id> {
        match kind {
            0 => None,
            1 => Id::from_str(region).ok(),
            _ => Some([Id::FR, Id::US, Id::GB, Id::DE, Id::IT, Id::BR][kind % 6]),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Mutated metadata examples in many formats: whenever the fast path accepts a number,
        /// the full parser accepts it with the same parts.
        #[test]
        fn fast_path_agrees_with_the_full_parser(
            which in any::<prop::sample::Index>(),
            edits in prop::collection::vec((0usize..20, 0u8..10, 0usize..4), 0..3),
            format in 0usize..6,
            default_kind in 0usize..4,
        ) {
            let examples = examples();
            let (region, code, national) = &examples[which.index(examples.len())];
            let mut digits: Vec<u8> = national.bytes().collect();
            for (pos, digit, op) in edits {
                let pos = pos % (digits.len() + 1);
                match op {
                    0 if pos < digits.len() => digits[pos] = b'0' + digit,
                    1 => digits.insert(pos, b'0' + digit),
                    2 if pos < digits.len() => { digits.remove(pos); }
                    _ => {}
                }
            }
            let national = String::from_utf8(digits).unwrap();
            let default = default_region(default_kind, region);
            let input = match format {
                0 => format!("+{code}{national}"),
                1 => format!("+{code} {}", spaced(&national, 2, ' ')),
                2 => format!("+{code}-{}", spaced(&national, 3, '-')),
                3 => format!("0{national}"),
                4 => spaced(&format!("0{national}"), 2, ' '),
                _ => national.clone(),
            };
            check(default, &input);
            if format <= 2 {
                // Written with its country code: the default region changes nothing.
                prop_assert_eq!(reference(default, &input), reference(None, &input), "{}", input);
            }
        }

        /// Arbitrary digit strings, with and without `+`.
        #[test]
        fn random_digits_agree(digits in "[0-9]{4,17}", plus in any::<bool>(), default_kind in 0usize..4) {
            let input = if plus { format!("+{digits}") } else { digits.clone() };
            let default = default_region(default_kind, "FR");
            check(default, &input);
            if plus && !digits.starts_with('0') {
                // No international prefix after the `+`: the default region changes nothing.
                prop_assert_eq!(reference(default, &input), reference(None, &input), "{}", input);
            }
        }
    }
}
