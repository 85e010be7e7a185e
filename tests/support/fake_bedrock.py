"""A fake Amazon Bedrock runtime: Converse and ConverseStream over HTTP, for tests and compose.

Standard library only, so it also runs on its own: `python fake_bedrock.py --host 0.0.0.0
--port 8080`. It speaks the wire protocol botocore uses for `bedrock-runtime` (rest-json):
`POST /model/{modelId}/converse` with a JSON body, errors as an HTTP status with an
`x-amzn-ErrorType` header and a `{"message": ...}` body. SigV4 headers are accepted unchecked.
`POST /model/{modelId}/converse-stream` answers in the AWS event-stream binary framing
(`application/vnd.amazon.eventstream`, chunked), so botocore's own EventStream parser reads it:
messageStart, contentBlockDelta (the text in small pieces), contentBlockStop, messageStop,
metadata; or, mid-stream, a modelled exception event.

By default the "model" answers with a valid summary built from the request: the first sentence
of each `<page number="N">` as an overview statement citing N, or, for a merge request
(`<partial_summaries>`), the union of the partial summaries it was given. A request with a
`toolConfig` whose `toolChoice` names a tool gets that tool called (a `toolUse` block, stopReason
`tool_use`) with a summary read off the sent Markdown: diagnoses, medications with status,
flagged results, follow-up. An answer request
(`<sources>`) gets the first sentence of the first source, marked [N] and quoted in a
citations block. Tests can make it throttle, fail, be slow or answer a scripted text, break a
stream off, and read back every request it was sent.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import struct
import sys
import threading
import uuid
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

_CONVERSE_PATH = re.compile(r"/model/([^/]+)/(converse|converse-stream)")
_PAGE = re.compile(r'<page number="(\d+)">\n(.*?)\n</page>', re.DOTALL)
_SOURCE = re.compile(r'<source number="(\d+)"[^>]*>\n(.*?)\n</source>', re.DOTALL)
# What docquery's answer prompt asks a model to say when the sources hold no answer.
_NOT_FOUND = "I could not find support for an answer in the selected documents."
# Streamed text comes in pieces this long: shorter than "<citations>", so tags span pieces.
_DELTA_CHARS = 7
_PARTIAL = re.compile(r"<partial_summary>\n(.*?)\n</partial_summary>", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_SECTION_LINE = re.compile(r"^\*Section: .*\*$")
_RULE_ROW = re.compile(r"^\|(?:---\|)+$")
_LINE_MARK = re.compile(r"^(?:#{1,6} |- |\\)")
# At most this many pages of one request become statements: keeps default answers short.
_MAX_STATEMENTS = 20


@dataclass(frozen=True)
class RecordedRequest:
    """One Converse request as the fake received it."""

    model_id: str
    body: dict[str, Any]
    stream: bool = False  # sent to converse-stream

    @property
    def system_text(self) -> str:
        return "".join(block.get("text", "") for block in self.body.get("system", []))

    @property
    def user_text(self) -> str:
        return "".join(
            block.get("text", "")
            for message in self.body.get("messages", [])
            if message.get("role") == "user"
            for block in message.get("content", [])
        )

    @property
    def is_merge(self) -> bool:
        return "<partial_summaries>" in self.user_text

    @property
    def is_answer(self) -> bool:
        return "<sources>" in self.user_text


@dataclass(frozen=True)
class _Reply:
    status: int
    payload: dict[str, Any]
    error_type: str | None = None
    events: list[bytes] | None = None  # a converse-stream body, one framed message each


class FakeBedrock:
    """A Converse endpoint on a local port, served from a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._throttles = 0
        self._failures: list[tuple[int, str]] = []
        self._stream_failures: list[tuple[int, str]] = []
        self._delay = 0.0
        self._scripted: list[str | dict[str, Any]] = []
        self._script_forever: str | dict[str, Any] | None = None
        self._server = _Server((host, port), _Handler)
        self._server.fake = self
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.endpoint_url

    def stop(self) -> None:
        self._stopping.set()  # wakes slow replies
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._stopping.set()
            self._server.server_close()

    def __enter__(self) -> FakeBedrock:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Controls, safe to call from the test while requests are in flight.

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def throttle_next(self, count: int) -> None:
        """Answer the next `count` requests 429 ThrottlingException."""
        with self._lock:
            self._throttles = count

    def fail_next(
        self, count: int, *, status: int = 500, error_type: str = "InternalServerException"
    ) -> None:
        """Answer the next `count` requests with this error (after any throttling)."""
        with self._lock:
            self._failures = [(status, error_type)] * count

    def fail_stream_after(
        self, events: int, *, error_type: str = "modelStreamErrorException", times: int = 1
    ) -> None:
        """Break the next `times` streams off after `events` events with a modelled exception
        event (`throttlingException`, `validationException`, ...), as Bedrock does mid-stream."""
        with self._lock:
            self._stream_failures += [(events, error_type)] * times

    def delay(self, seconds: float) -> None:
        """Wait this long before every answer from now on (0 to stop)."""
        with self._lock:
            self._delay = seconds

    def respond_with(self, text: str, *, times: int | None = None) -> None:
        """The model's text for the next `times` answers (every answer if None)."""
        with self._lock:
            if times is None:
                self._script_forever, self._scripted = text, []
            else:
                self._scripted += [text] * times

    def respond_with_tool(self, data: dict[str, Any], *, times: int | None = None) -> None:
        """The model's tool input for the next `times` tool-use answers (every one if None)."""
        with self._lock:
            if times is None:
                self._script_forever, self._scripted = data, []
            else:
                self._scripted += [data] * times

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._throttles, self._failures, self._delay = 0, [], 0.0
            self._stream_failures = []
            self._scripted, self._script_forever = [], None

    # Serving.

    def _handle(self, request: RecordedRequest) -> _Reply:
        with self._lock:
            self._requests.append(request)
            delay = self._delay
            reply = self._planned_error()
            scripted = None if reply else self._next_script()
            stream_failure = self._next_stream_failure(request) if not reply else None
        if delay:
            self._stopping.wait(delay)
        if reply is not None:
            return reply
        if not isinstance(request.body.get("messages"), list) or not request.body["messages"]:
            return _error(400, "ValidationException", "messages must not be empty")
        tool = tool_name(request.body)
        if tool is not None and tool not in _offered_tools(request.body):
            return _error(400, "ValidationException", "toolChoice names a tool not offered")
        if tool is not None and not isinstance(scripted, str):
            data = scripted if scripted is not None else default_tool_input(request)
            return _Reply(200, _tool_output(request, tool, data))
        text = scripted if isinstance(scripted, str) else default_answer(request)
        if request.stream:
            return _Reply(200, {}, events=_stream_events(request, text, stream_failure))
        return _Reply(200, _converse_output(request, text))

    def _next_stream_failure(self, request: RecordedRequest) -> tuple[int, str] | None:
        if request.stream and self._stream_failures:
            return self._stream_failures.pop(0)
        return None

    def _planned_error(self) -> _Reply | None:
        if self._throttles > 0:
            self._throttles -= 1
            return _error(429, "ThrottlingException", "Too many requests")
        if self._failures:
            status, error_type = self._failures.pop(0)
            return _error(status, error_type, f"Fake failure: {error_type}")
        return None

    def _next_script(self) -> str | dict[str, Any] | None:
        if self._scripted:
            return self._scripted.pop(0)
        return self._script_forever


