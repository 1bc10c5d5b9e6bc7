"""What the Heroku client answers with (typed results) and refuses with (``HerokuError``s)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from raxx.gate.platform.base import PlatformError


class HerokuError(PlatformError):
    code = "heroku_error"


class HerokuAuthError(HerokuError):
    """401/403: the token is wrong, expired, or lacks access to the app or pipeline."""

    code = "heroku_unauthorized"


class HerokuNotFound(HerokuError):
    code = "heroku_not_found"


class HerokuRateLimited(HerokuError):
    code = "heroku_rate_limited"


class HerokuUnavailable(HerokuError):
    """Heroku could not be reached or failed (5xx, timeout): nothing is known to have changed."""

    code = "heroku_unavailable"


class HerokuRejected(HerokuError):
    """Heroku refused the request (422 and friends), with its own ``id`` and message."""

    code = "heroku_rejected"


# -- typed results ---------------------------------------------------------------------


@dataclass(frozen=True)
class HerokuApp:
    id: str
    name: str
    web_url: str | None


@dataclass(frozen=True)
class HerokuRelease:
    id: str
    version: int
    status: str  # pending, succeeded, failed, expired
    current: bool
    slug_id: str | None
    description: str
    created_at: datetime | None
    updated_at: datetime | None
    eligible_for_rollback: bool
    output_stream_url: str | None
    user_email: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> HerokuRelease:
        return cls(
            id=str(body["id"]),
            version=int(body.get("version") or 0),
            status=str(body.get("status") or "succeeded"),
            current=bool(body.get("current")),
            slug_id=ref_id(body.get("slug")),
            description=str(body.get("description") or ""),
            created_at=_time(body.get("created_at")),
            updated_at=_time(body.get("updated_at")),
            eligible_for_rollback=bool(body.get("eligible_for_rollback", True)),
            output_stream_url=body.get("output_stream_url") or None,
            user_email=(body.get("user") or {}).get("email"),
        )


@dataclass(frozen=True)
class HerokuSlug:
    id: str
    commit: str | None
    commit_description: str | None
    size: int | None
    stack: str | None


@dataclass(frozen=True)
class HerokuBuild:
    id: str
    status: str  # pending, succeeded, failed
    version: str | None
    slug_id: str | None
    release_id: str | None
    output_stream_url: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> HerokuBuild:
        return cls(
            id=str(body["id"]),
            status=str(body.get("status") or "pending"),
            version=(body.get("source_blob") or {}).get("version"),
            slug_id=ref_id(body.get("slug")),
            release_id=ref_id(body.get("release")),
            output_stream_url=body.get("output_stream_url") or None,
        )


@dataclass(frozen=True)
class HerokuCoupling:
    app_id: str
    pipeline_id: str
    stage: str


@dataclass(frozen=True)
class HerokuPromotion:
    id: str
    status: str  # pending, completed
    source_release_id: str | None


@dataclass(frozen=True)
class HerokuPromotionTarget:
    app_id: str
    status: str  # pending, succeeded, failed
    release_id: str | None
    error_message: str | None


def ref_id(ref: Any) -> str | None:
    return str(ref["id"]) if isinstance(ref, dict) and ref.get("id") else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def promotion_from_json(body: dict[str, Any]) -> HerokuPromotion:
    source = body.get("source") or {}
    return HerokuPromotion(
        id=str(body["id"]),
        status=str(body.get("status") or "pending"),
        source_release_id=ref_id(source.get("release")),
    )
