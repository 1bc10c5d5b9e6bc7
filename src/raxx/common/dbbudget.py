"""The connection budget: every pool a process opens is sized here, from one declared budget.

A Heroku Postgres plan allows a fixed number of connections for everything that touches the
database at once: every worker of every web dyno, the release phase (which runs while the
old release still serves), the monitor, a one-off dyno (``heroku run``, a CI job running
``raxx gate``). A pool sized from local defaults overruns it on the first busy day, and the
database then answers ``too many connections`` to whoever asks next. So the budget is
declared once per app (``RAXX_*`` config vars, read by every process of the app) and this
module turns it into each process's pool sizes, the same arithmetic for the web workers,
the release phase, the monitor and the one-offs:

* the limit: ``RAXX_DB_CONNECTION_LIMIT``, else the limit of ``RAXX_DB_PLAN`` (a Heroku
  Postgres plan name), else none declared (local: every process keeps a fixed local size);
* fixed reservations: the release phase, one one-off, the monitor where it connects, the
  console workers' ledger reads where they connect (``RESERVED``);
* what is left is shared evenly by the web workers: ``RAXX_WEB_DYNOS`` x ``WEB_CONCURRENCY``,
  each at most its local size (``LOCAL_WEB_WORKER``);
* each web worker splits its share between its pools (``Lane``: a minimum each, the rest by
  weight). A share below the minimums refuses to start (``BudgetTooSmall``, exit 78).

Pools never overflow (a connection beyond the size would be one the budget did not count)
and a request waits at most ``ACQUIRE_TIMEOUT_S`` for a connection: well inside the Heroku
router's 30 s, and long enough that only a real overload ends in a 503 with ``Retry-After``.
Pure: no I/O here, so the arithmetic is tested on its own (``tests/common/test_dbbudget.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from raxx.common.errors import ConfigError

#: Connection limits of the Heroku Postgres plans (Dev Center, "Choosing the Right Heroku
#: Postgres Plan" and the Essential tier's page): Essential 0 and 1 allow 20, Essential 2
#: allows 40; Standard 0 allows 120, Standard 2 allows 400, Standard 3 and above 500.
#: Premium, Private and Shield plans allow what the Standard plan of the same number does.
PLAN_LIMITS: Final[Mapping[str, int]] = {
    "essential-0": 20,
    "essential-1": 20,
    "essential-2": 40,
    **{
        f"{tier}-{size}": 120 if size == 0 else 400 if size == 2 else 500
        for tier in ("standard", "premium", "private", "shield")
        for size in (0, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    },
}
#: Connections held back for whatever runs beside the web dynos. The release phase runs
#: ``raxx release`` while the previous release still serves (its migration connection and
#: the check of the schema's heads); a one-off is ``heroku run raxx ...``, ``heroku
#: pg:psql`` or a CI job's ``raxx gate`` (each of our commands opens at most this many);
#: the monitor writes its samples and the board; each console web worker reads the board.
RELEASE_PHASE: Final = 2
ONE_OFF: Final = 2
MONITOR: Final = 2
LEDGER_READ: Final = 1
#: What a web worker may hold when no limit is declared (``raxx up``, tests, benchmarks).
LOCAL_WEB_WORKER: Final[Mapping[str, int]] = {"raptor": 25, "console": 10}
#: How long a request waits for a pooled connection before it is refused with a 503
#: (``DatabaseBusy``, whose ``Retry-After`` is in ``raxx.common.errors``).
ACQUIRE_TIMEOUT_S: Final = 5.0


class BudgetTooSmall(ConfigError):
    """The declared formation cannot fit the database's connection limit."""


class BudgetSettings(BaseSettings):
    """The declared budget: ``RAXX_*`` config vars, the same for every process of an app."""

    model_config = SettingsConfigDict(env_prefix="RAXX_", extra="ignore", populate_by_name=True)

    db_plan: str | None = Field(default=None, description="Heroku Postgres plan of DATABASE_URL, e.g. essential-0")
    db_connection_limit: int | None = Field(
        default=None, ge=1, description="connections the app's database allows; overrides the plan's"
    )
    ledger_db_plan: str | None = Field(default=None, description="plan of the gate's ledger (GATE_DATABASE_URL)")
    ledger_db_connection_limit: int | None = Field(default=None, ge=1, description="overrides the ledger plan's")
    web_dynos: int = Field(default=1, ge=1, description="web dynos of this app (count a restart's overlap too)")
    web_concurrency: int = Field(
        default=1,
        ge=1,
        validation_alias=AliasChoices("WEB_CONCURRENCY", "web_concurrency"),
        description="workers per web dyno (Heroku's WEB_CONCURRENCY)",
    )

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Each field's environment variable."""
        return {
            name: "WEB_CONCURRENCY" if name == "web_concurrency" else f"RAXX_{name.upper()}"
            for name in cls.model_fields
        }

    @property
    def declared(self) -> bool:
        return any(v is not None for v in (self.db_plan, self.db_connection_limit))


