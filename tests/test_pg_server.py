"""The PostgreSQL fixture starts a real server, and each test's database starts empty."""

from __future__ import annotations

import psycopg

TABLES = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"


def test_session_database_answers(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_fresh_database_is_empty_and_private(fresh_postgres_url, postgres_url):
    with psycopg.connect(fresh_postgres_url) as conn:
        assert conn.execute(TABLES).fetchall() == []
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, status TEXT)")
        conn.execute("INSERT INTO runs VALUES (1, 'ok')")
        conn.commit()
        assert conn.execute("SELECT status FROM runs").fetchall() == [("ok",)]
    with psycopg.connect(postgres_url) as conn:
        assert ("runs",) not in conn.execute(TABLES).fetchall()


def test_next_fresh_database_does_not_see_the_previous_ones_tables(fresh_postgres_url):
    with psycopg.connect(fresh_postgres_url) as conn:
        assert conn.execute(TABLES).fetchall() == []


def test_a_server_left_by_a_killed_test_run_is_stopped_and_removed_by_the_next(postgres_server):
    """SIGKILL skips a test session's cleanup; the next session must not inherit its server."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from processes import running

    script = ("from pg_server import PostgresServer; import time; s = PostgresServer().start(); "
              "print(s.base, flush=True); time.sleep(600)")
    killed = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parent, stdout=subprocess.PIPE, text=True)
    base = Path(killed.stdout.readline().strip())
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    postmaster = int((base / "data" / "postmaster.pid").read_text().split()[0])
    assert running(postmaster)  # the server outlived the run that started it
    postgres_server.reap_orphans()
    assert not base.exists()
    deadline = time.monotonic() + 30  # `pg_ctl stop` returns as the server shuts down, not after it has gone
    while running(postmaster) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(postmaster)
    with psycopg.connect(postgres_server.url()) as conn:  # this session's own server is left alone
        assert conn.execute("SELECT 1").fetchone() == (1,)
