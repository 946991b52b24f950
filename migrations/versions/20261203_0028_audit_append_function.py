"""the audit chain is appended by one server-side call: the chain's lock, its head, the hashes and the rows in one
round trip, so that the lock is held for that call and the commit only

Revision ID: 0028
Revises: 0021
Create Date: 2026-12-03 16:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The events come as one JSON array, in the chain's order, each with its columns and its canonical JSON
# (``fund.audit.service.event_hash``'s body) in two parts around the ``at`` value that only exists under the lock:
# ``head`` ends with '"at":"' and ``tail`` starts with '",'. The hash is SHA-256 of the previous hash and that JSON. ``at`` is written as Python's ``isoformat()`` of the UTC instant
# writes it (microseconds left out when zero), which ``canonical_time`` reads back to verify.
TIME = r"""
CREATE FUNCTION fund_audit_time(stamp timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(stamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN to_char(stamp AT TIME ZONE 'UTC', 'US') = '000000' THEN ''
                ELSE '.' || to_char(stamp AT TIME ZONE 'UTC', 'US') END
        || '+00:00'
$$
"""

APPEND = r"""
CREATE FUNCTION fund_audit_append(lock_key bigint, events jsonb)
RETURNS TABLE (at timestamptz, prev_hash text, hash text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    previous text;
    stamp timestamptz;
    stamp_text text;
    chained text;
    ev jsonb;
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    -- A statement of its own after the lock: its snapshot sees the head that the previous holder committed.
    SELECT e.hash INTO previous FROM audit_events e ORDER BY e.seq DESC LIMIT 1;
    previous := coalesce(previous, repeat('0', 64));
    stamp := clock_timestamp();
    stamp_text := fund_audit_time(stamp);
    FOR ev IN SELECT value FROM jsonb_array_elements(events) WITH ORDINALITY ORDER BY ordinality LOOP
        chained := encode(sha256(convert_to(previous || (ev->>'head') || stamp_text || (ev->>'tail'), 'UTF8')), 'hex');
        INSERT INTO audit_events
            (id, at, actor_id, action, entity_type, entity_id, from_status, to_status, detail, ip, prev_hash, hash)
        VALUES ((ev->>'id')::uuid, stamp, (ev->>'actor_id')::uuid, ev->>'action', ev->>'entity_type',
                (ev->>'entity_id')::uuid, ev->>'from_status', ev->>'to_status',
                CASE WHEN jsonb_typeof(ev->'detail') = 'null' THEN NULL ELSE ev->'detail' END, ev->>'ip',
                previous, chained);
        at := stamp;
        prev_hash := previous;
        hash := chained;
        RETURN NEXT;
        previous := chained;
    END LOOP;
END
$$
"""


def upgrade() -> None:
    op.execute(TIME)
    op.execute(APPEND)


def downgrade() -> None:
    op.execute("DROP FUNCTION fund_audit_append(bigint, jsonb)")
    op.execute("DROP FUNCTION fund_audit_time(timestamptz)")
