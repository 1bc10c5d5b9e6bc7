"""Database URLs read at run time from a Heroku app's config vars, never copied.

Heroku rotates Heroku Postgres credentials (maintenance, ``pg:credentials:rotate``) and
then changes ``DATABASE_URL`` and every other attachment's URL on the apps it is attached
to; the dynos restart with the new values. A copy kept elsewhere (a GitHub secret) goes
stale at that moment and breaks every deploy until someone notices. So a deploy-time
command is told *where* the URL lives, ``GATE_DATABASE_URL_FROM=acme-console:GATE_DATABASE_URL``
("config var GATE_DATABASE_URL of app acme-console"), and reads it through the Platform
API with the deploy token each time it runs. If a connection fails later in the same run,
the engine reads it again (``raxx.common.db.create_engine(refresh_url=...)``), so a rotation
in the middle of a long deploy costs one failed connection, not the deploy.

Under GitHub Actions every value read is masked (``::add-mask::``), so the runner redacts
it from the log as it does a secret's.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

from raxx.common.db import UrlRefresh
from raxx.common.errors import ConfigError, Unavailable
from raxx.gate.platform.heroku_api import HerokuClient
from raxx.gate.platform.heroku_types import HerokuAuthError, HerokuError, HerokuNotFound

# Heroku's app name pattern (platform-api schema: app/definitions/name) and a config var name.
_REF = re.compile(r"^(?P<app>[a-z][a-z0-9-]{1,28}[a-z0-9]):(?P<var>[A-Za-z_][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class ConfigVarRef:
    """Config var ``var`` of Heroku app ``app``; written ``APP:VAR``."""

    app: str
    var: str
    setting: str  # the setting that named it, for messages

    @classmethod
    def parse(cls, text: str, *, setting: str) -> ConfigVarRef:
        match = _REF.match(text.strip())
        if match is None:
            raise ConfigError(
                f"{setting} must be APP:VAR, a Heroku app and one of its config vars "
                f"(e.g. acme-console:GATE_DATABASE_URL), got {text!r}"
            )
        return cls(app=match["app"], var=match["var"], setting=setting)

    def __str__(self) -> str:
        return f"{self.app}:{self.var}"


class ConfigVarReader:
    """Reads config vars through the Platform API each time it is asked (a client per read:
    a refresh may come long after the first read, from a connection pool's callback)."""

    def __init__(self, client: Callable[[], HerokuClient]) -> None:
        self._client = client

    async def read(self, ref: ConfigVarRef) -> str:
        where = f"{ref.setting}={ref}: config var {ref.var} of Heroku app {ref.app}"
        client = self._client()
        try:
            values = await client.config_vars(ref.app)
        except (HerokuAuthError, HerokuNotFound) as exc:
            raise ConfigError(
                f"{where} cannot be read ({exc.detail}); the token needs access to the app's config vars "
                "(an authorization with the read-protected or global scope)"
            ) from None
        except HerokuError as exc:
            raise Unavailable(f"{where} cannot be read now ({exc.detail})") from None
        finally:
            await client.aclose()
        value = values.get(ref.var)
        if not value:
            raise ConfigError(f"{where} is not set (the app has {len(values)} other config vars)")
        mask_in_github_actions(value)
        return value

    def refresher(self, ref: ConfigVarRef) -> UrlRefresh:
        """For an engine: after a failed connection, the var's value now (None if unchanged)."""

        async def refresh(failed_with: str) -> str | None:
            current = await self.read(ref)
            return None if current == failed_with else current

        return refresh


def mask_in_github_actions(value: str) -> None:
    """Tell the GitHub Actions runner to redact ``value`` (and its password, if it is a URL)
    from the log. Written to stderr: the runner reads workflow commands from both streams,
    and stdout stays clean for ``--json``."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    password = re.match(r"^[a-z+]+://[^:/@]*:(?P<password>[^@]+)@", value)
    for secret in (value, password["password"] if password else None):
        if secret:
            sys.stderr.write(f"::add-mask::{secret}\n")
    sys.stderr.flush()
