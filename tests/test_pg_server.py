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
