"""Run the HTTP service under uvicorn, and tell the person who started it where it is."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys

import uvicorn

from docquery.app import create_app
from docquery.settings import Profile, Settings

# uvicorn's exit status when the server could not start.
STARTUP_FAILURE = 3
WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104


class _Server(uvicorn.Server):
    """uvicorn's server, plus one plain line on stderr once it listens."""

    def __init__(self, config: uvicorn.Config, start_line: str) -> None:
        super().__init__(config)
        self._start_line = start_line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            # For a person, not for the log pipeline: the logs are JSON, this line is not.
            print(self._start_line, file=sys.stderr, flush=True)


def serve(settings: Settings) -> int:
    """Serve until a signal stops it; the exit status is uvicorn's."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=settings.http_drain_seconds,
    )
    server = _Server(config, start_line(settings))
    # uvicorn re-raises the SIGINT it shut down for; by then the shutdown is done.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return 0 if server.started else STARTUP_FAILURE


def start_line(settings: Settings) -> str:
    """`docquery serving URL (API docs: URL/docs), data in ...`: one line for a person."""
    url = f"http://{_url_host(settings.host)}:{settings.port}"
    everywhere = " on all interfaces" if settings.host in WILDCARD_HOSTS else ""
    if settings.profile is Profile.AWS:
        data = (
            f"s3://{settings.s3_bucket} and DynamoDB table {settings.dynamodb_table}"
            f" (search index copy in {settings.data_dir.resolve()})"
        )
    else:
        data = str(settings.data_dir.resolve())
    return f"docquery serving {url}{everywhere} (API docs: {url}/docs), data in {data}"


def _url_host(host: str) -> str:
    host = WILDCARD_HOSTS.get(host, host)
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    return f"[{host}]" if is_v6 else host
