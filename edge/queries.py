"""Every SQL statement of the device runtime (the schema's DDL lives in :mod:`edge.migrations`).

Constants are whole statements; a function builds a statement whose shape varies (a table
name from :data:`edge.rows.TABLES`, a column list, the number of ``?`` in an ``IN`` list),
never a value: values always travel as parameters. Rows are translated to records and
changes in :mod:`edge.rows`. ``tests/test_architecture.py`` fails on a statement written
anywhere else in ``edge/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from edge.rows import EVENT_COLUMNS

# --- connections and transactions -------------------------------------------------------

#: The pragmas of every writing connection to a device database. ``secure_delete`` zeroes the
#: bytes of deleted rows (and of a row's old image on update), so an erased lead leaves no
#: copy in the file's free space (see :mod:`edge.erasure`).
PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA secure_delete = ON",
)
#: The pragmas of the analyst's query-only connection (:class:`edge.features_sql.StoreReader`).
READER_PRAGMAS = ("PRAGMA query_only = ON", "PRAGMA busy_timeout = 5000")

BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"
COMMIT = "COMMIT"
ROLLBACK = "ROLLBACK"
INTEGRITY_CHECK = "PRAGMA integrity_check"
#: Fold the WAL's frames into the database file and cut the WAL to 0 bytes (after an erasure).
WAL_CHECKPOINT_TRUNCATE = "PRAGMA wal_checkpoint(TRUNCATE)"
#: Rebuild every page of the file (after an erasure: no old cell survives in a page's gap).
VACUUM = "VACUUM"


def marks(n: int) -> str:
    """``?, ?, …`` for an ``IN`` list of ``n`` values."""
    return ", ".join("?" * n)


# --- settings ---------------------------------------------------------------------------

SETTINGS = "SELECT key, value FROM settings"
SETTING = "SELECT value FROM settings WHERE key = ?"
#: Insert or overwrite one setting: parameters (key, value).
SET_SETTING = (
    "INSERT INTO settings (key, value) VALUES (?, ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)
DEVICE_ID = "SELECT value FROM settings WHERE key = 'device_id'"
INSERT_DEVICE_ID = "INSERT INTO settings (key, value) VALUES ('device_id', ?)"
SYNC_CHECKPOINT = "SELECT value FROM settings WHERE key = 'sync_checkpoint'"

# --- records by table -------------------------------------------------------------------


def upsert(table: str, columns: Sequence[str]) -> str:
    """Insert a row or update its columns in place (keyed by ``id``)."""
    cols = ", ".join(columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "id")
    # Never INSERT OR REPLACE: a replace deletes the row first and cascades to its children.
    return (
        f"INSERT INTO {table} ({cols}) VALUES ({marks(len(columns))}) "
        f"ON CONFLICT(id) DO UPDATE SET {updates}"
    )


def insert(table: str, columns: Sequence[str]) -> str:
    """A plain insert of ``columns``."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks(len(columns))})"


def row_by_id(table: str) -> str:
    """Every column of one row, by id."""
    return f"SELECT * FROM {table} WHERE id = ?"


def data_by_id(table: str) -> str:
    """The stored record (its ``data`` column) of one row, by id."""
    return f"SELECT data FROM {table} WHERE id = ?"


def ids_in(table: str, n: int) -> str:
    """The ids, among ``n`` given, stored in ``table``."""
    return f"SELECT id FROM {table} WHERE id IN ({marks(n)})"


def rows_in(table: str, columns: str, n: int) -> str:
    """``columns`` of the rows of ``table`` among ``n`` ids."""
    return f"SELECT {columns} FROM {table} WHERE id IN ({marks(n)})"


def delete_by_id(table: str) -> str:
    return f"DELETE FROM {table} WHERE id = ?"


def delete_ids_in(table: str, n: int) -> str:
    return f"DELETE FROM {table} WHERE id IN ({marks(n)})"


def count(table: str) -> str:
    return f"SELECT count(*) FROM {table}"


#: What :class:`edge.store.StoreCounts` counts, by field.
COUNTS: Mapping[str, str] = {
    "agents": count("agents"),
    "leads": count("leads"),
    "listings": count("listings"),
    "events": count("events"),
    "profiles": count("profiles"),
    "plans": count("intervention_plans"),
    "steps": count("intervention_steps"),
    "outbox_pending": "SELECT count(*) FROM outbox WHERE sent_at IS NULL",
}
CONFLICT_COUNT = count("sync_conflicts")

