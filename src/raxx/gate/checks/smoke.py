"""Smoke checks after a deploy: the deployment says the right environment and release,
is ready, and the console can reach it. Each returns a ``CheckResult``; none raises."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from raxx.common.secrets import SecretsProvider
from raxx.gate.policy import EnvironmentPolicy, Policy
from raxx.gate.topology import Locator
from raxx.gate.verdict import CheckResult, failed, passed, unknown


@dataclass
class SmokeContext:
    policy: Policy
    locator: Locator
    http: httpx.AsyncClient
    secrets: SecretsProvider
    timeout: float = 5.0

    def console_url(self) -> str:
        smoke = self.policy.smoke
        return self.locator.url(smoke.console_app, smoke.console_environment)

    def token(self) -> str | None:
        return self.secrets.get(self.policy.smoke.token_secret)


def smoke_preflight(ctx: SmokeContext, env: EnvironmentPolicy) -> CheckResult:
    """Before deploying: can the smoke checks run at all? (Else a good deploy would be rolled back.)"""
    if "console_proxy" in env.smoke and not ctx.token():
        return unknown("smoke_ready", f"secret {ctx.policy.smoke.token_secret} is not set; console smoke cannot run")
    return passed("smoke_ready", f"smoke checks: {', '.join(env.smoke) or 'none'}")


async def run_smoke(ctx: SmokeContext, env: EnvironmentPolicy, release: str) -> list[CheckResult]:
    """Every smoke check the policy names for ``env``, against ``release``."""
    results: list[CheckResult] = []
    for name in env.smoke:
        if name == "identity":
            results.append(await check_identity(ctx, env, release))
        elif name == "readyz":
            results.append(await check_ready(ctx, env))
        elif name == "console_healthz":
            results.append(
                await check_console_health(ctx, release if env.app == ctx.policy.smoke.console_app else None)
            )
        elif name == "console_login":
            results.append(await check_console_login(ctx))
        elif name == "console_proxy":
            targets = env.smoke_environments if env.app == ctx.policy.smoke.console_app else (env.name,)
            results.extend([await check_console_proxy(ctx, target) for target in targets])
    return results


async def _get(ctx: SmokeContext, url: str, **kwargs: Any) -> tuple[httpx.Response | None, float, str | None]:
    started = time.perf_counter()
    try:
        response = await ctx.http.get(url, timeout=ctx.timeout, **kwargs)
    except httpx.HTTPError as exc:
        return None, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"[:200]
    return response, (time.perf_counter() - started) * 1000, None


async def check_identity(ctx: SmokeContext, env: EnvironmentPolicy, release: str) -> CheckResult:
    url = ctx.locator.url(env.app, env.name) + ctx.policy.apps[env.app].identity_path
    response, ms, error = await _get(ctx, url)
    if response is None or response.status_code != 200:
        return failed("identity", f"{env.service} identity: {error or response.status_code if response else error}")
    body = _json(response)
    seen_env, seen_release = body.get("environment"), body.get("release")
    if seen_env is not None and seen_env != env.name:
        return failed("identity", f"{env.service} says it is {seen_env!r}, not {env.name!r}", body=body)
    if seen_release != release:
        return failed("identity", f"{env.service} runs {seen_release!r}, not {release!r}", body=body)
    return passed("identity", f"{env.service} is {env.name} at {release}", latency_ms=round(ms, 1))


async def check_ready(ctx: SmokeContext, env: EnvironmentPolicy) -> CheckResult:
    url = ctx.locator.url(env.app, env.name) + ctx.policy.apps[env.app].health_path
    response, ms, error = await _get(ctx, url)
    if response is None:
        return failed("readyz", f"{env.service} unreachable: {error}")
    if response.status_code != 200:
        reasons = _json(response).get("reasons")
        return failed("readyz", f"{env.service} not ready ({response.status_code}): {reasons or response.text[:120]}")
    return passed("readyz", f"{env.service} ready", latency_ms=round(ms, 1))


async def check_console_health(ctx: SmokeContext, release: str | None) -> CheckResult:
    response, ms, error = await _get(ctx, ctx.console_url() + "/healthz")
    if response is None or response.status_code != 200:
        return failed("console_healthz", f"console /healthz: {error or (response and response.status_code)}")
    body = _json(response)
    if body.get("status") != "ok":
        return failed("console_healthz", f"console /healthz says {body}")
    if release is not None and body.get("release") != release:
        return failed("console_healthz", f"console runs {body.get('release')!r}, not {release!r}")
    return passed("console_healthz", f"console ok at {body.get('release')}", latency_ms=round(ms, 1))


async def check_console_login(ctx: SmokeContext) -> CheckResult:
    response, ms, error = await _get(ctx, ctx.console_url() + ctx.policy.smoke.login_path)
    if response is None or response.status_code != 200:
        return failed("console_login", f"login page: {error or (response and response.status_code)}")
    if "text/html" not in response.headers.get("content-type", ""):
        return failed("console_login", f"login page is {response.headers.get('content-type')}, not HTML")
    return passed("console_login", "login page serves HTML", latency_ms=round(ms, 1))


async def check_console_proxy(ctx: SmokeContext, environment: str) -> CheckResult:
    """One read through the console to ``environment``'s Raptor, as an operator's API token."""
    name = f"console_proxy[{environment}]"
    token = ctx.token()
    if not token:
        return failed(name, f"secret {ctx.policy.smoke.token_secret} is not set")
    path = ctx.policy.smoke.proxy_path.format(env=environment)
    response, ms, error = await _get(ctx, ctx.console_url() + path, headers={"Authorization": f"Bearer {token}"})
    if response is None:
        return failed(name, f"console unreachable: {error}")
    if response.status_code != 200:
        detail = _json(response).get("error") or response.text[:120]
        return failed(name, f"GET {path} through the console: {response.status_code} {detail}")
    try:
        response.json()
    except ValueError:
        return failed(name, f"GET {path} through the console did not return JSON")
    return passed(name, f"console reads {environment} orders", latency_ms=round(ms, 1))


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
