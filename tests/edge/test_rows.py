"""Typed record access: rows and stored records read back as their own class."""

from __future__ import annotations

import msgspec
import pytest

from edge.errors import NotFoundError
from edge.rows import kind_of, kind_of_class, record_from_row, record_to_row
from sync.records import RECORD_TYPES, Event, InterventionPlan, Lead, Listing
from tests.factories import every_record_type, lead, listing


def test_each_kind_tag_names_its_class():
    assert sorted(RECORD_TYPES) == [
        "agent",
        "event",
        "intervention_plan",
        "intervention_step",
        "lead",
        "listing",
        "profile",
    ]
    for kind, cls in RECORD_TYPES.items():
        assert kind_of_class(cls) == kind


@pytest.mark.parametrize("record", every_record_type(), ids=kind_of)
def test_a_row_reads_back_as_its_class_by_class_and_by_kind(record):
    row = record_to_row(record)
    if isinstance(record, InterventionPlan):  # its steps live in their own table
        record = msgspec.structs.replace(record, steps=[])
    by_class = record_from_row(type(record), row)
    by_kind = record_from_row(kind_of(record), row)
    assert type(by_class) is type(record) and by_class == record
    assert type(by_kind) is type(record) and by_kind == record


def test_a_row_of_another_kind_is_refused_not_misread():
    with pytest.raises(msgspec.ValidationError, match="listing"):
        record_from_row(Lead, record_to_row(listing(1)))


async def test_get_by_class_returns_that_class_and_names_a_missing_one(fresh_store):
    await fresh_store.put([lead(1)])
    found = await fresh_store.get(Lead, lead(1).id)
    assert type(found) is Lead and found == lead(1)
    assert await fresh_store.get("lead", lead(1).id) == found
    with pytest.raises(NotFoundError, match="no listing 'lst-x'"):
        await fresh_store.get(Listing, "lst-x")


def test_events_read_back_from_their_columns():
    ev = next(r for r in every_record_type() if isinstance(r, Event))
    assert record_from_row(Event, record_to_row(ev)) == ev
