"""Issue 15, item 5: schemathesis against the live OpenAPI document of a real loopback server.

Every operation of the document gets generated requests (at least ``TARGET`` in all, the
budget split over the operations): three quarters valid by the document (they reach the
services), a quarter invalid (schemathesis' negative mode: they reach the refusals). Half of
the cases carry real ids of the caller's team, so the generated values reach the services
instead of stopping at a 404. Every answer must be under 500 (or the documented 503 of a
feature this machine lacks), and every 4xx a ``rejected`` body whose ``path`` names the field
(but for refusals of the whole request: its size, encoding, schema version or rate). Seeded:
the seed is printed.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from edge.runtime import EdgeRuntime
from sync.codec import Format, encode_batch
from tests.factories import small_world
from tests.live_server import run_server

#: Generated requests across all operations (issue 15 asks for at least 2,000).
TARGET = int(os.environ.get("REALTY_EDGE_FUZZ_CASES", "2000"))
SEED = int(os.environ.get("REALTY_EDGE_FUZZ_SEED", "20261203"))
#: Share of the cases per mode: valid requests reach the services, invalid ones the refusals.
SHARE = {GenerationMode.POSITIVE: 0.75, GenerationMode.NEGATIVE: 0.25}
#: Scenarios of the stateful run (each a chain of up to 6 linked calls).
STATEFUL_SCENARIOS = int(os.environ.get("REALTY_EDGE_FUZZ_SCENARIOS", "40"))
ADV = "/api/v1/advanced"
#: Refusals about the request as a whole (its size, encoding, version, rate): no field.
WHOLE_REQUEST = {409, 413, 415, 429}
#: Real ids of team-a (from ``small_world``) substituted into half of the cases.
REAL = {"lead_id": "lead-000001", "listing_id": "lst-000001", "entity_id": "lead-000001"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A real server whose team-a holds two synced leads; rate limits out of the way."""
    folder = tmp_path_factory.mktemp("fuzz")
    with run_server(
        folder / "server.db",
        rate_per_s=100_000.0,
        rate_burst=100_000,
        scoring_rate_per_s=100_000.0,
        scoring_burst=100_000,
    ) as live:
        # A team admin: every route but the operator's model routes (those answer 403,
        # documented) is exercised, and no fuzzed case starts a retraining run.
        token = live.token(role="team_admin")

        async def sync_a_phone() -> None:
            phone = await EdgeRuntime.open(folder / "phone.db")
            try:
                await phone.ingest(encode_batch(small_world(2, 5), Format.MSGPACK))
                assert (await phone.sync(live.url, token)).status == "ok"
            finally:
                await phone.close()

        asyncio.run(sync_a_phone())
        yield live, token


def with_real_ids(case: Any) -> None:
    """Put team-a's ids where the case has id fields (never into an erasure)."""
    if case.method.upper() == "DELETE":
        return
    for name in list(case.path_parameters or {}):
        if name in REAL:
            case.path_parameters[name] = REAL[name]
    if isinstance(case.body, dict):
        for name in ("lead_id",):
            if name in case.body:
                case.body[name] = REAL[name]
        for key in ("events", "property_interactions"):
            events = case.body.get(key)
            for event in events if isinstance(events, list) else []:  # negative cases: any type
                if isinstance(event, dict):
                    event["lead_id"] = REAL["lead_id"]


def problems_with(response: requests.Response) -> str | None:
    """Why an answer breaks the contract, or None."""
    status = response.status_code
    if status == 503:
        body = response.json()
        return None if body.get("code") == "feature_unavailable" else f"503 {response.text}"
    if status >= 500:
        return f"{status} {response.text[:300]}"
    if status < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        return f"{status} without a JSON body: {response.text[:200]}"
    if body.get("type") != "rejected" or not body.get("code") or "detail" not in body:
        return f"{status} not a rejected body: {body}"
    if status not in WHOLE_REQUEST and not body.get("path"):
        return f"{status} names no field: {body}"
    return None


def test_every_route_survives_generated_requests(world):
    live, token = world
    print(f"schemathesis seed {SEED}, target {TARGET} cases, {SHARE}")
    schema = schemathesis.openapi.from_url(f"{live.url}/schema/openapi.json", timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    tried: dict[tuple[str, GenerationMode], int] = {}
    spent: dict[str, float] = {}  # seconds waiting for the server, per operation
    failures: list[str] = []  # one per operation and kind of problem
    started = time.monotonic()
    # Operations without inputs are exhausted after a case or two: the budget goes to the rest.
    with_inputs = [op for op in operations if op.path_parameters or op.query or op.body]

    def check(label: str, mode: GenerationMode, budget: int, case: Any, real: bool) -> None:
        if tried.get((label, mode), 0) >= budget:
            return  # hypothesis may run a few more examples than asked: keep the time bounded
        if real:
            with_real_ids(case)
        began = time.monotonic()
        response = case.call(base_url=live.url, session=session, headers=headers, timeout=60)
        tried[label, mode] = tried.get((label, mode), 0) + 1
        spent[label] = spent.get(label, 0.0) + time.monotonic() - began
        problem = problems_with(response)
        if problem and not any(f.startswith(f"{label}: {problem[:60]}") for f in failures):
            failures.append(f"{label} ({mode}): {problem}\n  {case.as_curl_command()}")

    for mode, share in SHARE.items():
        budget = math.ceil(TARGET * share / max(1, len(with_inputs))) + 2
        for operation in operations:
            label = f"{operation.method.upper()} {operation.path}"

            @seed(SEED)
            @settings(
                max_examples=budget,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                print_blob=True,
            )
            @given(case=operation.as_strategy(generation_mode=mode), real=st.booleans())
            def run(case: Any, real: bool) -> None:
                check(label, mode, budget, case, real)  # noqa: B023  (called before they change)

            try:
                run()
            except Unsatisfiable:  # an operation without inputs has no invalid ones
                assert mode is GenerationMode.NEGATIVE and operation not in with_inputs, label

    total = sum(tried.values())
    elapsed = time.monotonic() - started
    labels = {label for label, _ in tried}
    print(f"{total} cases over {len(labels)} operations in {elapsed:.1f} s")
    for label in sorted(labels, key=lambda name: -spent[name]):
        counts = ", ".join(f"{tried.get((label, m), 0)} {m}" for m in SHARE)
        print(f"  {spent[label]:6.1f} s server  {label}  ({counts})")
    assert not failures, "\n".join(failures)
    assert labels == {f"{op.method.upper()} {op.path}" for op in operations}
    assert total >= TARGET


def test_linked_operations_survive_stateful_runs(world):
    """schemathesis' state machine walks the document's links (and those it infers)."""
    live, token = world
    schema = schemathesis.openapi.from_url(f"{live.url}/schema/openapi.json", timeout=30)
    links = schema.raw_schema["paths"][f"{ADV}/intervention/plans"]["post"]["responses"]["201"]
    assert links["links"]["ExecuteBestStep"]["requestBody"] == {
        "step_id": "$response.body#/strategies/0/step_id"
    }
    steps: list[tuple[str, int]] = []

    class Workflow(schema.as_state_machine()):
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": live.url, "headers": {"Authorization": f"Bearer {token}"}}

        def validate_response(self, response: Any, case: Any, *args: Any, **kw: Any) -> None:
            steps.append((case.operation.label, response.status_code))
            problem = problems_with(response)
            assert problem is None, f"{case.operation.label}: {problem}"

    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=6,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    print(f"stateful: {len(steps)} steps in {STATEFUL_SCENARIOS} scenarios")
    assert len({label for label, _ in steps}) >= 3  # chains, not one operation again and again
