"""The adapters' tests run behind pytest-socket: loopback only, so a forgotten mock fails."""

from __future__ import annotations

import socket

import pytest
import pytest_socket

from raxx.common.infisical import InfisicalClient, InfisicalConfig, InfisicalUnavailable
from tests.fixtures.network import LOOPBACK_ONLY

pytestmark = LOOPBACK_ONLY


@pytest.mark.filterwarnings("ignore:A test tried to use socket")  # the warning is the point here
def test_anything_but_loopback_is_refused() -> None:
    with pytest.raises(pytest_socket.SocketConnectBlockedError):
        socket.create_connection(("203.0.113.7", 443), timeout=1)  # TEST-NET-3: never a real host


def test_an_adapter_without_its_fake_fails_instead_of_reaching_the_service() -> None:
    config = InfisicalConfig(client_id="i", client_secret="s", project_id="p", environment="prod", retries=0)
    with InfisicalClient(config) as client, pytest.raises(InfisicalUnavailable, match="cannot connect"):
        client.login()  # https://app.infisical.com, with no transport mock: blocked by the guard


def test_loopback_still_works() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        socket.create_connection(server.getsockname(), timeout=1).close()
