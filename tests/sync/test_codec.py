"""Every wire type round-trips over JSON and MessagePack; bad input names its field path."""

from __future__ import annotations

import contextlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.changes import Change, ChangeBatch, Tombstone
from sync.clock import Hlc
from sync.codec import Format, decode, encode, encode_batch, iter_batch, sniff_format
from sync.errors import DecodeError
from sync.manifest import GoldenCase, ModelManifest, TensorSpec
from sync.records import AnyRecord, Event, EventType, IngestRecord, Lead
from tests.factories import NOW_MS, every_record_type, lead

FORMATS = list(Format)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("record", every_record_type(), ids=lambda r: type(r).__name__)
def test_every_record_round_trips_as_itself_and_through_the_union(record, fmt):
    data = encode(record, fmt)
    assert decode(data, type(record), fmt) == record
    assert decode(data, AnyRecord, fmt) == record


@pytest.mark.parametrize("fmt", FORMATS)
def test_change_tombstone_batch_and_manifest_round_trip(fmt):
    hlc = Hlc(NOW_MS, 3, "dev-1").encode()
    batch = ChangeBatch(
        device_id="dev-1",
        changes=[
            Change(
                entity="lead",
                entity_id="lead-1",
                fields={"name": "Ana", "budget_max": 5e5},
                hlc=hlc,
                device_id="dev-1",
                seq=1,
            ),
            Tombstone(
                entity="lead",
                entity_id="lead-2",
                hlc=hlc,
                device_id="dev-1",
                seq=2,
                hard_erase=True,
            ),
        ],
    )
    assert decode(encode(batch, fmt), ChangeBatch, fmt) == batch
    manifest = ModelManifest(
        name="behaviour",
        version="1",
        sha256="a" * 64,
        size=10,
        feature_spec_hash="0123456789ab",
        inputs=[TensorSpec(name="x", shape=[1, 3], dtype="int8", scale=0.1, zero_point=-3)],
        golden=[GoldenCase(input=[1.0, 2.0, 3.0], output=[0.5])],
        metrics={"auc": 0.9},
    )
    assert decode(encode(manifest, fmt), ModelManifest, fmt) == manifest
    clock = Hlc(NOW_MS, 7, "dev-2")
    assert decode(encode(clock, fmt), Hlc, fmt) == clock


def test_tags_are_explicit_snake_case_on_the_wire():
    wire = msgspec.json.decode(encode(lead(1), Format.JSON))
    assert wire["kind"] == "lead"
    change = msgspec.json.decode(
        encode(
            Tombstone(
                entity="lead", entity_id="x", hlc=Hlc(1, 0, "d").encode(), device_id="d", seq=1
            ),
            Format.JSON,
        )
    )
    assert change["op"] == "tombstone"


@pytest.mark.parametrize("fmt", FORMATS)
def test_invalid_value_is_refused_with_its_path(fmt):
    bad = {"kind": "event", "id": "ev-1", "lead_id": "lead-1", "type": "property_view", "ts": -5}
    data = msgspec.json.encode(bad) if fmt is Format.JSON else msgspec.msgpack.encode(bad)
    with pytest.raises(DecodeError, match=r"\$\.ts"):
        decode(data, Event, fmt)


def test_unknown_event_type_names_the_field():
    bad = b'{"kind": "event", "id": "e", "lead_id": "l", "type": "teleport", "ts": 1}'
    with pytest.raises(DecodeError, match=r"\$\.type"):
        decode(bad, Event, Format.JSON)


def test_unknown_kind_is_refused():
    with pytest.raises(DecodeError, match="kind"):
        decode(b'{"kind": "spaceship", "id": "x"}', IngestRecord, Format.JSON)


def test_malformed_bytes_are_a_decode_error():
    with pytest.raises(DecodeError, match="malformed json"):
        decode(b"{not json", Event, Format.JSON)


@pytest.mark.parametrize("fmt", FORMATS)
def test_batch_round_trips_and_format_is_sniffed(fmt):
    records = every_record_type()[:6]
    data = encode_batch(records, fmt)
    assert sniff_format(data) is fmt
    assert list(iter_batch(data)) == records


def test_batch_error_names_record_and_line():
    good = encode(lead(1), Format.JSON).decode()
    data = f"{good}\n\n{good.replace('lead-000001', 'bad id!')}\n".encode()
    with pytest.raises(DecodeError, match=r"record 2 \(line 3\).*\$\.id"):
        list(iter_batch(data))


ids = st.from_regex(r"[A-Za-z0-9_\-]{1,20}", fullmatch=True)
texts = st.text(max_size=200)
events = st.builds(
    Event,
    id=ids,
    lead_id=ids,
    type=st.sampled_from(list(EventType)),
    ts=st.integers(0, 4_000_000_000_000),
    text=st.none() | texts,
    dwell_s=st.none() | st.floats(0, 86_400, allow_nan=False),
    amount=st.none() | st.floats(0, 1e11, allow_nan=False),
)
leads = st.builds(
    Lead,
    id=ids,
    agent_id=ids,
    team_id=ids,
    name=st.text(max_size=200),
    budget_max=st.none() | st.floats(0, 1e11, allow_nan=False),
)


@given(record=events | leads, fmt=st.sampled_from(FORMATS))
def test_codec_round_trip_property(record, fmt):
    assert decode(encode(record, fmt), IngestRecord, fmt) == record


@given(records=st.lists(events | leads, max_size=20), fmt=st.sampled_from(FORMATS))
def test_batch_round_trip_property(records, fmt):
    assert list(iter_batch(encode_batch(records, fmt))) == records


@given(junk=st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_anything_but_decode_error(junk):
    for fmt in FORMATS:
        with contextlib.suppress(DecodeError):
            decode(junk, IngestRecord, fmt)
