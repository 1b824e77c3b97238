"""The sync exchange between a device and the server, as msgspec types with explicit tags.

A push body is a :class:`~sync.changes.ChangeBatch` (aliased here as :data:`PushRequest`),
MessagePack or JSON, optionally gzip-compressed. Every answer is one of the messages below;
a refusal is always a :class:`Rejected` whose ``code`` is stable and whose ``path`` names the
field (``$.changes[3].hlc``) when one field is to blame.

Tags are explicit snake_case strings, so renaming a class never changes the wire; new fields
get defaults; a tag is never reused.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from sync.changes import AnyChange, ChangeBatch
from sync.records import RECORD_TYPES
from sync.version import PROTOCOL_VERSION

#: The push body.
PushRequest = ChangeBatch

#: The largest checkpoint: a server sequence is a signed 64-bit integer (SQLite, PostgreSQL).
MAX_CHECKPOINT = 2**63 - 1
Checkpoint = Annotated[
    int,
    Meta(ge=0, le=MAX_CHECKPOINT, description="server sequence of the team's change log"),
]
PageLimit = Annotated[int, Meta(ge=1, le=5000)]


class Message(msgspec.Struct, tag_field="type", frozen=True, kw_only=True):
    """Base of every message: carries the protocol version."""

    protocol: int = PROTOCOL_VERSION


class PushResult(Message, tag="push_result", kw_only=True, frozen=True):
    """The server's acknowledgement of a batch: durable once this is sent.

    A retried batch gets the same answer: ``accepted`` counts the batch's changes that are
    durable (new or already seen), ``conflicts`` the conflicts logged for them.
    """

    device_id: str
    accepted: int
    acked_through: int
    conflicts: int
    schema_version: int


class PullRequest(Message, tag="pull_request", kw_only=True, frozen=True):
    """Ask for the team's changes after ``after`` (a checkpoint from a previous page).

    With ``device_id``, the page leaves out the changes that device pushed itself (it holds
    them already); its checkpoint still advances past them.
    """

    after: Checkpoint = 0
    limit: PageLimit = 500
    device_id: str | None = None


class PullPage(Message, tag="pull_page", kw_only=True, frozen=True):
    """Changes in server-sequence order; ``checkpoint`` is what to ask ``after`` next."""

    changes: list[AnyChange]
    checkpoint: int
    has_more: bool
    server_hlc: str
    schema_version: int


class Rejected(Message, tag="rejected", kw_only=True, frozen=True):
    """A refusal: a stable ``code``, a sentence, and the field path when one is to blame."""

    code: str
    detail: str
    path: str | None = None
    #: For ``rejected`` (409): which outreach rule refused, e.g. ``opted_out``, ``quiet_hours``.
    reason: str | None = None


class ConflictEntry(Message, tag="conflict", kw_only=True, frozen=True):
    """One losing value kept in the server's conflict log."""

    id: int
    entity: str
    entity_id: str
    field: str
    loser_value: Any
    loser_hlc: str
    winner_value: Any
    winner_hlc: str
    winner_op: str
    device_id: str
    seq: int
    logged_at: int


class ConflictPage(Message, tag="conflict_page", kw_only=True, frozen=True):
    conflicts: list[ConflictEntry]
    next_after: int
    has_more: bool


class RecordState(Message, tag="record_state", kw_only=True, frozen=True):
    """The server's merged state of one record, with the clock of every field."""

    entity: str
    entity_id: str
    exists: bool
    erased: bool
    fields: dict[str, Any]
    field_hlcs: dict[str, str]
    deleted_hlc: str


class DeviceInfo(Message, tag="device_info", kw_only=True, frozen=True):
    device_id: str
    agent_id: str
    team_id: str
    acked_through: int
    changes: int
    first_seen: int
    last_seen: int


class FeatureStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One advanced feature: ``ok``, ``unavailable`` or ``drifting`` (a retrained model whose
    live scores moved away from its training scores), and why."""

    status: str
    detail: str = ""


class Health(Message, tag="health", kw_only=True, frozen=True):
    """Liveness (``status``), each advanced feature's status and the model versions in use."""

    status: str
    version: str
    features: dict[str, FeatureStatus] = {}
    models: dict[str, str] = {}


@cache
def partial_type(kind: str) -> type[msgspec.Struct] | None:
    """A Struct accepting any subset of the fields of record ``kind`` (None: unknown kind).

    Used to validate the ``fields`` of a :class:`~sync.changes.Change` with the record's own
    constraints, so that an error names the field path.
    """
    cls = RECORD_TYPES.get(kind)
    if cls is None:
        return None
    hints = msgspec.structs.fields(cls)
    spec = [
        (f.name, f.type | msgspec.UnsetType, msgspec.UNSET)
        for f in hints
        if f.name not in ("id", "kind")
    ]
    return msgspec.defstruct(
        f"Partial{cls.__name__}", spec, kw_only=True, forbid_unknown_fields=True
    )


def validate_fields(kind: str, fields: dict[str, Any]) -> str | None:
    """None when ``fields`` fit record ``kind``; otherwise the error with its path."""
    tp = partial_type(kind)
    if tp is None:
        return f"unknown record kind {kind!r}"
    try:
        msgspec.convert(fields, tp)
    except msgspec.ValidationError as exc:
        return str(exc)
    return None