def plan_limit(plan: str | None, explicit: int | None, *, setting: str) -> tuple[int | None, str]:
    """The limit and where it comes from; an unknown plan name is refused by name."""
    if explicit is not None:
        return explicit, f"{setting}_CONNECTION_LIMIT={explicit}"
    if plan is None:
        return None, "no limit declared"
    name = plan.strip().lower().removeprefix("heroku-postgresql:")
    if name not in PLAN_LIMITS:
        known = ", ".join(sorted(PLAN_LIMITS, key=lambda n: (n.split("-")[0], int(n.split("-")[1]))))
        raise ConfigError(f"{setting}_PLAN is invalid: {plan!r} is not a Heroku Postgres plan ({known})")
    return PLAN_LIMITS[name], f"plan {name} ({PLAN_LIMITS[name]})"


@dataclass(frozen=True)
class Lane:
    """One pool of a process: at least ``minimum`` connections, a ``weight`` of the rest."""

    name: str
    minimum: int
    weight: int


def split(total: int, lanes: Sequence[Lane]) -> dict[str, int]:
    """``total`` connections over ``lanes``: each its minimum, the rest by weight (largest
    remainder, ties to the earlier lane). Raises ``ValueError`` when the minimums do not fit."""
    needed = sum(lane.minimum for lane in lanes)
    if total < needed:
        raise ValueError(f"{total} < {needed}")
    rest = total - needed
    weights = sum(lane.weight for lane in lanes)
    exact = [rest * lane.weight / weights for lane in lanes]
    sizes = [lane.minimum + int(share) for lane, share in zip(lanes, exact, strict=True)]
    left = total - sum(sizes)
    by_remainder = sorted(range(len(lanes)), key=lambda i: (-(exact[i] - int(exact[i])), i))
    for i in by_remainder[:left]:
        sizes[i] += 1
    return {lane.name: size for lane, size in zip(lanes, sizes, strict=True)}


@dataclass(frozen=True)
class DatabaseBudget:
    """One database's connections: its limit, the fixed reservations, the web workers' share."""

    database: str
    limit: int | None
    source: str
    web_workers: int
    reserved: tuple[tuple[str, int], ...]
    local_share: int = 0

    @property
    def reserved_total(self) -> int:
        return sum(n for _, n in self.reserved)

    def web_share(self) -> int:
        """What each web worker may hold: an even share of what the reservations leave, at
        most the local size (the sizes measured in ``bench/``: more connections per worker
        only queue more work on the database), which is also the size when no limit is declared."""
        if self.limit is None:
            return self.local_share
        if self.web_workers == 0:
            return 0
        return min(max(self.limit - self.reserved_total, 0) // self.web_workers, self.local_share)

    def check_reservations(self) -> None:
        if self.limit is not None and self.reserved_total > self.limit:
            raise BudgetTooSmall(f"{self.explain()}: the reservations alone exceed the limit; use a larger plan")

    def explain(self) -> str:
        """One line: the limit, what is reserved, and each web worker's share."""
        if self.limit is None:
            return f"{self.database}: {self.source}, local sizes"
        held = ", ".join(f"{name} {n}" for name, n in self.reserved)
        line = f"{self.database}: {self.source}, reserved {self.reserved_total} ({held})"
        if self.web_workers:
            left = self.limit - self.reserved_total
            line += f", {left} left for {self.web_workers} web workers: {self.web_share()} each"
            if self.web_share() == self.local_share:
                line += " (the most one uses)"
        return line


@dataclass(frozen=True)
class Pools:
    """The pools one process opens to one database, by name, within ``budget``."""

    process: str
    budget: DatabaseBudget
    sizes: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.sizes.values())

    def __getitem__(self, lane: str) -> int:
        return self.sizes[lane]

    def log_fields(self) -> dict[str, Any]:
        """What the start-up log line ``db.budget.ok`` carries (``raxx.common.logging.log_pools``)."""
        return {
            "holder": self.process,  # ("process" is a field of every log record: the pid)
            "database": self.budget.database,
            "pools": dict(self.sizes),
            "connections": self.total,
            "limit": self.budget.limit,
            "budget": self.budget.explain(),
        }


def web_pools(process: str, budget: DatabaseBudget, lanes: Sequence[Lane]) -> Pools:
    """A web worker's pools: its share of ``budget`` split over ``lanes``, or a refusal that
    says why and what to change."""
    budget.check_reservations()
    share = budget.web_share()
    try:
        return Pools(process, budget, split(share, lanes))
    except ValueError:
        needed = ", ".join(f"{lane.name} {lane.minimum}" for lane in lanes)
        raise BudgetTooSmall(
            f"{budget.explain()}; a {process} needs at least {sum(lane.minimum for lane in lanes)} ({needed}): "
            "lower WEB_CONCURRENCY or RAXX_WEB_DYNOS, or use a larger plan"
        ) from None


def fixed_pools(process: str, budget: DatabaseBudget, lane: str, size: int) -> Pools:
    """A process with a fixed reservation (release phase, one-off, monitor, ledger reads)."""
    budget.check_reservations()
    return Pools(process, budget, {lane: size})


