//! Writes a scenario's figures into `benches/RESULTS.md`, replacing that scenario's previous section.
//!
//! Each scenario owns a section between `<!-- begin NAME -->` and `<!-- end NAME -->` markers, so
//! re-running one scenario updates its figures and leaves the others alone.

use std::io;
use std::path::{Path, PathBuf};

/// The path of RESULTS.md beside this crate's manifest.
pub fn results_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("RESULTS.md")
}

/// Replaces (or appends) the section `name` of the results file at `path` with `body`.
pub fn write_section(path: &Path, name: &str, body: &str) -> io::Result<()> {
    let begin = format!("<!-- begin {name} -->");
    let end = format!("<!-- end {name} -->");
    let current = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            "# Benchmark results\n\nFigures from `benches/`; each section says the command that produced it. \
             Absolute numbers drift between machines: compare ratios measured in the same run.\n"
                .to_owned()
        }
        Err(e) => return Err(e),
    };
    let section = format!("{begin}\n{}\n{end}", body.trim_end());
    let updated = match (current.find(&begin), current.find(&end)) {
        (Some(b), Some(e)) if e > b => {
            format!("{}{}{}", &current[..b], section, &current[e + end.len()..])
        }
        _ => format!("{}\n{}\n", current.trim_end(), section),
    };
    std::fs::write(path, updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewriting_a_section_keeps_the_others() {
        let dir = std::env::temp_dir().join(format!("results-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("RESULTS.md");
        write_section(&path, "a", "first a").unwrap();
        write_section(&path, "b", "only b").unwrap();
        write_section(&path, "a", "second a").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("second a"));
        assert!(!text.contains("first a"));
        assert!(text.contains("only b"));
        assert_eq!(text.matches("<!-- begin a -->").count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
