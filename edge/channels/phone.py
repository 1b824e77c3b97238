"""The phone's channels through plyer: SMS, e-mail composer, phone call, WhatsApp link.

On Android, plyer's ``sms.send`` sends the text through the phone's SMS manager and
``call.makecall`` dials; both count as ``sent`` (handed to the phone). ``email.send`` opens the
mail composer and WhatsApp opens its documented click-to-chat link
(``https://wa.me/<number>?text=<message>``) with the text filled in: the agent still taps
send, so these are ``manual`` with the detail saying what was opened. Where the platform has
no such facade (a desktop: plyer raises ``NotImplementedError``), nothing is sent and the
step becomes a task the agent completes by hand, said so in the detail: never a silent
success. A composer that cannot be opened (no ``xdg-open`` on a Linux desktop) is such a task
too: the composer never sends by itself, so nothing can have gone.
"""

from __future__ import annotations

import asyncio
import webbrowser
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from edge.channels.base import Delivery, DeliveryStatus, OutboundMessage
from sync.records import Channel, InterventionStep


def whatsapp_link(phone: str, text: str) -> str:
    """WhatsApp's click-to-chat link: digits of the number in international form, no ``+``."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"https://wa.me/{digits}?text={quote(text)}"


def _plyer(name: str) -> Any:
    import plyer

    return getattr(plyer, name)


class PhoneChannel:
    """Sends through the phone's own apps; ``facades`` replace plyer's (sms, email, call)."""

    def __init__(
        self,
        facades: dict[str, Any] | None = None,
        open_url: Callable[[str], bool] = webbrowser.open,
    ):
        self._facades = facades or {}
        self._open_url = open_url

    def _facade(self, name: str) -> Any:
        return self._facades[name] if name in self._facades else _plyer(name)

    async def send(self, step: InterventionStep, message: OutboundMessage) -> Delivery:
        return await asyncio.to_thread(self._send, step, message)

    def _send(self, step: InterventionStep, message: OutboundMessage) -> Delivery:
        channel = step.channel
        try:
            match channel:
                case Channel.SMS:
                    self._facade("sms").send(recipient=message.to, message=message.text)
                    return Delivery(
                        status=DeliveryStatus.SENT,
                        channel=channel,
                        detail=f"handed to the phone's SMS app for {message.to}",
                    )
                case Channel.CALL:
                    self._facade("call").makecall(tel=message.to)
                    return Delivery(
                        status=DeliveryStatus.SENT, channel=channel, detail=f"dialled {message.to}"
                    )
                case Channel.EMAIL:
                    try:
                        self._facade("email").send(
                            recipient=message.to,
                            subject=message.subject,
                            text=message.text,
                            create_chooser=False,
                        )
                    except OSError as exc:  # e.g. no xdg-open: a composer never sends by itself
                        return self._manual(
                            channel,
                            f"could not open an e-mail composer ({exc.strerror or exc}): "
                            f"send it to {message.to} by hand",
                        )
                    return self._manual(
                        channel,
                        f"opened the e-mail composer for {message.to}: "
                        "tap send, then mark the step done",
                    )
                case Channel.WHATSAPP:
                    link = whatsapp_link(message.to, message.text)
                    if self._open_url(link):
                        return self._manual(
                            channel, f"opened WhatsApp ({link}): tap send, then mark the step done"
                        )
                    return self._manual(
                        channel, f"no browser or WhatsApp here: open {link} by hand"
                    )
                case _:
                    return self._manual(channel, f"{channel} is not a channel the phone sends")
        except NotImplementedError:
            return self._manual(
                channel,
                f"this platform has no {channel} facade (plyer): send it to {message.to} by hand",
            )

    @staticmethod
    def _manual(channel: Channel, detail: str) -> Delivery:
        return Delivery(status=DeliveryStatus.MANUAL, channel=channel, detail=detail)
