"""Raxx's three Heroku apps, set up as docs/deploying-heroku.md says, on the harness.

``raxx-raptor-staging`` and ``raxx-raptor-prod`` (``RAXX_APP=raptor``, one web dyno each),
``raxx-console`` (``RAXX_APP=console``, two web dynos and the ``monitor``, with a second
Postgres add-on attached as ``GATE_DATABASE`` for the release ledger). Every config var
below is declared in app.json; the console reaches each Raptor at its router's https URL.
Secrets the docs put in Infisical are config vars here (the chain's fallback): the harness
has no Infisical.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from raxx.console.audit.keys import SigningKey
from tests.heroku.dyno import BASIC_WEB_CONCURRENCY
from tests.heroku.platform import HerokuLocal

RAPTORS = {"staging": "raxx-raptor-staging", "prod": "raxx-raptor-prod"}
CONSOLE = "raxx-console"
OPERATOR = "harness-ops"


@dataclass
class Formation:
    harness: HerokuLocal
    raptor_tokens: dict[str, str] = field(default_factory=dict)
    console_token: str = ""
    operator_password: str = ""
    boot_s: dict[str, float] = field(default_factory=dict)

    def url(self, app: str) -> str:
        return self.harness.apps[app].url

    def raptor_url(self, env: str) -> str:
        return self.url(RAPTORS[env])

    @property
    def console_url(self) -> str:
        return self.url(CONSOLE)


def write_registry(path: Path, urls: dict[str, str]) -> Path:
    """The console's environment registry, as deploy/heroku/environments.toml but with the routers' URLs."""
    path.write_text(
        'default = "staging"\n\n'
        f'[environments.staging]\nlabel = "STAGING"\ncolor = "#b45309"\nraptor_url = "{urls["staging"]}"\n'
        'token_secret = "RAPTOR_TOKEN_STAGING"\n\n'
        f'[environments.prod]\nlabel = "PRODUCTION"\ncolor = "#b91c1c"\nraptor_url = "{urls["prod"]}"\n'
        'token_secret = "RAPTOR_TOKEN_PROD"\nprotected = true\n'
        'confirm_actions = ["order.place", "order.cancel_all", "trading.halt", "trading.resume"]\n'
    )
    return path


def bring_up(harness: HerokuLocal, *, fresh_slug: bool = False, compress: bool = False) -> Formation:
    """Build, provision, release and start all three apps; issue the tokens an operator needs."""
    formation = Formation(harness)
    harness.build(fresh=fresh_slug, compress=compress)
    harness.open_database_server()
    for app in RAPTORS.values():
        harness.create_app(app, {"web": 1})
    harness.create_app(CONSOLE, {"web": 2, "monitor": 1}, extra_databases=("GATE_DATABASE",))
    harness.start_router([*RAPTORS.values(), CONSOLE])
    for env, app in RAPTORS.items():
        harness.release(
            app,
            {"RAXX_APP": "raptor", "RAPTOR_ENVIRONMENT": env, "RAPTOR_BROKER": "paper", **budget(harness, app)},
            "Deploy (first release)",
        )
        formation.boot_s.update({f"{app} {k}": v for k, v in harness.start_formation(app).items()})
        formation.raptor_tokens[env] = one_off_line(
            harness,
            app,
            f"raxx raptor token issue --env {env} --scope read --scope trade --scope admin --name console "
            '--database-url "$DATABASE_URL"',
        )
    registry = write_registry(
        harness.state / "environments.toml", {env: harness.apps[app].url for env, app in RAPTORS.items()}
    )
    harness.release(
        CONSOLE,
        {
            "RAXX_APP": "console",
            "CONSOLE_SECRET_KEY": secrets.token_urlsafe(48),
            "CONSOLE_AUDIT_SIGNING_KEY": SigningKey.generate().compact(),
            "CONSOLE_ENVIRONMENTS_FILE": str(registry),
            "RAPTOR_TOKEN_STAGING": formation.raptor_tokens["staging"],
            "RAPTOR_TOKEN_PROD": formation.raptor_tokens["prod"],
            "GATE_URL_RAPTOR_STAGING": harness.apps[RAPTORS["staging"]].url,
            "GATE_URL_RAPTOR_PROD": harness.apps[RAPTORS["prod"]].url,
            "GATE_URL_CONSOLE_PROD": harness.apps[CONSOLE].url,
            **budget(harness, CONSOLE),
        },
        "Deploy (first release)",
    )
    formation.boot_s.update({f"{CONSOLE} {k}": v for k, v in harness.start_formation(CONSOLE).items()})
    formation.operator_password = secrets.token_urlsafe(18)
    status, output = harness.run(
        CONSOLE,
        f"raxx console user add {OPERATOR} --role admin --env staging --env prod --password-stdin "
        '--database-url "$DATABASE_URL"',
        stdin=formation.operator_password + "\n",
    )
    if status != 0:
        raise RuntimeError(f"console user add failed ({status}):\n{output}")
    formation.console_token = one_off_line(
        harness,
        CONSOLE,
        f"raxx console token create harness --user {OPERATOR} --env staging --env prod --confirm prod "
        '--database-url "$DATABASE_URL"',
    )
    return formation


def budget(harness: HerokuLocal, app: str) -> dict[str, str]:
    """The connection budget's declaration (issue 17 item 2, ``raxx.common.dbbudget``): the
    Postgres plan of each attachment, the web dynos that share it and their workers, as the
    deploying docs set them; only what app.json declares (a tree without the budget has none)."""
    formation = harness.apps[app].formation
    declared = {
        "RAXX_DB_PLAN": harness.manifest.postgres_plan,
        "RAXX_WEB_DYNOS": str(formation.get("web", 1)),
        "WEB_CONCURRENCY": BASIC_WEB_CONCURRENCY,
    }
    if "GATE_DATABASE" in harness.apps[app].addons:
        declared["RAXX_LEDGER_DB_PLAN"] = harness.manifest.postgres_plan
    return {name: value for name, value in declared.items() if name in harness.manifest.declared}


def one_off_line(harness: HerokuLocal, app: str, command: str) -> str:
    """Run a one-off dyno whose standard output is one line: a secret it printed once (a token)."""
    status, output = harness.run(app, command)
    lines = [line for line in output.splitlines() if line.strip()][:1]
    if status != 0 or not lines:
        raise RuntimeError(f"{app}: `{command}` exited {status}:\n{output}")
    return lines[-1].strip()
