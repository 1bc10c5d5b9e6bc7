"""CPU per request of HTTP clients the console could call Raptor with, plain and over TLS.

    python bench/client_cost.py [--requests 4000] [--rounds 3] [--clients keepalive,aiohttp,...]

nginx (pinned to CPU 0) serves the same 12 KB JSON as the console's read path, on a plain
port and on a TLS port (a certificate for ``localhost`` from a throw-away authority made
with trustme, trusted through ``SSL_CERT_FILE``), keep-alive on both. This process (pin it
to CPU 1 with ``taskset -c 1``) runs on uvloop, as the console does, and for each client
sends ``--requests`` GETs with the console's three headers from 32 concurrent tasks and
then from one, after a warm-up, and reads its own CPU time (threads included: a client
that works in threads of its own is charged for them). Rounds alternate the clients;
medians over rounds, and each client's ratio to the console's own (``keepalive``).

Clients: ``keepalive`` (``raxx.console.raptor.transport``), ``aiohttp`` and ``httpx`` (installed
with the dev extra); ``pyreqwest`` and ``aiosonic`` when importable (``pip install
pyreqwest aiosonic`` into a scratch target and put it on ``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trustme
import uvloop

from raxx.common.pgembed import free_port
from raxx.console.raptor.transport import KeepAliveClient, Origin, tls_context

BODY = b'{"orders":"' + b"x" * 12200 + b'"}'
HEADERS = {"Authorization": "Bearer rxp_staging_0123_secret", "X-Request-ID": "0" * 32, "X-Raxx-Actor": "bench (api)"}
NGINX_CONF = """
worker_processes 1; pid {dir}/nginx.pid; error_log {dir}/nginx-error.log warn; daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log off; keepalive_requests 1000000; default_type application/json;
    server {{ listen 127.0.0.1:{port}; root {dir}; }}
    server {{
        listen 127.0.0.1:{tls_port} ssl; root {dir};
        ssl_certificate {dir}/server.pem; ssl_certificate_key {dir}/server.key;
    }}
    client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fcgi;
    uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
}}
"""
Get = Callable[[], Awaitable[bytes]]
Close = Callable[[], Awaitable[Any]]


def keepalive(url: str) -> tuple[Get, Close]:
    client = KeepAliveClient(Origin.of(url), timeout_s=5, connect_timeout_s=2)
    raw = b"".join(f"{name}: {value}\r\n".encode() for name, value in HEADERS.items())

    async def get() -> bytes:
        return (await client.get("/orders.json", raw)).body

    async def close() -> None:
        client.close()

    return get, close


def with_aiohttp(url: str) -> tuple[Get, Close]:
    import aiohttp

    session = aiohttp.ClientSession(base_url=url, connector=aiohttp.TCPConnector(limit=64, ssl=tls_context()))

    async def get() -> bytes:
        async with session.get("/orders.json", headers=HEADERS) as response:
            return await response.read()

    return get, session.close


def with_httpx(url: str) -> tuple[Get, Close]:
    import httpx

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    client = httpx.AsyncClient(base_url=url, verify=tls_context(), limits=limits)

    async def get() -> bytes:
        return (await client.get("/orders.json", headers=HEADERS)).content

    return get, client.aclose


def with_pyreqwest(url: str) -> tuple[Get, Close]:
    from pyreqwest.client import ClientBuilder  # type: ignore[import-not-found]

    authority = Path(os.environ["SSL_CERT_FILE"]).read_bytes()
    client = ClientBuilder().add_root_certificate_pem(authority).http1_only().build()

    async def get() -> bytes:
        response = await client.get(url + "/orders.json").headers(HEADERS).build().send()
        return bytes(await response.bytes())

    return get, client.close


def with_aiosonic(url: str) -> tuple[Get, Close]:
    import aiosonic  # type: ignore[import-not-found]

    client = aiosonic.HTTPClient(aiosonic.TCPConnector())
    context = tls_context() if url.startswith("https") else None

    async def get() -> bytes:
        response = await client.get(url + "/orders.json", headers=HEADERS, ssl=context)
        return bytes(await response.content())

    async def close() -> None:
        await client.connector.cleanup()

    return get, close


CLIENTS: dict[str, Callable[[str], tuple[Get, Close]]] = {
    "keepalive": keepalive,
    "aiohttp": with_aiohttp,
    "httpx": with_httpx,
    "pyreqwest": with_pyreqwest,
    "aiosonic": with_aiosonic,
}


async def cpu_per_request(client: str, url: str, concurrency: int, requests: int) -> float:
    get, close = CLIENTS[client](url)

    async def worker(count: int) -> None:
        for _ in range(count):
            if len(await get()) != len(BODY):
                raise RuntimeError(f"{client}: a wrong answer")

    try:
        await asyncio.gather(*(worker(20) for _ in range(concurrency)))  # connections open, caches warm
        started = time.process_time()
        await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
        return (time.process_time() - started) / requests * 1e6
    finally:
        await close()


def available(names: list[str]) -> list[str]:
    """The clients asked for that this environment can import (``keepalive`` always)."""
    found = [name for name in names if name == "keepalive" or importlib.util.find_spec(name) is not None]
    for name in sorted(set(names) - set(found)):
        print(f"{name}: not importable here, left out", file=sys.stderr)
    return found


async def measure(args: argparse.Namespace, urls: dict[str, str]) -> dict[tuple[str, int, str], list[float]]:
    results: dict[tuple[str, int, str], list[float]] = {}
    for round_no in range(args.rounds):
        for scheme, url in urls.items():
            for concurrency in (32, 1):
                for client in args.clients:
                    cpu = await cpu_per_request(client, url, concurrency, args.requests)
                    results.setdefault((scheme, concurrency, client), []).append(cpu)
        print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    args = parser.parse_args()
    args.clients = available(args.clients.split(","))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx's worker reads the files as another user
        authority = trustme.CA()
        issued = authority.issue_cert("localhost")
        issued.private_key_pem.write_to_path(str(work / "server.key"))
        (work / "server.pem").write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
        authority.cert_pem.write_to_path(str(work / "ca.pem"))
        os.environ["SSL_CERT_FILE"] = str(work / "ca.pem")
        (work / "orders.json").write_bytes(BODY)
        port, tls_port = free_port(), free_port()
        (work / "nginx.conf").write_text(NGINX_CONF.format(dir=work, port=port, tls_port=tls_port))
        pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
        server = subprocess.Popen([*pin, nginx, "-c", str(work / "nginx.conf"), "-p", str(work)])
        try:
            time.sleep(0.5)
            urls = {"http": f"http://127.0.0.1:{port}", "https": f"https://localhost:{tls_port}"}
            results = uvloop.run(measure(args, urls))
        finally:
            server.terminate()
            server.wait()
    print(f"\nclient CPU per GET of {len(BODY)} bytes, {args.rounds} rounds x {args.requests} requests, medians")
    for (scheme, concurrency, client), values in sorted(results.items()):
        own = statistics.median(results[(scheme, concurrency, "keepalive")]) if "keepalive" in args.clients else 0
        median = statistics.median(values)
        ratio = f"{median / own:5.2f}x of keepalive" if own else ""
        rounds = " ".join(f"{v:.0f}" for v in values)
        print(f"{scheme:<6} c{concurrency:<3} {client:<10} {median:8.1f} us  {ratio}  rounds: {rounds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
