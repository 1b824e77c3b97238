"""Merge rules: per-field last-writer-wins by HLC, tombstones, and the semilattice laws."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.changes import Change, Tombstone
from sync.clock import Hlc
from sync.merge import EMPTY, EntityState, apply_all, apply_change, is_visible, join, values


def hlc(wall: int, node: str = "dev-a", counter: int = 0) -> str:
    return Hlc(wall, counter, node).encode()


def change(wall: int, node: str = "dev-a", seq: int = 1, **fields) -> Change:
    return Change(
        entity="lead",
        entity_id="lead-1",
        fields=fields,
        hlc=hlc(wall, node),
        device_id=node,
        seq=seq,
    )


def stone(wall: int, node: str = "dev-a", seq: int = 1, hard: bool = False) -> Tombstone:
    return Tombstone(
        entity="lead",
        entity_id="lead-1",
        hlc=hlc(wall, node),
        device_id=node,
        seq=seq,
        hard_erase=hard,
    )


def test_later_write_wins_per_field_and_the_loser_is_a_conflict():
    state, conflicts = apply_all(
        None,
        [change(10, "dev-a", name="Ana", status="new"), change(20, "dev-b", name="Ana María")],
    )
    assert values(state) == {"name": "Ana María", "status": "new"}
    assert [(c.field, c.loser_value, c.winner_value) for c in conflicts] == [
        ("name", "Ana", "Ana María")
    ]


def test_an_older_write_arriving_late_loses_and_is_logged():
    state, conflicts = apply_all(
        None, [change(20, "dev-b", name="B"), change(10, "dev-a", name="A")]
    )
    assert values(state) == {"name": "B"}
    assert [(c.loser_value, c.loser_hlc) for c in conflicts] == [("A", hlc(10, "dev-a"))]


def test_same_wall_time_is_broken_by_device_id():
    a, b = change(10, "dev-a", name="A"), change(10, "dev-b", name="B")
    assert values(apply_all(None, [a, b])[0]) == values(apply_all(None, [b, a])[0]) == {"name": "B"}


def test_overwriting_ones_own_write_or_an_equal_value_is_no_conflict():
    _, conflicts = apply_all(
        None, [change(10, name="A"), change(20, name="B"), change(30, "dev-b", name="B")]
    )
    assert conflicts == []


def test_a_duplicate_changes_nothing():
    c = change(10, name="A")
    once, _ = apply_change(None, c)
    twice, conflicts = apply_change(once, c)
    assert twice == once and conflicts == []


def test_tombstone_beats_older_writes_and_a_newer_write_revives():
    state, conflicts = apply_all(None, [change(10, "dev-a", name="A"), stone(20, "dev-b")])
    assert not is_visible(state)
    assert [(c.loser_value, c.winner_op) for c in conflicts] == [("A", "tombstone")]
    late, conflicts = apply_change(state, change(15, "dev-c", name="C"))
    assert not is_visible(late)
    assert ("C", "tombstone") in [(c.loser_value, c.winner_op) for c in conflicts]
    revived, _ = apply_change(state, change(30, "dev-a", status="active"))
    assert values(revived) == {"name": "A", "status": "active"}  # the whole record is back


def test_hard_erase_is_final_and_keeps_no_value():
    state, conflicts = apply_all(
        None, [change(10, name="A"), stone(20, "dev-b", hard=True), change(30, "dev-c", name="C")]
    )
    assert state.erased and values(state) == {} and conflicts == []


# --- properties ------------------------------------------------------------------------

NODES = ["dev-a", "dev-b", "dev-c"]
FIELDS = ["name", "status", "email"]


@st.composite
def changes(draw, max_size: int = 12):
    """Distinct writes (each (wall, node) once, as a real device would stamp them)."""
    stamps = draw(
        st.lists(
            st.tuples(st.integers(1, 40), st.sampled_from(NODES)),
            unique=True,
            max_size=max_size,
        )
    )
    out = []
    for seq, (wall, node) in enumerate(stamps, 1):
        kind = draw(st.sampled_from(["change"] * 6 + ["tombstone", "erase"]))
        if kind == "change":
            names = draw(st.lists(st.sampled_from(FIELDS), min_size=1, unique=True))
            fields = {n: draw(st.sampled_from(["x", "y", "z", None])) for n in names}
            out.append(change(wall, node, seq, **fields))
        else:
            out.append(stone(wall, node, seq, hard=kind == "erase"))
    return out


def fold(items) -> EntityState:
    return apply_all(None, list(items))[0]


@settings(max_examples=100, deadline=None)
@given(changes(), st.randoms(use_true_random=False))
def test_order_of_delivery_does_not_matter(items, rnd):
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert fold(shuffled) == fold(items)


@settings(max_examples=100, deadline=None)
@given(changes(), st.data())
def test_duplicates_change_nothing(items, data):
    extra = data.draw(st.lists(st.sampled_from(items), max_size=10)) if items else []
    assert fold([*items, *extra, *items]) == fold(items)


@st.composite
def split(draw, parts: int):
    """One history of distinct writes, seen in part (possibly overlapping) by ``parts`` replicas."""
    items = draw(changes())
    owners = [draw(st.sets(st.integers(0, parts - 1), min_size=1)) for _ in items]
    return [[c for c, own in zip(items, owners, strict=True) if k in own] for k in range(parts)]


@settings(max_examples=100, deadline=None)
@given(split(2), st.data())
def test_interleavings_of_two_streams_converge(streams, data):
    a, b = streams
    both = [*a, *b]
    merged = data.draw(st.permutations(list(range(len(both)))))
    assert fold(both[i] for i in merged) == fold(both)


@settings(max_examples=100, deadline=None)
@given(split(3))
def test_join_is_commutative_associative_idempotent(streams):
    x, y, z = (fold(s) for s in streams)
    assert join(x, y) == join(y, x)
    assert join(join(x, y), z) == join(x, join(y, z))
    assert join(x, x) == x
    assert join(x, EMPTY) == x


@settings(max_examples=100, deadline=None)
@given(split(2))
def test_applying_changes_is_joining_their_states(streams):
    """Two replicas that each saw part of the changes agree with one that saw all of them."""
    a, b = streams
    assert join(fold(a), fold(b)) == fold([*a, *b])


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 40), st.sampled_from(NODES)), unique=True, max_size=12),
    st.randoms(use_true_random=False),
)
def test_the_last_value_of_every_other_device_is_reported(stamps, rnd):
    """Whatever the order, each device's latest value that lost to another device is logged."""
    items = [change(w, n, i, name=f"v{w}{n}") for i, (w, n) in enumerate(stamps, 1)]
    rnd.shuffle(items)
    state, conflicts = apply_all(None, items)
    reported = {c.loser_hlc for c in conflicts}
    if not items:
        return
    winner = state.fields["name"].hlc
    latest: dict[str, str] = {}
    for item in items:
        latest[item.device_id] = max(latest.get(item.device_id, ""), item.hlc)
    for stamp in latest.values():
        if stamp != winner:
            assert stamp in reported


def test_small_exhaustive_permutations():
    items = [
        change(1, "dev-a", 1, name="A"),
        change(2, "dev-b", 1, name="B", status="x"),
        stone(3, "dev-c", 1),
        change(4, "dev-a", 2, status="y"),
    ]
    results = {msgspec_key(fold(p)) for p in itertools.permutations(items)}
    assert len(results) == 1


def msgspec_key(state: EntityState) -> bytes:
    import msgspec

    return msgspec.msgpack.encode(state, order="sorted")