# -- the formations of our apps -------------------------------------------------------------
# Which processes share which database. Every process of an app computes the same figures,
# so the release phase, a one-off and the web workers agree on what the others may hold.


def _reservations(*, monitor: bool, ledger_reads: int) -> tuple[tuple[str, int], ...]:
    held = [("release phase", RELEASE_PHASE), ("one-off", ONE_OFF)]
    if monitor:
        held.append(("monitor", MONITOR))
    if ledger_reads:
        held.append(("console ledger reads", ledger_reads))
    return tuple(held)


def app_database(
    settings: BudgetSettings, app: str, *, monitor: bool = False, ledger_reads: bool = False
) -> DatabaseBudget:
    """The budget of ``app``'s own database (``DATABASE_URL``): its web workers share what the
    release phase, a one-off (and the monitor or the ledger reads, when the gate's ledger
    lives in this same database) leave."""
    limit, source = plan_limit(settings.db_plan, settings.db_connection_limit, setting="RAXX_DB")
    workers = settings.web_dynos * settings.web_concurrency
    return DatabaseBudget(
        database=f"{app} database",
        limit=limit,
        source=source,
        web_workers=workers,
        reserved=_reservations(monitor=monitor, ledger_reads=LEDGER_READ * workers if ledger_reads else 0),
        local_share=LOCAL_WEB_WORKER[app],
    )


def ledger_database(settings: BudgetSettings, *, console_reads: bool) -> DatabaseBudget:
    """The gate's ledger (on the console app): the monitor, the console workers' board reads,
    the console's release phase (it migrates the ledger) and one one-off (a CI ``raxx gate``)."""
    limit, source = plan_limit(settings.ledger_db_plan, settings.ledger_db_connection_limit, setting="RAXX_LEDGER_DB")
    workers = settings.web_dynos * settings.web_concurrency
    return DatabaseBudget(
        database="ledger",
        limit=limit,
        source=source,
        web_workers=0,
        reserved=_reservations(monitor=True, ledger_reads=LEDGER_READ * workers if console_reads else 0),
    )


#: Raptor's pools (``raxx.raptor.database``): the request's transactions and small reads
#: (SQLAlchemy), the hot statements on psycopg's own pool (the paper batcher holds one of
#: them while orders keep coming, so two at least: lists never wait behind it; with Alpaca,
#: the account's request budget takes one for one short statement per Alpaca request, and
#: no Alpaca path holds one while it asks the broker), and the paper venue's own (a request
#: holding its transaction may ask the venue; the venue never waits for a request's
#: connection, so two pools cannot deadlock).
RAPTOR_LANES: Final = (Lane("request", 2, 2), Lane("driver", 2, 2), Lane("venue", 1, 1))
RAPTOR_LANES_NO_VENUE: Final = RAPTOR_LANES[:2]
#: The console's one pool: sessions, the audit trail, API tokens, its background tasks.
CONSOLE_LANES: Final = (Lane("app", 2, 1),)


def raptor_web_pools(settings: BudgetSettings, *, paper: bool) -> Pools:
    """A Raptor web worker's pools (``request``, ``driver`` and, on the paper venue, ``venue``)."""
    lanes = RAPTOR_LANES if paper else RAPTOR_LANES_NO_VENUE
    return web_pools("raptor web worker", app_database(settings, "raptor"), lanes)


def console_web_pools(settings: BudgetSettings, *, database_url: str, ledger_url: str | None) -> Pools:
    """A console web worker's pool on the console database (``app``). When the gate's ledger
    lives in that same database, the monitor and the board reads are reserved there too."""
    shared = ledger_url is not None and same_database(ledger_url, database_url)
    budget = app_database(settings, "console", monitor=shared, ledger_reads=shared)
    return web_pools("console web worker", budget, CONSOLE_LANES)


def same_database(a: str, b: str) -> bool:
    """Whether two PostgreSQL URLs name one database (host, port, name; roles may differ)."""

    def where(url: str) -> tuple[str | None, int, str]:
        parts = urlsplit(url)
        return parts.hostname, parts.port or 5432, parts.path.lstrip("/")

    return where(a) == where(b)


def one_off_pools(settings: BudgetSettings, app: str, process: str = "one-off") -> Pools:
    """A command run beside the web dynos (``heroku run raxx ...``): the one-off reservation."""
    return fixed_pools(process, app_database(settings, app), "pool", ONE_OFF)


def release_pools(settings: BudgetSettings, app: str) -> Pools:
    return fixed_pools("release phase", app_database(settings, app), "migrations", RELEASE_PHASE)


def monitor_pools(settings: BudgetSettings) -> Pools:
    return fixed_pools("monitor", ledger_database(settings, console_reads=True), "pool", MONITOR)


def ledger_read_pools(settings: BudgetSettings) -> Pools:
    return fixed_pools("console web worker", ledger_database(settings, console_reads=True), "ledger", LEDGER_READ)


def gate_command_pools(settings: BudgetSettings) -> Pools:
    """A ``raxx gate`` command (CI, or a one-off on the console app): the ledger's one-off."""
    return fixed_pools("gate command", ledger_database(settings, console_reads=True), "pool", ONE_OFF)
