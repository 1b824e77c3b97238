"""Prometheus metrics of the sync service (request metrics come from Litestar's middleware)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CHANGES = Counter("realty_edge_sync_changes", "Changes received by push, by result", ["result"])
CONFLICTS = Counter("realty_edge_sync_conflicts", "Losing values written to the conflict log")
REFUSED = Counter("realty_edge_sync_refused", "Requests refused, by code", ["code"])
PUSH_SECONDS = Histogram(
    "realty_edge_sync_push_seconds",
    "Time to merge and commit one pushed batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)
PULL_SECONDS = Histogram(
    "realty_edge_sync_pull_seconds",
    "Time to read one pull page",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)
