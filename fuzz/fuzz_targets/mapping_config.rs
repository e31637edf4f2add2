//! Fuzzes the mapping file parsers (TOML and JSON) and the compiler: any input must give a
//! `MappingFile` or a located `ConfigError`, and compiling must return a plan or `CompileErrors`,
//! never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twenty_mapping::{compile, MappingFile, TransformRegistry};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let registry = TransformRegistry::with_builtins();
    for parsed in [
        MappingFile::from_toml_str(text, "fuzz.toml"),
        MappingFile::from_json_str(text, "fuzz.json"),
    ] {
        match parsed {
            Ok(file) => {
                let _ = compile(&file, &registry, None);
            }
            Err(e) => {
                // Errors must render without panicking.
                let _ = e.to_string();
            }
        }
    }
});
