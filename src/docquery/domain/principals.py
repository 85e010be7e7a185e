"""Who is asking."""

from __future__ import annotations

from dataclasses import dataclass

LOCAL_OWNER = "local"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller; every document read or written is scoped to its owner."""

    owner: str
