"""E-mail over SMTP: the standard library's smtplib in a worker thread.

STARTTLS (with the system's or a configured CA) and login are configurable. What can be told
apart is told apart: a refusal before the message was handed over (no connection, TLS or
login failure, a sender, recipient or data refusal) is ``failed``; a connection lost after
the message data went out is ``unknown`` (the server may have queued it).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from edge.channels.base import Delivery, DeliveryStatus, OutboundMessage
from server.outreach.config import OutreachConfig
from sync.records import InterventionStep


class SmtpChannel:
    """Sends a step's message as a plain-text e-mail through the configured SMTP server."""

    def __init__(self, config: OutreachConfig):
        if not config.smtp_host or not config.smtp_from:
            raise ValueError("e-mail needs smtp_host and smtp_from")
        self.config = config

    async def send(self, step: InterventionStep, message: OutboundMessage) -> Delivery:
        return await asyncio.to_thread(self._send, step, message)

    def build(self, step: InterventionStep, message: OutboundMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.config.smtp_from
        mail["To"] = message.to
        mail["Subject"] = message.subject or "…"
        domain = self.config.smtp_from.rsplit("@", 1)[-1].strip("> ") or None
        mail["Message-ID"] = make_msgid(idstring=step.id, domain=domain)
        mail["X-Realty-Edge-Step"] = step.id
        mail["Content-Language"] = message.language
        mail.set_content(message.text)
        return mail

    def _send(self, step: InterventionStep, message: OutboundMessage) -> Delivery:
        cfg = self.config
        mail = self.build(step, message)

        def failed(detail: str) -> Delivery:
            return Delivery(status=DeliveryStatus.FAILED, channel=step.channel, detail=detail)

        try:
            smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.smtp_timeout_s)
        except OSError as exc:
            return failed(f"cannot reach SMTP server {cfg.smtp_host}:{cfg.smtp_port}: {exc}")
        with smtp:
            try:
                smtp.ehlo()
                if cfg.smtp_starttls:
                    context = ssl.create_default_context(cafile=cfg.smtp_ca_file or None)
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if cfg.smtp_username:
                    smtp.login(cfg.smtp_username, cfg.smtp_password)
            except (smtplib.SMTPException, OSError) as exc:
                return failed(f"SMTP {cfg.smtp_host}:{cfg.smtp_port} before sending: {exc}")
            try:
                smtp.send_message(mail)  # one recipient: a refusal raises
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
                return failed(f"SMTP refused the message: {exc}")
            except smtplib.SMTPDataError as exc:
                return failed(f"SMTP refused the data: {exc.smtp_code} {exc.smtp_error!r}")
            except (smtplib.SMTPException, OSError) as exc:
                return Delivery(
                    status=DeliveryStatus.UNKNOWN,
                    channel=step.channel,
                    detail=f"SMTP connection lost while sending: {exc!r}",
                )
        return Delivery(
            status=DeliveryStatus.SENT,
            channel=step.channel,
            detail=f"accepted by {cfg.smtp_host} as {mail['Message-ID']}",
            provider_id=str(mail["Message-ID"]),
        )
