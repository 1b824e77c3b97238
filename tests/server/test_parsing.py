"""The one layer that reads natural input: amounts, moments, unknown names."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from server.errors import InvalidRequestError, UnknownFieldError
from server.parsing import parse_instant, parse_money, refuse_unknown

MEXICO_CITY = ZoneInfo("America/Mexico_City")


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        (450000, 450_000.0),
        (450000.5, 450_000.5),
        ("$450,000", 450_000.0),
        ("450000", 450_000.0),
        ("450k", 450_000.0),
        ("USD 1.2m", 1_200_000.0),
        ("450,000 USD", 450_000.0),
        ("€ 12.5", 12.5),
        ("1,234,567.89", 1_234_567.89),
        ("MX$ 3.5M", 3_500_000.0),
        ("2bn", 2e9),
        (".5k", 500.0),
    ],
)
def test_amounts_are_read_as_people_type_them(typed, amount):
    assert parse_money(typed, "$.offer_amount") == amount


@pytest.mark.parametrize(
    "typed", ["abc", "45,00", "$", "1e5", "-1", "12 apples", True, -1, float("nan"), 1e12]
)
def test_an_unreadable_or_impossible_amount_is_refused_naming_the_field(typed):
    with pytest.raises(InvalidRequestError) as refused:
        parse_money(typed, "$.context.offer_amount")
    assert refused.value.path == "$.context.offer_amount"
    assert refused.value.status == 422


@pytest.mark.parametrize(
    ("typed", "epoch_ms"),
    [
        (1_796_490_000_000, 1_796_490_000_000),
        ("1796490000000", 1_796_490_000_000),
        ("2026-12-05T17:00:00Z", 1_796_490_000_000),
        ("2026-12-05T11:00:00-06:00", 1_796_490_000_000),
        ("2026-12-05T11:00:00", 1_796_490_000_000),  # in the lead's zone
        ("2026-12-05 11:00", 1_796_490_000_000),
    ],
)
def test_moments_are_epoch_ms_or_iso_8601(typed, epoch_ms):
    assert parse_instant(typed, "$.showing_at", MEXICO_CITY) == epoch_ms


@pytest.mark.parametrize(
    ("typed", "zone", "says"),
    [
        ("next tuesday", MEXICO_CITY, "not ISO 8601"),
        ("2026-12-05T11:00:00", None, "no UTC offset"),
        ("3026-01-01T00:00:00Z", None, "years 1970..3000"),
        ("0001-01-01T00:00:00+14:00", None, "years 1970..3000"),
        (-1, None, "years 1970..3000"),
        (False, None, "expected a time"),
        ("²", MEXICO_CITY, "not ISO 8601"),  # a digit to str.isdigit(), not to int()
    ],
)
def test_an_unreadable_moment_is_refused_saying_why(typed, zone, says):
    with pytest.raises(InvalidRequestError) as refused:
        parse_instant(typed, "$.context.showing_at", zone)
    assert refused.value.path == "$.context.showing_at" and says in refused.value.detail


def test_an_unknown_name_is_refused_with_the_accepted_ones():
    refuse_unknown(["k"], ["k", "context"], "query")
    with pytest.raises(UnknownFieldError) as refused:
        refuse_unknown(["k", "max_price"], ["k", "context"], "query")
    assert refused.value.path == "query.max_price" and refused.value.status == 400
    assert "accepted: context, k" in refused.value.detail
