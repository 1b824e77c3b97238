"""HighLevel delivers in any order and may deliver twice: the team ends up the same."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from server.config import ServerConfig
from server.integrations.highlevel import HighLevelService
from server.service import SyncService
from server.storage import open_store
from sync.merge import values
from tests.server.integrations.conftest import (
    appointment,
    clock,
    contact_create,
    dnd_update,
    highlevel_config,
    message,
    opportunity,
    sign,
)

KEY = Ed25519PrivateKey.generate()
LEAD = "hl-nmFmQEsNgz6AVpgLVUJ0"
DELIVERIES = [
    contact_create(),
    dnd_update(),
    message("InboundMessage", "wh-m1", messageId="m1"),
    message("OutboundMessage", "wh-m2", messageId="m2", messageType="Email"),
    {**appointment(), "webhookId": "wh-a1"},
    {**opportunity("won"), "webhookId": "wh-o1"},
]
KEYS = [
    ("lead", LEAD),
    ("event", "hl-msg-m1"),
    ("event", "hl-msg-m2"),
    ("event", "hl-appt-0007BWpSzSwfiuSl0tR2"),
    ("event", "hl-opp-wWhVuzqpRuOA1ZVWi4FC-won"),
    ("event", "hl-dnd-nmFmQEsNgz6AVpgLVUJ0-sms-1638007200000"),
]


async def final_state(order: list[int]) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "server.db")
        async with open_store(db) as store:
            config = ServerConfig(database_url=db, clock=clock, highlevel=highlevel_config(KEY))
            service = HighLevelService(config.highlevel, SyncService(store, config))
            for i in order:
                body = msgspec.json.encode(DELIVERIES[i])
                await service.deliver(body, sign(KEY, body))
            out = {}
            for key in KEYS:
                record = await store.record("team-a", key)
                out[key] = values(record.state) if record else None
            return out


EXPECTED = asyncio.run(final_state(list(range(len(DELIVERIES)))))


def test_the_expected_state_is_what_the_deliveries_say():
    lead = EXPECTED[("lead", LEAD)]
    assert (lead["name"], lead["agent_id"], lead["status"]) == ("John Deo", "agent-02", "converted")
    assert lead["consent"] == {"sms": False}
    assert all(EXPECTED[key] is not None for key in KEYS)


@settings(max_examples=12, deadline=None)
@given(
    order=st.permutations(range(len(DELIVERIES))),
    again=st.lists(st.integers(0, len(DELIVERIES) - 1), max_size=4),
    where=st.randoms(use_true_random=False),
)
def test_any_order_with_redeliveries_ends_in_the_same_state(order, again, where):
    sequence = list(order)
    for i in again:
        sequence.insert(where.randint(0, len(sequence)), i)
    assert asyncio.run(final_state(sequence)) == EXPECTED
