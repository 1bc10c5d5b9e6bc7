"""The CI scenario: Raxx's three apps under the harness, checked the way production would test them.

Steps (each adds figures to the report and failures to ``report.failures``):

1. build the slug (production requirements only) and bring the formation up over TLS,
   release phases first; ``raxx up`` inside the slug must say what it lacks;
2. a failing release phase (a config change that breaks ``raxx release``) leaves the
   previous release serving, same dynos;
3. the router's headers: a client's ``X-Request-Id`` passed through, a bad one replaced;
   ``X-Forwarded-Proto: https`` seen by the console (``__Host-`` cookies);
4. a console session through the console's router with a personal API token: place and
   cancel an order in staging and in prod;
5. load at the connection limit: N clients submitting orders to Raptor staging while a
   one-off dyno holds connections; 0 ``too many connections`` (answers and logs), 0
   dropped connections, 0 5xx but 503, 503 under 1 %; meanwhile a frozen Raptor prod dyno
   is answered by the router with a 503 H12 after 30 s;
6. a dyno restart under load: retrying clients; every request answered within 30 s, every
   accepted order recorded exactly once, nothing left pending;
7. a credential rotation of Raptor staging's database under order load: the old password
   refused, the new one in use, every order answered and recorded once, the console still
   placing and canceling;
   then the console's database rotated under orders placed through the console: every order
   Raptor holds has its audit attempt and outcome, the chain verifies, no 401 and no 5xx but 503;
8. every dyno stopped with SIGTERM: exit status 0, no R12, no traceback in any log;
9. all along, every dyno within its size's memory quota (no R14), its peak in the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from raxx.common.pgembed import free_port
from tests.heroku.formation import CONSOLE, RAPTORS, Formation, bring_up
from tests.heroku.load import LoadResult, submit_orders
from tests.heroku.platform import HerokuLocal, ReleaseFailed

STAGING, PROD = RAPTORS["staging"], RAPTORS["prod"]
HOLD_COMMAND = (
    "python -c \"import os, time, psycopg; held = [psycopg.connect(os.environ['DATABASE_URL']) "
    "for _ in range({n})]; print('holding', len(held), flush=True); time.sleep(900)\""
)


@dataclass
class ScenarioOptions:
    clients: int = 64
    load_seconds: float = 15.0
    restart_seconds: float = 20.0
    held_connections: int = 2
    fresh_slug: bool = False
    check_h12: bool = True


@dataclass
class Report:
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def check(self, condition: bool, failure: str) -> None:
        if not condition:
            self.failures.append(failure)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "failures": self.failures, **self.figures}

    def render(self) -> str:
        lines = ["heroku-local scenario: " + ("PASSED" if self.ok else f"FAILED ({len(self.failures)})")]
        for key, value in self.figures.items():
            lines.append(f"  {key}: {value}")
        lines += [f"  FAIL: {failure}" for failure in self.failures]
        return "\n".join(lines)


def run_scenario(
    state: Path,
    *,
    repo: Path,
    options: ScenarioOptions | None = None,
    admin_url: str | None = None,
    slug_dir: Path | None = None,
) -> Report:
    options = options or ScenarioOptions()
    report = Report()
    harness = HerokuLocal(state, repo=repo, admin_url=admin_url, slug_dir=slug_dir)
    started = time.monotonic()
    try:
        formation = bring_up(harness, fresh_slug=options.fresh_slug)
        assert harness.slug is not None
        assert harness.server is not None
        report.figures["slug"] = harness.slug.summary().splitlines()[0]
        report.figures["boot_s"] = {k: round(v, 1) for k, v in formation.boot_s.items()}
        report.figures["up_after_s"] = round(time.monotonic() - started, 1)
        report.check(harness.server.checks_passwords(), "the PostgreSQL server does not check passwords (trust)")
        _check_slug(harness, report)
        _failing_release(harness, report)
        ssl_context = harness.pki.client_context() if harness.pki else ssl.create_default_context()
        _router_headers(formation, ssl_context, report)
        _console_session(formation, ssl_context, report, "session")
        _connection_limit_load(harness, formation, ssl_context, options, report)
        _restart_under_load(harness, formation, ssl_context, options, report)
        _rotation(harness, formation, ssl_context, report)
        _console_rotation(harness, formation, ssl_context, report)
        _clean_stop(harness, report)
        _memory(harness, report)
    except Exception as exc:  # a step that could not run is a failure with its reason
        report.failures.append(f"scenario stopped: {type(exc).__name__}: {exc}")
    finally:
        report.figures["held_by_the_router_queue"] = harness.queue.held
        harness.close()
        report.figures["router_error_log"] = _router_error_reasons(harness)
        report.figures["worker_events"] = _worker_events(harness)
        report.figures["total_s"] = round(time.monotonic() - started, 1)
        report.figures["logs"] = str(harness.logs)
    return report


# -- what the logs say (so a failure in CI, where the logs are gone, carries its reasons) --

NGINX_ERROR = re.compile(
    r"\[(?:error|crit|alert)\] \d+#\d+: \*\d+ (?P<reason>[^,]+), client: [^,]+, server: (?P<app>[^,.]+)"
)
#: uvicorn's supervisor events worth knowing after a failure (a worker found hung or dead,
#: a drain cut short) and Raxx's count of connections a stop found queued.
WORKER_EVENT = re.compile(r"Child process .* died|not ready in time|Cancel \d+ running|queued_accepted|Traceback")


def _router_error_reasons(harness: HerokuLocal) -> dict[str, int]:
    """The router's error log, counted by app and reason (nginx's words: refused, reset,
    timed out, prematurely closed...)."""
    log = harness.state / "router" / "error.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    found = (NGINX_ERROR.search(line) for line in lines)
    return dict(Counter(f"{m['app']}: {m['reason']}" for m in found if m))


def _worker_events(harness: HerokuLocal) -> dict[str, int]:
    """Lines of the web dynos' logs that say a worker or a stop went wrong, counted."""
    counted: Counter[str] = Counter()
    for path in sorted(harness.logs.glob("*/web.*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if WORKER_EVENT.search(line):
                counted[f"{path.parent.name} {path.stem}: {_event_text(line)}"] += 1
    return dict(counted)


def _event_text(line: str) -> str:
    """A log line without its time stamp (our JSON lines: the event and its fields)."""
    try:
        fields = json.loads(line)
    except ValueError:
        return line[-160:]
    if not isinstance(fields, dict):
        return line[-160:]
    return " ".join(f"{k}={v}" for k, v in fields.items() if k not in ("ts", "level"))[:160]


# -- 1. the slug ------------------------------------------------------------------------


def _check_slug(harness: HerokuLocal, report: Report) -> None:
    assert harness.slug is not None
    extra = harness.slug.local_only_installed()
    report.check(not extra, f"local-only packages in the slug: {extra}")
    ports = " ".join(f"--{flag}-port {free_port()}" for flag in ("console", "staging", "prod"))
    status, output = harness.run(STAGING, f'raxx up --data-dir "$(mktemp -d)" {ports}', timeout=60)
    last = output.strip().splitlines()[-1] if output.strip() else ""
    report.figures["raxx_up_in_slug"] = f"exit {status}: {last}"
    report.check(status == 78 and "`local` extra" in last, f"raxx up in the slug: exit {status}: {output[-600:]!r}")


# -- 2. a failing release phase -------------------------------------------------------


def _failing_release(harness: HerokuLocal, report: Report) -> None:
    app = harness.apps[PROD]
    before = (app.current.version if app.current else None, {n: d.pid for n, d in app.dynos.items()})
    try:
        harness.release(PROD, {"RAXX_APP": "raptr"}, "a typo in RAXX_APP")
        report.failures.append("a release whose release phase fails was accepted")
    except ReleaseFailed as exc:
        report.figures["failed_release"] = str(exc).splitlines()[0]
    after = (app.current.version if app.current else None, {n: d.pid for n, d in app.dynos.items()})
    report.check(before == after, f"a failed release changed the running release or dynos: {before} -> {after}")
    answer = httpx.get(app.url + "/readyz", verify=harness.pki.client_context() if harness.pki else True, timeout=10)
    report.check(answer.status_code == 200, f"Raptor prod after a failed release: /readyz {answer.status_code}")


# -- 3. the router ----------------------------------------------------------------------


def _router_headers(formation: Formation, ctx: ssl.SSLContext, report: Report) -> None:
    with httpx.Client(verify=ctx, timeout=10) as client:
        mine = "harness-" + secrets.token_hex(12)
        echoed = client.get(formation.raptor_url("staging") + "/healthz", headers={"X-Request-Id": mine})
        report.check(echoed.headers.get("x-request-id") == mine, f"client X-Request-Id not passed: {echoed.headers}")
        replaced = client.get(formation.raptor_url("staging") + "/healthz", headers={"X-Request-Id": "short"})
        rid = replaced.headers.get("x-request-id", "")
        report.check(rid != "short" and len(rid) == 32, f"a malformed X-Request-Id was not replaced: {rid!r}")
        _dynos_verify_the_router(formation, report)
        login = client.get(formation.console_url + "/login")
        cookies = login.headers.get_list("set-cookie")
        report.check(
            any(c.startswith("__Host-") and "Secure" in c for c in cookies),
            f"the console did not see https through the router (cookies: {cookies})",
        )


def _dynos_verify_the_router(formation: Formation, report: Report) -> None:
    """A console dyno's https to Raptor is verified: with the harness CA in SSL_CERT_FILE it
    connects, without it the same call fails verification (so the console's calls that
    work are verified ones, not unchecked ones)."""
    url = formation.raptor_url("staging") + "/healthz"
    # Only the error's last line reaches the log: the expected refusal is not a traceback to find later.
    probe = (
        f"python -c \"import urllib.request; print(urllib.request.urlopen('{url}', timeout=10).status)\" 2>&1 "
        "| tail -n 1; exit ${PIPESTATUS[0]}"
    )
    trusted, out = formation.harness.run(CONSOLE, probe, timeout=60)
    untrusted, err = formation.harness.run(CONSOLE, f"unset SSL_CERT_FILE; {probe}", timeout=60)
    report.figures["tls_verification"] = f"with the harness CA: exit {trusted}; without: exit {untrusted}"
    report.check(
        trusted == 0 and out.startswith("200"), f"a console dyno could not reach Raptor over https: {out[-300:]}"
    )
    report.check(untrusted != 0 and "CERTIFICATE_VERIFY_FAILED" in err, f"https was not verified: {err[-300:]}")


# -- 4. an operator's session through the console ---------------------------------------


def _console_session(formation: Formation, ctx: ssl.SSLContext, report: Report, label: str) -> None:
    headers = {"Authorization": f"Bearer {formation.console_token}"}
    done = []
    with httpx.Client(base_url=formation.console_url, verify=ctx, timeout=30, headers=headers) as client:
        for env in RAPTORS:
            confirm = {"X-Raxx-Confirm": env} if env == "prod" else {}
            order = {
                "symbol": "AAPL",
                "side": "buy",
                "type": "limit",
                "quantity": "1",
                "limit_price": "1.00",
                "client_order_id": f"hx-{label}-{env}-{secrets.token_hex(4)}",
            }
            placed = client.post(f"/api/{env}/orders", json=order, headers=confirm)
            if placed.status_code != 201:
                report.failures.append(f"{label}: placing in {env} via the console: {placed.status_code} {placed.text}")
                continue
            order_id = placed.json()["id"]
            canceled = client.delete(f"/api/{env}/orders/{order_id}")
            status = client.get(f"/api/{env}/orders/{order_id}").json().get("status")
            ok = canceled.status_code == 200 and status == "canceled"
            report.check(ok, f"{label}: cancel in {env}: {canceled.status_code} {canceled.text} (status {status})")
            done.append(f"{env}: placed and canceled" if ok else f"{env}: cancel failed")
    report.figures[f"console_{label}"] = done


# -- 5. load at the connection limit ----------------------------------------------------


class ConnectionSampler:
    """Peak connections per add-on role while a step runs (``pg_stat_activity``, every 0.2 s)."""

    def __init__(self, harness: HerokuLocal) -> None:
        self.addons = {f"{app.name} {att}": a for app in harness.apps.values() for att, a in app.addons.items()}
        self.peak: dict[str, int] = dict.fromkeys(self.addons, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, addon in self.addons.items():
                with contextlib.suppress(psycopg.Error):
                    self.peak[name] = max(self.peak[name], addon.connections())
            self._stop.wait(0.2)

    @contextlib.contextmanager
    def running(self) -> Iterator[ConnectionSampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(5)


def _load(formation: Formation, ctx: ssl.SSLContext, **kwargs: Any) -> LoadResult:
    return asyncio.run(
        submit_orders(
            formation.raptor_url("staging") + "/v1/orders",
            formation.raptor_tokens["staging"],
            ssl_context=ctx,
            **kwargs,
        )
    )


def _connection_limit_load(
    harness: HerokuLocal, formation: Formation, ctx: ssl.SSLContext, options: ScenarioOptions, report: Report
) -> None:
    hold = harness.start_one_off(STAGING, HOLD_COMMAND.format(n=options.held_connections))
    addon = harness.apps[STAGING].addons["DATABASE"]
    deadline = time.monotonic() + 20
    while "holding" not in hold.tail() and time.monotonic() < deadline and hold.running():
        time.sleep(0.1)
    report.check(
        "holding" in hold.tail(), f"the one-off could not hold {options.held_connections} connections: {hold.tail()}"
    )
    h12: dict[str, Any] = {}
    probe = threading.Thread(target=_probe_h12, args=(harness, ctx, h12), daemon=True)
    if options.check_h12:
        probe.start()
    try:
        with ConnectionSampler(harness).running() as sampler:
            tag = "hx-limit-" + secrets.token_hex(3)
            result = _load(formation, ctx, tag=tag, clients=options.clients, seconds=options.load_seconds)
    finally:
        hold.stop()
    report.figures["load_at_limit"] = {
        **result.as_dict(),
        "held_by_one_off": options.held_connections,
        "connection_limit": addon.connection_limit,
        "peak_connections": sampler.peak,
    }
    too_many = harness.grep_logs("too many connections")
    report.check(not too_many, f"'too many connections' {len(too_many)} times in the logs, e.g. {too_many[:2]}")
    report.check(not result.too_many_connections, f"'too many connections' in {result.too_many_connections} answers")
    report.check(result.dropped == 0, f"{result.dropped} dropped connections, e.g. {result.samples[:3]}")
    report.check(result.timeouts == 0, f"{result.timeouts} requests timed out")
    report.check(
        result.server_errors_not_503 == 0, f"{result.server_errors_not_503} 5xx other than 503: {result.samples[:3]}"
    )
    report.check(result.share_503 < 0.01, f"503s are {result.share_503:.1%} of requests (limit 1 %)")
    report.check(result.count(200, 300) > 0, "no order was accepted under load")
    for name, peak in sampler.peak.items():
        report.check(peak <= addon.connection_limit, f"{name} peaked at {peak} connections")
    if options.check_h12:
        probe.join(60)
        report.figures["h12"] = h12
        report.check(
            h12.get("status") == 503 and h12.get("code") == "H12" and 29 <= h12.get("seconds", 0) <= 35,
            f"a frozen dyno was not answered with 503 H12 after 30 s: {h12}",
        )


def _probe_h12(harness: HerokuLocal, ctx: ssl.SSLContext, out: dict[str, Any]) -> None:
    """Freeze Raptor prod's dyno (SIGSTOP to its processes): the router must give up at 30 s."""
    dyno = harness.apps[PROD].dynos["web.1"]
    assert dyno.pid is not None
    os.killpg(dyno.pid, signal.SIGSTOP)
    started = time.monotonic()
    try:
        answer = httpx.get(harness.apps[PROD].url + "/healthz", verify=ctx, timeout=60)
        out.update(status=answer.status_code, code=answer.headers.get("x-heroku-local-error"))
    except httpx.HTTPError as exc:
        out.update(error=str(exc))
    finally:
        out["seconds"] = round(time.monotonic() - started, 1)
        os.killpg(dyno.pid, signal.SIGCONT)


# -- 6. a restart under load ------------------------------------------------------------


def _restart_under_load(
    harness: HerokuLocal, formation: Formation, ctx: ssl.SSLContext, options: ScenarioOptions, report: Report
) -> None:
    """Raptor staging (one dyno) restarted under order load; meanwhile the console (two dynos,
    cycled one by one) restarted under an operator's polling, which must not notice."""
    restarted: dict[str, Any] = {}
    console_restarted: dict[str, Any] = {}

    def restart_later(app: str, out: dict[str, Any]) -> None:
        time.sleep(options.restart_seconds / 4)
        started = time.monotonic()
        out.update(harness.restart(app))
        out["cycle_s"] = round(time.monotonic() - started, 1)

    cyclers = [
        threading.Thread(target=restart_later, args=(STAGING, restarted), daemon=True),
        threading.Thread(target=restart_later, args=(CONSOLE, console_restarted), daemon=True),
    ]
    for cycler in cyclers:
        cycler.start()
    tag = "hx-restart-" + secrets.token_hex(3)

    async def both() -> tuple[LoadResult, LoadResult]:
        orders = submit_orders(
            formation.raptor_url("staging") + "/v1/orders",
            formation.raptor_tokens["staging"],
            tag=tag,
            clients=options.clients,
            seconds=options.restart_seconds,
            ssl_context=ctx,
            retry=True,
        )
        reads = submit_orders(
            formation.console_url + "/api/whoami",
            formation.console_token,
            tag="read",
            method="GET",
            body=None,
            clients=8,
            seconds=options.restart_seconds * 1.5,
            ssl_context=ctx,
        )
        return await asyncio.gather(orders, reads)

    result, reads = asyncio.run(both())
    for cycler in cyclers:
        cycler.join(90)
    report.figures["console_restart_under_reads"] = {**reads.as_dict(), "restart": console_restarted}
    report.check(
        reads.requests > 0 and reads.count(200, 300) == reads.requests,
        f"console reads during its dynos' restart were not all answered 2xx: {reads.as_dict()} {reads.samples[:3]}",
    )
    report.check(
        all(status == 0 for _name, (status, _s) in _dyno_stops(console_restarted)),
        f"console dynos did not exit 0 when restarted: {console_restarted}",
    )
    pending, counts = _settled_orders(harness, tag)
    duplicated = sorted(cid for cid, n in counts.items() if n != 1)
    missing = sorted(result.accepted - counts.keys())
    unanswered_recorded = sorted(counts.keys() - result.accepted)
    report.figures["restart_under_load"] = {
        **result.as_dict(),
        "restart": restarted,
        "orders_in_database": len(counts),
        "recorded_without_2xx": len(unanswered_recorded),
        "pending_after_grace": pending,
    }
    status = restarted.get("web.1", (None, 0.0))
    report.check(status[0] == 0, f"the restarted dyno exited {status[0]} (expected 0 after SIGTERM)")
    # In-flight requests: the stopped dyno drained them (exit 0 above, no SIGKILL) and none was
    # cut (H13). Requests that arrived while it was down waited in the router's queue, within
    # the router's 30 s (an H12 there would be the harness's stricter clock, not Heroku's).
    report.check(
        not result.router_errors.get("H13"), f"the router saw {result.router_errors['H13']} requests cut (H13)"
    )
    report.check(result.timeouts == 0, f"{result.timeouts} requests got no answer within the client's 35 s")
    report.check(max(result.latencies, default=0) < 31, f"a request took {max(result.latencies, default=0):.1f} s")
    report.check(not result.unanswered, f"{len(result.unanswered)} orders never got a final answer")
    report.check(not duplicated, f"orders recorded more than once: {duplicated[:5]}")
    report.check(not missing, f"2xx orders missing from the database: {missing[:5]}")
    report.check(not unanswered_recorded, f"orders recorded that no client was told about: {unanswered_recorded[:5]}")
    report.check(pending == 0, f"{pending} orders left pending (no broker answer) after the grace period")
    report.check(
        result.server_errors_not_503 == 0, f"{result.server_errors_not_503} 5xx other than 503: {result.samples[:3]}"
    )


def _dyno_stops(restarted: dict[str, Any]) -> list[tuple[str, tuple[int | None, float]]]:
    return [(k, v) for k, v in restarted.items() if isinstance(v, tuple)]


def _settled_orders(harness: HerokuLocal, tag: str, wait_s: float = 20.0) -> tuple[int, dict[str, int]]:
    """Orders of ``tag`` in Raptor staging's database, once nothing is pending (or ``wait_s``)."""
    addon = harness.apps[STAGING].addons["DATABASE"]
    deadline = time.monotonic() + wait_s
    while True:
        with addon.admin_connect() as conn:
            rows = conn.execute(
                "SELECT client_order_id, count(*), count(*) FILTER (WHERE status = 'new' AND broker_order_id IS NULL) "
                "FROM orders WHERE client_order_id LIKE %s GROUP BY client_order_id",
                (tag + "-%",),
            ).fetchall()
        pending = sum(int(r[2]) for r in rows)
        if pending == 0 or time.monotonic() > deadline:
            return pending, {str(r[0]): int(r[1]) for r in rows}
        time.sleep(1.0)


# -- 7. credential rotation ---------------------------------------------------------------


def _rotate_soon(harness: HerokuLocal, app: str) -> tuple[threading.Thread, dict[str, Any]]:
    """``heroku pg:credentials:rotate`` of ``app``'s database 2 s from now (while a load runs):
    the thread, and what it will have found (``urls``: old and new, ``seconds``)."""
    rotated: dict[str, Any] = {}

    def rotate_later() -> None:
        time.sleep(2)
        started = time.monotonic()
        rotated["urls"] = harness.rotate_credentials(app)
        rotated["seconds"] = round(time.monotonic() - started, 1)

    rotator = threading.Thread(target=rotate_later, daemon=True)
    rotator.start()
    return rotator, rotated


def _rotation(harness: HerokuLocal, formation: Formation, ctx: ssl.SSLContext, report: Report) -> None:
    """Rotated mid-run: 16 retrying clients keep submitting orders while the password changes
    and the dyno restarts on the new DATABASE_URL."""
    rotator, rotated = _rotate_soon(harness, STAGING)
    tag = "hx-rotation-" + secrets.token_hex(3)
    result = _load(formation, ctx, tag=tag, clients=16, seconds=12, retry=True)
    rotator.join(90)
    old, new = rotated["urls"]
    try:
        psycopg.connect(old, connect_timeout=5).close()
        report.failures.append("the old DATABASE_URL still connects after the rotation")
    except psycopg.OperationalError as exc:
        report.check("password" in str(exc), f"the old password was refused for another reason: {exc}")
    psycopg.connect(new, connect_timeout=5).close()
    dyno_env = harness.apps[STAGING].dynos["web.1"].env
    report.check(dyno_env["DATABASE_URL"] == new, "the restarted dyno did not get the new DATABASE_URL")
    pending, counts = _settled_orders(harness, tag)
    report.figures["rotation_under_load"] = {
        **result.as_dict(),
        "rotation_s": rotated["seconds"],
        "connections_reset": harness.apps[STAGING].addons["DATABASE"].reset_connections[-1],
        "orders_in_database": len(counts),
        "pending_after_grace": pending,
    }
    report.check(not result.unanswered, f"rotation: {len(result.unanswered)} orders never got a final answer")
    report.check(result.server_errors_not_503 == 0, f"rotation: 5xx other than 503: {result.samples[:3]}")
    report.check(
        set(counts) == result.accepted and all(n == 1 for n in counts.values()) and pending == 0,
        f"rotation: orders in the database do not match the answers ({len(counts)} vs {len(result.accepted)})",
    )
    _console_session(formation, ctx, report, "after_rotation")


# -- 7b. the console's database rotated under operators' actions ----------------------------


def _console_rotation(harness: HerokuLocal, formation: Formation, ctx: ssl.SSLContext, report: Report) -> None:
    """Rotated mid-run: API clients keep placing orders through the console while its database
    (users, tokens, the audit trail) changes password, loses its connections and its dynos
    restart. No action without its record: every order Raptor holds has its attempt and its
    outcome in the trail (the cut ones closed by ``raxx audit reconcile``, as the console's own
    reconciler does after 10 minutes), every order the console accepted is in Raptor, the
    chain verifies, and nobody was told 401 or a 5xx other than 503."""
    rotator, rotated = _rotate_soon(harness, CONSOLE)
    tag = "hx-console-rotation-" + secrets.token_hex(3)
    result = asyncio.run(
        submit_orders(
            formation.console_url + "/api/staging/orders",
            formation.console_token,
            tag=tag,
            clients=8,
            seconds=12,
            ssl_context=ctx,
            retry=True,
        )
    )
    rotator.join(90)
    reconciled, reconcile_out = harness.run(CONSOLE, "raxx audit reconcile --older-than 0s --lookback 1h")
    verified, verify_out = harness.run(CONSOLE, "raxx audit verify --no-record")
    _, in_raptor = _settled_orders(harness, tag)
    trail = _audited_placements(harness, tag)
    missing = sorted(set(in_raptor) - {cid for cid, outcomes in trail.items() if "ok" in outcomes})
    open_attempts = sorted(cid for cid, outcomes in trail.items() if None in outcomes)
    report.figures["console_rotation_under_actions"] = {
        **result.as_dict(),
        "rotation_s": rotated.get("seconds"),
        "connections_reset": harness.apps[CONSOLE].addons["DATABASE"].reset_connections[-1],
        "orders_in_raptor": len(in_raptor),
        "audit_attempts": sum(len(outcomes) for outcomes in trail.values()),
        "outcomes": dict(Counter(str(o) for outcomes in trail.values() for o in outcomes)),
        "reconcile": reconcile_out.strip().splitlines()[:1],
    }
    report.check(reconciled == 0, f"console rotation: audit reconcile exited {reconciled}: {reconcile_out[-400:]}")
    report.check(verified == 0, f"console rotation: the audit chain does not verify ({verified}): {verify_out[-400:]}")
    report.check(not missing, f"console rotation: orders in Raptor without an ok audit record: {missing[:5]}")
    report.check(not open_attempts, f"console rotation: attempts left without an outcome: {open_attempts[:5]}")
    report.check(
        result.accepted <= set(in_raptor),
        f"console rotation: accepted but not in Raptor: {sorted(result.accepted - set(in_raptor))[:5]}",
    )
    report.check(not result.unanswered, f"console rotation: {len(result.unanswered)} orders never got a final answer")
    wrong = {status: n for status, n in result.statuses.items() if not (200 <= status < 300 or status == 503)}
    report.check(not wrong, f"console rotation: answers other than 2xx and 503: {wrong} {result.samples[:3]}")


def _audited_placements(harness: HerokuLocal, tag: str) -> dict[str, list[str | None]]:
    """client order id -> the outcome of each of its ``order.place`` attempts (None: still open)."""
    addon = harness.apps[CONSOLE].addons["DATABASE"]
    with addon.admin_connect() as conn:
        rows = conn.execute(
            "SELECT a.params->>'client_order_id', o.outcome FROM audit_event a "
            "LEFT JOIN audit_event o ON o.attempt_id = a.event_id "
            "WHERE a.phase = 'attempt' AND a.action = 'order.place' AND a.environment = 'staging' "
            "AND a.params->>'client_order_id' LIKE %s",
            (tag + "-%",),
        ).fetchall()
    trail: dict[str, list[str | None]] = {}
    for client_order_id, outcome in rows:
        trail.setdefault(str(client_order_id), []).append(None if outcome is None else str(outcome))
    return trail


# -- 8. stopping --------------------------------------------------------------------------


def _clean_stop(harness: HerokuLocal, report: Report) -> None:
    statuses = harness.stop()
    report.figures["stop_exit_statuses"] = statuses
    report.check(all(s == 0 for s in statuses.values()), f"dynos did not exit 0 on SIGTERM: {statuses}")
    killed = [f"{a.name} {n}" for a in harness.apps.values() for n, d in a.dynos.items() if d.killed]
    report.check(not killed, f"dynos needed SIGKILL (R12): {killed}")
    tracebacks = harness.grep_logs("Traceback")
    report.check(not tracebacks, f"{len(tracebacks)} tracebacks in the logs, e.g. {tracebacks[:3]}")


# -- 9. memory ------------------------------------------------------------------------------


def _memory(harness: HerokuLocal, report: Report) -> None:
    """Every dyno within its size's memory quota all along (no R14); each one's peak."""
    quota = harness.memory.quota_mb
    peaks = {name: round(mb) for name, mb in sorted(harness.memory.peaks_mb.items())}
    report.figures["memory_quota_mb"] = quota
    report.figures["memory_peak_mb"] = peaks
    report.check(bool(peaks), "no dyno's memory was sampled")
    over = {name: mb for name, mb in peaks.items() if mb > quota}
    report.check(not over and not harness.memory.r14, f"dynos over their {quota} MB memory quota (R14): {over}")
