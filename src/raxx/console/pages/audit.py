"""The audit page: filtered, paginated events; one event with its attempt/outcome pair; chain status.

Readers need the ``audit`` capability (roles ``admin`` or ``auditor``) in the page's
environment; they see events of every environment where they hold it, plus
console-wide events (sign-in, sign-out) that have no environment.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from raxx.common.errors import BadRequest, Forbidden, NotFound
from raxx.common.storable import OneLineText, StorableInt
from raxx.console.audit import browse
from raxx.console.audit.export import COLUMNS, csv_rows
from raxx.console.audit.repository import EventFilter, EventRecord
from raxx.console.auth.roles import can
from raxx.console.auth.service import Login
from raxx.console.deps import EnvDep, LoginDep, StateDep, require_capability
from raxx.console.pages.downloads import audited_download
from raxx.console.state import ConsoleState
from raxx.console.templating import render

router = APIRouter(tags=["audit"])

ALL = "*"
OUTCOMES = ("ok", "denied", "failed", "unknown")
NEUTRAL_TAG = ("#6b7280", "#ffffff")


def auditable_environments(state: ConsoleState, login: Login) -> list[str]:
    return [name for name in state.registry if can(login.roles, name, "audit")]


def _parse_time(label: str, value: str | None) -> datetime | None:
    """``datetime-local`` inputs carry no zone: the page says times are UTC, so they are."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{label} is not a date and time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _filters(state: ConsoleState, login: Login, page_env: str, query: dict[str, str | None]) -> tuple[EventFilter, str]:
    visible = tuple(auditable_environments(state, login))
    chosen = query["environment"] if query["environment"] is not None else page_env
    if chosen not in (ALL, EventFilter.NO_ENVIRONMENT) and chosen not in visible:
        raise Forbidden(f"you may not read the audit trail of {chosen!r}", code="permission_denied")
    outcome = query["outcome"] or None
    if outcome is not None and outcome not in OUTCOMES:
        raise BadRequest(f"unknown outcome {outcome!r}")
    filters = EventFilter(
        environment=None if chosen == ALL else chosen,
        actor=query["actor"] or None,
        action=query["action"] or None,
        outcome=outcome,
        since=_parse_time("from", query["since"]),
        until=_parse_time("until", query["until"]),
        request_id=query["request_id"] or None,
        # Only "all" needs the visibility condition: a named environment was checked above.
        visible_environments=visible if chosen == ALL and set(visible) != set(state.registry) else None,
    )
    return filters, chosen


def audit_query(
    environment: Annotated[OneLineText | None, Query(max_length=32)] = None,
    actor: Annotated[OneLineText | None, Query(max_length=200)] = None,
    action: Annotated[OneLineText | None, Query(max_length=100)] = None,
    outcome: Annotated[OneLineText | None, Query(max_length=16)] = None,
    since: Annotated[OneLineText | None, Query(max_length=32)] = None,
    until: Annotated[OneLineText | None, Query(max_length=32)] = None,
    request_id: Annotated[OneLineText | None, Query(max_length=128)] = None,
) -> dict[str, str | None]:
    """The audit page's filters as typed in its query string (the page and its export share them)."""
    return {
        "environment": environment,
        "actor": actor,
        "action": action,
        "outcome": outcome,
        "since": since,
        "until": until,
        "request_id": request_id,
    }


AuditQueryDep = Annotated[dict[str, str | None], Depends(audit_query)]


@router.get("/{env}/audit", response_class=HTMLResponse)
async def audit_list(
    request: Request,
    state: StateDep,
    login: LoginDep,
    spec: EnvDep,
    query: AuditQueryDep,
    before: Annotated[StorableInt | None, Query(ge=1)] = None,
    after: Annotated[StorableInt | None, Query(ge=0)] = None,
) -> HTMLResponse:
    require_capability(login, spec.name, "audit")
    filters, chosen = _filters(state, login, spec.name, query)
    page = await browse.event_page(state.audit.engine, filters, before=before, after=after)
    kept = {k: v for k, v in {**query, "environment": chosen}.items() if v}
    return await render(
        request,
        state,
        "audit.html",
        env=spec,
        login=login,
        page=page,
        query=kept,
        chain=await browse.chain_status(state.audit.engine),
        choices=[ALL, *auditable_environments(state, login), EventFilter.NO_ENVIRONMENT],
        chosen=chosen,
        outcomes=OUTCOMES,
        tag=_tagger(state),
    )


