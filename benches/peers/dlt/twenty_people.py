"""The dlt peer: dlt's `rest_api` source pulls Twenty people into Postgres (merge on id).

Run by the harness (`cargo run -p benches --release -- peer`) through run.sh. Configuration
comes from the environment, so nothing secret is on the command line:

  TWENTY_BASE_URL   the twenty-sim (or Twenty) base URL, e.g. http://127.0.0.1:40123/
  TWENTY_API_KEY    the API key (Bearer token)
  PEER_DATABASE_URL the Postgres connection string
  PEER_SCHEMA       the dataset (schema) dlt loads into; replaced by the run
  PEER_WORK_DIR     dlt's pipelines directory (state, load packages)
  PEER_PAGE_SIZE    records per page (default 200, Twenty's largest)

Prints one JSON line: records loaded, seconds, and peak RSS (this process and its children).
"""

import json
import os
import resource
import sys
import time
import urllib.parse

import dlt
from dlt.sources.rest_api import rest_api_source


def credentials(url: str) -> str:
    """dlt insists on a password; a server with trust auth (local and CI) ignores it."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None and parts.username:
        host = parts.hostname or "localhost"
        if parts.port:
            host = f"{host}:{parts.port}"
        netloc = f"{parts.username}:unused-by-trust-auth@{host}"
        parts = parts._replace(netloc=netloc)
    return urllib.parse.urlunsplit(parts)


def main() -> int:
    base_url = os.environ["TWENTY_BASE_URL"]
    key = os.environ["TWENTY_API_KEY"]
    schema = os.environ["PEER_SCHEMA"]
    page_size = int(os.environ.get("PEER_PAGE_SIZE", "200"))
    source = rest_api_source(
        {
            "client": {
                "base_url": base_url,
                "auth": {"type": "bearer", "token": key},
                # Twenty's cursor pagination: ?starting_after=<pageInfo.endCursor> while
                # pageInfo.hasNextPage.
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "pageInfo.endCursor",
                    "cursor_param": "starting_after",
                    "has_more_path": "pageInfo.hasNextPage",
                },
            },
            "resource_defaults": {
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {"params": {"limit": page_size}},
            },
            "resources": [
                {
                    "name": "people",
                    "endpoint": {"path": "rest/people", "data_selector": "data.people"},
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="twenty_sync_peer",
        pipelines_dir=os.environ["PEER_WORK_DIR"],
        destination=dlt.destinations.postgres(credentials=credentials(os.environ["PEER_DATABASE_URL"])),
        dataset_name=schema,
        progress="log" if os.environ.get("PEER_PROGRESS") else None,
    )
    started = time.monotonic()
    pipeline.run(source)
    secs = time.monotonic() - started
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("people", 0)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "records": rows,
                "secs": secs,
                # ru_maxrss is in KiB on Linux.
                "peak_rss_mib": own / 1024.0,
                "children_peak_rss_mib": children / 1024.0,
                "dlt_version": dlt.__version__,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
