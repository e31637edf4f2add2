//! Terminal output of the CLI: logging (`-v`/`-q`, `RUST_LOG`), progress bars fed by the engine's
//! [`ProgressSink`] that step aside for log lines, the run summary table, and `--json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use twenty_sync_core::engine::{Plan, ProgressEvent, ProgressSink};
use twenty_sync_core::{AuditEntry, AuditOutcome, EntityCounts, RunReport, RunStatus};

/// How the CLI talks: human text with progress bars, or JSON on stdout.
#[derive(Clone)]
pub struct Output {
    json: bool,
    quiet: bool,
    multi: MultiProgress,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("json", &self.json)
            .field("quiet", &self.quiet)
            .finish_non_exhaustive()
    }
}

impl Output {
    /// Output for `--json` / `-q`. Progress bars draw on stderr only when it is a terminal and
    /// neither `--json` nor `-q` is given.
    pub fn new(json: bool, quiet: bool) -> Self {
        let target = if json || quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Output {
            json,
            quiet,
            multi: MultiProgress::with_draw_target(target),
        }
    }

    /// Whether output is JSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Installs the tracing subscriber: `RUST_LOG` when set, else a level from `-v`/`-q`
    /// (`-q`: errors only; default: warnings except per-record failures, which the summary
    /// lists; `-v`: info; `-vv`: debug; `-vvv`: trace). Log
    /// lines go to stderr through the progress bars' `suspend`, so bars never garble them.
    pub fn init_logging(&self, verbose: u8, quiet: bool) {
        // Record failures are listed in the summary table; at the default level they are not
        // logged a second time (`-v` shows them as log lines too).
        let level = match (quiet, verbose) {
            (true, _) => "error",
            (false, 0) => "warn,twenty_sync_core::engine::run=error",
            (false, 1) => "info",
            (false, 2) => "debug",
            _ => "trace",
        };
        let filter = std::env::var("RUST_LOG")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| EnvFilter::try_new(s).ok())
            .unwrap_or_else(|| EnvFilter::new(level));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(verbose >= 2)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(SuspendingWriter {
                multi: self.multi.clone(),
            })
            .try_init();
    }

    /// A human line on stdout (nothing in JSON mode or with `-q`).
    pub fn line(&self, text: impl AsRef<str>) {
        if self.json || self.quiet {
            return;
        }
        let text = text.as_ref();
        self.multi.suspend(|| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
        });
    }

    /// A human line that `-q` does not silence (results such as `verify`'s verdict).
    pub fn result(&self, text: impl AsRef<str>) {
        if self.json {
            return;
        }
        let text = text.as_ref();
        self.multi.suspend(|| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
        });
    }

    /// One JSON document on stdout (JSON mode only).
    pub fn json(&self, value: &impl Serialize) {
        if !self.json {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut out, value);
        let _ = writeln!(out);
        let _ = out.flush();
    }

    /// An error on stderr (human) or as `{"error": {...}}` on stdout (JSON).
    pub fn error(&self, kind: &str, message: &str) {
        if self.json {
            self.json(&serde_json::json!({"error": {"kind": kind, "message": message}}));
        } else {
            self.multi.suspend(|| {
                let _ = writeln!(std::io::stderr().lock(), "error: {message}");
            });
        }
    }

    /// A progress sink drawing one spinner per entity and direction.
    pub fn progress(&self) -> Progress {
        Progress {
            multi: self.multi.clone(),
            bars: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }
}

/// A `MakeWriter` that prints each log line with the progress bars suspended.
#[derive(Clone)]
struct SuspendingWriter {
    multi: MultiProgress,
}

/// One log line being formatted.
struct LineWriter {
    multi: MultiProgress,
    buf: Vec<u8>,
}

impl std::io::Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        self.multi.suspend(|| {
            let _ = std::io::stderr().lock().write_all(&buf);
        });
    }
}

impl<'a> MakeWriter<'a> for SuspendingWriter {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            multi: self.multi.clone(),
            buf: Vec::new(),
        }
    }
}

#[derive(Default)]
struct Counts {
    seen: u64,
    written: u64,
    failed: u64,
}

/// Progress bars of one run, fed by [`Progress::sink`].
#[derive(Clone)]
pub struct Progress {
    multi: MultiProgress,
    bars: Arc<Mutex<BTreeMap<String, (ProgressBar, Counts)>>>,
}

impl Progress {
    /// The engine-side sink.
    pub fn sink(&self) -> ProgressSink {
        let this = self.clone();
        ProgressSink::new(move |e| this.on(e))
    }

    fn bar(&self, key: String, f: impl FnOnce(&ProgressBar, &mut Counts)) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        let (bar, counts) = bars.entry(key.clone()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:<18} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(key);
            bar.enable_steady_tick(Duration::from_millis(120));
            (bar, Counts::default())
        });
        f(bar, counts);
        bar.set_message(format!(
            "seen {}  written {}  failed {}",
            counts.seen, counts.written, counts.failed
        ));
    }

    fn on(&self, event: &ProgressEvent) {
        match event {
            ProgressEvent::Seen {
                entity,
                direction,
                count,
            } => self.bar(format!("{entity} {}", direction.as_str()), |_, c| {
                c.seen += count
            }),
            ProgressEvent::Written {
                entity,
                direction,
                count,
            } => self.bar(format!("{entity} {}", direction.as_str()), |_, c| {
                c.written += count
            }),
            ProgressEvent::Failed {
                entity,
                direction,
                count,
            } => self.bar(format!("{entity} {}", direction.as_str()), |_, c| {
                c.failed += count
            }),
            ProgressEvent::RunFinished { .. } => self.finish(),
            _ => {}
        }
    }

    /// Clears the bars (the summary table follows).
    pub fn finish(&self) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        for (_, (bar, _)) in std::mem::take(&mut *bars) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }
}

