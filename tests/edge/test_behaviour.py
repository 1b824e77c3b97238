from __future__ import annotations

import pytest

from edge.behaviour import EngagementTier
from edge.drivers import GROUP_KEYS
from edge.errors import NotFoundError
from edge.vertical import detect_vertical
from models.features import empty_columns
from sync.records import Vertical


async def test_behaviour_gives_probabilities_a_tier_and_drivers_in_words(device):
    b = await device.predict_behaviour("lead-000001")
    assert 0.0 <= b.p_convert <= 1.0 and 0.0 <= b.p_respond <= 1.0
    assert b.events == 12
    assert b.tier in (EngagementTier.HOT, EngagementTier.WARM, EngagementTier.COLD)
    assert b.model_version == device._models.get("behaviour").manifest.version
    assert b.drivers, "an active lead has at least one driver"
    for d in b.drivers:
        assert d.factor in GROUP_KEYS
        assert d.text.startswith(f"{d.label} ({d.evidence}): ")
        assert "chance of" in d.text and "points" in d.text
    weights = [abs(d.effect) + 0.25 * abs(d.effect_respond) for d in b.drivers]
    assert weights == sorted(weights, reverse=True)


async def test_a_lead_with_no_events_is_new_and_its_drivers_say_what_is_missing(device):
    b = await device.predict_behaviour("lead-000002")
    assert b.tier is EngagementTier.NEW
    assert b.events == 0
    assert b.p_convert < b.reference_convert
    for d in b.drivers:  # against a typical lead, what is missing lowers the chances
        assert d.label.startswith(("no ", "never", "little", "the lead's")), d.text


async def test_an_unknown_lead_is_an_error_naming_it(device):
    with pytest.raises(NotFoundError, match="lead-999999"):
        await device.predict_behaviour("lead-999999")
    with pytest.raises(NotFoundError, match="nobody"):
        await device.analyze("nobody")


async def test_vertical_from_views_and_words(device):
    commercial = await device.detect_vertical("lead-000003")
    assert commercial.vertical is Vertical.COMMERCIAL
    assert "cap rate" in commercial.attributes and "zoning" in commercial.attributes
    assert any("cap rate" in e for e in commercial.evidence)
    residential = await device.detect_vertical("lead-000001")
    assert residential.vertical is Vertical.RESIDENTIAL
    assert residential.confidence == 1.0


def test_keywords_alone_decide_the_vertical_and_nothing_means_residential():
    guess = detect_vertical(empty_columns(), ["Looking for a penthouse with privacy"])
    assert guess.vertical is Vertical.LUXURY
    assert "privacy" in guess.attributes
    none = detect_vertical(empty_columns(), [])
    assert none.vertical is Vertical.RESIDENTIAL and none.confidence == 0.0
