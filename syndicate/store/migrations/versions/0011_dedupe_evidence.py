"""Dedupe: whether an article's link is its own, an index to read a source's newest articles, and every
stored fingerprint renewed.

Fingerprints now leave out a source's boilerplate, keep a link's fragment, ignore inherited links and
index the first sentences; the signatures stored by earlier releases are deleted and every article is
fingerprinted again on the next dedupe run. It keeps its story (as after an edit); only its signature is
renewed: about a minute per 100,000 articles, once.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("link_fallback", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_articles_source_recent", "articles", ["source_id", "id"])
    op.execute("DELETE FROM article_signatures")
    op.execute(sa.text("UPDATE articles SET fingerprinted = :no").bindparams(no=False))


def downgrade() -> None:
    op.drop_index("ix_articles_source_recent", "articles")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("link_fallback")
