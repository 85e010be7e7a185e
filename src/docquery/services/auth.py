"""API keys: generated here, held by the server only as SHA-256 digests."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from docquery.domain.principals import LOCAL_OWNER, Principal

KEY_PREFIX = "dq_"


def digest_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    """A new random API key (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class ApiKeyAuthenticator:
    """Maps a presented key to its owner by comparing digests in constant time."""

    def __init__(self, digests: dict[str, str]) -> None:
        self._digests = [(owner, bytes.fromhex(digest)) for owner, digest in digests.items()]

    def authenticate(self, key: str | None) -> Principal | None:
        if not key:
            return None
        presented = hashlib.sha256(key.encode("utf-8")).digest()
        found: str | None = None
        # No early exit: every digest is compared, so timing does not say which one matched.
        for owner, digest in self._digests:
            if hmac.compare_digest(presented, digest):
                found = owner
        return Principal(owner=found) if found else None


class NoAuthenticator:
    """Loopback-only embedded mode: every request is the one local owner."""

    def authenticate(self, key: str | None) -> Principal | None:
        return Principal(owner=LOCAL_OWNER)
