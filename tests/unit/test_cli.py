"""The docquery command: keygen, init, healthcheck, and refusing bad settings."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from docquery.cli import main
from docquery.wiring import open_aws_clients
from support.moto import unique_name


def test_keygen_prints_a_key_and_its_digest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "alice"]) == 0
    out = capsys.readouterr().out.splitlines()
    key = next(line for line in out if line.startswith("dq_"))
    entry = out[-1]
    assert entry == f"alice={hashlib.sha256(key.encode()).hexdigest()}"
    assert len(key) > 40


def test_keygen_refuses_a_bad_owner(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "a,b=c"]) == 2
    assert "owner must match" in capsys.readouterr().err


def test_init_embedded_creates_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCQUERY_DATA_DIR", str(tmp_path / "store"))
    assert main(["init"]) == 0
    assert (tmp_path / "store" / "docquery.sqlite3").is_file()
    assert (tmp_path / "store" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert "embedded storage ready" in capsys.readouterr().out


def test_init_aws_is_idempotent(
    moto_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    bucket, table = unique_name("init-bucket"), unique_name("init-table")
    # Only what init creates: no API keys, no SECRET_KEY (those are for serving).
    env = {
        "DOCQUERY_PROFILE": "aws",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "S3_BUCKET": bucket,
        "DYNAMODB_TABLE": table,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["init"]) == 0
    assert main(["init"]) == 0
    out = capsys.readouterr().out
    assert f"bucket {bucket}: created" in out
    assert f"bucket {bucket}: exists" in out
    assert f"table {table}: created" in out
    assert f"table {table}: exists" in out
    asyncio.run(_assert_bucket_is_private_and_encrypted(bucket, table))


async def _assert_bucket_is_private_and_encrypted(bucket: str, table: str) -> None:
    from docquery.settings import Settings

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    async with open_aws_clients(settings) as clients:
        encryption = await clients.s3.get_bucket_encryption(Bucket=bucket)
        rule = encryption["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        block = (await clients.s3.get_public_access_block(Bucket=bucket))[
            "PublicAccessBlockConfiguration"
        ]
        assert all(block.values())
        description = (await clients.dynamodb.describe_table(TableName=table))["Table"]
        indexes = {index["IndexName"] for index in description["GlobalSecondaryIndexes"]}
        assert indexes == {"owner-created-index", "work-index", "changes-index"}
        ttl = await clients.dynamodb.describe_time_to_live(TableName=table)
        assert ttl["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": "expires_at",
        }


def test_serve_reports_every_bad_setting_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCQUERY_PROFILE", "aws")
    monkeypatch.setenv("DOCQUERY_PORT", "eighty")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "docquery: invalid settings:"
    assert [line.split(":")[0].strip() for line in err[1:]] == [
        "DOCQUERY_PORT",
        "DOCQUERY_AUTH",
        "SECRET_KEY",
    ]
    assert "allowed only with the embedded profile" in err[2]


def test_init_reports_two_invalid_settings_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCQUERY_PROFILE", "aws")
    monkeypatch.setenv("S3_PART_SIZE", "1MiB")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "99")
    assert main(["init"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3, err
    assert err[1].startswith("  S3_PART_SIZE: ")
    assert "at least 5MiB" in err[1]
    assert err[2].startswith("  AWS_MAX_ATTEMPTS: ")


def test_healthcheck_fails_when_nothing_listens() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["healthcheck", "--url", f"http://127.0.0.1:{port}/healthz", "--timeout", "1"]) == 1


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_url() -> Iterator[tuple[str, type[_Health]]]:
    handler = type("Health", (_Health,), {"status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/healthz", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_healthcheck_follows_the_status(health_url: tuple[str, type[_Health]]) -> None:
    url, handler = health_url
    assert main(["healthcheck", "--url", url]) == 0
    handler.status = 503
    assert main(["healthcheck", "--url", url]) == 1
    assert main(["healthcheck", "--url", url.replace("/healthz", "/nothing")]) == 1
    for bad in ("https://127.0.0.1/healthz", "http://127.0.0.1:port/healthz", "healthz"):
        assert main(["healthcheck", "--url", bad]) == 2


# What a health check must never load: each costs tens to hundreds of milliseconds to import.
HEAVY = ("pydantic", "pydantic_settings", "fastapi", "starlette", "uvicorn", "httpx", "boto3")
HEAVY_OURS = ("docquery.settings", "docquery.app", "docquery.logs", "docquery.wiring")


def test_healthcheck_imports_only_what_it_needs(health_url: tuple[str, type[_Health]]) -> None:
    url, _ = health_url
    entry = "from docquery.cli import main; raise SystemExit(main())"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", entry, "healthcheck", "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    assert "docquery.cli" in imported
    heavy = {name for name in imported if name.split(".")[0] in HEAVY or name in HEAVY_OURS}
    assert not heavy, sorted(heavy)


def test_init_adds_the_indexes_an_older_table_lacks(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table made before the search feed existed gets its GSI (and TTL) from `init`."""
    from docquery.adapters.aws.provision import ensure_table
    from docquery.adapters.aws.table import table_definition
    from docquery.settings import Settings

    table = unique_name("older")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)

    async def run() -> None:
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        async with open_aws_clients(settings) as clients:
            older = table_definition(table)
            older["GlobalSecondaryIndexes"] = older["GlobalSecondaryIndexes"][:2]
            older["AttributeDefinitions"] = older["AttributeDefinitions"][:5]
            await clients.dynamodb.create_table(**older)
            assert await ensure_table(clients.dynamodb, table=table) is False
            described = (await clients.dynamodb.describe_table(TableName=table))["Table"]
            names = {index["IndexName"] for index in described["GlobalSecondaryIndexes"]}
            assert names == {"owner-created-index", "work-index", "changes-index"}
            ttl = await clients.dynamodb.describe_time_to_live(TableName=table)
            assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"

    asyncio.run(run())
