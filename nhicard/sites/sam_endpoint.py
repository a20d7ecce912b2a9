"""Where a SAM listens and the key that wraps its hello exchange: the ``[sam]`` section of a
site profile (:mod:`nhicard.sites.loader`) and what the SAM client (:mod:`nhicard.agent.sam.client`)
connects to — one type for both, outside either package, so the profile need not import the
agent (nor its RSA code) to describe it. The real SAM's address and published key are in
``profiles/real.toml`` only."""

from __future__ import annotations

from dataclasses import dataclass, field

WRAP_KEY_LENGTH = 24


@dataclass(frozen=True)
class SamEndpoint:
    """Where the SAM listens and the 24-byte 3DES key that wraps the hello exchange."""

    host: str
    port: int
    wrap_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.wrap_key) != WRAP_KEY_LENGTH:
            raise ValueError(f"wrap_key must be {WRAP_KEY_LENGTH} bytes")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"
