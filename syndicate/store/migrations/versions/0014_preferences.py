"""Recipients' own preferences (the preferences page and sign-up), and sign-up requests for rate limits.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from syndicate.store.models import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recipient_preferences",
        sa.Column("email", sa.String(320), sa.ForeignKey("recipients.email"), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("cities", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("send_at", sa.String(5), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("paused_at", UTCDateTime(), nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("changed", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "signup_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_signup_requests_email", "signup_requests", ["email", "requested_at"])
    op.create_index("ix_signup_requests_client", "signup_requests", ["client", "requested_at"])


def downgrade() -> None:
    op.drop_index("ix_signup_requests_client", "signup_requests")
    op.drop_index("ix_signup_requests_email", "signup_requests")
    op.drop_table("signup_requests")
    op.drop_table("recipient_preferences")
