"""index state: a version that moves with every change to ``tracks`` (and nothing else), for the
response cache of every process on the database (``relay.db.index_version``)

Kept by triggers in the writing transaction, so a process that reads a new version also sees the
change. On PostgreSQL the trigger is per statement and skips statements that changed no row; the
one row it updates is held until the writer commits (writers of tracks take turns at commit).

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
_EVENTS = {"insert": "NEW", "update": "NEW", "delete": "OLD"}


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
            f"BEGIN IF EXISTS (SELECT 1 FROM changed) THEN {_BUMP}; END IF; RETURN NULL; END $$"
        )
        for event, rows in _EVENTS.items():
            op.execute(
                f"CREATE TRIGGER index_state_{event} AFTER {event.upper()} ON tracks "
                f"REFERENCING {rows} TABLE AS changed FOR EACH STATEMENT "
                "EXECUTE FUNCTION relay_index_changed()"
            )
        return
    for event in _EVENTS:
        op.execute(
            f"CREATE TRIGGER index_state_{event} AFTER {event.upper()} ON tracks BEGIN {_BUMP}; END"
        )


def downgrade() -> None:
    for event in _EVENTS:
        op.execute(
            f"DROP TRIGGER index_state_{event}"
            + (" ON tracks" if op.get_bind().dialect.name == "postgresql" else "")
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION relay_index_changed()")
    op.drop_table("index_state")
