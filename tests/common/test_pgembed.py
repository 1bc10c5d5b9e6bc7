"""The embedded PostgreSQL is a real server: TCP, passwords, data that survives a restart."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest

from raxx.common.pgembed import EmbeddedPostgres, free_port


def test_embedded_postgres_keeps_its_data_across_restarts(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg", port=free_port())
    assert server.start() is True
    try:
        server.wait_ready()
        with psycopg.connect(server.admin_url(), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (v text)")
            conn.execute("INSERT INTO kept VALUES ('survives')")
            assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert server.start() is False  # already running: reused, not started twice
    finally:
        server.stop()
    assert not server.is_running()

    again = EmbeddedPostgres(tmp_path / "pg")  # port remembered in the data directory
    assert again.start() is True
    try:
        with psycopg.connect(again.admin_url()) as conn:
            assert conn.execute("SELECT v FROM kept").fetchone() == ("survives",)
        bad = again.admin_url().replace("postgres:", "postgres:wrong", 1)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(bad, connect_timeout=5).close()
    finally:
        again.stop()


def test_a_data_directory_too_deep_for_a_unix_socket_still_starts(tmp_path: Path) -> None:
    """A Unix socket path is limited to 107 bytes; a deep checkout (or a test's tmp dir) must not
    stop the server: it then listens on TCP only."""
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "pg"
    assert len(str(deep / "pgdata" / ".s.PGSQL.65535")) > 107
    server = EmbeddedPostgres(deep, port=free_port())
    assert server.start() is True
    try:
        server.wait_ready()
        with psycopg.connect(server.admin_url(), autocommit=True) as conn:
            assert conn.execute("SHOW unix_socket_directories").fetchone() == ("",)
    finally:
        server.stop()
    assert not server.is_running()


def test_a_free_port_is_kept_from_other_askers_and_open_to_the_server_it_is_for() -> None:
    """Plain "bind to 0 and close" handed one of 50 picked ports back 94 times in 30,000
    binds on this machine: each a chance for another test run to take a server's port."""
    picked = {free_port() for _ in range(50)}
    handed_out = set()
    for _ in range(20_000):
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            handed_out.add(other.getsockname()[1])
    assert picked.isdisjoint(handed_out)
    with socket.socket() as server:  # as uvicorn, asyncio, nginx and PostgreSQL bind
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", picked.pop()))
        server.listen()
