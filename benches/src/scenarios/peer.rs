//! The peer side by side: dlt's `rest_api` source (Python, installed from PyPI into a virtual
//! environment outside the repository by `benches/peers/dlt/setup.sh`) pulls the same simulator's
//! people into the same Postgres (merge on id).

use std::path::PathBuf;
use std::time::Instant;

use serde::Deserialize;
use twenty_sim::SimServer;

use crate::env::{self, BoxError};

/// What the peer reports.
#[derive(Debug, Clone, Deserialize)]
pub struct PeerRun {
    /// Rows dlt loaded into the people table.
    pub records: usize,
    /// Seconds of `pipeline.run` (extract, normalize, load).
    pub secs: f64,
    /// Peak RSS of the Python process, MiB.
    pub peak_rss_mib: f64,
    /// Peak RSS of its largest child process, if any, MiB.
    pub children_peak_rss_mib: f64,
    /// dlt's version.
    pub dlt_version: String,
}

impl PeerRun {
    /// Records per second.
    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.secs
    }
}

fn peer_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/dlt")
}

/// Installs the peer if needed; returns the virtual environment's python and the seconds taken.
pub async fn setup() -> Result<(PathBuf, f64), BoxError> {
    let t = Instant::now();
    let out = tokio::process::Command::new(peer_dir().join("setup.sh"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .map_err(|e| format!("running benches/peers/dlt/setup.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "benches/peers/dlt/setup.sh failed ({}): it needs python3 with venv and access to PyPI",
            out.status
        )
        .into());
    }
    let python = String::from_utf8(out.stdout)?.trim().to_owned();
    Ok((PathBuf::from(python), t.elapsed().as_secs_f64()))
}

/// Runs dlt against `sim` into a fresh schema of the benchmark database; checks it loaded
/// `people` rows.
pub async fn run(python: &PathBuf, sim: &SimServer, people: usize) -> Result<PeerRun, BoxError> {
    let schema = "bench_peer_dlt";
    let staging = "bench_peer_dlt_staging";
    let pg = env::admin().await?;
    env::drop_schemas(&pg, &[schema, staging]).await?;
    let work = env::scratch_dir("peer-dlt")?;
    let out = tokio::process::Command::new(python)
        .arg(peer_dir().join("twenty_people.py"))
        .env("TWENTY_BASE_URL", sim.base_url().as_str())
        .env("TWENTY_API_KEY", env::API_KEY)
        .env("PEER_DATABASE_URL", env::database_url())
        .env("PEER_SCHEMA", schema)
        .env("PEER_WORK_DIR", &work)
        .env("PEER_PAGE_SIZE", "200")
        // dlt looks for config in the working directory; give it an empty one.
        .current_dir(&work)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .await
        .map_err(|e| format!("starting the dlt peer: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        return Err(format!(
            "the dlt peer failed ({}):\n{}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
        .into());
    }
    let stdout = String::from_utf8(out.stdout)?;
    let last = stdout
        .lines()
        .last()
        .ok_or("the dlt peer printed nothing")?;
    let run: PeerRun = serde_json::from_str(last)
        .map_err(|e| format!("the dlt peer's result line is not valid ({e}): {last}"))?;
    let rows: i64 = pg
        .query_one(
            &format!("SELECT count(DISTINCT id) FROM {schema}.people"),
            &[],
        )
        .await?
        .get(0);
    env::drop_schemas(&pg, &[schema, staging]).await?;
    std::fs::remove_dir_all(&work).ok();
    if rows as usize != people || run.records != people {
        return Err(format!(
            "the dlt peer loaded {} rows ({rows} distinct ids), expected {people}",
            run.records
        )
        .into());
    }
    Ok(run)
}
