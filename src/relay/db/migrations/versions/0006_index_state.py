"""index state: a version that moves with every change to ``tracks`` (and nothing else), for the
response cache of every process on the database (``relay.db.index_version``)

Kept by triggers in the writing transaction, so a process that reads a new version also sees the
change. On PostgreSQL the trigger is deferred to the commit and bumps once per transaction: the
one row it updates is locked only while the writer commits — a bump at each statement held the
lock through the rest of the transaction, and two writers each waiting for the other's rows
deadlocked.

A later migration that rebuilds ``tracks`` on SQLite must create the triggers again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BUMP = "UPDATE index_state SET version = version + 1 WHERE id = 1"
_EVENTS = ("insert", "update", "delete")


def upgrade() -> None:
    op.create_table(
        "index_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO index_state (id, version) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION relay_index_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN "
            "IF current_setting('relay.index_bumped', true) IS DISTINCT FROM "
            "txid_current()::text THEN "
            f"{_BUMP}; "
            "PERFORM set_config('relay.index_bumped', txid_current()::text, true); "
            "END IF; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE CONSTRAINT TRIGGER index_state_change AFTER INSERT OR UPDATE OR DELETE "
            "ON tracks DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "EXECUTE FUNCTION relay_index_changed()"
        )
        return
    for event in _EVENTS:
        op.execute(
            f"CREATE TRIGGER index_state_{event} AFTER {event.upper()} ON tracks BEGIN {_BUMP}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER index_state_change ON tracks")
        op.execute("DROP FUNCTION relay_index_changed()")
    else:
        for event in _EVENTS:
            op.execute(f"DROP TRIGGER index_state_{event}")
    op.drop_table("index_state")
