"""Sign-in through the identity provider: the rules. The protocol is in ``oidc``, SQL in ``repository``.

A trip to the provider is a *flow*: a random ``state`` (kept in a cookie of the browser
that started it, and hashed in ``console_oidc_flow``), a ``nonce`` and a PKCE verifier.
The callback must bring back the cookie's state, for a flow that is unused and not
expired; the ID token must carry that flow's nonce. Services flush, never commit.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raxx.common.actors import name_problem
from raxx.common.clock import utcnow
from raxx.console.auth import repository
from raxx.console.auth.models import OidcFlow, User
from raxx.console.auth.oidc import IdClaims, OidcRefused, roles_from_groups
from raxx.console.auth.service import hash_token, user_named

FLOW_TTL = timedelta(minutes=10)
#: Used flows are kept this long so a nonce that comes back is recognized as a replay.
FLOW_RETENTION = timedelta(days=1)


@dataclass(frozen=True)
class NewFlow:
    state: str
    nonce: str
    code_verifier: str


async def start_flow(
    db: AsyncSession,
    *,
    purpose: str,
    session_hash: str | None = None,
    next_path: str | None = None,
    resume: Mapping[str, Any] | None = None,
) -> NewFlow:
    now = utcnow()
    await repository.purge_flows(db, before=now - FLOW_RETENTION)
    flow = NewFlow(
        state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(24), code_verifier=secrets.token_urlsafe(48)
    )
    db.add(
        OidcFlow(
            state_hash=hash_token(flow.state),
            nonce=flow.nonce,
            code_verifier=flow.code_verifier,
            purpose=purpose,
            session_hash=session_hash,
            next_path=next_path,
            resume=dict(resume) if resume is not None else None,
            expires_at=now + FLOW_TTL,
        )
    )
    await db.flush()
    return flow


async def take_flow(db: AsyncSession, *, state: str, cookie_state: str | None) -> OidcFlow:
    """The flow the callback's ``state`` names, marked used; refused unless this browser started it."""
    if not state or not cookie_state or not hmac.compare_digest(state.encode(), cookie_state.encode()):
        raise OidcRefused("state_mismatch")
    flow = await repository.flow_for_update(db, hash_token(state))
    now = utcnow()
    if flow is None or flow.used_at is not None or flow.expires_at <= now:
        raise OidcRefused("flow_unknown")
    flow.used_at = now
    await db.flush()
    return flow


async def check_nonce(db: AsyncSession, flow: OidcFlow, claims: IdClaims) -> None:
    if claims.nonce is not None and hmac.compare_digest(claims.nonce.encode(), flow.nonce.encode()):
        return
    if claims.nonce is not None and await repository.used_flow_with_nonce(db, claims.nonce) is not None:
        raise OidcRefused("nonce_replayed")
    raise OidcRefused("nonce_mismatch")


async def sync_user(
    db: AsyncSession,
    claims: IdClaims,
    *,
    role_map: Mapping[str, Mapping[str, str]],
    environments: Sequence[str],
) -> User:
    """The console user of these claims, created on first sign-in, with exactly the roles
    their groups grant now. No role anywhere: refused, and an existing user's roles and
    sessions are removed (they left every mapped group)."""
    roles = roles_from_groups(claims.groups, role_map, environments)
    user = await repository.user_by_subject(db, claims.issuer, claims.subject)
    if user is None and roles:
        if name_problem(claims.username):
            raise OidcRefused("invisible_name", f"(user {claims.username!a})")
        if (same := await user_named(db, claims.username)) is not None:
            raise OidcRefused("name_conflict", f"(user {same!r})")
        user = User(name=claims.username, password_hash=None, oidc_issuer=claims.issuer, oidc_subject=claims.subject)
        db.add(user)
        await db.flush()
    if user is None:
        raise OidcRefused("no_role", f"(groups: {', '.join(claims.groups) or 'none'})")
    if user.disabled_at is not None:
        raise OidcRefused("disabled")
    await repository.replace_roles(db, user.id, roles)
    if not roles:
        await repository.revoke_user_sessions(db, user.id, utcnow())
        raise OidcRefused("no_role", f"(groups: {', '.join(claims.groups) or 'none'})")
    return user


async def complete_step_up(
    db: AsyncSession, flow: OidcFlow, claims: IdClaims, user: User, *, max_age: timedelta
) -> None:
    """A re-authentication of the flow's session: same user, and the provider really asked again."""
    session = await repository.session_by_hash(db, flow.session_hash or "")
    if session is None or session.revoked_at is not None or session.user_id != user.id:
        raise OidcRefused("user_mismatch")
    if utcnow() - claims.auth_time > max_age:
        raise OidcRefused("not_recent", f"(auth_time {claims.auth_time.isoformat()})")
    session.auth_method = "oidc"
    session.auth_time = claims.auth_time
    session.id_token = claims.raw
    await db.flush()


def is_recent(auth_time: datetime | None, *, max_age: timedelta, now: datetime) -> bool:
    return auth_time is not None and now - auth_time <= max_age
