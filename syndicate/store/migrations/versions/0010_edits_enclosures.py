"""Articles: when a change of content was last seen (Atom <updated>), and the files they carry.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from syndicate.store.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("enclosures", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("edited", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("edited")
        batch.drop_column("enclosures")
