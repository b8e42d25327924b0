"""Articles: an index on (category, canonical), which lists the categories from the index alone (the
category feeds are found on every publish) and serves the category feeds' queries.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_articles_category", "articles")
    op.create_index("ix_articles_category_canonical", "articles", ["category", "canonical"])


def downgrade() -> None:
    op.drop_index("ix_articles_category_canonical", "articles")
    op.create_index("ix_articles_category", "articles", ["category"])
