"""HighLevel settings: the webhook's public key, locations to teams, and the API for sending.

Nothing is configured by default: without a public key the webhook refuses every delivery
(401), and without a token nothing is sent through HighLevel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from msgspec import Meta

from sync.records import Id

ENV_PREFIX = "REALTY_EDGE_"
#: HighLevel's API (v2, "LeadConnector").
DEFAULT_API_URL = "https://services.leadconnectorhq.com"
#: The ``Version`` header the conversations API asks for.
DEFAULT_API_VERSION = "2021-04-15"


class HighLevelLocation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One HighLevel location (sub-account): the team it feeds and who its users are here."""

    team: Id
    #: HighLevel user id -> agent id (the contact's ``assignedTo``, a message's ``userId``).
    users: dict[Annotated[str, Meta(min_length=1)], Id] = {}
    #: The agent of a contact assigned to nobody known; None: such a contact is refused.
    default_agent: Id | None = None

    def agent(self, user_id: str | None) -> str | None:
        """The agent for ``user_id`` (or the default agent); None when neither is known."""
        if user_id and user_id in self.users:
            return self.users[user_id]
        return self.default_agent


_locations = msgspec.json.Decoder(dict[Annotated[str, Meta(min_length=1)], HighLevelLocation])


def parse_locations(text: str) -> dict[str, HighLevelLocation]:
    """``{"<location id>": {"team": ..., "users": {...}, "default_agent": ...}}`` from JSON."""
    return _locations.decode(text)


def load_public_key(text: str) -> Ed25519PublicKey:
    """HighLevel's Ed25519 public key from PEM text, or from the path of a PEM file."""
    pem = text.strip()
    if not pem.startswith("-----BEGIN"):
        pem = Path(pem).expanduser().read_text()
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"the key is {type(key).__name__}, not an Ed25519 public key")
    return key


@dataclass(frozen=True, kw_only=True)
class HighLevelConfig:
    """The HighLevel integration's settings (``REALTY_EDGE_HIGHLEVEL_*``)."""

    #: HighLevel's webhook public key, PEM text (a path is read by :meth:`from_env`).
    public_key: str = ""
    #: Location id -> team, users and default agent.
    locations: dict[str, HighLevelLocation] = field(default_factory=dict)
    #: Base URL of HighLevel's API, and the token (private integration or OAuth access token)
    #: outreach is sent with; "" = the server sends nothing through HighLevel.
    api_url: str = DEFAULT_API_URL
    token: str = ""
    api_version: str = DEFAULT_API_VERSION
    timeout_s: float = 15.0
    #: Most 429 answers waited out (``Retry-After``) before a send is failed.
    max_retries: int = 3
    #: Longest wait for one ``Retry-After``, in seconds.
    max_retry_after_s: float = 30.0

    def key(self) -> Ed25519PublicKey | None:
        return load_public_key(self.public_key) if self.public_key else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HighLevelConfig:
        """Settings from ``REALTY_EDGE_HIGHLEVEL_*``; a bad value is refused naming its name."""
        env = os.environ if env is None else env
        # Each setting by its field name, of that field's type: the constructor checks the names.
        values: dict[str, Any] = {}
        name = ENV_PREFIX + "HIGHLEVEL_PUBLIC_KEY"
        raw = env.get(name, "").strip()
        if raw:
            try:
                load_public_key(raw)
                values["public_key"] = (
                    raw if raw.startswith("-----BEGIN") else Path(raw).expanduser().read_text()
                )
            except (OSError, ValueError, TypeError) as exc:
                shown = raw if len(raw) < 80 else raw[:77] + "..."
                raise ValueError(f"{name}={shown!r} is not an Ed25519 public key: {exc}") from None
        name = ENV_PREFIX + "HIGHLEVEL_LOCATIONS"
        raw = env.get(name, "").strip()
        if raw:
            try:
                values["locations"] = parse_locations(raw)
            except msgspec.MsgspecError as exc:
                raise ValueError(f"{name} is not valid: {exc}") from None
        for setting, kind in (
            ("api_url", str),
            ("token", str),
            ("api_version", str),
            ("timeout_s", float),
            ("max_retries", int),
        ):
            name = ENV_PREFIX + "HIGHLEVEL_" + setting.upper()
            raw = env.get(name, "").strip()
            if not raw:
                continue
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
            if isinstance(value, int | float) and not value >= 0:
                raise ValueError(f"{name}={raw!r} is out of range")
            values[setting] = value
        return cls(**values)
