"""A thin client for the Heroku Platform API v3: exactly the calls the gate needs.

Why not ``heroku3``: it cannot promote through pipelines, makes a network call when it
is constructed, authenticates with Basic auth, and fetches streams with TLS checks off.
This client sends ``Accept: application/vnd.heroku+json; version=3`` and a bearer token,
pages with ``Range``/``Next-Range``, reads ``RateLimit-Remaining``, has explicit timeouts,
and maps every refusal onto the gate's ``PlatformError`` with a reason a person can act on.

Retries: a 429 is retried after a wait (Heroku refuses before doing anything), and so are
reads that hit a network error or a 5xx. A create (release, promotion, build) that times
out is *not* retried: whether it happened is unknown, and the caller must look before
trying again.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from raxx.common.storable import ascii_digits
from raxx.gate.platform.heroku_types import (
    HerokuApp,
    HerokuAuthError,
    HerokuBuild,
    HerokuCoupling,
    HerokuError,
    HerokuNotFound,
    HerokuPromotion,
    HerokuPromotionTarget,
    HerokuRateLimited,
    HerokuRejected,
    HerokuRelease,
    HerokuSlug,
    HerokuUnavailable,
    promotion_from_json,
    ref_id,
)

API_URL = "https://api.heroku.com"
ACCEPT = "application/vnd.heroku+json; version=3"
MAX_PAGE = 1000  # Heroku's largest Range max
MAX_OUTPUT_BYTES = 1_000_000


# -- the client --------------------------------------------------------------------------


class HerokuClient:
    """One method per Platform API endpoint the gate uses; typed results; ``PlatformError`` refusals."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = API_URL,
        timeout_s: float = 15.0,
        connect_timeout_s: float = 5.0,
        max_retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.max_retries = max_retries
        self._sleep = sleep
        #: ``RateLimit-Remaining`` from the last answer: how many calls the account has left.
        self.rate_limit_remaining: int | None = None
        timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            transport=transport,
            timeout=timeout,
            headers={
                "Accept": ACCEPT,
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "User-Agent": "raxx-gate",
            },
        )
        # Uploads go to a pre-signed object-store URL: never send Heroku's token there.
        self._upload = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(120.0, connect=connect_timeout_s))

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._upload.aclose()

    # -- apps, releases, slugs -------------------------------------------------------

    async def app(self, app: str) -> HerokuApp:
        body = await self._json("GET", f"/apps/{app}")
        return HerokuApp(id=str(body["id"]), name=str(body["name"]), web_url=body.get("web_url"))

    async def config_vars(self, app: str) -> dict[str, str]:
        """The app's config vars as its dynos get them now (``GET /apps/{app}/config-vars``).

        Read at the moment of need, never kept: Heroku changes ``DATABASE_URL`` and every
        other attachment's URL when it rotates a Heroku Postgres credential. Reading them
        needs a token with access to protected resources (``global`` or ``read-protected``).
        The schema allows ``null`` values (a var being unset); those are left out.
        """
        body = await self._json("GET", f"/apps/{app}/config-vars")
        return {str(name): str(value) for name, value in body.items() if isinstance(value, str)}

    async def releases(self, app: str, *, limit: int = 50) -> list[HerokuRelease]:
        """The newest ``limit`` releases, newest first (``Range: version ..; order=desc``)."""
        items = await self._paged(f"/apps/{app}/releases", "version", limit)
        return [HerokuRelease.from_json(item) for item in items]

    async def release(self, app: str, release_id_or_version: str) -> HerokuRelease:
        return HerokuRelease.from_json(await self._json("GET", f"/apps/{app}/releases/{release_id_or_version}"))

    async def current_release(self, app: str) -> HerokuRelease | None:
        """The release the app runs: the newest one Heroku marks ``current``."""
        for release in await self.releases(app, limit=20):
            if release.current:
                return release
        return None

    async def slug(self, app: str, slug_id: str) -> HerokuSlug:
        body = await self._json("GET", f"/apps/{app}/slugs/{slug_id}")
        return HerokuSlug(
            id=str(body["id"]),
            commit=body.get("commit"),
            commit_description=body.get("commit_description"),
            size=body.get("size"),
            stack=(body.get("stack") or {}).get("name"),
        )

    async def create_release(
        self, app: str, *, slug_id: str | None = None, rollback_to: str | None = None, description: str | None = None
    ) -> HerokuRelease:
        """Release a slug on ``app``, or roll back to one of its earlier releases (``rollback_to``)."""
        if (slug_id is None) == (rollback_to is None):
            raise ValueError("give exactly one of slug_id or rollback_to")
        payload: dict[str, Any] = {"slug": slug_id} if slug_id else {"release": rollback_to}
        if description:
            payload["description"] = description
        return HerokuRelease.from_json(await self._json("POST", f"/apps/{app}/releases", json=payload, create=True))

    # -- builds and sources ------------------------------------------------------------

    async def create_source(self) -> tuple[str, str]:
        """A place to upload a source tarball: ``(get_url, put_url)``."""
        body = await self._json("POST", "/sources", create=True)
        blob = body.get("source_blob") or {}
        return str(blob["get_url"]), str(blob["put_url"])

    async def upload_source(self, put_url: str, data: bytes) -> None:
        try:
            response = await self._upload.put(put_url, content=data, headers={"Content-Type": ""})
        except httpx.HTTPError as exc:
            raise HerokuUnavailable(f"heroku: uploading the source failed ({type(exc).__name__})") from None
        if response.status_code >= 300:
            raise HerokuUnavailable(f"heroku: uploading the source failed (HTTP {response.status_code})")

    async def create_build(self, app: str, *, url: str, checksum: str, version: str) -> HerokuBuild:
        payload = {"source_blob": {"url": url, "checksum": checksum, "version": version}}
        return HerokuBuild.from_json(await self._json("POST", f"/apps/{app}/builds", json=payload, create=True))

    async def build(self, app: str, build_id: str) -> HerokuBuild:
        return HerokuBuild.from_json(await self._json("GET", f"/apps/{app}/builds/{build_id}"))

    async def builds(self, app: str, *, limit: int = 20) -> list[HerokuBuild]:
        items = await self._paged(f"/apps/{app}/builds", "created_at", limit)
        return [HerokuBuild.from_json(item) for item in items]

    async def create_release_from_build(
        self, app: str, build_id: str, *, description: str | None = None
    ) -> HerokuRelease:
        """Release the slug a succeeded build produced (a retry after a failed release phase)."""
        build = await self.build(app, build_id)
        if build.status != "succeeded" or build.slug_id is None:
            raise HerokuRejected(f"heroku: build {build_id} on {app} is {build.status}, it has no slug to release")
        return await self.create_release(app, slug_id=build.slug_id, description=description)

    # -- pipelines -------------------------------------------------------------------

    async def pipeline_coupling(self, app: str) -> HerokuCoupling:
        body = await self._json("GET", f"/apps/{app}/pipeline-couplings")
        return HerokuCoupling(
            app_id=str(body["app"]["id"]), pipeline_id=str(body["pipeline"]["id"]), stage=str(body["stage"])
        )

    async def create_promotion(
        self, *, pipeline_id: str, source_app_id: str, source_release_id: str, target_app_ids: list[str]
    ) -> HerokuPromotion:
        """Promote exactly ``source_release_id`` (never "whatever staging runs now")."""
        payload = {
            "pipeline": {"id": pipeline_id},
            "source": {"app": {"id": source_app_id}, "release": {"id": source_release_id}},
            "targets": [{"app": {"id": target}} for target in target_app_ids],
        }
        return promotion_from_json(await self._json("POST", "/pipeline-promotions", json=payload, create=True))

    async def promotion(self, promotion_id: str) -> HerokuPromotion:
        return promotion_from_json(await self._json("GET", f"/pipeline-promotions/{promotion_id}"))

    async def promotion_targets(self, promotion_id: str) -> list[HerokuPromotionTarget]:
        items = await self._paged(f"/pipeline-promotions/{promotion_id}/promotion-targets", "id", MAX_PAGE)
        return [
            HerokuPromotionTarget(
                app_id=str(item["app"]["id"]),
                status=str(item.get("status") or "pending"),
                release_id=ref_id(item.get("release")),
                error_message=item.get("error_message") or None,
            )
            for item in items
        ]

    async def release_output(self, url: str) -> str | None:
        """The release phase's output (``output_stream_url``), at most 1 MB; None if unreadable."""
        try:
            async with self._upload.stream("GET", url, timeout=httpx.Timeout(10.0)) as response:
                if response.status_code != 200:
                    return None
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= MAX_OUTPUT_BYTES:
                        break
        except httpx.HTTPError:
            return None
        return b"".join(chunks).decode("utf-8", "replace")

    # -- plumbing --------------------------------------------------------------------

    async def _json(self, method: str, path: str, *, create: bool = False, **kwargs: Any) -> dict[str, Any]:
        response = await self._request(method, path, create=create, **kwargs)
        body = _body(response)
        if not isinstance(body, dict):
            raise HerokuUnavailable(f"heroku: {method} {path} answered {response.status_code} without a JSON object")
        return body

    async def _paged(self, path: str, key: str, limit: int) -> list[dict[str, Any]]:
        """Follow ``Next-Range`` on 206 until ``limit`` items (newest first for versions)."""
        order = "desc" if key in ("version", "created_at") else "asc"
        next_range: str | None = f"{key} ..; order={order}, max={min(limit, MAX_PAGE)};"
        items: list[dict[str, Any]] = []
        while next_range and len(items) < limit:
            response = await self._request("GET", path, headers={"Range": next_range})
            page = _body(response)
            if not isinstance(page, list):
                raise HerokuUnavailable(f"heroku: GET {path} answered without a JSON list")
            items.extend(page)
            next_range = response.headers.get("Next-Range") if response.status_code == 206 else None
        return items[:limit]

    async def _request(self, method: str, path: str, *, create: bool = False, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                if create or attempt >= self.max_retries:
                    raise self._unreachable(method, path, exc, create) from None
                attempt += 1
                await self._sleep(_backoff(attempt))
                continue
            self._note_rate_limit(response)
            if response.status_code == 429 and attempt < self.max_retries:
                attempt += 1
                await self._sleep(_retry_after(response, attempt))
                continue
            if response.status_code >= 500 and not create and attempt < self.max_retries:
                attempt += 1
                await self._sleep(_backoff(attempt))
                continue
            if response.status_code >= 400:
                raise _refusal(method, path, response)
            return response

    def _note_rate_limit(self, response: httpx.Response) -> None:
        remaining = response.headers.get("RateLimit-Remaining")
        if remaining is not None and ascii_digits(remaining):
            self.rate_limit_remaining = int(remaining)

    @staticmethod
    def _unreachable(method: str, path: str, exc: Exception, create: bool) -> HerokuUnavailable:
        what = (
            "no answer in time" if isinstance(exc, httpx.TimeoutException) else f"cannot connect ({type(exc).__name__})"
        )
        if create:
            return HerokuUnavailable(
                f"heroku: {method} {path}: {what}; it may or may not have happened, check the app's releases "
                "before trying again"
            )
        return HerokuUnavailable(f"heroku: {method} {path}: {what}")


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _backoff(attempt: int) -> float:
    return float(min(2**attempt, 30))


def _retry_after(response: httpx.Response, attempt: int) -> float:
    raw = response.headers.get("Retry-After", "")
    return float(min(int(raw), 60)) if ascii_digits(raw) else _backoff(attempt)


_SAFE_ID = re.compile(r"^[a-z0-9_]{1,64}$")


def _refusal(method: str, path: str, response: httpx.Response) -> HerokuError:
    """Heroku's error body is ``{"id", "message", "url"?}``; its message is meant for people."""
    body = _body(response)
    error_id = body.get("id") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    slug = error_id if isinstance(error_id, str) and _SAFE_ID.match(error_id) else "error"
    said = f"{slug}: {str(message)[:300]}" if message else f"HTTP {response.status_code}"
    where = f"heroku: {method} {path}"
    status = response.status_code
    if status in (401, 403):
        return HerokuAuthError(f"{where} refused the token ({said}); check GATE_HEROKU_API_TOKEN and its access")
    if status == 404:
        return HerokuNotFound(f"{where}: not found ({said})")
    if status == 429:
        return HerokuRateLimited(f"{where}: rate limited ({said}); the account's API budget refills at ~75/min")
    if status >= 500:
        return HerokuUnavailable(f"{where}: Heroku failed ({said})")
    return HerokuRejected(f"{where}: rejected ({said})")