# --- leads, events, listings, profiles --------------------------------------------------

LEADS_BY_NAME = "SELECT data FROM leads ORDER BY name, id"
ALL_LEADS = "SELECT data FROM leads"
#: Every lead with its events' count, latest time and latest type, most recently active first.
LEAD_SUMMARIES = (
    "SELECT l.data, count(e.id) AS n, max(e.ts) AS last, "
    "(SELECT type FROM events WHERE lead_id = l.id ORDER BY ts DESC, id DESC LIMIT 1) AS kind "
    "FROM leads l LEFT JOIN events e ON e.lead_id = l.id "
    "GROUP BY l.id ORDER BY last IS NULL, last DESC, l.name, l.id"
)
LANGUAGES = "SELECT language, count(*) FROM leads GROUP BY language ORDER BY count(*) DESC"
#: A lead's latest events, newest first: parameters (lead id, limit).
RECENT_EVENTS = (
    f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE lead_id = ? "
    "ORDER BY ts DESC, id DESC LIMIT ?"
)
EVENTS_OF_LEAD = "SELECT * FROM events WHERE lead_id = ?"
#: The lead's own version and its events' count, latest change and latest time, in one query:
#: parameters (lead id, lead id).
LEAD_STAMP = (
    "SELECT l.updated_at, e.n, e.changed, e.latest FROM leads l, (SELECT count(*) AS n, "
    "max(updated_at) AS changed, max(ts) AS latest FROM events WHERE lead_id = ?) e "
    "WHERE l.id = ?"
)
#: The columns of the feature spec's event rows (``models.features.EVENT_ROW_FIELDS``) as
#: read by :func:`lead_events`: the event's own, or the listing's it names.
EVENT_FEATURE_COLUMNS: Mapping[str, str] = {
    "ts": "e.ts",
    "type": "e.type",
    "channel": "e.channel",
    "dwell_s": "e.dwell_s",
    "duration_s": "e.duration_s",
    "amount": "e.amount",
    "language": "e.language",
    "listing_id": "e.listing_id",
    "price": "l.price",
    "beds": "l.beds",
    "baths": "l.baths",
    "sqft": "l.sqft",
    "property_type": "l.property_type",
    "vertical": "l.vertical",
    "lat": "l.lat",
    "lon": "l.lon",
}


def lead_events(fields: Iterable[str]) -> str:
    """A lead's events, oldest first: ``fields`` (of :data:`EVENT_FEATURE_COLUMNS`), then the
    event's text, the listing's city and the event's updated_at. Parameter: the lead id."""
    return (
        f"SELECT {', '.join(EVENT_FEATURE_COLUMNS[f] for f in fields)}, e.text, l.city, "
        "e.updated_at FROM events e LEFT JOIN listings l ON l.id = e.listing_id "
        "WHERE e.lead_id = ? ORDER BY e.ts"
    )


#: The events the outreach rules read (opt-outs and sends), as feature rows of 16 columns.
RULE_EVENTS = (
    "SELECT ts, type, channel, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL FROM events WHERE lead_id = ? "
    "AND type IN ('opt_out', 'message_out', 'call_out') ORDER BY ts"
)
#: What the lead did that pauses a plan since it was made: parameters (lead id, created at).
PAUSE_REASON = (
    "SELECT type FROM events WHERE lead_id = ? AND ts > ? AND type IN "
    "('message_in', 'call_in', 'showing_booked') ORDER BY type = 'showing_booked' DESC LIMIT 1"
)
#: The listing the lead engaged with most recently.
LATEST_ENGAGED_LISTING = (
    "SELECT l.data FROM events e JOIN listings l ON l.id = e.listing_id "
    "WHERE e.lead_id = ? AND e.type IN ('property_save', 'inquiry', 'property_view', "
    "'showing_booked', 'offer') ORDER BY e.ts DESC LIMIT 1"
)
LATEST_SHOWING = "SELECT max(ts) FROM events WHERE lead_id = ? AND type = 'showing_booked'"
PROFILE_OF_LEAD = "SELECT data FROM profiles WHERE lead_id = ?"
LISTINGS_VERSION = "SELECT count(*), max(updated_at) FROM listings"
#: A page of listings after an id (keyset pagination): parameters (last id, limit).
LISTINGS_PAGE = "SELECT data, id FROM listings WHERE id > ? ORDER BY id LIMIT ?"


def listings_in(n: int) -> str:
    return f"SELECT data FROM listings WHERE id IN ({marks(n)})"


# --- plans and steps --------------------------------------------------------------------

