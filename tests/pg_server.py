"""A throwaway PostgreSQL server for tests: Debian's own binaries, a data directory in a temp
folder, listening only on a Unix socket there (no port to clash with another test run), trust
authentication, and durability switched off because nothing it holds outlives the test session.

initdb refuses to run as root, so as root the server runs as the `postgres` system user that
Debian's package creates, in folders that user owns.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from processes import running

PG_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "postgres"
START_TIMEOUT_S = 60
BASE_PREFIX = "cxnlp-pg-"
OWNER_FILE = "owner.pid"  # the test process that started the server


class PostgresUnavailable(RuntimeError):
    """No server can be started here; the message says why (tests skip with it)."""


class PostgresFailed(RuntimeError):
    """A server could have run here but a command failed: a real error, not a reason to skip."""


def newest_bin_dir(root: Path = PG_ROOT) -> Path:
    """`/usr/lib/postgresql/<newest version>/bin`, the one holding initdb and pg_ctl."""
    versions = [p for p in root.glob("*") if re.fullmatch(r"\d+(\.\d+)?", p.name) and (p / "bin" / "initdb").is_file()]
    if not versions:
        raise PostgresUnavailable(
            f"no PostgreSQL server binaries under {root}; install Debian's `postgresql` package (.ci/run does)"
        )
    return max(versions, key=lambda p: tuple(int(x) for x in p.name.split("."))) / "bin"


class PostgresServer:
    """One server: `start()`, `url(database)`, `create_database(name)`, `stop()` (also removes its data)."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or newest_bin_dir()
        self.run_as: list[str] = []
        self.owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self.owner = pwd.getpwnam(SUPERUSER)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root and there is no `{SUPERUSER}` system user to run initdb as "
                    "(Debian's postgresql package creates it)"
                ) from None
            self.run_as = ["runuser", "-u", SUPERUSER, "--"]
        self.base: Path | None = None
        self.numbers = itertools.count(1)  # for databases named test_<n>

    @property
    def socket_dir(self) -> Path:
        return self._base() / "socket"

    @property
    def data_dir(self) -> Path:
        return self._base() / "data"

    @property
    def log_file(self) -> Path:
        return self._base() / "server.log"

    def _base(self) -> Path:
        if self.base is None:
            raise RuntimeError("the server has not been started")
        return self.base

    def _run(self, program: str, *args: str) -> None:
        command = [*self.run_as, str(self.bin_dir / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S)
        if done.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.is_file() else ""
            raise PostgresFailed(
                f"`{' '.join(command)}` failed ({done.returncode}): {done.stderr.strip()[-2000:]}\n{log}"
            )

    def start(self) -> "PostgresServer":
        self.reap_orphans()
        # A short path: a Unix socket's path must stay under ~107 bytes.
        self.base = Path(tempfile.mkdtemp(prefix=BASE_PREFIX))
        (self.base / OWNER_FILE).write_text(str(os.getpid()))
        self.socket_dir.mkdir()
        if self.owner is not None:
            for path in (self.base, self.socket_dir):
                os.chown(path, self.owner.pw_uid, self.owner.pw_gid)
        try:
            self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust",
                      "--encoding=UTF8", "--locale=C", "--no-sync")
            options = (f"-c listen_addresses='' -c unix_socket_directories={self.socket_dir} "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                       "-c shared_preload_libraries='' -c max_connections=50")
            self._run("pg_ctl", "start", "-w", "-t", str(START_TIMEOUT_S), "-D", str(self.data_dir),
                      "-l", str(self.log_file), "-o", options)
        except BaseException:
            self._remove()
            raise
        return self

    def url(self, database: str = "postgres") -> str:
        """A libpq URL reaching `database` over the server's Unix socket."""
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"not a plain database name: {name!r}")
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once (its data is thrown away anyway) and remove its folder."""
        if self.base is None:
            return
        if (self.data_dir / "postmaster.pid").is_file():
            self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data_dir))
        self._remove()

    def reap_orphans(self) -> None:
        """Stop and remove the servers of earlier test runs that were killed before they could stop
        their own (SIGKILL skips every cleanup): their owner process is gone."""
        for base in Path(tempfile.gettempdir()).glob(f"{BASE_PREFIX}*"):
            try:
                owner = int((base / OWNER_FILE).read_text())
            except (OSError, ValueError):
                continue  # not one of ours, or still being set up
            if running(owner):
                continue
            if (base / "data" / "postmaster.pid").is_file():
                subprocess.run([*self.run_as, str(self.bin_dir / "pg_ctl"), "stop", "-m", "immediate",
                                "-D", str(base / "data")], capture_output=True, timeout=START_TIMEOUT_S)
            shutil.rmtree(base, ignore_errors=True)

    def _remove(self) -> None:
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None
