"""The `docquery` command: serve, init, keygen, healthcheck, ingest, reindex.

Only the standard library is imported up front, and little of it: the container runs
`docquery healthcheck` every 30 s under a timeout of seconds, so each command imports what it
needs when it runs (pydantic, the settings, FastAPI and boto3 are for the commands that use them).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docquery.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.run is _healthcheck:  # before anything imports the settings (pydantic)
        return int(args.run(args))
    from docquery.settings_checks import InvalidSettings

    try:
        return int(args.run(args))
    except InvalidSettings as exc:
        print("docquery: invalid settings:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="docquery", description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="start the HTTP service (uvicorn, one process)")
    serve.add_argument("--host", help="bind address (default DOCQUERY_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default DOCQUERY_PORT or 8000)")
    serve.set_defaults(run=_serve)

    init = commands.add_parser("init", help="create storage for the active profile")
    init.set_defaults(run=_init)

    reindex = commands.add_parser(
        "reindex", help="rebuild the embedded profile's search index from the stored pages"
    )
    reindex.set_defaults(run=_reindex)

    keygen = commands.add_parser("keygen", help="print a new API key and its config entry")
    keygen.add_argument("owner", help="the owner the key acts for")
    keygen.set_defaults(run=_keygen)

    check = commands.add_parser("healthcheck", help="exit 0 if /healthz answers 200")
    check.add_argument("--url", default=None, help="default http://127.0.0.1:PORT/healthz")
    check.add_argument("--timeout", type=float, default=3.0)
    check.set_defaults(run=_healthcheck)

    ingest = commands.add_parser("ingest", help="upload PDF files and folders to a service")
    ingest.add_argument("paths", nargs="*", metavar="PATH", help="files or folders")
    ingest.add_argument("--url", default="http://127.0.0.1:8000", help="the service's base URL")
    ingest.add_argument("--api-key", metavar="KEY", help="default DOCQUERY_API_KEY")
    ingest.add_argument(
        "--tag",
        action="append",
        default=[],
        dest="tags",
        metavar="TAG",
        help="tag every file, also those uploaded before (repeatable)",
    )
    ingest.add_argument("--concurrency", type=int, default=4, metavar="N", help="default 4")
    ingest.add_argument(
        "--recursive", action=argparse.BooleanOptionalAction, default=True, help="walk subfolders"
    )
    ingest.set_defaults(run=_ingest)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from docquery.logs import configure_logging
    from docquery.serving import serve
    from docquery.settings_checks import SERVING, load_settings

    overrides = {key: value for key in ("host", "port") if (value := getattr(args, key))}
    settings = load_settings(SERVING, **overrides)
    configure_logging(settings.log_level)
    return serve(settings)


def _init(args: argparse.Namespace) -> int:
    import asyncio

    from docquery.logs import configure_logging
    from docquery.settings_checks import load_settings

    # Only what init creates is needed: no API keys, no SECRET_KEY (those are for serving).
    settings = load_settings()
    configure_logging(settings.log_level)
    asyncio.run(_init_storage(settings))
    return 0


async def _init_storage(settings: Settings) -> None:
    from docquery.settings import Profile

    if settings.profile is Profile.EMBEDDED:
        from docquery.wiring import open_services

        async with open_services(settings):
            print(f"embedded storage ready in {settings.data_dir.resolve()}")
        return
    from docquery.adapters.aws.provision import ensure_bucket, ensure_table
    from docquery.wiring_aws import open_aws_clients

    async with open_aws_clients(settings) as clients:
        made = await ensure_bucket(
            clients.s3,
            bucket=settings.s3_bucket,
            region=settings.aws_region,
            kms_key_id=settings.s3_kms_key_id,
        )
        print(f"bucket {settings.s3_bucket}: {'created' if made else 'exists'}")
        made = await ensure_table(clients.dynamodb, table=settings.dynamodb_table)
        print(f"table {settings.dynamodb_table}: {'created' if made else 'exists'}")


def _reindex(args: argparse.Namespace) -> int:
    import asyncio

    from docquery.logs import configure_logging
    from docquery.settings import Profile
    from docquery.settings_checks import REINDEX, load_settings

    settings = load_settings(REINDEX)
    configure_logging(settings.log_level)
    if settings.profile is Profile.AWS:
        print(
            "docquery: on the aws profile every task builds its copy of the index at start",
            file=sys.stderr,
        )
        return 2
    count = asyncio.run(_reindex_embedded(settings))
    print(f"search index rebuilt: {count} documents")
    return 0


async def _reindex_embedded(settings: Settings) -> int:
    from docquery.domain.principals import LOCAL_OWNER
    from docquery.services.reindex import rebuild
    from docquery.settings import AuthMode
    from docquery.wiring import open_services

    owners = list(settings.api_keys) if settings.auth is AuthMode.API_KEY else [LOCAL_OWNER]
    async with open_services(settings) as services:
        seen = await rebuild(
            services.search_index, services.documents, services.blobs, owners=owners
        )
    return len(seen)


def _keygen(args: argparse.Namespace) -> int:
    from docquery.services.auth import digest_key, generate_key
    from docquery.settings import OWNER_PATTERN

    if not OWNER_PATTERN.fullmatch(args.owner):
        print(f"docquery: owner must match {OWNER_PATTERN.pattern}", file=sys.stderr)
        return 2
    key = generate_key()
    print(f"API key for {args.owner} (give it to the client; it is not stored):\n{key}\n")
    print("Add this entry to DOCQUERY_API_KEYS (comma-separated):")
    print(f"{args.owner}={digest_key(key)}")
    return 0


def _healthcheck(args: argparse.Namespace) -> int:
    """Exit 0 if /healthz answers 200 within the timeout, else 1."""
    import http.client
    import urllib.parse

    url = urllib.parse.urlsplit(args.url or f"http://127.0.0.1:{_port()}/healthz")
    try:
        port = url.port or 80
    except ValueError:
        port = 0
    if url.scheme != "http" or not url.hostname or not port:
        print("docquery: --url must be an http:// URL", file=sys.stderr)
        return 2
    target = f"{url.path or '/'}{'?' + url.query if url.query else ''}"
    connection = http.client.HTTPConnection(url.hostname, port, timeout=args.timeout)
    try:
        connection.request("GET", target, headers={"Connection": "close"})
        return 0 if connection.getresponse().status == 200 else 1
    except (OSError, http.client.HTTPException):
        return 1
    finally:
        connection.close()


def _ingest(args: argparse.Namespace) -> int:
    from pathlib import Path

    from docquery.ingest import run_command

    return run_command(
        [Path(path) for path in args.paths],
        url=args.url,
        api_key=args.api_key,
        tags=args.tags,
        concurrency=args.concurrency,
        recursive=args.recursive,
    )


def _port() -> int:
    import os

    # The container's DOCQUERY_PORT, read without the settings model (pydantic is slow to load).
    raw = os.environ.get("DOCQUERY_PORT", "8000")
    return int(raw) if raw.isdigit() else 8000


if __name__ == "__main__":
    raise SystemExit(main())