const COLUMNS: [&str; 8] = [
    "seen",
    "created",
    "updated",
    "deleted",
    "unchanged",
    "adopted",
    "conflicted",
    "failed",
];

fn row(c: &EntityCounts) -> [u64; 8] {
    [
        c.seen,
        c.created,
        c.updated,
        c.deleted,
        c.unchanged,
        c.adopted,
        c.conflicted,
        c.failed,
    ]
}

/// The summary table of a run: one row per entity and direction, a total, the status line,
/// every warning and every failure.
///
/// ```
/// use twenty_sync_core::{RunMode, RunReport};
/// let mut r = RunReport::new("run-1", RunMode::Pull, false);
/// r.counts_mut("contacts:pull").created = 3;
/// r.warnings.push("Twenty's clock is at least 200 s behind this host's".into());
/// r.finish();
/// let t = examples::cli::output::summary_table(&r);
/// assert!(t.contains("contacts:pull"));
/// assert!(t.contains("succeeded"));
/// assert!(t.contains("\nwarning: Twenty's clock is at least 200 s behind this host's\n"));
/// ```
pub fn summary_table(report: &RunReport) -> String {
    let mut s = String::new();
    let width = report
        .entities
        .keys()
        .map(|k| k.len())
        .max()
        .unwrap_or(0)
        .max("entity".len());
    let _ = write!(s, "{:<width$}", "entity");
    for c in COLUMNS {
        let _ = write!(s, "  {c:>10}");
    }
    s.push('\n');
    for (entity, counts) in &report.entities {
        let _ = write!(s, "{entity:<width$}");
        for v in row(counts) {
            let _ = write!(s, "  {v:>10}");
        }
        s.push('\n');
    }
    if report.entities.len() > 1 {
        let _ = write!(s, "{:<width$}", "total");
        for v in row(&report.totals()) {
            let _ = write!(s, "  {v:>10}");
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "{}{}: run {} ({}) in {:.1} s, {} requests, {} retries, {} ms throttled",
        status_word(report.status),
        if report.dry_run { " (dry run)" } else { "" },
        report.run_id,
        report.mode.as_str(),
        report.duration_ms as f64 / 1000.0,
        report.requests,
        report.retries,
        report.throttled_ms
    );
    if let Some(e) = &report.error {
        let _ = writeln!(s, "stopped: {e}");
    }
    for w in &report.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    for f in &report.failures {
        let _ = writeln!(s, "failed: {f}");
    }
    s
}

/// `succeeded`, `partially failed`, `failed` or `running`.
pub fn status_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::PartiallyFailed => "partially failed",
        RunStatus::Failed => "failed",
        RunStatus::Running => "running",
    }
}

/// The plan of a dry run, one line per write (at most `max` lines, then a count).
pub fn plan_lines(plan: &Plan, max: usize) -> String {
    let mut s = String::new();
    if plan.is_empty() {
        s.push_str("plan: nothing to write\n");
        return s;
    }
    let _ = writeln!(s, "plan: {} writes", plan.writes.len());
    for w in plan.writes.iter().take(max) {
        let target = match w.direction {
            twenty_sync_core::SyncDirection::Push => "Twenty",
            twenty_sync_core::SyncDirection::Pull => "local",
        };
        let _ = writeln!(
            s,
            "  {:?} in {target}: {} key={} id={}{}",
            w.action,
            w.entity,
            w.local_key,
            w.twenty_id.as_deref().unwrap_or("(new)"),
            if w.changed_fields.is_empty() {
                String::new()
            } else {
                format!(" fields={}", w.changed_fields.join(","))
            }
        );
    }
    if plan.writes.len() > max {
        let _ = writeln!(
            s,
            "  ... and {} more (use --json for the whole plan)",
            plan.writes.len() - max
        );
    }
    s
}

/// The table of recent runs for `status`.
pub fn runs_table(runs: &[RunReport]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<36}  {:<4}  {:<3}  {:<16}  {:<20}  {:>8}  {:>7}  {:>7}  {:>7}  {:>6}",
        "run",
        "mode",
        "dry",
        "status",
        "started (UTC)",
        "ms",
        "created",
        "updated",
        "deleted",
        "failed"
    );
    for r in runs {
        let t = r.totals();
        let _ = writeln!(
            s,
            "{:<36}  {:<4}  {:<3}  {:<16}  {:<20}  {:>8}  {:>7}  {:>7}  {:>7}  {:>6}",
            r.run_id,
            r.mode.as_str(),
            if r.dry_run { "yes" } else { "no" },
            status_word(r.status),
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            r.duration_ms,
            t.created,
            t.updated,
            t.deleted,
            t.failed
        );
    }
    s
}

/// One audit entry as a line.
pub fn audit_line(e: &AuditEntry) -> String {
    let outcome = match &e.outcome {
        AuditOutcome::Applied => "applied".to_owned(),
        AuditOutcome::Planned => "planned".to_owned(),
        AuditOutcome::Failed(r) => format!("failed: {r}"),
        #[allow(unreachable_patterns)]
        other => format!("{other:?}"),
    };
    format!(
        "{} run={} {} {} {:?} key={} id={}{} {}{}",
        e.at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        e.run_id,
        e.entity,
        e.direction.as_str(),
        e.action,
        e.local_key.as_deref().unwrap_or("-"),
        e.twenty_id.as_deref().unwrap_or("-"),
        if e.changed_fields.is_empty() {
            String::new()
        } else {
            format!(" fields={}", e.changed_fields.join(","))
        },
        outcome,
        e.detail
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    )
}
