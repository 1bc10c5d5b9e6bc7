"""The console answers before Heroku's router gives up on a request (30 s, H12)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from raxx.common.router import ROUTER_TIMEOUT_S
from raxx.console.config import ConsoleSettings

BASE = {
    "database_url": "postgresql://console@127.0.0.1:5432/console",
    "secret_key": "test-secret-key-" + "x" * 32,
}


@pytest.mark.parametrize(("connect", "answer"), [(2.0, 28.0), (5.0, 25.0), (20.0, 20.0)])
def test_waiting_on_raptor_longer_than_the_router_is_refused(connect: float, answer: float) -> None:
    with pytest.raises(ValidationError, match=r"(?i)raptor_(connect_)?timeout_s"):
        ConsoleSettings(**BASE, raptor_connect_timeout_s=connect, raptor_timeout_s=answer)


def test_the_longest_wait_allowed_still_answers_first() -> None:
    settings = ConsoleSettings(**BASE, raptor_connect_timeout_s=4.0, raptor_timeout_s=25.0)
    assert settings.raptor_connect_timeout_s + settings.raptor_timeout_s < ROUTER_TIMEOUT_S
