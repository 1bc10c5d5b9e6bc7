"""Every page names its environment, or says the one in its URL is unknown, or that there is none.

``/PROD/orders``, ``/Staging/``, ``/prod_eu/``, ``/x/``, ``/pröd/`` once looked like "no
environment selected". The examples below pin what they say now; the property runs generated
paths against the real console (uvicorn, one signed-in cookie jar) and two real Raptors.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raxx.common.provision import ProvisionedDatabase
from tests.console.conftest import PASSWORD, RunningRaptor, add_team, raptor_tokens
from tests.fixtures.apps import console_app, csrf_from
from tests.fixtures.network import LOOPBACK_ONLY
from tests.fixtures.servers import serve

pytestmark = LOOPBACK_ONLY

ENVS = ("staging", "prod")
#: The first path segments of the console's own pages (not environments).
CONSOLE_PAGES = ("login", "compare", "releases", "tokens", "switch", "theme", "favicon", "static", "healthz")
SECTIONS = ("", "orders", "orders/new", "positions", "account", "trading", "health", "users", "audit", "nope")
_BANNER = re.compile(r'<div id="env-banner"[^>]*data-env="([^"]*)"[^>]*aria-label="Environment: ([^"]*)"')
_TITLE = re.compile(r"<title>(\[[A-Z ]+\])")


@pytest.fixture
def signed_in(
    console_db: ProvisionedDatabase, registry_file: Path, raptors: dict[str, RunningRaptor]
) -> Iterator[httpx.Client]:
    """alice (admin in both environments), signed in to a real console server."""
    from raxx.common.aio import run_sync

    run_sync(lambda: add_team(console_db))
    with serve(console_app(console_db, registry_file, raptor_tokens(raptors))) as server:
        client = httpx.Client(base_url=server.url, timeout=10)
        page = client.get("/login")
        done = client.post(
            "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_from(page.text)}
        )
        assert done.status_code == 303
        yield client
        client.close()


def url_of(segments: list[str]) -> str:
    return "/" + "/".join(quote(s, safe="") for s in segments)


def banner(page: httpx.Response) -> tuple[str, str, str]:
    """The banner's data-env, its label (unescaped) and the title's tag."""
    found = _BANNER.search(page.text)
    title = _TITLE.search(page.text)
    assert found is not None, page.text[:500]
    assert title is not None, page.text[:500]
    return found.group(1), html.unescape(found.group(2)), title.group(1)


@pytest.mark.parametrize(
    ("path", "name", "suggestion"),
    [
        ("/PROD/orders", "PROD", "/prod/orders"),
        ("/Staging/", "Staging", "/staging/"),
        ("/Qa/", "Qa", None),
        ("/qa/", "qa", None),
        ("/prod_eu/", "prod_eu", None),
        ("/x/", "x", None),
        ("/" + "a" * 40 + "/orders", "a" * 40, None),
        ("/pr%C3%B6d/", "pröd", None),
        ("/PROD/orders/new?symbol=AAPL&quantity=10", "PROD", "/prod/orders"),
        ("/pRoD/%3Cscript%3E", "pRoD", "/prod/"),
        ("/%23/orders", "#", None),  # the name as routing saw it, not as request.url re-quotes it
    ],
)
def test_an_unknown_environment_is_named_whatever_its_case(
    signed_in: httpx.Client, path: str, name: str, suggestion: str | None
) -> None:
    page = signed_in.get(path)
    assert page.status_code == 404
    env, label, title = banner(page)
    assert env == "unknown"
    assert label == f"UNKNOWN ENVIRONMENT {name!r}"
    assert title == "[UNKNOWN ENV]"
    assert "NO ENVIRONMENT SELECTED" not in page.text
    links = re.findall(r'<a href="([^"]*)" data-did-you-mean>', page.text)
    assert links == ([suggestion] if suggestion else [])
    assert "<script>" not in page.text.split('id="env-banner"', 1)[1]  # the name is escaped


def test_a_posted_form_to_a_case_variant_is_refused_and_its_suggestion_acts_on_nothing(
    signed_in: httpx.Client,
) -> None:
    """The link is a plain GET of the section's page: no form, no query carried over."""
    page = signed_in.post("/PROD/orders", data={"symbol": "AAPL", "side": "buy", "quantity": "10"})
    assert page.status_code in (403, 404)
    env, label, _ = banner(page)
    assert (env, label) == ("unknown", "UNKNOWN ENVIRONMENT 'PROD'")
    link = re.findall(r'<a href="([^"]*)" data-did-you-mean>', page.text)
    assert link == ["/prod/orders"]
    assert 'action="/prod/orders"' not in page.text.split('id="env-banner"', 1)[1].split("</div>", 1)[0]


def test_names_that_are_long_or_not_printable_are_cut_and_escaped(signed_in: httpx.Client) -> None:
    long_name = "Z" * 200
    _, label, _ = banner(signed_in.get(f"/{long_name}/"))
    assert label == f"UNKNOWN ENVIRONMENT {'Z' * 48 + chr(0x2026)!r}"
    _, label, _ = banner(signed_in.get("/a%E2%80%8Bb%22c/"))  # a zero-width space and a quote
    assert label == "UNKNOWN ENVIRONMENT 'a\\u200bb\"c'"


segment_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="/"), min_size=1, max_size=24
).filter(lambda s: s not in (".", ".."))
first_segment = st.one_of(
    st.sampled_from(ENVS),
    st.sampled_from(ENVS).map(str.upper),
    st.sampled_from(ENVS).map(str.title),
    st.sampled_from(CONSOLE_PAGES),
    st.from_regex(r"[a-z][a-z0-9_-]{0,40}", fullmatch=True),
    segment_text,
)


def test_every_page_names_its_environment_or_says_unknown_or_none(signed_in: httpx.Client) -> None:
    """Property: a page under a registered name wears that environment's banner; under any
    other name that is not a console page, UNKNOWN ENVIRONMENT with the name; elsewhere none
    (or the comparison's). Never a 500, never an unnamed environment."""

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(first=first_segment, section=st.sampled_from(SECTIONS), method=st.sampled_from(["GET", "POST"]))
    def check(first: str, section: str, method: str) -> None:
        segments = [first, *section.split("/")] if section else [first, ""]
        page = signed_in.request(method, url_of(segments))
        assert page.status_code < 500, (first, section, page.text[:300])
        if not page.headers.get("content-type", "").startswith("text/html"):
            return  # a redirect, a stylesheet, an icon: not a page
        env, label, title = banner(page)
        if first in ENVS:
            assert env == first
            assert title == f"[{first.upper()}]"
        elif first in CONSOLE_PAGES:
            assert env in ("none", "compare", "releases")
        else:
            assert env == "unknown", (first, env, label)
            assert label.startswith("UNKNOWN ENVIRONMENT ")
            shown = first if len(first) <= 48 else first[:48] + chr(0x2026)
            assert label == f"UNKNOWN ENVIRONMENT {shown!r}"
            assert title == "[UNKNOWN ENV]"

    check()
