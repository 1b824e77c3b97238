"""Read a device's database file as an outside observer would (tests only).

Tests that check what is on disk (an erasure left nothing, every phone holds the same bytes)
read the file on a read-only connection of their own; everything else goes through
:class:`edge.runtime.EdgeRuntime`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing

from edge.runtime import EdgeRuntime


def device_rows(rt: EdgeRuntime, sql: str, params: Sequence[object] = ()) -> list[tuple]:
    """The rows ``sql`` returns on ``rt``'s database file (read-only: a write raises)."""
    uri = rt.database_path.resolve().as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        return conn.execute(sql, params).fetchall()


def device_value(rt: EdgeRuntime, sql: str, params: Sequence[object] = ()) -> object:
    """The first column of the first row ``sql`` returns (e.g. a count)."""
    return device_rows(rt, sql, params)[0][0]
