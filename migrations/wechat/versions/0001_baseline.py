"""Baseline: the tables of the store as the code before the migrations created them.

Revision ID: 0001
Revises: 
Create Date: 2026-12-06 21:00:41.426885
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('offered_buttons',
    sa.Column('user_id', sa.Text(), nullable=False),
    sa.Column('buttons', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('seen_callbacks',
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table('seen_callbacks')
    op.drop_table('offered_buttons')