def default_answer(request: RecordedRequest) -> str:
    """A valid summary JSON, or a cited answer, built from the request, deterministically."""
    if request.is_answer:
        return _cited_answer(request.user_text)
    if request.is_merge:
        return json.dumps({"sections": _merged(request.user_text)})
    return json.dumps({"sections": {"overview": _overview(request.user_text)}})


def default_tool_input(request: RecordedRequest) -> dict[str, Any]:
    """A valid `record_summary` input built from the request's Markdown (or its partials)."""
    if request.is_merge:
        return merged_input(request.user_text)
    return summary_input(request.user_text, _overview(request.user_text))


def _overview(user_text: str) -> list[dict[str, Any]]:
    """The first sentence of each page, citing it."""
    statements = []
    for number, text in _PAGE.findall(user_text)[:_MAX_STATEMENTS]:
        first = _first_sentence(text)
        if first:
            statements.append({"text": first, "pages": [int(number)]})
    return statements


def _offered_tools(body: dict[str, Any]) -> set[str]:
    tools = body.get("toolConfig", {}).get("tools", [])
    return {tool.get("toolSpec", {}).get("name") for tool in tools if isinstance(tool, dict)}


def _tool_output(request: RecordedRequest, name: str, data: dict[str, Any]) -> dict[str, Any]:
    """A Converse reply whose one content block calls the tool, as Bedrock's is."""
    output = _converse_output(request, json.dumps(data))
    output["output"]["message"]["content"] = [
        {"toolUse": {"toolUseId": f"tooluse_{uuid.uuid4().hex[:22]}", "name": name, "input": data}}
    ]
    output["stopReason"] = "tool_use"
    return output