ACTIVE_PLANS_OF_LEAD = "SELECT data FROM intervention_plans WHERE lead_id = ? AND status = 'active'"
#: The lead's other active plans: parameters (lead id, plan id).
OTHER_ACTIVE_PLANS = (
    "SELECT data FROM intervention_plans WHERE lead_id = ? AND status = 'active' AND id != ?"
)
#: The winning plan's id (as :func:`edge.outreach.rules.winning_plan`).
ACTIVE_PLAN_ID = (
    "SELECT id FROM intervention_plans WHERE lead_id = ? AND status = 'active' "
    "ORDER BY created_at DESC, id DESC LIMIT 1"
)
LEADS_WITH_RIVAL_PLANS = (
    "SELECT lead_id FROM intervention_plans WHERE status = 'active' "
    "GROUP BY lead_id HAVING count(*) > 1"
)
STEPS_OF_PLAN = "SELECT data FROM intervention_steps WHERE plan_id = ? ORDER BY seq"
OPEN_STEPS_OF_PLAN = (
    "SELECT data FROM intervention_steps WHERE plan_id = ? AND status IN ('pending', 'due')"
)
SENDING_STEPS = "SELECT data FROM intervention_steps WHERE status = 'sending'"
#: Pending steps due by a time: parameter (now).
DUE_STEPS = (
    "SELECT data FROM intervention_steps WHERE status = 'pending' AND due_at <= ? "
    "ORDER BY due_at, seq"
)
PENDING_STEP_TIMES = "SELECT id, due_at FROM intervention_steps WHERE status = 'pending'"
#: Steps waiting for the agent, with their lead, oldest first.
AGENT_TASKS = (
    "SELECT s.data, l.data AS lead FROM intervention_steps s JOIN leads l ON l.id = s.lead_id "
    "WHERE s.status IN ('due', 'unknown') ORDER BY s.due_at"
)
#: Steps due before a time (or of unknown outcome), with their lead: parameter (end of day).
STEPS_TODAY = (
    "SELECT s.data, l.data AS lead FROM intervention_steps s "
    "JOIN intervention_plans p ON p.id = s.plan_id JOIN leads l ON l.id = s.lead_id "
    "WHERE s.status = 'unknown' OR ((s.status = 'due' OR (s.status = 'pending' "
    "AND p.status = 'active')) AND s.due_at < ?) ORDER BY s.due_at, s.id"
)


def pending_steps_of_plans(n: int) -> str:
    return (
        f"SELECT data FROM intervention_steps WHERE plan_id IN ({marks(n)}) AND status = 'pending'"
    )


# --- the outbox -------------------------------------------------------------------------

PENDING_OUTBOX = "SELECT payload FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?"
OUTBOX_TO_PUSH = (
    "SELECT payload FROM outbox WHERE sent_at IS NULL AND quarantined_at IS NULL "
    "ORDER BY seq LIMIT ?"
)
QUARANTINED = (
    "SELECT payload, quarantine_reason FROM outbox "
    "WHERE quarantined_at IS NOT NULL AND sent_at IS NULL ORDER BY seq"
)
QUARANTINED_SEQS = "SELECT seq FROM outbox WHERE quarantined_at IS NOT NULL AND sent_at IS NULL"
#: Outbox updates; :func:`where_seq_in` adds the entries. Parameters: the values, then seqs.
MARK_SENT = "UPDATE outbox SET sent_at = ?"
QUARANTINE = "UPDATE outbox SET quarantined_at = ?, quarantine_reason = ?"
RELEASE_QUARANTINE = "UPDATE outbox SET quarantined_at = NULL, quarantine_reason = NULL"


def where_seq_in(update: str, n: int) -> str:
    """``update`` (one of the outbox updates) of ``n`` entries, by seq."""
    return f"{update} WHERE seq IN ({marks(n)})"


#: Acknowledged entries sent at or before a time (to fold and prune): parameter (cutoff).
ACKED_OUTBOX = (
    "SELECT seq, entity, entity_id, payload FROM outbox "
    "WHERE sent_at IS NOT NULL AND sent_at <= ? ORDER BY seq"
)


def delete_outbox_seqs(n: int) -> str:
    return f"DELETE FROM outbox WHERE seq IN ({marks(n)})"


def outbox_of(n: int) -> str:
    """The outbox changes of ``n`` records of one kind, in order: parameters (kind, ids…)."""
    return (
        f"SELECT entity_id, payload FROM outbox WHERE entity = ? AND entity_id IN ({marks(n)}) "
        "ORDER BY seq"
    )


