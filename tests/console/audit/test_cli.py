"""``raxx audit verify|export|checkpoint|reconcile`` as an operator runs them."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from raxx.cli import _register_groups, cli
from raxx.common.db import create_engine
from raxx.common.pglock import lock_key
from raxx.common.provision import ProvisionedDatabase
from raxx.console.audit import commands as audit_commands
from raxx.console.audit.events import AuditContext
from raxx.console.audit.keys import SigningKey, load_signing_key
from raxx.console.audit.reconciler import RECONCILE_LOCK
from raxx.console.audit.service import AuditTrail
from tests.console.audit.helpers import SIGNING_KEY, tamper


def _raxx(db: ProvisionedDatabase, *args: str, key: str | None = SIGNING_KEY, tmp: Path | None = None) -> Result:
    _register_groups()
    env = {"CONSOLE_DATABASE_URL": db.runtime_url, "CONSOLE_AUDIT_SIGNING_KEY": key or ""}
    extra = ["--env-file", str(tmp / "absent.env")] if tmp and args[0] in ("verify", "checkpoint") else []
    return CliRunner().invoke(cli, ["audit", *args, *extra], env=env, catch_exceptions=False)


def _seed(db: ProvisionedDatabase) -> None:
    async def seed() -> None:
        engine = create_engine(db.runtime_url, application_name="test-seed", pool_size=1)
        trail = AuditTrail(engine)
        for n, (env, actor) in enumerate([("staging", "alice"), ("prod", "bob"), ("prod", "alice")]):
            attempt = await trail.attempt(
                AuditContext(actor_name=actor, environment=env, request_id=f"r{n}"),
                "order.cancel",
                target=f'=HYPERLINK("x")-{n}',
            )
            await trail.outcome(attempt, "ok", http_status=200)
        await trail.record(AuditContext(actor_name="alice"), "auth.login", outcome="ok")
        await engine.dispose()

    asyncio.run(seed())


def test_verify_ok_prints_count_and_head_and_records_itself(console_db: ProvisionedDatabase, tmp_path: Path) -> None:
    _seed(console_db)
    result = _raxx(console_db, "verify", tmp=tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: 7 events, head seq 7 hash ")
    with psycopg.connect(console_db.runtime_url) as conn:
        row = conn.execute("SELECT outcome, params->>'head_seq' FROM audit_event ORDER BY seq DESC LIMIT 1").fetchone()
    assert row == ("ok", "7")


def test_verify_exit_codes_name_what_broke(console_db: ProvisionedDatabase, superuser_url: str, tmp_path: Path) -> None:
    _seed(console_db)
    checkpoint_file = tmp_path / "checkpoints.jsonl"
    made = _raxx(console_db, "checkpoint", "--export", str(checkpoint_file), tmp=tmp_path)
    assert made.exit_code == 0, made.output
    assert json.loads(checkpoint_file.read_text())["seq"] == 7

    with tamper(superuser_url) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq >= 5")
        conn.execute("DELETE FROM audit_checkpoint")
    quiet = _raxx(console_db, "verify", "--no-record", tmp=tmp_path)
    assert quiet.exit_code == 0  # a shorter chain is a valid chain without a checkpoint...
    assert "cannot be detected" in quiet.stderr
    caught = _raxx(console_db, "verify", "--no-record", "--checkpoint", str(checkpoint_file), tmp=tmp_path)
    assert caught.exit_code == 5, caught.output  # ...and a truncated one with it
    assert "truncated at seq 5-7" in caught.stdout

    with tamper(superuser_url) as conn:
        conn.execute("UPDATE audit_event SET actor_name = 'mallory' WHERE seq = 2")
    edited = _raxx(console_db, "verify", "--no-record", tmp=tmp_path)
    assert edited.exit_code == 3
    assert "first broken seq 2" in edited.stdout

    with tamper(superuser_url) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq = 3")
    as_json = _raxx(console_db, "verify", "--no-record", "--json", tmp=tmp_path)
    report = json.loads(as_json.stdout)
    assert (report["ok"], report["first_broken_seq"], report["missing_ranges"]) == (False, 2, [[3, 3]])


def test_verify_with_a_checkpoint_needs_the_key_and_a_readable_file(
    console_db: ProvisionedDatabase, tmp_path: Path
) -> None:
    missing_file = _raxx(console_db, "verify", "--checkpoint", str(tmp_path / "x"), tmp=tmp_path)
    assert missing_file.exit_code == 2  # a usage mistake, not a chain that fails its checkpoints (6)
    assert "does not exist" in missing_file.stderr
    (tmp_path / "x").write_text("")
    missing_key = _raxx(console_db, "verify", "--checkpoint", str(tmp_path / "x"), key=None, tmp=tmp_path)
    assert missing_key.exit_code == 78
    assert "CONSOLE_AUDIT_SIGNING_KEY" in missing_key.stderr
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json\n")
    unreadable = _raxx(console_db, "verify", "--checkpoint", str(garbage), tmp=tmp_path)
    assert unreadable.exit_code == 6
    assert "not a checkpoint" in unreadable.stderr


def test_verify_reports_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    down = ProvisionedDatabase("x", "postgresql://a:secretpw@127.0.0.1:1/x", "postgresql://a:secretpw@127.0.0.1:1/x")
    result = _raxx(down, "verify", tmp=tmp_path)
    assert result.exit_code == 69
    assert result.stderr.count("\n") == 1
    assert "cannot reach" in result.stderr
    assert "CONSOLE_DATABASE_URL" in result.stderr
    assert "secretpw" not in result.stderr


def test_export_jsonl_filters_and_streams(console_db: ProvisionedDatabase) -> None:
    _seed(console_db)
    result = _raxx(console_db, "export", "--env", "prod", "--actor", "alice", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["seq"], e["phase"], e["environment"], e["actor_name"]) for e in lines] == [
        (5, "attempt", "prod", "alice"),
        (6, "outcome", "prod", "alice"),
    ]
    assert lines[1]["prev_hash"] == lines[0]["hash"]
    assert lines[0]["occurred_at"].endswith("Z")
    assert "exported 2 event(s)" in result.stderr
    everything = _raxx(console_db, "export", "--env", "-")
    assert [json.loads(line)["action"] for line in everything.stdout.splitlines()] == ["auth.login", "audit.export"]
    mistyped = _raxx(console_db, "export", "--env", "prd")  # not "exported 0 event(s)": a typo says so
    assert mistyped.exit_code == 2
    assert "'prd' is not in the environment registry" in mistyped.output


def test_export_csv_to_a_file_defuses_formulas(console_db: ProvisionedDatabase, tmp_path: Path) -> None:
    _seed(console_db)
    out = tmp_path / "audit.csv"
    result = _raxx(
        console_db,
        "export",
        "--action",
        "order.*",
        "--since",
        "2000-01-01T00:00:00Z",
        "--format",
        "csv",
        "--output",
        str(out),
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 6
    assert rows[0]["target"].startswith("'=HYPERLINK")
    assert json.loads(rows[0]["params"]) == {}
    none = _raxx(console_db, "export", "--until", "2000-01-01T00:00:00Z")
    assert none.stdout == ""


def _exports(db: ProvisionedDatabase) -> list[tuple[Any, ...]]:
    with psycopg.connect(db.runtime_url) as conn:
        return conn.execute(
            "SELECT phase, outcome, environment, target, params, error FROM audit_event"
            " WHERE action = 'audit.export' ORDER BY seq"
        ).fetchall()


def test_export_is_itself_audited(console_db: ProvisionedDatabase) -> None:
    _seed(console_db)
    _raxx(console_db, "export", "--env", "prod")
    (_, _, env, target, asked, _), (phase, outcome, _, _, done, _) = _exports(console_db)
    assert (env, target, phase, outcome) == ("prod", "stdout", "outcome", "ok")
    assert asked["filters"] == {"environment": "prod", "include_no_environment": True}
    assert done["count"] == 5  # prod's four, and this export's own attempt (written before the first byte)


def test_an_export_cut_short_is_recorded_with_what_it_sent(console_db: ProvisionedDatabase, tmp_path: Path) -> None:
    """Only a finished export used to leave a record: a reader gone (``| head``), Ctrl-C or a file
    that cannot be written left none. Now the attempt comes before the first byte."""
    _seed(console_db)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte
    env = {**os.environ, "CONSOLE_DATABASE_URL": console_db.runtime_url}
    cut = subprocess.run(
        [sys.executable, "-m", "raxx", "audit", "export"], stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=60
    )
    os.close(write_end)
    assert cut.returncode == 141, cut.stderr
    unwritable = _raxx(console_db, "export", "--output", str(tmp_path / "no-such-folder" / "audit.jsonl"))
    assert unwritable.exit_code != 0
    rows = _exports(console_db)
    assert [(phase, outcome) for phase, outcome, *_ in rows] == [("attempt", None), ("outcome", "failed")] * 2
    assert rows[1][4]["count"] == 0, rows[1]
    assert "BrokenPipeError" in rows[1][5], rows[1]
    assert rows[2][3].endswith("no-such-folder/audit.jsonl")
    assert "FileNotFoundError" in rows[3][5]


def test_a_login_name_that_is_not_one_line_is_a_setting_to_fix_and_nothing_is_recorded(
    console_db: ProvisionedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(console_db)
    monkeypatch.setenv("LOGNAME", "eve\ncli:root")  # getpass.getuser() reads LOGNAME first
    with psycopg.connect(console_db.runtime_url) as conn:
        before = conn.execute("SELECT count(*) FROM audit_event").fetchone()
    result = _raxx(console_db, "export", "--env", "prod")
    assert result.exit_code == 78, result.output
    assert "the login name (LOGNAME, USER, LNAME or USERNAME) may not contain control characters" in result.stderr
    with psycopg.connect(console_db.runtime_url) as conn:
        assert conn.execute("SELECT count(*) FROM audit_event").fetchone() == before


def test_bad_time_is_a_one_line_refusal(console_db: ProvisionedDatabase) -> None:
    result = _raxx(console_db, "export", "--since", "yesterday")
    assert result.exit_code == 1
    assert "not a date/time" in result.stderr


def test_checkpoint_all_exports_every_stored_checkpoint(console_db: ProvisionedDatabase, tmp_path: Path) -> None:
    _seed(console_db)
    assert _raxx(console_db, "checkpoint", tmp=tmp_path).exit_code == 0
    _seed(console_db)
    assert _raxx(console_db, "checkpoint", tmp=tmp_path).exit_code == 0
    result = _raxx(console_db, "checkpoint", "--all", tmp=tmp_path)
    assert [json.loads(line)["seq"] for line in result.stdout.splitlines()] == [7, 14]


def test_checkpoint_refuses_to_sign_a_broken_chain(
    console_db: ProvisionedDatabase, superuser_url: str, tmp_path: Path
) -> None:
    _seed(console_db)
    with tamper(superuser_url) as conn:
        conn.execute("UPDATE audit_event SET target = 'x' WHERE seq = 1")
    result = _raxx(console_db, "checkpoint", tmp=tmp_path)
    assert result.exit_code == 3
    assert "not signing a checkpoint" in result.stderr


@pytest.mark.parametrize("older_than", ["0s"])
def test_reconcile_without_a_registry_marks_open_attempts_unknown(
    console_db: ProvisionedDatabase, older_than: str
) -> None:
    async def open_attempt() -> None:
        engine = create_engine(console_db.runtime_url, application_name="test", pool_size=1)
        await AuditTrail(engine).attempt(AuditContext(environment="prod", request_id="r9"), "trading.halt")
        await engine.dispose()

    asyncio.run(open_attempt())
    result = _raxx(console_db, "reconcile", "--older-than", older_than)
    assert result.exit_code == 0, result.output
    assert "1 open attempt(s) examined; closed as ok: 0, failed: 0, unknown: 1" in result.stdout
    assert _raxx(console_db, "reconcile", "--older-than", "soon").exit_code == 2  # a usage error


def test_anyone_verifies_checkpoints_with_the_published_public_key_and_no_secret(
    console_db: ProvisionedDatabase, superuser_url: str, tmp_path: Path
) -> None:
    _seed(console_db)
    checkpoints = tmp_path / "checkpoints.jsonl"
    assert _raxx(console_db, "checkpoint", "--export", str(checkpoints), tmp=tmp_path).exit_code == 0
    published = _raxx(console_db, "checkpoint", "--public-key", tmp=tmp_path)
    assert published.exit_code == 0, published.output
    document = json.loads(published.stdout)
    assert [k["status"] for k in document["keys"]] == ["current"]
    assert document["keys"][0]["key_id"] == json.loads(checkpoints.read_text())["key_id"]
    keys_file = tmp_path / "raxx-audit-keys.json"
    keys_file.write_text(published.stdout)
    args = ("verify", "--no-record", "--no-stored", "--checkpoint", str(checkpoints))

    outsider = _raxx(console_db, *args, "--public-key", str(keys_file), key=None, tmp=tmp_path)
    assert outsider.exit_code == 0, outsider.output
    assert outsider.stdout.startswith("OK: 7 events")
    compact = document["keys"][0]["public_key"]
    assert _raxx(console_db, *args, "--public-key", compact, key=None, tmp=tmp_path).exit_code == 0
    stranger = SigningKey.generate().public.compact()
    wrong_key = _raxx(console_db, *args, "--public-key", stranger, key=None, tmp=tmp_path)
    assert wrong_key.exit_code == 6
    assert "whose public key was not given" in wrong_key.stdout

    with tamper(superuser_url) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq >= 6")
    truncated = _raxx(console_db, *args, "--public-key", str(keys_file), key=None, tmp=tmp_path)
    assert truncated.exit_code == 5, truncated.output
    unreadable = _raxx(console_db, *args, "--public-key", str(tmp_path / "nope.pem"), key=None, tmp=tmp_path)
    assert unreadable.exit_code == 1
    assert "--public-key" in unreadable.stderr


def test_keygen_prints_a_key_the_console_accepts(tmp_path: Path) -> None:
    _register_groups()
    result = CliRunner().invoke(cli, ["audit", "keygen"], catch_exceptions=False)
    assert result.exit_code == 0
    name, value = result.stdout.strip().split("=", 1)
    assert name == "CONSOLE_AUDIT_SIGNING_KEY"
    key = load_signing_key(value, source=name)
    assert f"key id {key.key_id}" in result.stderr
    assert value not in result.stderr


def test_reconcile_while_a_console_pass_holds_the_lock_says_so_and_fails(
    console_db: ProvisionedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It waits for the console's own timed pass; still held, it says nothing was examined (69)."""
    monkeypatch.setattr(audit_commands, "RECONCILE_WAIT_S", 0.5)
    with psycopg.connect(console_db.runtime_url, autocommit=True) as other_console:
        assert other_console.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(RECONCILE_LOCK)]).fetchone() == (
            True,
        )
        result = _raxx(console_db, "reconcile", "--older-than", "0s")
    assert result.exit_code == 69, result.output
    assert "another console process has been reconciling for 0.5 s; nothing examined" in result.stderr
    assert _raxx(console_db, "reconcile", "--older-than", "0s").exit_code == 0  # its connection closed: released
