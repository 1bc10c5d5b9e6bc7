"""``raxx console token ...``: personal API tokens for the console's JSON API, each change
audited as the tokens page records it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from raxx.common.actions import CREATE_TOKEN, REVOKE_TOKEN
from raxx.common.cliparams import ENVIRONMENT, LINE
from raxx.console.audit.cli import audited_command, unaudited
from raxx.console.command_runner import database_option, refused, run_audited, run_in_db

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from raxx.console.audit.events import ActionScope


@click.group()
def token() -> None:
    """Personal API tokens for the console's JSON API (/api/ENV/...)."""


@audited_command(CREATE_TOKEN)
@token.command("create")
@click.argument("name", type=LINE)
@click.option("--user", "user_name", required=True, help="the operator the token acts as (with their roles)", type=LINE)
@click.option(
    "--env",
    "envs",
    type=ENVIRONMENT,
    multiple=True,
    help="an environment the token acts in (repeatable; default: the registry's default, staging)",
)
@click.option(
    "--confirm", "confirmed", multiple=True, help="type each protected environment's name again (e.g. --confirm prod)"
)
@click.option("--expires-days", type=click.IntRange(1, 366), default=None, help="default: never expires")
@database_option
def token_create(
    name: str,
    user_name: str,
    envs: tuple[str, ...],
    confirmed: tuple[str, ...],
    expires_days: int | None,
    database_url: str | None,
) -> None:
    """Create a token acting only in the named environments; it is printed once, and only its
    hash is stored. A protected environment (prod) is never a default and needs --confirm."""
    from raxx.common.environments import EnvironmentRegistry, registry_file
    from raxx.console.actions import ActionCall
    from raxx.console.apitoken import service

    registry = EnvironmentRegistry.from_toml(registry_file())
    scope = list(dict.fromkeys(envs)) or [registry.default]
    # The page's parameters, and what only the command line chooses: whose token it is, and
    # its whole scope.
    params = {
        "expires_days": expires_days,
        "token_environment": ",".join(scope),
        "user": user_name,
        "environments": scope,
    }
    action = ActionCall(CREATE_TOKEN, service.audit_environment(scope), target=name, params=params)
    unconfirmed = [e for e in scope if registry[e].protected and e not in confirmed]
    if unconfirmed:
        raise refused(
            database_url, action, f"{', '.join(unconfirmed)} is protected: add --confirm {unconfirmed[0]} to allow it"
        )

    async def work(db: AsyncSession, recorded: ActionScope) -> service.NewToken:
        made = await service.create(db, user_name=user_name, name=name, expires_days=expires_days, environments=scope)
        recorded.set(token_id=made.token_id, token_environments=list(made.environments))  # never the plaintext
        return made

    created = run_audited(database_url, action, work)
    expiry = created.expires_at.date().isoformat() if created.expires_at else "never"
    click.echo(f"token {created.token_id} for {created.user_name} ({name}), expires {expiry}", err=True)
    click.echo(f"it is shown once; it acts with the user's role only in: {', '.join(created.environments)}", err=True)
    click.echo(created.plaintext)


@unaudited("reads")
@token.command("list")
@click.option("--user", "user_name", default=None, help="only this operator's tokens", type=LINE)
@database_option
def token_list(user_name: str | None, database_url: str | None) -> None:
    """List tokens (never their secrets)."""
    from raxx.console.apitoken import repository

    rows = run_in_db(database_url, repository.all_with_users)
    click.echo(f"{'id':<18}{'user':<16}{'name':<28}{'acts in':<16}{'created':<12}{'expires':<12}state")
    for tok, owner in rows:
        if user_name and owner != user_name:
            continue
        state = "revoked" if tok.revoked_at else "live"
        expires = tok.expires_at.date().isoformat() if tok.expires_at else "never"
        click.echo(
            f"{tok.token_id:<18}{owner:<16}{tok.name[:27]:<28}{','.join(tok.environments)[:15]:<16}"
            f"{tok.created_at.date().isoformat():<12}{expires:<12}{state}"
        )


@audited_command(REVOKE_TOKEN)
@token.command("revoke")
@click.argument("token_id", type=LINE)
@database_option
def token_revoke(token_id: str, database_url: str | None) -> None:
    """Revoke a token by its id (the part after rxc_). Running consoles refuse it within seconds."""
    from raxx.console.actions import ActionCall
    from raxx.console.apitoken import service

    acts_in = run_in_db(database_url, lambda db: service.environments_of(db, token_id))
    action = ActionCall(REVOKE_TOKEN, service.audit_environment(acts_in), target=token_id)

    async def work(db: AsyncSession, recorded: ActionScope) -> None:
        revoked = await service.revoke(db, token_id)
        recorded.set(token_id=token_id, token_environments=list(revoked))  # as the tokens page records it

    run_audited(database_url, action, work)
    click.echo(f"token {token_id} revoked")
