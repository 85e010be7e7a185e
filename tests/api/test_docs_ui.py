"""/docs: Swagger UI from the service's own files, working with no internet; `/` leads to it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse

from docquery.api import docs
from docquery.app import create_app
from support.harness import Harness
from support.settings import embedded_settings

# The docs do not depend on the profile.
EMBEDDED = pytest.mark.parametrize("profile", ["embedded"])

CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".svg": "image/svg+xml"}
UPLOAD_OPERATION = "#/documents/upload_document_v1_documents_post"


class _References(HTMLParser):
    """Every src and href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def references(page: str) -> list[str]:
    parser = _References()
    parser.feed(page)
    return parser.urls


@EMBEDDED
async def test_docs_page_names_no_other_host_and_its_assets_load(harness: Harness) -> None:
    response = await harness.anonymous.get("/docs")
    assert response.status_code == 200
    page = response.text
    assert not re.search(r"https?://", page), "a URL to another host"
    urls = references(page)
    assert len(urls) == 3  # the script, the style sheet, the favicon
    for url in urls:
        assert url.startswith(f"{docs.ASSETS_PATH}/"), url  # not //host/...
        asset = await harness.anonymous.get(url)
        assert asset.status_code == 200, url
        suffix = Path(url.partition("?")[0]).suffix
        assert CONTENT_TYPES[suffix] in asset.headers["content-type"], url
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        # The version in the URL is the content's, so the year's caching is never stale.
        digest = hashlib.sha256(asset.content).hexdigest()
        assert url.endswith(f"?v={digest[:16]}"), url
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "SwaggerUIBundle(" in page
    assert '"validatorUrl": null' in page


async def test_the_vendored_swagger_ui_carries_its_licence() -> None:
    vendored = docs.STATIC_DIR / "swagger-ui"
    assert "Apache License" in (vendored / "LICENSE").read_text(encoding="utf-8")
    assert "SmartBear" in (vendored / "NOTICE").read_text(encoding="utf-8")
    assert (vendored / "swagger-ui-bundle.js.LICENSE.txt").stat().st_size > 0


@EMBEDDED
async def test_root_redirects_to_the_docs_without_a_key(harness: Harness) -> None:
    response = await harness.anonymous.get("/")
    assert response.status_code in (307, 308)
    assert response.headers["location"] == "/docs"
    spec = (await harness.anonymous.get("/openapi.json")).json()
    assert "/" not in spec["paths"]
    assert not any(path.startswith("/docs") for path in spec["paths"])


@EMBEDDED
async def test_oauth2_redirect_page_is_served_and_redoc_is_off(harness: Harness) -> None:
    redirect = await harness.anonymous.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert "oauth2" in redirect.text
    assert not re.search(r"https?://", redirect.text)
    # ReDoc's page would load its script and fonts from CDNs; one offline UI is enough.
    assert (await harness.anonymous.get("/redoc")).status_code == 404


@EMBEDDED
async def test_upload_form_fields_are_not_prefilled_with_placeholders(harness: Harness) -> None:
    spec = (await harness.anonymous.get("/openapi.json")).json()
    body = spec["paths"]["/v1/documents"]["post"]["requestBody"]
    fields = body["content"]["multipart/form-data"]["schema"]["properties"]
    # Swagger UI fills its form from an example, or "string" when there is none.
    assert fields["title"]["default"] == ""
    assert fields["tags"]["default"] == []
    for name in ("title", "tags"):
        assert not {"example", "examples"} & set(fields[name]), name


# --- in a real browser, with every host but 127.0.0.1 unresolvable ------------------------------


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    return path


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Inside pytest, Ctrl-C belongs to pytest, not to this server.
        yield


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """The app under uvicorn on a free loopback port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, ws="none", lifespan="on")
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.05)
        host, port = sock.getsockname()
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def dump_dom(url: str, profile_dir: Path) -> str:
    """The DOM chromium holds once the page's scripts have run."""
    process = await asyncio.create_subprocess_exec(
        chromium(),
        *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
        *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
        # No network: a page that needs a CDN renders nothing here.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile_dir}",
        *("--dump-dom", "--virtual-time-budget=5000", url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0
    return stdout.decode()


def with_try_it_out(app: FastAPI) -> None:
    """Add /probe: the /docs page with "Try it out" already pressed, as a user would."""

    async def probe(request: Request) -> HTMLResponse:
        page = (await docs.swagger_ui(request)).body.decode()
        marker = '"validatorUrl": null,'
        assert page.count(marker) == 1
        page = page.replace(marker, f'{marker} "tryItOutEnabled": true,')
        return HTMLResponse(page)

    app.add_route("/probe", probe)


def inputs(dom: str) -> list[dict[str, Any]]:
    """The attributes of every <input> in the upload operation's form."""
    found: list[dict[str, Any]] = []

    class Inputs(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "input":
                found.append(dict(attrs))

    Inputs().feed(dom)
    return found


@pytest.mark.slow
async def test_swagger_ui_renders_offline_in_chromium(tmp_path: Path) -> None:
    chromium()
    app = create_app(embedded_settings(tmp_path / "data"))
    with_try_it_out(app)
    async with serving(app) as base:
        page = await dump_dom(f"{base}/docs", tmp_path / "profile")
        form = await dump_dom(f"{base}/probe{UPLOAD_OPERATION}", tmp_path / "profile")
    # Operations are drawn by Swagger UI's script from /openapi.json: proof both loaded.
    paths = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', page))
    assert {"/v1/documents", "/v1/documents/{document_id}", "/v1/search"} <= paths
    assert "/" not in paths
    fields = inputs(form)
    assert any(field.get("type") == "file" for field in fields), "the upload form did not open"
    texts = [field for field in fields if field.get("type") == "text"]
    assert [(field.get("placeholder"), field.get("value")) for field in texts] == [("title", "")]
