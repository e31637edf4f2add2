//! Starts `bqemulator` 1.4.x (DuckDB-backed BigQuery REST emulator) on a free loopback port.
//!
//! The first use on a machine creates a virtual environment (`$BQEMULATOR_VENV`, else
//! `$CARGO_TARGET_DIR/bqemulator-venv`, else `<workspace>/target/bqemulator-venv`) with
//! `python3 -m venv` and `pip install 'bqemulator==1.4.*' numpy` (numpy: DuckDB needs it to
//! register the emulator's Python UDFs). The emulator is started through
//! `sink-bigquery/emulator/launch_bqemulator.py` (offline: no DuckDB extension download) once per
//! test binary; it exits when the test process does (its stdin closes).
//!
//! A test that cannot start it FAILS with instructions; nothing is skipped silently.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A running emulator.
pub struct Emulator {
    /// The REST base URL, `http://127.0.0.1:<port>/bigquery/v2`.
    pub base_url: String,
    _child: Mutex<Child>,
    log: PathBuf,
}

impl Emulator {
    /// The emulator's log file (for failure messages).
    #[allow(dead_code)]
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }
}

const HOW_TO: &str = "The BigQuery emulator tests need python3 (with venv and pip) and access to \
PyPI once, to install `bqemulator==1.4.*` and numpy into a virtual environment. Either make that \
possible, or prepare the environment by hand:\n  python3 -m venv $CARGO_TARGET_DIR/bqemulator-venv\n  \
$CARGO_TARGET_DIR/bqemulator-venv/bin/pip install 'bqemulator==1.4.*' numpy\n(or point \
BQEMULATOR_VENV at an existing one).";

/// The emulator shared by every test of this binary (started on first use).
pub fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Result<Emulator, String>> = OnceLock::new();
    match EMULATOR.get_or_init(start) {
        Ok(e) => e,
        Err(reason) => panic!("could not start the BigQuery emulator: {reason}\n\n{HOW_TO}"),
    }
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn venv_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("BQEMULATOR_VENV") {
        return PathBuf::from(dir);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| crate_dir().join("..").join("target"));
    target.join("bqemulator-venv")
}

fn python_ok(python: &Path) -> bool {
    python.exists()
        && Command::new(python)
            .args(["-c", "import bqemulator, numpy"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: could not run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        ))
    }
}

/// The venv's python, installing the venv first if needed (into a temporary directory renamed
/// into place, so concurrent test binaries never see a half-installed one).
fn ensure_venv() -> Result<PathBuf, String> {
    let venv = venv_dir();
    let python = venv.join("bin").join("python");
    if python_ok(&python) {
        return Ok(python);
    }
    let parent = venv
        .parent()
        .ok_or_else(|| format!("bad venv path {}", venv.display()))?;
    std::fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    let tmp = parent.join(format!("bqemulator-venv.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!(
        "installing bqemulator into {} (once per machine)...",
        venv.display()
    );
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&tmp),
        "python3 -m venv",
    )?;
    run(
        Command::new(tmp.join("bin").join("pip")).args([
            "install",
            "--quiet",
            "bqemulator==1.4.*",
            "numpy",
        ]),
        "pip install bqemulator==1.4.* numpy",
    )?;
    if python_ok(&python) {
        // Another test binary won the race.
        let _ = std::fs::remove_dir_all(&tmp);
        return Ok(python);
    }
    let _ = std::fs::remove_dir_all(&venv);
    std::fs::rename(&tmp, &venv).map_err(|e| format!("rename venv into place: {e}"))?;
    if python_ok(&python) {
        Ok(python)
    } else {
        Err(format!(
            "the venv at {} does not import bqemulator after installation",
            venv.display()
        ))
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "GET /bigquery/v2/projects/readiness/datasets HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).contains(" 200 ")
}

fn start() -> Result<Emulator, String> {
    let python = ensure_venv()?;
    let launcher = crate_dir().join("emulator").join("launch_bqemulator.py");
    let rest = free_port()?;
    let grpc = free_port()?;
    let log = std::env::temp_dir().join(format!("bqemulator-{}-{rest}.log", std::process::id()));
    let log_file = std::fs::File::create(&log).map_err(|e| format!("log file: {e}"))?;
    let log_err = log_file.try_clone().map_err(|e| format!("log file: {e}"))?;
    let mut child = Command::new(&python)
        .arg(&launcher)
        .args(["start", "--rest-host", "127.0.0.1", "--rest-port"])
        .arg(rest.to_string())
        .args(["--grpc-host", "127.0.0.1", "--grpc-port"])
        .arg(grpc.to_string())
        .args(["--ephemeral", "--project", "test", "--log-level", "warning"])
        .env("BQEMU_EXIT_ON_STDIN_EOF", "1")
        .stdin(Stdio::piped())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .map_err(|e| {
            format!(
                "could not run {} {}: {e}",
                python.display(),
                launcher.display()
            )
        })?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the emulator exited ({status}) before it was ready; log {}:\n{}",
                log.display(),
                tail(&log)
            ));
        }
        if ready(rest) {
            return Ok(Emulator {
                base_url: format!("http://127.0.0.1:{rest}/bigquery/v2"),
                _child: Mutex::new(child),
                log,
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    Err(format!(
        "the emulator did not answer within 60 s; log {}:\n{}",
        log.display(),
        tail(&log)
    ))
}
