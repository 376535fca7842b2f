"""A throwaway PostgreSQL server for the PostgreSQL variants of the store tests.

Started once per test session with the project's own script (scripts/prod/servers.sh: initdb
and pg_ctl as the postgres user, loopback, a free port, a fresh directory), stopped and removed
at the end. HANDOFF_TEST_POSTGRES_URL, when set, names a database to use instead. Without the
server binaries (Debian's postgresql package: scripts/prod/install.sh, which `make test`
runs) the PostgreSQL variants are skipped, saying so.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVERS = ROOT / "scripts" / "prod" / "servers.sh"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server can be started here (the reason is the message)."""


def throwaway_postgres(port: int) -> Iterator[str]:
    """Yield the URL of a fresh database `handoff` on a private server; remove it after."""
    if os.environ.get("HANDOFF_TEST_POSTGRES_URL"):
        yield os.environ["HANDOFF_TEST_POSTGRES_URL"]
        return
    if not (PG_BIN / "initdb").exists():
        raise PostgresUnavailableError(f"PostgreSQL server binaries not in {PG_BIN}: "
                                  "run scripts/prod/install.sh (make test does)")
    # Not under pytest's own temporary folder: the postgres user must be able to enter it.
    folder = Path(tempfile.mkdtemp(prefix="pg-tests-"))
    folder.chmod(0o755)
    env = {**os.environ, "PROD_RUN_DIR": str(folder), "PROD_PG_PORT": str(port),
           "PROD_START_SECONDS": "60", "PROD_PG_FSYNC": "off"}
    try:
        started = subprocess.run([str(SERVERS), "start", "postgres"], env=env, timeout=120,
                                 capture_output=True, text=True, check=False)
        if started.returncode != 0:
            raise PostgresUnavailableError(f"PostgreSQL did not start: {started.stderr.strip()}")
        urls = subprocess.run([str(SERVERS), "env"], env=env, capture_output=True, text=True,
                              check=True, timeout=30).stdout
        yield next(line.split("=", 1)[1] for line in urls.splitlines()
                   if line.startswith("HANDOFF_DB_URL="))
    finally:
        subprocess.run([str(SERVERS), "stop", "postgres"], env=env, timeout=60,
                       capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)
