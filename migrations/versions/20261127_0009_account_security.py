"""account security: TOTP credentials, the fund's TOTP requirement, the token's last confirmation

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 15:00:00.000000
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _audit_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.add_column(
        "auth_tokens",
        sa.Column("confirmed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    )
    op.create_table(
        "totp_credentials",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("secret_encrypted", sa.String(length=500), nullable=False),
        sa.Column("confirmed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        *_audit_columns(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_totp_credentials_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_totp_credentials")),
        sa.UniqueConstraint("user_id", name=op.f("uq_totp_credentials_user_id")),
    )
    op.create_table(
        "fund_security_settings",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("fund_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("require_totp", sa.Boolean(), nullable=True),
        *_audit_columns(),
        sa.ForeignKeyConstraint(
            ["fund_id"], ["funds.id"], name=op.f("fk_fund_security_settings_fund_id_funds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_security_settings")),
        sa.UniqueConstraint("fund_id", name=op.f("uq_fund_security_settings_fund_id")),
    )


def downgrade() -> None:
    op.drop_table("fund_security_settings")
    op.drop_table("totp_credentials")
    op.drop_column("auth_tokens", "confirmed_at")
