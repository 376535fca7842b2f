"""Dead letters: when the service refused a handoff for good.

Outbox files of the code before the migrations may have the column already (that code added
it itself), so it is added only when missing.

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


def upgrade() -> None:
    """Add outbox.dead_at."""
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("outbox")}
    if "dead_at" not in columns:
        with op.batch_alter_table('outbox') as batch_op:
            batch_op.add_column(sa.Column('dead_at', sa.Float(), nullable=True))


def downgrade() -> None:
    """Drop outbox.dead_at."""
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.drop_column('dead_at')
