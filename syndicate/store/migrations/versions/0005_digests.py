"""Digests: recipients' delivery state, the outbox of digests, the articles each carries, and what each
recipient has been delivered; an index on articles.first_seen (what is new to a recipient).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from syndicate.store.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_articles_first_seen", "articles", ["first_seen"])
    op.create_table(
        "recipients",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("watermark", UTCDateTime(), nullable=False),
        sa.Column("slot_date", sa.String(10), nullable=True),
        sa.Column("unsubscribed_at", UTCDateTime(), nullable=True),
        sa.Column("failed_at", UTCDateTime(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
    )
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("window_end", UTCDateTime(), nullable=False),
        sa.Column("slot_date", sa.String(10), nullable=True),
        sa.Column("message_id", sa.String(300), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("recipient", "window_start", name="uq_digests_window"),
        sa.UniqueConstraint("message_id", name="uq_digests_message_id"),
    )
    op.create_index("ix_digests_status", "digests", ["status", "next_attempt"])
    op.create_table(
        "digest_articles",
        sa.Column(
            "digest_id",
            sa.Integer(),
            sa.ForeignKey("digests.id", ondelete="CASCADE", name="fk_digest_articles_digest"),
            primary_key=True,
        ),
        sa.Column("article_id", sa.Integer(), primary_key=True),
    )
    op.create_table(
        "deliveries",
        sa.Column("recipient", sa.String(320), primary_key=True),
        sa.Column("article_id", sa.Integer(), primary_key=True),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=False),
    )
    op.create_index("ix_deliveries_story", "deliveries", ["recipient", "story_id"])


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("digest_articles")
    op.drop_index("ix_digests_status", "digests")
    op.drop_table("digests")
    op.drop_table("recipients")
    op.drop_index("ix_articles_first_seen", "articles")
