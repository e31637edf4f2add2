#!/usr/bin/env python3
"""Start bqemulator 1.4.x offline, for sink-bigquery's tests.

bqemulator loads DuckDB's "spatial" extension at start-up (and tries "avro"), which downloads it
from extensions.duckdb.org. Offline that fails and the emulator refuses to start. This launcher
replaces both loaders with no-ops, then calls the emulator's own CLI entry point with the
arguments it was given, e.g.:

    python launch_bqemulator.py start --rest-host 127.0.0.1 --rest-port 9050 --project test

Consequence: GEOGRAPHY columns and ST_* functions are unsupported (the sink never uses them).

With BQEMU_EXIT_ON_STDIN_EOF=1 the process exits as soon as its standard input is closed, so a
test harness that dies (or forgets to stop it) never leaves an emulator running.
"""

import os
import sys
import threading

from bqemulator.storage import engine


def _skip_extension(_self):
    """No-op replacement for the DuckDB extension loaders (offline start-up)."""
    return None


engine.DuckDBEngine._load_spatial = _skip_extension
engine.DuckDBEngine._load_format_extensions = _skip_extension


def _exit_on_stdin_eof():
    sys.stdin.read()
    os._exit(0)


if os.environ.get("BQEMU_EXIT_ON_STDIN_EOF") == "1":
    threading.Thread(target=_exit_on_stdin_eof, daemon=True).start()

from bqemulator.cli import main  # noqa: E402  (after the patch, on purpose)

if __name__ == "__main__":
    sys.argv[0] = "bqemulator"
    main()
