"""The console's authenticated read path against Raptor direct and nginx, side by side in one run,
over plain HTTP and over TLS.

    python bench/console_proxy.py [--rounds 5] [--seconds 8] [--switch-iterations 300] [--base REV]
    python bench/console_proxy.py --pythons 3.11,3.13 [--rounds 3] [--seconds 4]

Starts, on free ports, against the test PostgreSQL (``RAXX_TEST_DATABASE_URL``, else
127.0.0.1:5432), each in its own throw-away databases: Raptor staging and prod
(``raxx raptor serve``); nginx in front of Raptor staging with upstream keepalive, on a
plain port and on a TLS port (a certificate for ``localhost`` from a throw-away authority
made with trustme, as a Heroku router terminates TLS in front of an app); two consoles
(``raxx console serve``), one reaching Raptor staging at its plain URL, one at the
``https://localhost`` URL of nginx, verifying the certificate (``SSL_CERT_FILE`` names the
authority). Servers are pinned to CPU 0 and the load generator (``wrk``) to CPU 1 when
``taskset`` exists, as in ``/work/shared/notes/perf-anchors.md``.

Measures, interleaved per round, medians over rounds:

* the same orders list (``limit=20``) read, at c=32 (throughput) and c=1 (latency):
  plain HTTP: (a) from Raptor direct, (b) through nginx, (c) through the console's JSON
  API (``/api/staging/orders``, personal token, role check, identity-verified forward);
  TLS: (d) direct over TLS (wrk -> nginx TLS -> Raptor), the baseline of (e) the console
  whose Raptor URL is https (wrk -> console -> nginx TLS -> Raptor);
* with ``--base REV``, the same two consoles from that revision's ``src/`` too
  (``console@base``, ``console-tls@base``), in the same rounds: a before/after side by side;
* switching the session's environment and rendering the new environment's orders
  page (``POST /switch`` then ``GET /{env}/orders``, alternating staging and prod), p95.

With ``--pythons``, plain HTTP only: Raptor staging and prod and a console, once under each of
those Pythons (``bench/pythons.py``: each version's ``.venvs/X.Y``), all on the same databases;
the orders list read direct from Raptor and through the console, at c=32 and c=1, each version
against the first, rounds interleaved, with the servers' CPU per request.

Everything started is stopped by its own pid; every database created is dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pythons
import trustme
from pythons import cpu_seconds

from raxx.common.aio import run_sync
from raxx.common.db import create_engine, session_factory
from raxx.common.migrations import upgrade
from raxx.common.pgembed import free_port
from raxx.common.provision import ProvisionedDatabase, drop_database, drop_role, provision_database
from raxx.console.apitoken import service as api_tokens
from raxx.console.auth import service as auth_service
from raxx.raptor.token.service import issue_token_sync

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "load generator passphrase 2026"
LIST_QUERY = "limit=20"
NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    upstream raptor {{ server 127.0.0.1:{upstream}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://raptor;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl;
        server_name localhost;
        ssl_certificate {dir}/server.pem;
        ssl_certificate_key {dir}/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        keepalive_requests 100000;
        location / {{
            proxy_pass http://raptor;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
    client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fcgi;
    uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
}}
"""
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float = float("nan")  # server CPU (user + system) per request, all processes on the path
    hop_cpu_us: float = float("nan")  # of which the last hop in front of wrk (nginx or the console)