def _cited_answer(user_text: str) -> str:
    """The first source's first sentence, marked and quoted as docquery's answer prompt asks."""
    first = _SOURCE.search(user_text)
    sentence = _first_sentence(first[2]) if first else ""
    if first is None or not sentence:
        return _NOT_FOUND
    quote = sentence.replace('"', "'")
    return f'{sentence} [{first[1]}]\n<citations>\n[{first[1]}] "{quote}"\n</citations>'


def _first_sentence(escaped: str) -> str:
    # Like a model asked to quote text as printed, the fake reads through the Markdown markup.
    text = " ".join(_plain(escaped).replace("&lt;", "<").replace("&gt;", ">").split())
    text = text.replace("&amp;", "&")
    return _SENTENCE_END.split(text, maxsplit=1)[0][:300]


def _plain(markdown: str) -> str:
    """The words of a page's Markdown: no section line, heading marks, bold, bullets or pipes."""
    lines = []
    for line in markdown.splitlines():
        if _SECTION_LINE.match(line) or _RULE_ROW.match(line):
            continue
        line = _LINE_MARK.sub("", line).replace("**", "")
        lines.append(" ".join(cell.strip() for cell in line.strip().strip("|").split(" | ")))
    return "\n".join(lines)


def _merged(user_text: str) -> dict[str, list[dict[str, Any]]]:
    merged: dict[str, dict[str, set[int]]] = {}
    for chunk in _PARTIAL.findall(user_text):
        sections = json.loads(chunk).get("sections", {})
        for name, statements in sections.items():
            for statement in statements:
                pages = merged.setdefault(name, {}).setdefault(statement["text"], set())
                pages.update(statement["pages"])
    return {
        name: [{"text": text, "pages": sorted(pages)} for text, pages in statements.items()]
        for name, statements in merged.items()
    }


# Tool use: a `record_summary` input built from the Markdown the request sent.

_HEADING = re.compile(r"^#{1,6} (.*)$")
_RENDERED_MEDICATION = re.compile(
    r"^(?P<name>.+?): (?P<status>NEW|CHANGED|CONTINUED|STOPPED|HELD)(?:, (?P<details>.*))?$"
)
_FLAGS = {"H", "L", "HH", "LL", "*"}


def tool_name(body: dict[str, Any]) -> str | None:
    """The tool a request forces (`toolChoice.tool.name`), if it does."""
    choice = body.get("toolConfig", {}).get("toolChoice", {})
    name = choice.get("tool", {}).get("name") if isinstance(choice, dict) else None
    return name if isinstance(name, str) else None


def summary_input(user_text: str, overview: list[dict[str, Any]]) -> dict[str, Any]:
    """The tool input for a document request; `overview` is the fake's usual first sentences."""
    found: dict[str, Any] = {
        "overview": overview,
        "diagnoses": [],
        "medications": [],
        "abnormal_results": [],
        "follow_up": [],
    }
    for number, markdown in _PAGE.findall(user_text):
        page = int(number)
        _read_page(_unescape(markdown), page, found)
        if "document" not in found and (title := _first_heading(markdown)):
            found["document"] = {"title": title, "pages": [page]}
    return found


def merged_input(user_text: str) -> dict[str, Any]:
    """The tool input for a merge request: every partial statement, once, pages united."""
    merged: dict[str, dict[str, set[int]]] = {}
    for chunk in _PARTIAL.findall(user_text):
        for name, statements in json.loads(chunk).get("sections", {}).items():
            for statement in statements:
                pages = merged.setdefault(name, {}).setdefault(statement["text"], set())
                pages.update(statement["pages"])
    out: dict[str, Any] = {"medications": [], "abnormal_results": []}
    for name, statements in merged.items():
        items = [{"text": text, "pages": sorted(pages)} for text, pages in statements.items()]
        if name == "medications":
            out["medications"] = [m for m in map(_medication_back, items) if m]
        else:
            out[name] = items
    return out


def _read_page(markdown: str, page: int, found: dict[str, Any]) -> None:
    heading, header = "", None
    for line in markdown.splitlines():
        if match := _HEADING.match(line):
            heading, header = match[1].casefold(), None
        elif line.startswith("|") and not _RULE_ROW.match(line):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if header is None:
                header = [c.casefold() for c in cells]
            else:
                _table_row(dict(zip(header, cells, strict=False)), page, found)
        elif line.startswith("- ") and ("diagnos" in heading or "follow" in heading):
            section = "diagnoses" if "diagnos" in heading else "follow_up"
            found[section].append({"text": line[2:], "pages": [page]})
        elif not line.startswith("|"):
            header = None


