"""Whether something about one lead changed in the team's change log since a position.

The intervention WebSocket re-plans a lead only when this says so: a new or changed event of
the lead, or a change to the lead itself (from the socket, the API or any device through
sync). Derived records (plans, steps, profiles) do not count, so a socket's own ``predict``,
which writes a plan, never triggers another one, and an idle socket only reads.
"""

from __future__ import annotations

from server.storage import ServerStore
from sync.changes import AnyChange, Change

PAGE = 1000


def touches(change: AnyChange, lead_id: str) -> bool:
    """Whether ``change`` is about ``lead_id``'s own data (the lead or one of its events)."""
    if change.entity == "lead":
        return change.entity_id == lead_id
    if change.entity == "event" and isinstance(change, Change):
        return change.fields.get("lead_id") == lead_id
    return False


async def lead_changed(store: ServerStore, team: str, lead_id: str, after: int) -> tuple[bool, int]:
    """(whether the lead changed after ``after``, the log position read up to)."""
    changed = False
    while True:
        rows = await store.pull(team, after, PAGE)
        if not rows:
            return changed, after
        changed = changed or any(touches(c, lead_id) for _, c in rows)
        after = rows[-1][0]
        if len(rows) < PAGE:
            return changed, after
