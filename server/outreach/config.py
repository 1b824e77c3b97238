"""How the server reaches leads: SMTP and the SMS/WhatsApp provider, from settings or env.

Nothing is configured by default: a channel without settings is not sent by the server (the
step becomes a task for the agent, said so), and the webhook refuses every call without a
shared secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

ENV_PREFIX = "REALTY_EDGE_"


@dataclass(frozen=True, kw_only=True)
class OutreachConfig:
    """Channel settings; every field can come from ``REALTY_EDGE_<FIELD>`` (upper case)."""

    #: SMTP server for e-mail; "" = the server sends no e-mail.
    smtp_host: str = ""
    smtp_port: int = 587
    #: Upgrade the connection with STARTTLS before authenticating (refused if not offered).
    smtp_starttls: bool = True
    #: A PEM file of the CA that signs the SMTP server's certificate (default: the system's).
    smtp_ca_file: str = ""
    smtp_username: str = ""
    smtp_password: str = ""
    #: The From address of outreach e-mail, e.g. ``"Agents <agents@brokerage.example>"``.
    smtp_from: str = ""
    smtp_timeout_s: float = 30.0
    #: Base URL of the provider's message API; "" = the server sends no SMS or WhatsApp.
    provider_url: str = ""
    #: HTTP Basic credentials for the provider (account id and API token).
    provider_account: str = ""
    provider_token: str = ""
    #: Sender ids at the provider (a phone number in E.164, or a WhatsApp business number).
    sms_from: str = ""
    whatsapp_from: str = ""
    provider_timeout_s: float = 15.0
    #: Shared secret of the provider's webhook signatures (HMAC-SHA256 of the raw body).
    webhook_secret: str = ""
    #: This server's public base URL, for the provider's delivery-status callbacks.
    public_url: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OutreachConfig:
        """Settings from ``REALTY_EDGE_SMTP_HOST`` and friends; a bad value names its name."""
        env = os.environ if env is None else env
        # Each setting by its field name, of that field's type: the constructor checks the names.
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = ENV_PREFIX + f.name.upper()
            if name not in env:
                continue
            raw = env[name]
            try:
                if f.type == "bool":
                    if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                        raise ValueError(raw)
                    values[f.name] = raw.lower() in ("1", "true", "yes")
                elif f.type == "int":
                    values[f.name] = int(raw)
                elif f.type == "float":
                    values[f.name] = float(raw)
                else:
                    values[f.name] = raw
            except ValueError as exc:
                raise ValueError(f"{name}={raw!r} is not a valid {f.type}") from exc
        return cls(**values)
