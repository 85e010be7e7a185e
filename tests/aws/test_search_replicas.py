"""Two ECS tasks, two copies of the search index: what one task changes, the other finds.

Each replica here is a whole app (its own lifespan, its own index file), on one table and
bucket of the moto server, like two tasks of the service behind one load balancer. Only task
A runs the pipeline, so everything task B knows it learnt from the change feed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from docquery.app import create_app
from docquery.settings import Settings
from support.api import settled, upload_ok, wait_for_document
from support.bad_pdfs import document_pdf
from support.settings import ALICE_KEY, aws_settings

pytestmark = pytest.mark.aws


@asynccontextmanager
async def task(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """One running replica of the service, and a client for alice."""
    async with AsyncExitStack() as stack:
        manager = await stack.enter_async_context(LifespanManager(create_app(settings)))
        yield await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app),
                base_url="http://docquery.test",
                headers={"X-API-Key": ALICE_KEY},
                timeout=30,
            )
        )


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.1)


async def hits(client: httpx.AsyncClient, q: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["hits"]
    return found


@pytest.fixture
async def base(moto_endpoint: str, tmp_path: Path) -> Settings:
    return await aws_settings(
        moto_endpoint, data_dir=tmp_path / "a", language_model="disabled", job_lease_seconds=6
    )


async def test_what_one_task_indexes_the_other_finds_and_forgets(
    base: Settings, tmp_path: Path
) -> None:
    worker = base.model_copy(update={"pipeline_enabled": True})
    other = base.model_copy(update={"data_dir": tmp_path / "b"})
    async with task(worker) as a, task(other) as b:
        document = await upload_ok(
            a,
            document_pdf(["Haemoglobin 9.1 g/dL: iron deficiency anaemia."]),
            data={"tags": "labs"},
        )
        await wait_for_document(a, document["id"], settled)

        async def b_finds(title: str, **params: Any) -> bool:
            found = await hits(b, "anaemia", **params)
            return [(h["document_id"], h["page"], h["title"]) for h in found] == [
                (document["id"], 1, title)
            ]

        await eventually(lambda: b_finds(document["title"]))

        edited = await a.patch(
            f"/v1/documents/{document['id']}", json={"title": "Iron studies", "tags": ["iron"]}
        )
        assert edited.status_code == 200
        await eventually(lambda: b_finds("Iron studies", tags="iron"))
        assert await hits(b, "anaemia", tags="labs") == []

        reprocessed = await a.post(f"/v1/documents/{document['id']}/reprocess")
        assert reprocessed.status_code == 202
        await wait_for_document(
            a,
            document["id"],
            lambda d: settled(d) and d["updated_at"] > edited.json()["updated_at"],
        )
        await asyncio.sleep(1)
        assert await b_finds("Iron studies")  # once, not twice

        assert (await a.delete(f"/v1/documents/{document['id']}")).status_code == 204
        assert await hits(b, "anaemia") == []  # the record is gone: never a hit, even before

        async def b_forgot() -> bool:
            response = await b.get("/readyz")
            return response.status_code == 200 and await hits(b, "haemoglobin") == []

        await eventually(b_forgot)


async def test_a_task_that_starts_later_builds_its_copy_before_it_is_ready(
    base: Settings, tmp_path: Path
) -> None:
    worker = base.model_copy(update={"pipeline_enabled": True})
    async with task(worker) as a:
        ids = []
        for n in range(3):
            document = await upload_ok(
                a, document_pdf([f"Clinic letter {n}: warfarin dose review."])
            )
            ids.append(document["id"])
        for document_id in ids:
            await wait_for_document(a, document_id, settled)
        failed = await upload_ok(a, b"%PDF-1.7\nnot really a pdf\n%%EOF\n")
        await wait_for_document(a, failed["id"], settled)

    late = base.model_copy(update={"data_dir": tmp_path / "late"})
    async with task(late) as c:

        async def ready() -> bool:
            return (await c.get("/readyz")).status_code == 200

        await eventually(ready)
        found = await hits(c, "warfarin", limit=50)
        assert sorted(h["document_id"] for h in found) == sorted(ids)
    assert list((tmp_path / "late").glob("search-*")) == []  # a task's copy goes with it
