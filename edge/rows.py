"""The one place where records become SQLite rows and back, in symmetric pairs.

Each table keeps the columns the device queries on, plus the whole record as MessagePack in
``data`` (events are stored as columns only: they are many and every field is queried).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any, TypeVar, overload

import msgspec

from sync.changes import AnyChange
from sync.records import (
    Agent,
    AnyRecord,
    Event,
    InterventionPlan,
    InterventionStep,
    Lead,
    Listing,
    Profile,
    Record,
)

#: A stored row: an ``sqlite3.Row`` or a mapping of column to value.
RowLike = sqlite3.Row | Mapping[str, Any]

R = TypeVar("R", bound=Record)

_enc = msgspec.msgpack.Encoder()
_change_dec = msgspec.msgpack.Decoder(AnyChange)
_decoders: dict[str, msgspec.msgpack.Decoder[AnyRecord]] = {
    kind: msgspec.msgpack.Decoder(cls)
    for kind, cls in (
        ("agent", Agent),
        ("lead", Lead),
        ("listing", Listing),
        ("profile", Profile),
        ("intervention_plan", InterventionPlan),
        ("intervention_step", InterventionStep),
    )
}

#: Table of each record kind.
TABLES: dict[str, str] = {
    "agent": "agents",
    "lead": "leads",
    "listing": "listings",
    "event": "events",
    "profile": "profiles",
    "intervention_plan": "intervention_plans",
    "intervention_step": "intervention_steps",
}

EVENT_COLUMNS = (
    "id",
    "lead_id",
    "type",
    "ts",
    "channel",
    "listing_id",
    "dwell_s",
    "duration_s",
    "amount",
    "language",
    "text",
    "updated_at",
)


def kind_of(record: Record) -> str:
    """The ``kind`` tag of ``record`` (``"lead"``, ``"event"``...)."""
    return kind_of_class(type(record))


def kind_of_class(cls: type[Record]) -> str:
    """The ``kind`` tag of the record class ``cls`` (``Lead`` -> ``"lead"``)."""
    tag = cls.__struct_config__.tag
    if not isinstance(tag, str):
        raise TypeError(f"no kind tag on {cls.__name__}")
    return tag


def record_to_row(record: Record) -> dict[str, Any]:
    """Columns of ``record`` for its table (see :data:`TABLES`)."""
    cols: dict[str, Any]
    match record:
        case Event():
            return {
                "id": record.id,
                "lead_id": record.lead_id,
                "type": record.type.value,
                "ts": record.ts,
                "channel": record.channel.value if record.channel else None,
                "listing_id": record.listing_id,
                "dwell_s": record.dwell_s,
                "duration_s": record.duration_s,
                "amount": record.amount,
                "language": record.language,
                "text": record.text,
                "updated_at": record.updated_at,
            }
        case Lead():
            cols = {
                "agent_id": record.agent_id,
                "team_id": record.team_id,
                "name": record.name,
                "language": record.language,
                "status": record.status.value,
            }
        case Listing():
            cols = {
                "price": record.price,
                "beds": record.beds,
                "baths": record.baths,
                "sqft": record.sqft,
                "property_type": record.property_type.value,
                "vertical": record.vertical.value,
                "status": record.status.value,
                "city": record.location.city,
                "lat": record.location.lat,
                "lon": record.location.lon,
            }
        case Agent():
            cols = {"team_id": record.team_id}
        case Profile():
            cols = {"lead_id": record.lead_id}
        case InterventionPlan():
            cols = {
                "lead_id": record.lead_id,
                "status": record.status.value,
                "created_at": record.created_at,
            }
            # Steps live in their own table.
            record = msgspec.structs.replace(record, steps=[])
        case InterventionStep():
            cols = {
                "plan_id": record.plan_id,
                "lead_id": record.lead_id,
                "seq": record.seq,
                "channel": record.channel.value,
                "due_at": record.due_at,
                "status": record.status.value,
            }
        case _:
            raise TypeError(f"no table for {type(record).__name__}")
    return {"id": record.id, **cols, "updated_at": record.updated_at, "data": _enc.encode(record)}


@overload
def record_from_row(kind: type[R], row: RowLike) -> R: ...


@overload
def record_from_row(kind: str, row: RowLike) -> AnyRecord: ...


def record_from_row(kind: type[Record] | str, row: RowLike) -> Record:
    """The record stored in ``row`` (a mapping or ``sqlite3.Row``) of ``kind``'s table.

    ``kind`` is the record class (``record_from_row(Lead, row) -> Lead``), or its tag where
    the kind is data (a change's ``entity``): then the result is any record type.
    """
    tag = kind if isinstance(kind, str) else kind_of_class(kind)
    if tag == "event":
        return event_from_row(row)
    return _decoders[tag].decode(row["data"])


def event_from_row(row: RowLike) -> Event:
    values = {k: row[k] for k in EVENT_COLUMNS}
    return msgspec.convert({k: v for k, v in values.items() if v is not None}, Event)


def change_to_row(change: AnyChange, created_at: int) -> dict[str, Any]:
    """An outbox row for ``change``."""
    return {
        "seq": change.seq,
        "entity": change.entity,
        "entity_id": change.entity_id,
        "op": change.__struct_config__.tag,
        "hlc": change.hlc,
        "created_at": created_at,
        "sent_at": None,
        "payload": _enc.encode(change),
    }


def change_from_row(row: RowLike) -> AnyChange:
    return _change_dec.decode(row["payload"])


def record_fields(record: Record) -> dict[str, Any]:
    """The fields of ``record`` as builtins, without its id and kind: a Change's payload."""
    fields: dict[str, Any] = msgspec.to_builtins(record)
    fields.pop("id", None)
    fields.pop("kind", None)
    return fields
