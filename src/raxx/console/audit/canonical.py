"""The canonical form of an audit event and the hash that chains it.

This module is the contract between the writer (``audit_append`` in PostgreSQL,
fed by :func:`event_body`) and the verifier (:mod:`raxx.console.audit.verify`).
Both must produce the same bytes for the same event, whatever PostgreSQL does to
types on the way in and out, so:

* the *body* of an event is compact JSON with sorted keys (orjson ``OPT_SORT_KEYS``),
  holding every column except ``seq``, ``recorded_at``, ``prev_hash`` and ``hash``; the
  column ``body_version`` is the body's ``v``, and says which fields the body has:
  version 1 (rows written before 2026-12-03) lacks ``session_env`` and ``origin``,
  version 2 has both (null or not);
* timestamps are text in exactly one format, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC,
  microseconds: what ``timestamptz`` stores, so nothing is rounded);
* ``params`` hold only values that survive ``jsonb`` unchanged: strings, booleans,
  null, integers within ±2**53, lists and objects. Floats, decimals and other values
  become strings (``jsonb`` would rewrite ``1e20`` as ``100000000000000000000``).

The hash of event ``seq`` is::

    sha256( "raxx.audit.v1\\n" + prev_hash + "\\n" + str(seq) + "\\n" + recorded_at + "\\n" + body )

hex-encoded, where ``prev_hash`` is the previous event's hash (:data:`GENESIS_HASH`
for ``seq`` 1). ``seq``, ``recorded_at`` and ``prev_hash`` are assigned inside the
database under the append lock, which is why they frame the body instead of sitting
in it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from raxx.console.apitoken.format import holds_token

HASH_DOMAIN = "raxx.audit.v1"
GENESIS_HASH = "0" * 64
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
#: The same format for PostgreSQL's ``to_char(ts AT TIME ZONE 'UTC', ...)``.
PG_TIMESTAMP_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'

REDACTED = "[redacted]"
#: Parameter keys whose values never reach the audit table (matched after lower-casing and dropping
#: ``-`` and ``_``, as substrings: ``X-Api-Key``, ``csrf_token`` and ``refresh-token`` match)...
SECRET_KEY_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "token",
    "secret",
    "authorization",
    "cookie",
    "apikey",
    "privatekey",
    "credential",
    "session",
)
#: ...except these, which name a token or a session without holding one (folded the same way):
#: a personal token's id (the ``<id>`` of ``rxc_<id>_<secret>``, how its creation and its
#: revocation are matched) and the environments it acts in, the environment a session had
#: selected, a session's SHA-256. A new key with a secret word stays redacted until listed here.
NOT_SECRET_KEYS = frozenset({"tokenid", "tokenenvironment", "tokenenvironments", "sessionenv", "sessionhash"})

MAX_PARAM_DEPTH = 6
MAX_PARAM_ITEMS = 100
MAX_PARAM_STRING = 1000
MAX_KEY_LENGTH = 100
JSON_SAFE_INT = 2**53 - 1

#: Length caps for the free-text columns (the rest of a value is cut, and says so).
FIELD_LIMITS = {
    "actor_name": 200,
    "target": 500,
    "error": 2000,
    "request_id": 128,
    "client_ip": 64,
    "user_agent": 512,
    "origin": 500,
}

ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
TRUNCATION_MARK = "...[truncated]"

#: Field order of the event body (the export's columns follow it; serialization sorts keys anyway).
BODY_FIELDS = (
    "v",
    "event_id",
    "occurred_at",
    "actor_id",
    "actor_name",
    "session_hash",
    "environment",
    "action",
    "target",
    "params",
    "phase",
    "outcome",
    "attempt_id",
    "http_status",
    "error",
    "request_id",
    "client_ip",
    "user_agent",
    "session_env",
    "origin",
)
BODY_VERSION = 2


def format_timestamp(value: datetime) -> str:
    """The one text form of a timestamp: UTC, microseconds, ``Z``."""
    if value.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def neutralize(value: str | None, limit: int) -> str | None:
    """An untrusted string made safe to store and print.

    Every character that is not printable (CR, LF, other controls, Unicode line
    separators, bidi overrides, lone surrogates) becomes a visible ``\\xNN`` /
    ``\\uNNNN`` escape, so one value can never fake a second log line or reorder
    what an operator reads; the result is cut to ``limit`` characters.
    """
    if value is None:
        return None
    text = value if value.isprintable() else "".join(_escape_char(ch) for ch in value)
    if len(text) > limit:
        text = text[: max(0, limit - len(TRUNCATION_MARK))] + TRUNCATION_MARK
    return text


def _escape_char(ch: str) -> str:
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def is_secret_key(key: str) -> bool:
    folded = key.lower().replace("-", "").replace("_", "")
    return folded not in NOT_SECRET_KEYS and any(part in folded for part in SECRET_KEY_PARTS)


def sanitize_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Parameters ready to store: secrets redacted (the value of a key :func:`is_secret_key`
    names, and any text holding a personal token), values made ``jsonb``-stable, sizes capped."""
    if not params:
        return {}
    cleaned = _sanitize(dict(params), depth=0)
    assert isinstance(cleaned, dict)
    return cleaned


def _sanitize(value: Any, *, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -JSON_SAFE_INT <= value <= JSON_SAFE_INT else str(value)
    if isinstance(value, str):
        return REDACTED if holds_token(value) else neutralize(value, MAX_PARAM_STRING)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if depth >= MAX_PARAM_DEPTH:
        return TRUNCATION_MARK
    if isinstance(value, Mapping):
        return _sanitize_mapping(value, depth=depth)
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        cleaned = [_sanitize(item, depth=depth + 1) for item in items[:MAX_PARAM_ITEMS]]
        if len(items) > MAX_PARAM_ITEMS:
            cleaned.append(TRUNCATION_MARK)
        return cleaned
    return neutralize(str(value), MAX_PARAM_STRING)


def _sanitize_mapping(value: Mapping[Any, Any], *, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index, (raw_key, item) in enumerate(value.items()):
        if index >= MAX_PARAM_ITEMS:
            out[TRUNCATION_MARK] = len(value) - MAX_PARAM_ITEMS
            break
        key = neutralize(str(raw_key), MAX_KEY_LENGTH) or ""
        out[key] = REDACTED if is_secret_key(key) else _sanitize(item, depth=depth + 1)
    return out


def validate_action(action: str) -> str:
    """Action names are dotted lower-case identifiers (``order.cancel``, ``env.switch``)."""
    if not ACTION_RE.match(action) or len(action) > 100:
        raise ValueError(f"not a valid audit action name: {action!r}")
    return action


def session_hash(session_id: str | None) -> str | None:
    """SHA-256 (hex) of a session id: the audit table never holds the id itself."""
    if not session_id:
        return None
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def dump_body(body: Mapping[str, Any]) -> bytes:
    """Canonical bytes of an event body (sorted keys, compact, UTF-8)."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def chain_hash(prev_hash: str, seq: int, recorded_at: str, body: bytes) -> str:
    """The hash of event ``seq``; ``audit_append`` computes exactly this in SQL."""
    digest = hashlib.sha256(f"{HASH_DOMAIN}\n{prev_hash}\n{seq}\n{recorded_at}\n".encode())
    digest.update(body)
    return digest.hexdigest()
