"""Feed state: the newest publication date of a feed's items, which the index page shows; and the
states of archive pages forgotten, so that the next publish writes the web page beside each (feeds and
their newest pages are written anyway, since their folders lack index.html).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from syndicate.store.models import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_state") as batch:
        batch.add_column(sa.Column("latest", UTCDateTime(), nullable=True))
    op.execute("DELETE FROM feed_state WHERE path LIKE '%/archive/%'")


def downgrade() -> None:
    with op.batch_alter_table("feed_state") as batch:
        batch.drop_column("latest")