def pinned(cpu: int, argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else argv


@contextmanager
def process(argv: list[str], env: dict[str, str], ready_url: str | None, log: Path) -> Iterator[int]:
    """Start a server, wait until ``ready_url`` answers 200, stop it by its own pid at the end."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env={**os.environ, **env}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while ready_url is not None:
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[:6]} did not start; see {log}")
            time.sleep(0.2)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def databases(admin_url: str) -> Iterator[dict[str, ProvisionedDatabase]]:
    run = secrets.token_hex(3)
    made: dict[str, ProvisionedDatabase] = {}
    roles: list[str] = []
    try:
        for key, tree in (("staging", "raptor"), ("prod", "raptor"), ("console", "console")):
            owner, runtime = f"rxbench_{run}_{key}_owner", f"rxbench_{run}_{key}_app"
            roles += [runtime, owner]
            made[key] = provision_database(
                admin_url,
                database=f"rxbench_{run}_{key}",
                owner=owner,
                owner_password=run + "o",
                runtime=runtime,
                runtime_password=run + "r",
            )
            upgrade(tree, made[key].owner_url, runtime_url=made[key].runtime_url)
        yield made
    finally:
        for db in made.values():
            drop_database(admin_url, db.database)
        for role in roles:
            drop_role(admin_url, role)


def console_user_and_token(db: ProvisionedDatabase) -> str:
    async def work() -> str:
        engine = create_engine(db.owner_url, application_name="bench", pool_size=1)
        try:
            async with session_factory(engine)() as session, session.begin():
                await auth_service.create_user(session, "bench", PASSWORD, {"staging": "admin", "prod": "admin"})
                created = await api_tokens.create(
                    session, user_name="bench", name="bench", expires_days=1, environments=("staging", "prod")
                )
                return created.plaintext
        finally:
            await engine.dispose()

    return run_sync(work)


def wrk(url: str, headers: dict[str, str], conns: int, seconds: int, script: Path, pids: list[int]) -> Sample:
    argv = ["wrk", "-t", "1" if conns == 1 else "2", "-c", str(conns), "-d", f"{seconds}s", "-s", str(script)]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    hop_pids = pids[-1:] if len(pids) > 1 else []
    cpu_before, hop_before = cpu_seconds(pids), cpu_seconds(hop_pids)
    out = subprocess.run(pinned(1, [*argv, url]), capture_output=True, text=True, check=True, timeout=seconds + 60)
    cpu, hop = cpu_seconds(pids) - cpu_before, cpu_seconds(hop_pids) - hop_before
    match = re.search(r"^JSON (.*)$", out.stdout, re.M)
    if match is None:
        raise RuntimeError(f"wrk printed no report:\n{out.stdout}\n{out.stderr}")
    data = json.loads(match.group(1))
    return Sample(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["errors"] + data["non2xx"],
        cpu_us=cpu / max(1, data["requests"]) * 1e6,
        hop_cpu_us=hop / max(1, data["requests"]) * 1e6,
    )


def seed_orders(raptor: str, token: str, count: int) -> None:
    headers = {"Authorization": f"Bearer {token}", "X-Raxx-Actor": "bench"}
    with httpx.Client(base_url=raptor, headers=headers, timeout=30) as client:
        for i in range(count):
            body = {
                "symbol": "AAPL",
                "side": "buy",
                "type": "limit",
                "quantity": "1",
                "limit_price": "1",
                "client_order_id": f"bench-{i}",
            }
            client.post("/v1/orders", json=body).raise_for_status()


async def switch_and_render(console: str, iterations: int) -> list[float]:
    """Seconds for POST /switch + GET of the new environment's orders page, alternating environments."""
    timings: list[float] = []
    async with httpx.AsyncClient(base_url=console, timeout=30) as client:
        page = await client.get("/login")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed = await client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": csrf})
        if signed.status_code != 303:
            raise RuntimeError(f"login failed: HTTP {signed.status_code}: {signed.text[-500:]}")
        csrf = (await client.get("/staging/orders")).text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        current = "staging"
        for i in range(iterations + 20):
            target = "prod" if current == "staging" else "staging"
            form = {"csrf_token": csrf, "from_env": current, "to_env": target, "next": "/orders", "confirmed": "yes"}
            started = time.perf_counter()
            moved = await client.post("/switch", data=form)
            rendered = await client.get(moved.headers["location"])
            elapsed = time.perf_counter() - started
            if moved.status_code != 303 or rendered.status_code != 200 or f'data-env="{target}"' not in rendered.text:
                raise RuntimeError(f"switch to {target} failed: {moved.status_code} {rendered.status_code}")
            if i >= 20:  # the first ones warm up pools and templates
                timings.append(elapsed)
            current = target
    return timings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _median(samples: list[Sample]) -> Sample:
    return Sample(
        rps=statistics.median(s.rps for s in samples),
        p50_ms=statistics.median(s.p50_ms for s in samples),
        p99_ms=statistics.median(s.p99_ms for s in samples),
        errors=sum(s.errors for s in samples),
        cpu_us=statistics.median(s.cpu_us for s in samples),
        hop_cpu_us=statistics.median(s.hop_cpu_us for s in samples),
    )


#: The paths of each scenario, its baseline first (``@base``: the console of ``--base REV``).
SCENARIOS = {
    "plain HTTP": ("direct", "nginx", "console", "console@base"),
    "TLS": ("direct-tls", "console-tls", "console-tls@base"),
}
CONSOLES = ("console", "console@base", "console-tls", "console-tls@base")


def report(results: dict[str, list[Sample]], switch: list[float], args: argparse.Namespace) -> None:
    med = {name: _median(samples) for name, samples in results.items()}
    scenarios = {name: [p for p in paths if f"{p} c32" in med] for name, paths in SCENARIOS.items()}
    for conns in (32, 1):
        print(f"\n== GET orders ({LIST_QUERY}), c={conns}, {args.rounds} rounds x {args.seconds}s, medians")
        print(
            f"{'path':<18}{'req/s':>8}{'ratio':>8}{'p50 ms':>8}{'p99 ms':>8}{'+p50 ms':>9}{'CPU us/req':>11}"
            f"{'CPU ratio':>10}{'hop CPU':>9}{'errors':>7}  rounds req/s"
        )
        for paths in scenarios.values():
            baseline = med[f"{paths[0]} c{conns}"]
            for path in paths:
                m = med[f"{path} c{conns}"]
                rounds = " ".join(f"{s.rps:.0f}" for s in results[f"{path} c{conns}"])
                print(
                    f"{path:<18}{m.rps:>8.0f}{m.rps / baseline.rps:>8.3f}{m.p50_ms:>8.2f}{m.p99_ms:>8.2f}"
                    f"{m.p50_ms - baseline.p50_ms:>9.2f}{m.cpu_us:>11.0f}{baseline.cpu_us / m.cpu_us:>10.3f}"
                    f"{m.hop_cpu_us:>9.0f}{m.errors:>7}  {rounds}"
                )
    print()
    for scenario, (base, *others) in scenarios.items():
        for console in (p for p in others if p in CONSOLES):
            summarize(scenario, base, console, results, med)
    p50, p95 = percentile(switch, 0.5) * 1000, percentile(switch, 0.95) * 1000
    print(
        f"switch + render the new environment's orders page, {len(switch)} times: p50 {p50:.1f} ms, "
        f"p95 {p95:.1f} ms, max {max(switch) * 1000:.1f} ms (goal p95 < 50 ms)"
    )


def summarize(scenario: str, base: str, console: str, results: dict[str, list[Sample]], med: dict[str, Sample]) -> None:
    # Each round runs the baseline and the console back to back: the per-round ratio
    # drifts less than the ratio of medians when other work shares the machine.
    per_round = [c.rps / d.rps for d, c in zip(results[f"{base} c32"], results[f"{console} c32"], strict=True)]
    throughput = med[f"{console} c32"].rps / med[f"{base} c32"].rps
    by_cpu = med[f"{base} c32"].cpu_us / med[f"{console} c32"].cpu_us
    print(
        f"{scenario}: {console} / {base} at c=32: {throughput:.3f} by req/s (per round "
        f"{' '.join(f'{x:.2f}' for x in per_round)}, median {statistics.median(per_round):.3f}), "
        f"{by_cpu:.3f} by server CPU per request (goal >= 0.6)"
    )
    paired = [c.p50_ms - d.p50_ms for d, c in zip(results[f"{base} c1"], results[f"{console} c1"], strict=True)]
    print(
        f"  added p50 at c=1: {med[f'{console} c1'].p50_ms - med[f'{base} c1'].p50_ms:.2f} ms (per round "
        f"{' '.join(f'{x:+.2f}' for x in paired)}, median {statistics.median(paired):+.2f} ms); "
        f"console CPU per read {med[f'{console} c32'].hop_cpu_us:.0f} us at c=32, "
        f"{med[f'{console} c1'].hop_cpu_us:.0f} us at c=1"
    )


def tls_files(work: Path) -> Path:
    """A throw-away authority and a certificate for ``localhost`` signed by it (nginx's files
    in ``work``); returns the authority's file, which the TLS console trusts."""
    authority = trustme.CA()
    issued = authority.issue_cert("localhost", "127.0.0.1")
    issued.private_key_pem.write_to_path(str(work / "server.key"))
    (work / "server.pem").write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    authority.cert_pem.write_to_path(str(work / "ca.pem"))
    return work / "ca.pem"


def base_source(revision: str, work: Path) -> Path:
    """``src/`` of ``revision``, unpacked from git into ``work``."""
    target = work / "base"
    target.mkdir(exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target / "src"


def registry_file(path: Path, staging_url: str, prod_url: str) -> Path:
    path.write_text(
        'default = "staging"\n'
        f'[environments.staging]\nlabel = "STAGING"\ncolor = "#b45309"\n'
        f'raptor_url = "{staging_url}"\ntoken_secret = "RAPTOR_TOKEN_STAGING"\n'
        f'[environments.prod]\nlabel = "PRODUCTION"\ncolor = "#b91c1c"\nprotected = true\n'
        f'raptor_url = "{prod_url}"\ntoken_secret = "RAPTOR_TOKEN_PROD"\n'
    )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--switch-iterations", type=int, default=300)
    parser.add_argument(
        "--base", metavar="REV", help="also measure the consoles of this revision (git archive), interleaved: @base"
    )
    parser.add_argument(
        "--pythons", metavar="X.Y,X.Y", help="Raptor and the console under each of these Pythons, vs the first"
    )
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists()):
            print(f"{tool} is required (Debian: apt-get install -y {tool})", file=sys.stderr)
            return 2
    admin = os.environ.get("RAXX_TEST_DATABASE_URL", DEFAULT_ADMIN)
    print(
        f"pinning: servers on CPU 0, wrk on CPU 1 ({'taskset' if shutil.which('taskset') else 'no taskset'}); "
        f"PostgreSQL {admin.rsplit('@', 1)[-1]} (not pinned)"
    )
    if args.pythons:
        return compare_pythons(args, admin)
    with tempfile.TemporaryDirectory() as tmp, databases(admin) as dbs, ExitStack() as stack:
        work = Path(tmp)
        script = work / "report.lua"
        script.write_text(WRK_REPORT)
        ports = {name: free_port() for name in ("staging", "prod", "console", "console-tls", "nginx", "nginx-tls")}
        tokens = {
            env: issue_token_sync(
                dbs[env].runtime_url, environment=env, scopes=["read", "trade", "admin"], name="bench console"
            )
            for env in ("staging", "prod")
        }
        py = [sys.executable, "-m", "raxx"]
        procs: dict[str, int] = {}
        for env in ("staging", "prod"):
            procs[env] = stack.enter_context(
                raptor_process(sys.executable, env, dbs[env], ports[env], work / f"raptor-{env}.log")
            )
        authority = tls_files(work)
        (work / "nginx.conf").write_text(
            NGINX_CONF.format(dir=work, upstream=ports["staging"], port=ports["nginx"], tls_port=ports["nginx-tls"])
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        procs["nginx"] = stack.enter_context(
            process(
                pinned(0, [nginx, "-c", str(work / "nginx.conf"), "-p", str(work)]),
                {},
                f"http://127.0.0.1:{ports['nginx']}/healthz",
                work / "nginx.log",
            )
        )
        api_token = console_user_and_token(dbs["console"])
        prod_url = f"http://127.0.0.1:{ports['prod']}"
        staging_urls = {
            "console": f"http://127.0.0.1:{ports['staging']}",
            "console-tls": f"https://localhost:{ports['nginx-tls']}",
        }
        sources = dict.fromkeys(staging_urls, ROOT / "src")
        if args.base:
            sources.update({f"{name}@base": base_source(args.base, work) for name in staging_urls})
            staging_urls.update({f"{name}@base": url for name, url in staging_urls.items()})
            ports.update({name: free_port() for name in staging_urls if name not in ports})
        for name, staging_url in staging_urls.items():
            procs[name] = stack.enter_context(
                process(
                    pinned(0, [*py, "console", "serve", "--port", str(ports[name])]),
                    {
                        "PYTHONPATH": str(sources[name]),
                        "CONSOLE_DATABASE_URL": dbs["console"].runtime_url,
                        "CONSOLE_ENVIRONMENTS_FILE": str(registry_file(work / f"{name}.toml", staging_url, prod_url)),
                        "CONSOLE_SECRET_KEY": secrets.token_urlsafe(48),
                        "CONSOLE_RELEASE": "bench",
                        "CONSOLE_LOG_LEVEL": "WARNING",
                        "RAPTOR_TOKEN_STAGING": tokens["staging"],
                        "RAPTOR_TOKEN_PROD": tokens["prod"],
                        "SSL_CERT_FILE": str(authority),  # the system store, as the operator extends it
                    },
                    f"http://127.0.0.1:{ports[name]}/readyz",
                    work / f"{name}.log",
                )
            )
        seed_orders(f"http://127.0.0.1:{ports['staging']}", tokens["staging"], 25)
        raptor_auth = {"Authorization": f"Bearer {tokens['staging']}"}
        console_auth = {"Authorization": f"Bearer {api_token}"}
        pids = {
            "direct": [procs["staging"]],
            "nginx": [procs["staging"], procs["nginx"]],
            "direct-tls": [procs["staging"], procs["nginx"]],
        }
        targets = {
            "direct": (f"http://127.0.0.1:{ports['staging']}/v1/orders?{LIST_QUERY}", raptor_auth),
            "nginx": (f"http://127.0.0.1:{ports['nginx']}/v1/orders?{LIST_QUERY}", raptor_auth),
            "direct-tls": (f"https://localhost:{ports['nginx-tls']}/v1/orders?{LIST_QUERY}", raptor_auth),
        }
        for name in staging_urls:  # the console's own CPU is the last of its pids ("hop CPU")
            pids[name] = [procs["staging"], *([procs["nginx"]] if "tls" in name else []), procs[name]]
            targets[name] = (f"http://127.0.0.1:{ports[name]}/api/staging/orders?{LIST_QUERY}", console_auth)
        bodies = [httpx.get(url, headers=h, verify=str(authority)).json() for url, h in targets.values()]
        assert all(body == bodies[0] for body in bodies), "every path must return the same JSON"
        print(
            f"each answer: {len(bodies[0]['orders'])} orders, {len(json.dumps(bodies[0]))} bytes of JSON, "
            f"identical on all {len(targets)} paths"
        )
        for name, (url, headers) in targets.items():  # warm-up
            wrk(url, headers, 32, 2, script, pids[name])
        results: dict[str, list[Sample]] = {f"{n} c{c}": [] for c in (32, 1) for n in targets}
        for round_no in range(args.rounds):
            for conns in (32, 1):
                for name, (url, headers) in targets.items():
                    results[f"{name} c{conns}"].append(wrk(url, headers, conns, args.seconds, script, pids[name]))
            print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
        switch = asyncio.run(switch_and_render(f"http://127.0.0.1:{ports['console']}", args.switch_iterations))
    report(results, switch, args)
    return 0


def raptor_process(python: str, env: str, db: ProvisionedDatabase, port: int, log: Path) -> AbstractContextManager[int]:
    return process(
        pinned(0, [python, "-m", "raxx", "raptor", "serve", "--port", str(port)]),
        {
            "PYTHONPATH": str(ROOT / "src"),
            "RAPTOR_ENVIRONMENT": env,
            "RAPTOR_DATABASE_URL": db.runtime_url,
            "RAPTOR_RELEASE": "bench",
            "RAPTOR_LOG_LEVEL": "WARNING",
        },
        f"http://127.0.0.1:{port}/readyz",
        log,
    )


def compare_pythons(args: argparse.Namespace, admin: str) -> int:
    """Raptor staging and prod and a console under each of ``--pythons``; reads direct and
    through the console, rounds interleaved, each version against the first."""
    venvs = pythons.venvs(args.pythons)
    print(pythons.describe(venvs))
    with tempfile.TemporaryDirectory() as tmp, databases(admin) as dbs, ExitStack() as stack:
        work = Path(tmp)
        script = work / "report.lua"
        script.write_text(WRK_REPORT)
        tokens = {
            env: issue_token_sync(dbs[env].runtime_url, environment=env, scopes=["read", "trade"], name="bench")
            for env in ("staging", "prod")
        }
        api_token = console_user_and_token(dbs["console"])
        secrets_env = {"RAPTOR_TOKEN_STAGING": tokens["staging"], "RAPTOR_TOKEN_PROD": tokens["prod"]}
        paths: dict[str, dict[str, tuple[str, dict[str, str], list[int]]]] = {"direct": {}, "console": {}}
        for version, python in venvs.items():
            ports = {name: free_port() for name in ("staging", "prod", "console")}
            raptors = {
                env: stack.enter_context(
                    raptor_process(str(python), env, dbs[env], ports[env], work / f"raptor-{env}-{version}.log")
                )
                for env in ("staging", "prod")
            }
            urls = {env: f"http://127.0.0.1:{ports[env]}" for env in ("staging", "prod")}
            console = stack.enter_context(
                process(
                    pinned(0, [str(python), "-m", "raxx", "console", "serve", "--port", str(ports["console"])]),
                    {
                        "PYTHONPATH": str(ROOT / "src"),
                        "CONSOLE_DATABASE_URL": dbs["console"].runtime_url,
                        "CONSOLE_ENVIRONMENTS_FILE": str(
                            registry_file(work / f"console-{version}.toml", urls["staging"], urls["prod"])
                        ),
                        "CONSOLE_SECRET_KEY": secrets.token_urlsafe(48),
                        "CONSOLE_RELEASE": "bench",
                        "CONSOLE_LOG_LEVEL": "WARNING",
                        **secrets_env,
                    },
                    f"http://127.0.0.1:{ports['console']}/readyz",
                    work / f"console-{version}.log",
                )
            )
            paths["direct"][version] = (
                f"{urls['staging']}/v1/orders?{LIST_QUERY}",
                {"Authorization": f"Bearer {tokens['staging']}"},
                [raptors["staging"]],
            )
            paths["console"][version] = (
                f"http://127.0.0.1:{ports['console']}/api/staging/orders?{LIST_QUERY}",
                {"Authorization": f"Bearer {api_token}"},
                [raptors["staging"], console],
            )
        first = next(iter(venvs))
        seed_orders(paths["direct"][first][0].split("/v1/")[0], tokens["staging"], 25)  # one database for all
        for by_version in paths.values():
            for url, headers, pids in by_version.values():
                wrk(url, headers, 32, 2, script, pids)  # warm-up
        results: dict[str, dict[str, list[pythons.Measured]]] = {
            f"GET orders ({LIST_QUERY}) {path} c{conns}": {v: [] for v in venvs} for conns in (32, 1) for path in paths
        }
        for round_no in range(args.rounds):
            for conns in (32, 1):
                for path, by_version in paths.items():
                    for version in pythons.in_turn(list(venvs), round_no):
                        url, headers, pids = by_version[version]
                        sample = wrk(url, headers, conns, args.seconds, script, pids)
                        measured = pythons.Measured(sample.rps, sample.p50_ms, sample.cpu_us)
                        results[f"GET orders ({LIST_QUERY}) {path} c{conns}"][version].append(measured)
            print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
    pythons.report(results, "req/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
