"""Articles and their zones.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from syndicate.store.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("guid", sa.String(64), nullable=False, unique=True),
        sa.Column("source_id", sa.String(100), nullable=False),
        sa.Column("source_key", sa.String(500), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("link", sa.Text(), nullable=False),
        sa.Column("published", UTCDateTime(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("zone_names", sa.JSON(), nullable=False),
        sa.Column("city", sa.String(200), nullable=True),
        sa.Column("category", sa.String(200), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("source_id", "source_key", name="uq_articles_source_key"),
    )
    op.create_index("ix_articles_published", "articles", ["published"])
    op.create_table(
        "article_zones",
        sa.Column(
            "article_id",
            sa.Integer(),
            sa.ForeignKey("articles.id", ondelete="CASCADE", name="fk_article_zones_article"),
            primary_key=True,
        ),
        sa.Column("zone_slug", sa.String(100), primary_key=True),
    )
    op.create_index("ix_article_zones_zone", "article_zones", ["zone_slug", "article_id"])


def downgrade() -> None:
    op.drop_table("article_zones")
    op.drop_table("articles")