def outbox_entries_of(n: int) -> str:
    """Every outbox entry of ``n`` records of one kind with its send time (for an erasure)."""
    return (
        f"SELECT seq, sent_at, payload FROM outbox WHERE entity = ? AND entity_id IN ({marks(n)})"
    )


def outbox_naming(n_kinds: int) -> str:
    """Outbox entries of ``n_kinds`` kinds whose payload holds some bytes: parameters (kinds…,
    bytes)."""
    return (
        f"SELECT entity, entity_id, payload FROM outbox WHERE entity IN ({marks(n_kinds)}) "
        "AND instr(payload, ?) > 0"
    )


# --- merge state (sync_entities) and conflicts ------------------------------------------


def synced_states(n: int) -> str:
    """The merge state of ``n`` records of one kind: parameters (kind, ids…)."""
    return (
        f"SELECT entity_id, state FROM sync_entities WHERE entity = ? AND entity_id IN ({marks(n)})"
    )


def synced_states_naming(n_kinds: int) -> str:
    """Merge states of ``n_kinds`` kinds whose state holds some bytes: parameters (kinds…,
    bytes)."""
    return (
        f"SELECT entity, entity_id, state FROM sync_entities WHERE entity IN ({marks(n_kinds)}) "
        "AND instr(state, ?) > 0"
    )


#: Fold acknowledged changes into a record's merge state (pending left as it is).
FOLD_STATE = (
    "INSERT INTO sync_entities (entity, entity_id, state, pending) VALUES (?, ?, ?, 0) "
    "ON CONFLICT(entity, entity_id) DO UPDATE SET state = excluded.state"
)
#: A record's merge state after a pull: parameters (kind, id, state, pending).
MERGE_STATE = (
    "INSERT INTO sync_entities (entity, entity_id, state, pending) VALUES (?, ?, ?, ?) "
    "ON CONFLICT(entity, entity_id) DO UPDATE SET state = excluded.state, "
    "pending = excluded.pending"
)
#: An erased record's erase marker: parameters (kind, id, state).
ERASE_MARKER = (
    "INSERT INTO sync_entities (entity, entity_id, state, pending) VALUES (?, ?, ?, 0) "
    "ON CONFLICT(entity, entity_id) DO UPDATE SET state = excluded.state, pending = 0"
)
PENDING_STATES = "SELECT entity, entity_id, state FROM sync_entities WHERE pending = 1 LIMIT ?"
CLEAR_PENDING = "UPDATE sync_entities SET pending = 0 WHERE entity = ? AND entity_id = ?"
LOG_CONFLICT = (
    "INSERT INTO sync_conflicts (entity, entity_id, field, data, logged_at) VALUES (?, ?, ?, ?, ?)"
)


def delete_conflicts_of(n: int) -> str:
    return f"DELETE FROM sync_conflicts WHERE entity = ? AND entity_id IN ({marks(n)})"


def children_of_lead(table: str) -> str:
    """The ids of ``table``'s rows that belong to a lead: parameter (lead id)."""
    return f"SELECT id FROM {table} WHERE lead_id = ?"


#: A savepoint around one group of materialized rows (:mod:`edge.remote_changes`).
SAVEPOINT_MATERIALIZE = "SAVEPOINT materialize"
ROLLBACK_TO_MATERIALIZE = "ROLLBACK TO materialize"
RELEASE_MATERIALIZE = "RELEASE materialize"


# --- the runtime facade's reads (EdgeStore's "queries used by the runtime facade") -------


def all_ids(table: str) -> str:
    """Every id of ``table``, sorted."""
    return f"SELECT id FROM {table} ORDER BY id"


#: Up to N event texts (messages, notes), in storage order: parameter (limit).
EVENT_TEXTS = "SELECT text FROM events WHERE text IS NOT NULL LIMIT ?"
#: One incoming message text per stated language, by language: parameter (limit).
INCOMING_TEXT_PER_LANGUAGE = (
    "SELECT text, language FROM events WHERE type = 'message_in' AND text IS NOT NULL "
    "GROUP BY language ORDER BY language LIMIT ?"
)
#: The highest outbox sequence number written so far (0: none).
OUTBOX_HEAD = "SELECT coalesce(max(seq), 0) FROM outbox"
#: The payload bytes of the changes not yet sent.
UNSENT_OUTBOX_BYTES = "SELECT coalesce(sum(length(payload)), 0) FROM outbox WHERE sent_at IS NULL"