@router.get("/{env}/audit/export.csv", response_class=Response)
async def audit_export(
    request: Request, state: StateDep, login: LoginDep, spec: EnvDep, query: AuditQueryDep
) -> Response:
    """The events the page's filters select, every page of them, as CSV (streamed, audited)."""
    require_capability(login, spec.name, "audit")
    filters, chosen = _filters(state, login, spec.name, query)
    return await audited_download(
        request,
        state,
        action="audit.export",
        environment=spec.name,
        filters={k: v for k, v in {**query, "environment": chosen}.items() if v},
        header=COLUMNS,
        rows=csv_rows(state.audit.engine, filters),
        filename=f"raxx-audit-{spec.name}.csv",
    )


@router.get("/{env}/audit/{seq}", response_class=HTMLResponse)
async def audit_event(request: Request, state: StateDep, login: LoginDep, spec: EnvDep, seq: int) -> HTMLResponse:
    require_capability(login, spec.name, "audit")
    event, partner = await browse.event_with_partner(state.audit.engine, seq)
    visible = auditable_environments(state, login)
    if event is None or (event.environment is not None and event.environment not in visible):
        raise NotFound(f"no audit event {seq} that you may read")
    if partner is not None and partner.environment is not None and partner.environment not in visible:
        partner = None
    return await render(
        request,
        state,
        "audit_event.html",
        env=spec,
        login=login,
        event=event,
        partner=partner,
        fields=_detail_fields(event),
        tag=_tagger(state),
    )


@router.get("/.well-known/raxx-audit-keys.json", tags=["audit"])
async def checkpoint_public_keys(state: StateDep) -> Response:
    """The public keys that verify this console's audit checkpoints (no sign-in: they are public).

    ``raxx audit verify --public-key`` takes this document (its URL or a saved copy): a
    verifier needs nothing secret, and cannot forge a checkpoint.
    """
    return Response(
        json.dumps(state.audit_keys.public_document(), indent=2) + "\n",
        media_type="application/json",
        headers={"cache-control": "public, max-age=300"},
    )


@router.get("/audit-assets/env-tags.css", include_in_schema=False)
async def environment_tags_css(state: StateDep) -> Response:
    """Each environment's color as a class (the console's CSP forbids inline styles)."""
    rules = [f".env-tag.env-none{{background:{NEUTRAL_TAG[0]};color:{NEUTRAL_TAG[1]};}}"]
    rules += [f".env-tag.env-{s.name}{{background:{s.color};color:{s.text_color};}}" for s in state.registry.values()]
    return Response("\n".join(rules) + "\n", media_type="text/css", headers={"cache-control": "public, max-age=300"})


def _tagger(state: ConsoleState) -> Any:
    """For templates: an environment name to its label and CSS class."""

    def tag(name: str | None) -> dict[str, str]:
        if name is None:
            return {"label": "console", "css": "env-none"}
        label = state.registry[name].label if name in state.registry else name
        return {"label": label, "css": f"env-{name}" if name in state.registry else "env-none"}

    return tag


def _detail_fields(event: EventRecord) -> list[tuple[str, Any]]:
    return [
        ("seq", event.seq),
        ("event id", event.event_id),
        ("phase", event.phase),
        ("outcome", event.outcome),
        ("action", event.action),
        ("target", event.target),
        ("occurred at (UTC)", event.occurred_at),
        ("recorded at (UTC)", event.recorded_at),
        ("actor", event.actor_name),
        ("actor id", event.actor_id),
        ("session (SHA-256)", event.session_hash),
        ("session's environment then", event.session_env),
        ("page it came from", event.origin),
        ("HTTP status", event.http_status),
        ("error", event.error),
        ("request id", event.request_id),
        ("client IP", event.client_ip),
        ("user agent", event.user_agent),
        ("previous hash", event.prev_hash),
        ("hash", event.hash),
    ]