def _table_row(row: dict[str, str], page: int, found: dict[str, Any]) -> None:
    name = row.get("medicine") or row.get("medication")
    if name and row.get("status"):
        found["medications"].append(
            {
                "name": name,
                "dose": row.get("dose", ""),
                "status": row["status"].casefold(),
                "details": " ".join(filter(None, (row.get("route"), row.get("frequency")))),
                "pages": [page],
            }
        )
    elif row.get("flag", "") in _FLAGS and row.get("result"):
        found["abnormal_results"].append(
            {
                "analyte": row.get("test", ""),
                "value": row["result"],
                "unit": row.get("units", ""),
                "reference_range": row.get("reference range", ""),
                "flag": row["flag"],
                "pages": [page],
            }
        )


def _medication_back(item: dict[str, Any]) -> dict[str, Any] | None:
    """A rendered medication statement ("Aspirin 75 mg: STOPPED, oral") as a tool item."""
    match = _RENDERED_MEDICATION.match(item["text"])
    if match is None:
        return None
    return {
        "name": match["name"],
        "status": match["status"].casefold(),
        "details": match["details"] or "",
        "pages": item["pages"],
    }


def _first_heading(markdown: str) -> str:
    for line in markdown.splitlines():
        if match := _HEADING.match(line):
            return _unescape(match[1])
    return ""


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _converse_output(request: RecordedRequest, text: str) -> dict[str, Any]:
    input_tokens = (len(request.system_text) + len(request.user_text)) // 4 + 1
    output_tokens = len(text) // 4 + 1
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        },
        "metrics": {"latencyMs": 5},
    }


def _stream_events(
    request: RecordedRequest, text: str, failure: tuple[int, str] | None
) -> list[bytes]:
    """The converse-stream body: the text in small deltas, cut off by `failure` if one is due."""
    output = _converse_output(request, text)
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    events += [
        (
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"text": text[i : i + _DELTA_CHARS]}},
        )
        for i in range(0, len(text), _DELTA_CHARS)
    ]
    events += [
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("messageStop", {"stopReason": output["stopReason"]}),
        ("metadata", {"usage": output["usage"], "metrics": output["metrics"]}),
    ]
    framed = [_event_message(name, payload) for name, payload in events]
    if failure is None:
        return framed
    after, error_type = failure
    exception_type = error_type[:1].lower() + error_type[1:]  # the stream member's name
    return [*framed[:after], _exception_message(exception_type, f"Fake failure: {error_type}")]


def _event_message(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return _frame(headers, json.dumps(payload).encode())


def _exception_message(exception_type: str, message: str) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return _frame(headers, json.dumps({"message": message}).encode())


def _frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total length, headers length, CRC32), string
    headers, payload, then the CRC32 of everything before it."""
    encoded = b"".join(_string_header(name, value) for name, value in headers.items())
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def _string_header(name: str, value: str) -> bytes:
    name_bytes, value_bytes = name.encode(), value.encode()
    header_type_string = 7
    return (
        struct.pack(">B", len(name_bytes))
        + name_bytes
        + struct.pack(">BH", header_type_string, len(value_bytes))
        + value_bytes
    )


def _error(status: int, error_type: str, message: str) -> _Reply:
    return _Reply(status, {"message": message}, error_type)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeBedrock

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is expected here; anything else is reported.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _CONVERSE_PATH.fullmatch(urlsplit(self.path).path)
        if match is None:
            self._send(_error(404, "UnknownOperationException", "Unknown operation"))
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(_error(400, "SerializationException", "Body is not JSON"))
            return
        request = RecordedRequest(unquote(match[1]), body, stream=match[2] == "converse-stream")
        reply = self.server.fake._handle(request)
        if reply.events is None:
            self._send(reply)
        else:
            self._send_stream(reply.events)

    def do_GET(self) -> None:
        # A health check for docker-compose.
        self._send(_Reply(200, {"status": "ok"}))

    def _send(self, reply: _Reply) -> None:
        data = json.dumps(reply.payload).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            if reply.error_type:
                # Bedrock's own form: the code, then the namespace; botocore keeps the code.
                error_type = (
                    f"{reply.error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"
                )
                self.send_header("x-amzn-ErrorType", error_type)
            self.end_headers()
            self.wfile.write(data)
        except ConnectionError:
            self.close_connection = True

    def _send_stream(self, events: list[bytes]) -> None:
        """A 200 whose chunked body is the event stream, one chunk (and flush) per event."""
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.amazon.eventstream")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.end_headers()
            for event in events:
                self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except ConnectionError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests hold document text: nothing is printed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="A fake Amazon Bedrock runtime (Converse, ConverseStream)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)
    fake = FakeBedrock(args.host, args.port)
    fake.delay(args.delay)
    # As PID 1 in a container, SIGTERM is ignored unless handled.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"fake bedrock listening on {fake.endpoint_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        fake.serve_forever()


if __name__ == "__main__":
    main()
