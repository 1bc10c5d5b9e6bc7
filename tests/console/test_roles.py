"""Roles per environment, enforced on the server for every route; the UI hides what you cannot do."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from click.testing import CliRunner, Result

from raxx.common.provision import ProvisionedDatabase
from raxx.console.auth.roles import CAPABILITIES, ROLE_NAMES, ROLE_STRENGTH
from raxx.console.commands import console as console_cli
from tests.console.conftest import RunningRaptor
from tests.console.helpers import audit_events, audit_head, order_form, outcomes, raptor_orders, signed_in
from tests.fixtures.apps import login


async def test_a_viewer_sees_no_trading_controls(console: httpx.AsyncClient) -> None:
    await signed_in(console, "victor")
    orders = await console.get("/staging/orders")
    assert orders.status_code == 200
    assert 'id="new-order"' not in orders.text
    assert 'id="cancel-all"' not in orders.text
    assert "data-cancel=" not in orders.text
    trading = await console.get("/staging/trading")
    assert 'id="halt-form"' not in trading.text
    assert "Only an admin" in trading.text
    assert 'data-nav="users"' not in orders.text


async def test_forged_mutations_by_a_viewer_get_403_are_recorded_and_reach_nothing(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor], console_db: ProvisionedDatabase
) -> None:
    csrf = await signed_in(console, "victor")
    before = raptor_orders(raptors["staging"])
    head = audit_head(console_db)
    forged = [
        ("/staging/orders", order_form(csrf, "staging", client_order_id=f"f-{uuid.uuid4().hex}")),
        ("/staging/orders/cancel-all", {"csrf_token": csrf, "environment": "staging"}),
        (f"/staging/orders/{uuid.uuid4()}/cancel", {"csrf_token": csrf, "environment": "staging"}),
        ("/staging/trading/halt", {"csrf_token": csrf, "environment": "staging", "reason": "x"}),
        ("/staging/trading/resume", {"csrf_token": csrf, "environment": "staging"}),
        ("/staging/users/role", {"csrf_token": csrf, "environment": "staging", "user": "victor", "role": "admin"}),
    ]
    for url, form in forged:
        response = await console.post(url, data=form)
        assert response.status_code == 403, url
        assert 'data-error="permission_denied"' in response.text
        assert 'data-env="staging"' in response.text
    assert raptor_orders(raptors["staging"]) == before
    denials = outcomes(console_db, since_seq=head)
    assert len(denials) == len(forged)
    assert {(e["outcome"], e["http_status"], e["environment"], e["actor_name"]) for e in denials} == {
        ("denied", 403, "staging", "victor")
    }
    assert [e["action"] for e in denials] == [
        "order.place",
        "order.cancel_all",
        "order.cancel",
        "trading.halt",
        "trading.resume",
        "user.role.change",
    ]
    assert all(str(e["error"]).startswith("permission_denied") for e in denials)
    assert (await console.get("/staging/orders/new")).status_code == 403


async def test_operator_on_staging_viewer_on_prod(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor]
) -> None:
    csrf = await signed_in(console, "olga")
    placed = await console.post("/staging/orders", data=order_form(csrf, "staging", client_order_id=uuid.uuid4().hex))
    assert placed.status_code == 303
    prod_page = await console.get("/prod/orders")
    assert prod_page.status_code == 200
    assert 'id="new-order"' not in prod_page.text
    refused = await console.post("/prod/orders", data=order_form(csrf, "prod", client_order_id=uuid.uuid4().hex))
    assert refused.status_code == 403
    assert "your role there is viewer" in refused.text
    halt = await console.post(
        "/staging/trading/halt", data={"csrf_token": csrf, "environment": "staging", "reason": "x"}
    )
    assert halt.status_code == 403  # operators trade; only admins halt


async def test_no_role_means_no_access_and_every_read_denial_is_recorded(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    await signed_in(console, "victor")
    head = audit_head(console_db)
    for path in ("/prod/orders", "/prod/positions", "/prod/account", "/prod/trading", "/prod/users"):
        response = await console.get(path)
        assert response.status_code == 403, path
        assert 'data-env="prod"' in response.text
    denials = [e for e in audit_events(console_db, since_seq=head) if e["action"] == "access.denied"]
    assert [(e["environment"], e["actor_name"], e["target"]) for e in denials] == [
        ("prod", "victor", f"/prod/{p}") for p in ("orders", "positions", "account", "trading", "users")
    ]


async def test_admin_changes_a_role_in_one_environment_only(console: httpx.AsyncClient) -> None:
    csrf = await signed_in(console, "alice")
    page = await console.get("/prod/users")
    assert 'data-user="victor" data-role="none"' in page.text
    assert "ask another admin" in page.text  # alice cannot change her own role
    done = await console.post(
        "/prod/users/role", data={"csrf_token": csrf, "environment": "prod", "user": "victor", "role": "viewer"}
    )
    assert done.status_code == 303
    assert 'data-user="victor" data-role="viewer"' in (await console.get("/prod/users")).text
    assert 'data-user="victor" data-role="viewer"' in (await console.get("/staging/users")).text
    own = await console.post(
        "/prod/users/role", data={"csrf_token": csrf, "environment": "prod", "user": "alice", "role": "viewer"}
    )
    assert own.status_code == 400
    removed = await console.post(
        "/prod/users/role", data={"csrf_token": csrf, "environment": "prod", "user": "victor", "role": "none"}
    )
    assert removed.status_code == 303
    assert 'data-user="victor" data-role="none"' in (await console.get("/prod/users")).text


async def test_cli_grant_gives_a_role_in_one_environment(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    result = CliRunner().invoke(
        console_cli,
        ["user", "grant", "victor", "--env", "prod", "--role", "viewer", "--database-url", console_db.owner_url],
    )
    assert result.exit_code == 0, result.output
    assert "victor is viewer in prod" in result.output
    await signed_in(console, "victor")
    prod = await console.get("/prod/orders")
    assert prod.status_code == 200
    assert 'id="new-order"' not in prod.text


def _cli(console_db: ProvisionedDatabase, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(console_cli, [*args, "--database-url", console_db.owner_url], input=stdin)


async def test_a_user_added_without_env_holds_no_role_anywhere(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    added = _cli(console_db, "user", "add", "nora", "--password-stdin", stdin="a long passphrase for N 2026\n")
    assert added.exit_code == 0, added.output
    assert "added nora with no role" in added.output
    listed = _cli(console_db, "user", "list")
    assert listed.exit_code == 0, listed.output
    [nora] = [line.split() for line in listed.output.splitlines() if line.startswith("nora ")]
    assert nora == ["nora", "-", "-", "active"]  # staging, prod: nothing (prod never by default)
    assert (await login(console, "nora", "a long passphrase for N 2026")).status_code == 303
    assert (await console.get("/prod/orders")).status_code == 403
    assert (await console.get("/staging/orders")).status_code == 403


def test_user_add_names_role_and_environments_together(console_db: ProvisionedDatabase) -> None:
    lone_role = _cli(console_db, "user", "add", "omar", "--role", "admin", "--password-stdin", stdin="x" * 20)
    assert lone_role.exit_code == 2
    assert "--role and --env go together" in lone_role.output
    typo = _cli(console_db, "user", "add", "omar", "--role", "viewer", "--env", "prdo", "--password-stdin")
    assert typo.exit_code == 2
    assert "(one of: staging, prod)" in typo.output
    ok = _cli(
        console_db, "user", "add", "omar", "--role", "viewer", "--env", "staging", "--password-stdin",
        stdin="a long passphrase for O 2026\n",
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    listed = _cli(console_db, "user", "list")
    assert listed.output.splitlines()[0].split() == ["user", "staging", "prod", "state"]
    [omar] = [line.split() for line in listed.output.splitlines() if line.startswith("omar ")]
    assert omar == ["omar", "viewer", "-", "active"]


def test_user_list_shows_the_role_in_each_environment(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    listed = _cli(console_db, "user", "list")
    assert listed.exit_code == 0, listed.output
    rows = {line.split()[0]: line.split()[1:] for line in listed.output.splitlines()[1:]}
    assert rows["alice"] == ["admin", "admin", "active"]
    assert rows["olga"] == ["operator", "viewer", "active"]
    assert rows["victor"] == ["viewer", "-", "active"]


SWITCHER_DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture" / "console-env-switcher.md"


def test_the_roles_table_of_the_docs_is_the_codes() -> None:
    """docs/architecture/console-env-switcher.md's roles table: a row per role, a check mark
    per capability the code gives it (a column is named by its first word)."""
    text = SWITCHER_DOC.read_text(encoding="utf-8")
    lines = text[text.index("| role | read |") :].splitlines()
    header = [cell.strip().split(" ")[0] for cell in lines[0].strip("|").split("|")][1:]
    documented = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        documented[cells[0]] = frozenset(name for name, mark in zip(header, cells[1:], strict=True) if mark == "✔")
    assert documented == CAPABILITIES
    assert set(header) == set().union(*CAPABILITIES.values())


def test_every_role_has_capabilities_and_a_strength() -> None:
    assert tuple(CAPABILITIES) == ROLE_NAMES
    assert set(ROLE_STRENGTH) == set(ROLE_NAMES)
