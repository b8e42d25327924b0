"""Publish state: what each feed last held, named settings, WebSub notifications not yet accepted, and an
index on articles.updated.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from syndicate.store.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_articles_updated", "articles", ["updated"])  # what changed since the last publish
    op.create_index("ix_articles_category", "articles", ["category"])  # the category feeds
    op.create_table(
        "feed_state",
        sa.Column("path", sa.String(300), primary_key=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("newest", UTCDateTime(), nullable=True),
        sa.Column("digest", sa.String(64), nullable=False),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )

    op.create_table(
        "websub_pending",
        sa.Column("hub", sa.String(500), primary_key=True),
        sa.Column("url", sa.String(1000), primary_key=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("websub_pending")
    op.drop_table("settings")
    op.drop_table("feed_state")
    op.drop_index("ix_articles_category", "articles")
    op.drop_index("ix_articles_updated", "articles")
