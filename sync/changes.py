"""Changes and tombstones: the units of sync, and the batches that carry them."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from sync.clock import NodeId
from sync.records import Id
from sync.version import PROTOCOL_VERSION, SCHEMA_VERSION

Entity = Annotated[str, Meta(pattern=r"^[a-z_]{1,40}$", description="record kind, e.g. lead")]
Seq = Annotated[int, Meta(ge=1, description="per-device sequence, from 1")]
EncodedHlc = Annotated[str, Meta(min_length=23, max_length=96, description="Hlc.encode()")]


class Change(msgspec.Struct, tag="change", tag_field="op", frozen=True, kw_only=True):
    """An upsert of some fields of one record, stamped with one clock value.

    Merge is per field: each field in ``fields`` carries the change's ``hlc``.
    ``(device_id, seq)`` is the idempotency key.
    """

    entity: Entity
    entity_id: Id
    fields: dict[str, Any]
    hlc: EncodedHlc
    device_id: NodeId
    seq: Seq


class Tombstone(msgspec.Struct, tag="tombstone", tag_field="op", frozen=True, kw_only=True):
    """A delete. A hard erase (privacy) also removes the record's history everywhere."""

    entity: Entity
    entity_id: Id
    hlc: EncodedHlc
    device_id: NodeId
    seq: Seq
    hard_erase: bool = False


AnyChange = Change | Tombstone


class ChangeBatch(msgspec.Struct, frozen=True, kw_only=True):
    """What a device pushes: its outbox entries in sequence order."""

    device_id: NodeId
    changes: Annotated[list[AnyChange], Meta(max_length=5000)]
    protocol: int = PROTOCOL_VERSION
    schema_version: int = SCHEMA_VERSION
