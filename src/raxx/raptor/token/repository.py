"""SQL for tokens: async lookup on the request path, sync writes for the CLI and ``raxx up``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from raxx.raptor.models.token import ApiToken

_TOKENS = cast(Table, ApiToken.__table__)


@dataclass(frozen=True)
class TokenRecord:
    id: str
    environment: str
    name: str
    scopes: tuple[str, ...]
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None


def _record(row: object) -> TokenRecord:
    m = row._mapping  # type: ignore[attr-defined]
    return TokenRecord(
        id=m["id"],
        environment=m["environment"],
        name=m["name"],
        scopes=tuple(m["scopes"]),
        secret_hash=m["secret_hash"],
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )


async def find(conn: AsyncConnection, token_id: str) -> TokenRecord | None:
    row = (await conn.execute(select(_TOKENS).where(_TOKENS.c.id == token_id))).first()
    return _record(row) if row else None


def insert(
    conn: Connection, *, token_id: str, environment: str, name: str, scopes: list[str], secret_hash: str
) -> None:
    conn.execute(
        _TOKENS.insert().values(id=token_id, environment=environment, name=name, scopes=scopes, secret_hash=secret_hash)
    )


def environments(conn: Connection) -> set[str]:
    """The environments of the tokens this database holds (its deployment's, as a rule)."""
    return set(conn.execute(select(_TOKENS.c.environment).distinct()).scalars())


def list_all(conn: Connection) -> list[TokenRecord]:
    rows = conn.execute(select(_TOKENS).order_by(_TOKENS.c.created_at, _TOKENS.c.id)).all()
    return [_record(r) for r in rows]


def revoke(conn: Connection, token_id: str) -> bool:
    """Mark a token revoked; False when no such token exists. Revoking twice keeps the first time."""
    result = conn.execute(
        update(_TOKENS)
        .where(_TOKENS.c.id == token_id)
        .values(revoked_at=func.coalesce(_TOKENS.c.revoked_at, func.now()))
        .returning(_TOKENS.c.id)
    )
    return result.first() is not None
