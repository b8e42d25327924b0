"""Dedupe: story membership on articles and article signatures.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("story_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("canonical", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("pinned", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("dup_of", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("dup_rule", sa.String(20), nullable=True))
        batch.add_column(sa.Column("dup_similarity", sa.Float(), nullable=True))
        batch.add_column(sa.Column("fingerprinted", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_articles_story_id", "articles", ["story_id"])
    op.create_index("ix_articles_pending", "articles", ["fingerprinted", "id"])
    op.create_table(
        "article_signatures",
        sa.Column(
            "article_id",
            sa.Integer(),
            sa.ForeignKey("articles.id", ondelete="CASCADE", name="fk_signatures_article"),
            primary_key=True,
        ),
        sa.Column("link_hash", sa.String(64), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("title_hash", sa.String(64), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("buckets", sa.LargeBinary(), nullable=False),
    )
    for column in ("link_hash", "body_hash", "title_hash"):
        op.create_index(f"ix_article_signatures_{column}", "article_signatures", [column])


def downgrade() -> None:
    op.drop_table("article_signatures")
    op.drop_index("ix_articles_pending", "articles")
    op.drop_index("ix_articles_story_id", "articles")
    with op.batch_alter_table("articles") as batch:
        for column in ("fingerprinted", "dup_similarity", "dup_rule", "dup_of", "pinned", "canonical", "story_id"):
            batch.drop_column(column)
