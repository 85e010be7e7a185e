"""Opaque pagination cursors, signed so a client cannot forge or move them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from docquery.errors import InvalidCursor


class CursorCodec:
    """Encodes a list position with an HMAC bound to the owner and the query's filters."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"docquery-cursor\0" + secret).digest()

    def encode(self, *, owner: str, scope: str, position: str) -> str:
        payload = json.dumps({"p": position, "s": _fingerprint(scope)}, separators=(",", ":"))
        body = payload.encode()
        return _b64(body) + "." + _b64(self._sign(owner, body))

    def decode(self, cursor: str, *, owner: str, scope: str) -> str:
        try:
            body_text, _, signature_text = cursor.partition(".")
            body, signature = _unb64(body_text), _unb64(signature_text)
        except ValueError as exc:
            raise InvalidCursor("the cursor is not one this service issued") from exc
        if not hmac.compare_digest(signature, self._sign(owner, body)):
            raise InvalidCursor("the cursor is not one this service issued")
        payload = json.loads(body)
        if payload.get("s") != _fingerprint(scope):
            raise InvalidCursor("the cursor belongs to a query with other filters")
        return str(payload["p"])

    def _sign(self, owner: str, body: bytes) -> bytes:
        return hmac.new(self._key, owner.encode() + b"\0" + body, hashlib.sha256).digest()[:16]


def _fingerprint(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text:
        raise ValueError("empty")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
