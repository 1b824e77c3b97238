"""profile/create reads what the lead said; recommendations then cite it, in rank order."""

from __future__ import annotations

from tests.server.test_advanced import A, client, synced_phone

HEADLINE = (
    "looking for a 3 bedroom house in Bellevue under $900k. Must have a garage, near good "
    "schools. We prefer texts after 6pm"
)


async def test_profile_create_learns_the_headline_and_recommendations_say_true_things(
    tmp_path,
    server,
):
    token = server.token()
    phone = await synced_phone(tmp_path, server, token)
    body = {
        "lead_id": "lead-said-1",
        "name": "Sam",
        "language": "en",
        "conversation_history": [HEADLINE],
    }
    try:
        async with client(server, token) as http:
            p = (await http.post(f"{A}/personalization/profile/create", json=body)).json()
            assert p["price_max"] == 900_000 and p.get("price_min") is None
            assert p["beds_min"] == 3 and p["property_types"] == ["house"]
            assert p["must_haves"][:2] == ["garage", "near schools"]
            # A stated preference is not consent: this lead, new to the API, has none recorded,
            # so texts are not its channel (consent is opt-in).
            assert p["preferred_channel"] != "sms" and p["contact_hours_start"] == 18
            got = await http.get(f"{A}/personalization/recommendations/lead-said-1")
            recs = got.json()["recommendations"]
        assert got.status_code == 200 and recs
        scores = [r["score"] for r in recs]
        assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
        assert not any("engaged" in " ".join(r["reasons"]) for r in recs)
    finally:
        await phone.close()
