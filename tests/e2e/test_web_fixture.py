"""The ``web_process`` fixture starts its own server, never trusts a stranger on the port.

Another test run on the machine (CI runs three interpreters at once) may take the port
between ``free_port()`` and the server's bind; a readiness probe answered by that stranger
would send the whole test to the wrong process. The fixture checks who listens and starts
again on another port, and a failure inside it says who held the port and how the log ended.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from raxx.common.pgembed import free_port
from raxx.common.provision import ProvisionedDatabase
from tests.fixtures import web
from tests.fixtures.ports import listens
from tests.fixtures.servers import serve

pytestmark = pytest.mark.e2e


def raptor_env(raptor_db: ProvisionedDatabase) -> dict[str, str]:
    prefixes = ("RAPTOR_", "CONSOLE_", "GATE_", "INFISICAL_", "RAXX_", "PROMETHEUS_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k != "DATABASE_URL"}
    return {**base, "RAXX_APP": "raptor", "DATABASE_URL": raptor_db.runtime_url, "RAPTOR_ENVIRONMENT": "staging"}


def stranger() -> Starlette:
    """Answers every readiness probe: a server that is not the one the test started."""
    return Starlette(routes=[Route("/healthz", lambda _request: PlainTextResponse("ok"))])


def test_a_port_taken_by_a_stranger_is_left_for_another(
    raptor_db: ProvisionedDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(stranger()) as taken:
        picks = iter([taken.port, free_port()])
        monkeypatch.setattr(web, "free_port", lambda: next(picks))
        with web.web_process(raptor_env(raptor_db), tmp_path / "web.log") as url:
            port = int(url.rsplit(":", 1)[1])
            assert port != taken.port
            servers = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if listens(pid, port)]
            assert servers
            assert all(pid != os.getpid() for pid in servers)


def test_a_failure_in_the_body_says_who_held_the_port_and_how_the_log_ended(
    raptor_db: ProvisionedDatabase, tmp_path: Path
) -> None:
    with pytest.raises(AssertionError) as failed, web.web_process(raptor_env(raptor_db), tmp_path / "web.log") as url:
        raise AssertionError(f"the test failed against {url}")
    (note,) = failed.value.__notes__
    port = url.rsplit(":", 1)[1]
    assert "still running" in note
    assert f"port {port} is held by pid" in note
    assert "raxx web" in note
    assert "Application startup complete" in note
    # alembic's seven lines announcing its plugins in every worker are kept out of the logs
    assert "alembic.runtime.plugins" not in (tmp_path / "web.log").read_text()
