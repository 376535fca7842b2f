"""Baseline: the ratings table as the code before the migrations created it.

Revision ID: 0001
Revises: 
Create Date: 2026-12-06 20:59:43.548259
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
    op.create_table('csat',
    sa.Column('session_id', sa.Text(), nullable=False),
    sa.Column('episode', sa.Text(), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), server_default='', nullable=False),
    sa.Column('trigger', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('session_id', 'episode'),
    sa.CheckConstraint('rating BETWEEN 1 AND 5'),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table('csat')
