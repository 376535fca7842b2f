"""At most one open handoff per conversation: a partial unique index.

The code before the migrations added this index to existing stores at start, so a store
stamped with the baseline may have it already (IF NOT EXISTS).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 21:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None
OPEN = sa.text("status IN ('queued', 'claimed')")


def upgrade() -> None:
    """Create the index, after checking that no conversation has two open handoffs."""
    duplicates = op.get_bind().execute(sa.text(
        "SELECT conversation_id FROM handoffs WHERE status IN ('queued', 'claimed') "
        "GROUP BY conversation_id HAVING COUNT(*) > 1")).scalars().all()
    if duplicates:
        raise RuntimeError(
            "cannot enforce one open handoff per conversation: close all but one open "
            f"handoff of {', '.join(duplicates[:10])}, then start the service again")
    op.create_index('uq_handoffs_open_conversation', 'handoffs', ['conversation_id'],
                    unique=True, if_not_exists=True, sqlite_where=OPEN, postgresql_where=OPEN)


def downgrade() -> None:
    """Drop the index."""
    op.drop_index('uq_handoffs_open_conversation', table_name='handoffs')
