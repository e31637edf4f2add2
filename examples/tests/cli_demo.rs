//! `twenty-sync demo` runs to completion with no arguments beyond a data directory, and leaves
//! a configuration that `status` and `audit` can read.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_twenty-sync");

#[test]
fn demo_runs_to_completion_and_leaves_a_usable_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = Command::new(BIN)
        .args(["demo", "--people", "60", "--no-rate-limit", "--data-dir"])
        .arg(&data)
        .env_remove("TWENTY_API_KEY")
        .env_remove("TWENTY_API_URL")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for step in [
        "created  people.relationshipStage",
        "verify: ready",
        "== twenty-sync pull",
        "plan: ",
        "key=local-3",
        "Adopt",
        "Conflict",
        "local title after sync: \"Chief Revenue Officer\"",
        "== twenty-sync status",
    ] {
        assert!(
            stdout.contains(step),
            "missing `{step}` in:\n{stdout}\n{stderr}"
        );
    }

    // The store outlives the simulator: status and audit read it through the written config.
    let config = data.join("twenty-sync.toml");
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&config)
        .args(["--json", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("status --json prints one JSON document");
    let modes: Vec<&str> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes, ["sync", "push", "push", "pull"]);
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&config)
        .args(["--json", "audit", "--since", "1h"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = v["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["action"] == "conflict"), "{v}");
    assert!(entries.iter().any(|e| e["action"] == "adopt"), "{v}");

    // A second demo in the same directory starts afresh; a foreign directory is refused.
    let foreign = dir.path().join("mine");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("precious.txt"), "keep me").unwrap();
    let out = Command::new(BIN)
        .args(["demo", "--data-dir"])
        .arg(&foreign)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(foreign.join("precious.txt").exists());
}
