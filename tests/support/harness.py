"""The running app for one profile, as the API tests see it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import httpx

from docquery.settings import Settings
from docquery.wiring import Services


@dataclass
class Harness:
    """The running app for one profile: clients for two owners, and the stores to inspect."""

    settings: Settings
    alice: httpx.AsyncClient
    bob: httpx.AsyncClient
    anonymous: httpx.AsyncClient
    stores: Services
    app: Any

    async def blob_keys(self) -> list[str]:
        """Every stored blob key (and, on the embedded profile, any temporary upload file)."""
        if self.settings.profile == "aws":
            from support.aws_inspect import list_keys

            return await list_keys(self.settings)
        root = self.settings.data_dir
        found = [p.relative_to(root / "blobs").as_posix() for p in (root / "blobs").rglob("*")]
        return sorted([key for key in found if (root / "blobs" / key).is_file()]) + sorted(
            f"tmp/{p.name}" for p in (root / "tmp").iterdir()
        )

    async def pending_uploads(self) -> int:
        """Unfinished S3 multipart uploads (0 on the embedded profile, which has none)."""
        if self.settings.profile != "aws":
            return 0
        from support.aws_inspect import count_multipart_uploads

        return await count_multipart_uploads(self.settings)


HarnessFactory = Callable[..., AbstractAsyncContextManager[Harness]]
