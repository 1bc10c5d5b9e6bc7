"""The Heroku platform: the gate's ``Platform`` on top of the Platform API.

A release id is a commit: every app that runs a slug reports the slug's commit as its
release (``HEROKU_SLUG_COMMIT``). ``deploy(service, commit)`` makes ``service``'s app run
that commit, choosing how from where the commit already is:

1. the app already runs it: nothing to do;
2. the app ran it before: a Heroku rollback to that release (``POST /apps/{app}/releases
   {"release": id}``), which restores that release's slug *and config vars*;
3. the service is promoted from another (``raptor-prod`` and ``console-prod`` from
   ``raptor-staging``) and that app ran the commit: a pipeline promotion **pinned to that
   exact source release**, so a newer push to staging during an approval never ships by
   accident; prod's new release must then carry staging's slug id;
4. the service builds (``raptor-staging``): pack the commit from git, upload, build;
   a succeeded build whose release phase failed is released again instead of rebuilt.

Each path then waits for the new release to leave ``pending`` (the release phase runs
the migrations) and reads the release phase's output to tell whether migrations ran.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from raxx.common.clock import Clock, SystemClock
from raxx.common.release import MIGRATIONS_APPLIED_MARKER, NO_MIGRATIONS_MARKER
from raxx.gate.platform.base import DeployOutcome, PlatformError
from raxx.gate.platform.heroku_api import HerokuClient
from raxx.gate.platform.heroku_types import HerokuRelease
from raxx.gate.platform.source import GitSource

DEFAULT_PROMOTE_FROM = {"raptor-prod": "raptor-staging", "console-prod": "raptor-staging"}
DEFAULT_BUILDS = ("raptor-staging",)
HISTORY = 50  # releases searched for a commit on an app


@dataclass(frozen=True)
class HerokuLayout:
    """Which Heroku app is which service, and how each service gets new code."""

    apps: Mapping[str, str]
    promote_from: Mapping[str, str]
    builds: frozenset[str]

    def app(self, service: str) -> str:
        try:
            return self.apps[service]
        except KeyError:
            known = ", ".join(sorted(self.apps)) or "none"
            raise PlatformError(f"no Heroku app configured for {service} (GATE_HEROKU_APPS knows: {known})") from None


class HerokuPlatform:
    name = "heroku"

    def __init__(
        self,
        client: HerokuClient,
        layout: HerokuLayout,
        *,
        source: GitSource | None = None,
        timeout: float = 900.0,
        poll_s: float = 3.0,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.layout = layout
        self.source = source
        self.timeout = timeout
        self.poll_s = poll_s
        self.clock = clock or SystemClock()
        self._sleep = sleep

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- the Platform protocol -------------------------------------------------------

    async def current_release(self, service: str) -> str | None:
        """The commit the app's current release runs (None before its first deploy)."""
        app = self.layout.app(service)
        release = await self.client.current_release(app)
        if release is None or release.slug_id is None:
            return None
        return await self._commit(app, release)

    async def deploy(self, service: str, release: str) -> DeployOutcome:
        app = self.layout.app(service)
        deadline = time.monotonic() + self.timeout
        current = await self.client.current_release(app)
        if current is not None and current.status == "succeeded" and await self._commit(app, current) == release:
            return self._outcome(service, release, current, migrations=False, request_id=current.id)
        earlier = await self._find(app, release, exclude=current)
        if earlier is not None:
            return await self._roll_back(service, app, release, earlier, deadline)
        source_service = self.layout.promote_from.get(service)
        if source_service is not None:
            source_app = self.layout.app(source_service)
            soaked = await self._find(source_app, release)
            if soaked is not None:
                return await self._promote(service, app, source_app, release, soaked, deadline)
        if service in self.layout.builds:
            return await self._build(service, app, release, deadline)
        where = f"{app}'s history" + (f" nor {self.layout.app(source_service)}'s" if source_service else "")
        raise PlatformError(f"{service}: commit {release} is neither in {where}; deploy it to staging first")

    # -- the three ways in -------------------------------------------------------------

    async def _roll_back(
        self, service: str, app: str, commit: str, earlier: HerokuRelease, deadline: float
    ) -> DeployOutcome:
        created = await self.client.create_release(
            app, rollback_to=earlier.id, description=f"Rollback to v{earlier.version} ({commit[:12]}) by raxx gate"
        )
        final = await self._wait_release(app, created.id, deadline)
        self._require_slug(app, final, earlier.slug_id, f"v{earlier.version}")
        return self._outcome(service, commit, final, migrations=await self._migrations_ran(final), request_id=final.id)

    async def _promote(
        self, service: str, app: str, source_app: str, commit: str, soaked: HerokuRelease, deadline: float
    ) -> DeployOutcome:
        source = await self.client.pipeline_coupling(source_app)
        target = await self.client.pipeline_coupling(app)
        if source.pipeline_id != target.pipeline_id:
            raise PlatformError(f"{source_app} and {app} are not in the same Heroku pipeline; couple them first")
        promotion = await self.client.create_promotion(
            pipeline_id=source.pipeline_id,
            source_app_id=source.app_id,
            source_release_id=soaked.id,
            target_app_ids=[target.app_id],
        )
        release_id = await self._wait_promotion(promotion.id, target.app_id, app, deadline)
        final = await self._wait_release(app, release_id, deadline)
        self._require_slug(app, final, soaked.slug_id, f"{source_app} v{soaked.version}")
        migrations = await self._migrations_ran(final)
        return self._outcome(service, commit, final, migrations=migrations, request_id=promotion.id)

    async def _build(self, service: str, app: str, commit: str, deadline: float) -> DeployOutcome:
        built = next(
            (b for b in await self.client.builds(app) if b.version == commit and b.status == "succeeded"), None
        )
        if built is not None:  # built before, its release phase failed: release it again
            created = await self.client.create_release_from_build(
                app, built.id, description=f"Deploy {commit[:12]} (release of build {built.id[:8]}) by raxx gate"
            )
            release_id, request_id = created.id, built.id
        else:
            release_id, request_id = await self._build_from_source(app, commit, deadline)
        final = await self._wait_release(app, release_id, deadline)
        return self._outcome(
            service, commit, final, migrations=await self._migrations_ran(final), request_id=request_id
        )

    async def _build_from_source(self, app: str, commit: str, deadline: float) -> tuple[str, str]:
        if self.source is None:
            raise PlatformError(f"{app}: no source checkout to build {commit} from (set GATE_SOURCE_DIR)")
        tarball = await asyncio.to_thread(self.source.pack, commit)
        get_url, put_url = await self.client.create_source()
        await self.client.upload_source(put_url, tarball.data)
        build = await self.client.create_build(app, url=get_url, checksum=tarball.heroku_checksum, version=commit)
        while build.status == "pending":
            self._check_deadline(deadline, f"build {build.id} of {commit[:12]} on {app}")
            await self._sleep(self.poll_s)
            build = await self.client.build(app, build.id)
        if build.status != "succeeded" or build.release_id is None:
            raise PlatformError(
                f"{app}: build {build.id} of {commit[:12]} {build.status}; the log is at {build.output_stream_url}"
            )
        return build.release_id, build.id

    # -- waiting and checking ----------------------------------------------------------

    async def _wait_promotion(self, promotion_id: str, target_app_id: str, app: str, deadline: float) -> str:
        while True:
            promotion = await self.client.promotion(promotion_id)
            targets = {t.app_id: t for t in await self.client.promotion_targets(promotion_id)}
            target = targets.get(target_app_id)
            if target is not None and target.status == "failed":
                raise PlatformError(f"promotion {promotion_id} to {app} failed: {target.error_message or 'no reason'}")
            if (
                target is not None
                and target.release_id
                and (promotion.status == "completed" or target.status == "succeeded")
            ):
                return target.release_id
            if promotion.status == "completed":
                raise PlatformError(f"promotion {promotion_id} completed without a release on {app}")
            self._check_deadline(deadline, f"promotion {promotion_id} to {app}")
            await self._sleep(self.poll_s)

    async def _wait_release(self, app: str, release_id: str, deadline: float) -> HerokuRelease:
        """Until the release phase is over: ``pending`` becomes ``succeeded`` or ``failed``."""
        release = await self.client.release(app, release_id)
        while release.status == "pending":
            self._check_deadline(deadline, f"release v{release.version} on {app} (its release phase)")
            await self._sleep(self.poll_s)
            release = await self.client.release(app, release_id)
        if release.status != "succeeded":
            raise PlatformError(
                f"{app}: release v{release.version} {release.status} (its release phase, which runs the "
                f"migrations, did not pass; the previous release keeps running); log: {release.output_stream_url}"
            )
        return release

    def _check_deadline(self, deadline: float, what: str) -> None:
        if time.monotonic() > deadline:
            raise PlatformError(f"gave up waiting for {what} after {self.timeout:g} s; look at it on Heroku")

    @staticmethod
    def _require_slug(app: str, release: HerokuRelease, expected: str | None, what: str) -> None:
        if expected is not None and release.slug_id != expected:
            raise PlatformError(
                f"{app}: release v{release.version} runs slug {release.slug_id}, not {expected} from {what}"
            )

    async def _find(self, app: str, commit: str, exclude: HerokuRelease | None = None) -> HerokuRelease | None:
        """The newest succeeded release of ``app`` whose slug was built from ``commit``."""
        slugs: dict[str, str | None] = {}
        for release in await self.client.releases(app, limit=HISTORY):
            if release.status != "succeeded" or release.slug_id is None or release == exclude:
                continue
            if not release.eligible_for_rollback and exclude is not None:
                continue
            if release.slug_id not in slugs:
                slugs[release.slug_id] = (await self.client.slug(app, release.slug_id)).commit
            if _same_commit(slugs[release.slug_id], commit):
                return release
        return None

    async def _commit(self, app: str, release: HerokuRelease) -> str | None:
        if release.slug_id is None:
            return None
        return (await self.client.slug(app, release.slug_id)).commit

    async def _migrations_ran(self, release: HerokuRelease) -> bool:
        """From the release phase's output; when it cannot be read, assume they did (the gate
        then warns that a rollback restores code, not schema)."""
        if release.output_stream_url is None:
            return True
        output = await self.client.release_output(release.output_stream_url)
        if output is None or MIGRATIONS_APPLIED_MARKER in output:
            return True
        return NO_MIGRATIONS_MARKER not in output

    def _outcome(
        self, service: str, commit: str, release: HerokuRelease, *, migrations: bool, request_id: str
    ) -> DeployOutcome:
        return DeployOutcome(
            service=service,
            release=commit,
            migrations_ran=migrations,
            applied_at=release.updated_at or release.created_at or self.clock.now(),
            request_id=request_id,
        )


def _same_commit(slug_commit: str | None, commit: str) -> bool:
    """Full ids compare equal; an abbreviated one matches as a prefix (never shorter than 7)."""
    if not slug_commit or len(commit) < 7:
        return False
    return slug_commit.startswith(commit) or (len(slug_commit) >= 7 and commit.startswith(slug_commit))
