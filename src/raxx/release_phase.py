"""The release phase (the Procfile's ``release``): migrate the app's database, and refuse a
formation the connection budget cannot fit. Part of what a deployed process is (``raxx.runtime``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

from raxx.common.errors import ConfigError
from raxx.common.secrets import ChainSecrets
from raxx.runtime import APP_VAR, AppSpec, app_spec, budget_from, open_secrets

log = logging.getLogger("raxx.runtime")


def run_release(say: Callable[[str], None], environ: Mapping[str, str] | None = None) -> None:
    """The Procfile's ``release``: migrate the app's database, ``say``-ing each line as it happens.

    Heroku runs it for every new release (build, promotion, rollback, config change); a
    failure keeps the current release running. The app that hosts the gate's monitor
    (``GATE_DATABASE_URL`` set) also migrates the ledger, after the app's own database: each
    database's migrations are one transaction, so when the ledger's fail the app's stay
    applied, and the output says so (expand/contract: the running release works on them).
    """
    values = dict(os.environ if environ is None else environ)
    spec = app_spec(values.get(APP_VAR), web=True)
    chain = open_secrets(spec, values)
    owner = chain.get(f"{spec.prefix}MIGRATION_DATABASE_URL") or chain.get(spec.database_var)
    if not owner:
        raise ConfigError(f"{spec.database_var} is required but not set (on Heroku: attach Postgres for DATABASE_URL)")
    check_formation(spec, chain, values)
    trees = [(spec.tree, owner, chain.get(spec.database_var))]
    ledger = chain.get("GATE_MIGRATION_DATABASE_URL") or chain.get("GATE_DATABASE_URL")
    if ledger:
        trees.append(("ledger", ledger, chain.get("GATE_DATABASE_URL")))
    from raxx.common.release import MIGRATIONS_APPLIED_MARKER

    done: list[str] = []
    for tree, url, runtime in trees:
        try:
            line = migrate_one(tree, url, runtime)
        except Exception:
            kept = f"; {', '.join(done)} (kept: migrations are expand/contract)" if done else ""
            say(f"raxx release: the {tree} migrations failed (rolled back, the reason follows){kept}")
            raise
        say(line)
        if MIGRATIONS_APPLIED_MARKER in line:
            done.append(f"{tree}: migrated in this release phase")


def check_formation(spec: AppSpec, chain: ChainSecrets, environ: Mapping[str, str]) -> None:
    """State the release phase's own connections and refuse a formation the connection
    budget cannot fit: a failed release phase keeps the current release (and its config)
    serving, so a config change that would overrun the database never goes live."""
    from raxx.common import dbbudget
    from raxx.common.logging import log_pools

    budget = budget_from(environ)
    checked = [dbbudget.release_pools(budget, spec.name)]
    if spec.name == "raptor":
        paper = (chain.get("RAPTOR_BROKER") or "paper") == "paper"
        checked.append(dbbudget.raptor_web_pools(budget, paper=paper))
    else:
        database_url = chain.get(spec.database_var) or ""
        ledger_url = chain.get("CONSOLE_LEDGER_DATABASE_URL")
        checked.append(dbbudget.console_web_pools(budget, database_url=database_url, ledger_url=ledger_url))
        if chain.get("GATE_DATABASE_URL"):
            checked.append(dbbudget.monitor_pools(budget))
    log_pools(log, *checked)


def migrate_one(tree: str, owner: str, runtime: str | None) -> str:
    """Migrate ``tree`` to head and say what happened, with the marker the Heroku platform reads.

    After a rollback the database may be ahead of this code (a revision it does not know):
    that is left as is, since migrations are expand/contract, and the release goes ahead.
    """
    from raxx.common.migrations import heads_at, known_revisions, upgrade
    from raxx.common.release import MIGRATIONS_APPLIED_MARKER, NO_MIGRATIONS_MARKER

    before = heads_at(owner)
    unknown = before - known_revisions(tree)
    if unknown:
        return (
            f"{NO_MIGRATIONS_MARKER}: {tree} is at {', '.join(sorted(unknown))}, newer than this release "
            "(a rollback); the schema is left as it is"
        )
    upgrade(tree, owner, runtime_url=runtime)
    after = heads_at(owner)
    if after == before:
        return f"{NO_MIGRATIONS_MARKER}: {tree} already at {', '.join(sorted(after)) or 'base'}"
    was = ", ".join(sorted(before)) or "base"
    return f"{MIGRATIONS_APPLIED_MARKER}: {tree} {was} -> {', '.join(sorted(after))}"
