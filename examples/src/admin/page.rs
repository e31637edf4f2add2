//! The status page at `/`: server-rendered HTML with a little inline script, no build step.
//!
//! The page itself holds no data and no token: it asks for the admin token (kept in the tab's
//! `sessionStorage`, sent as a bearer header) and then shows the last sync time, the last error,
//! counts per entity and the recent runs from `/status` and `/runs`, with a "Sync now" button and a
//! dry-run toggle that call `POST /sync`.

use axum::response::Html;

/// `GET /`.
pub(crate) async fn page() -> Html<&'static str> {
    Html(PAGE)
}

const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>twenty-sync admin</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
 table { border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; }
 th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #ddd; }
 .err { color: #a00; } .muted { color: #777; }
 button { font: inherit; padding: .3rem 1rem; }
</style>
</head>
<body>
<h1>twenty-sync</h1>
<form id="login">
  <label>Admin token <input id="token" type="password" autocomplete="off"></label>
  <button id="use-token" type="submit">Show status</button>
</form>
<p id="message" class="muted">Enter the admin token to see the status.</p>
<section id="dashboard" hidden>
  <p>Last sync: <strong id="last-sync">never</strong> · Next scheduled run: <span id="next-run">none</span></p>
  <p>Last error: <span id="last-error" class="err">none</span></p>
  <p>Warnings of the newest run: <span id="warnings" class="err">none</span></p>
  <p>
    <label><input id="dry-run" type="checkbox"> dry run</label>
    <button id="sync-now" type="button">Sync now</button>
    <span id="sync-state" class="muted"></span>
  </p>
  <h2>Entities</h2>
  <table id="entities"><thead><tr><th>entity</th><th>last run</th><th>status</th><th>counts</th></tr></thead><tbody></tbody></table>
  <h2>Recent runs</h2>
  <table id="runs"><thead><tr><th>run</th><th>mode</th><th>status</th><th>started</th><th>failed</th></tr></thead><tbody></tbody></table>
</section>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem("twenty-sync-admin-token") || "";
async function api(path, options = {}) {
  const headers = Object.assign({"Authorization": "Bearer " + token()}, options.headers || {});
  const res = await fetch(path, Object.assign({}, options, {headers}));
  const body = await res.json().catch(() => ({}));
  if (!res.ok) { throw new Error((body.error && body.error.message) || res.statusText); }
  return body;
}
function cell(row, text) { const td = document.createElement("td"); td.textContent = text; row.appendChild(td); }
function counts(entities) {
  return Object.entries(entities || {}).map(([k, c]) =>
    `${k}: ${c.created} created, ${c.updated} updated, ${c.deleted} deleted, ${c.failed} failed`).join("; ");
}
async function refresh() {
  try {
    const [status, runs] = await Promise.all([api("/status"), api("/runs?limit=15")]);
    $("dashboard").hidden = false;
    $("message").textContent = "";
    $("last-sync").textContent = status.last_sync || "never";
    $("next-run").textContent = status.next_scheduled_run || "none";
    $("last-error").textContent = status.last_error ? status.last_error.message : "none";
    $("warnings").textContent = status.warnings ? status.warnings.messages.join(" · ") : "none";
    $("sync-state").textContent = status.running ? "a run is in progress…" : "";
    const eb = $("entities").tBodies[0]; eb.replaceChildren();
    for (const e of status.entities) {
      const tr = eb.insertRow();
      cell(tr, e.entity);
      cell(tr, e.last_run ? (e.last_run.finished_at || e.last_run.started_at) : "never");
      cell(tr, e.last_run ? e.last_run.status : "");
      cell(tr, e.last_run ? counts(e.last_run.entities) : "");
    }
    const rb = $("runs").tBodies[0]; rb.replaceChildren();
    for (const r of runs.runs) {
      const tr = rb.insertRow();
      tr.className = "run"; tr.dataset.runId = r.run_id;
      cell(tr, r.run_id); cell(tr, r.mode + (r.dry_run ? " (dry run)" : ""));
      cell(tr, r.status); cell(tr, r.started_at); cell(tr, String(r.failed));
    }
  } catch (e) {
    $("message").textContent = "Could not load the status: " + e.message;
  }
}
$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("twenty-sync-admin-token", $("token").value);
  $("token").value = "";
  refresh();
});
$("sync-now").addEventListener("click", async () => {
  try {
    await api("/sync", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({mode: "sync", dry_run: $("dry-run").checked})});
    $("sync-state").textContent = "started";
  } catch (e) {
    $("sync-state").textContent = e.message;
  }
  setTimeout(refresh, 300);
});
setInterval(() => { if (token()) refresh(); }, 2000);
if (token()) refresh();
</script>
</body>
</html>
"##;
