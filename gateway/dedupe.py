"""Deduplication: which (source, envelope id) pairs were already accepted, within a window.

A provider's retry of an accepted delivery must answer `200 duplicate` and publish nothing. The
key is (source name, envelope id), so two tenants' identical bodies never collide. An id is marked
only once its event is safe (acknowledged by Kafka, or in the same transaction as its spool write).

gateway.store.Store keeps the window in the host's SQLite file (shared by its workers, survives
restarts); the pipeline calls `lookup` (which also says whether the spool holds events) and
`mark_soon` (group-committed), and a spooled event's mark shares the spool's transaction. A
backend shared by several hosts (Redis SET NX with a TTL, a database table with a unique key)
would offer the same two operations, `seen(key)` and `mark(key)`; across hosts today, the
deterministic envelope id and record key let consumers dedupe (docs/durability.md).
"""

from __future__ import annotations

Key = tuple[str, str]  # (source name, envelope id)
