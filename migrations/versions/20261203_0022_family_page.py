"""the family's page: the family's consent and its signed links, the review of the documents the family sends (« à
vérifier » until the referent accepts them), and the family's openings among the access records

Revision ID: 0022
Revises: 0020
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS_BEFORE = "kind IN ('application', 'document', 'export', 'student_export', 'minutes')"
KINDS_AFTER = "kind IN ('application', 'document', 'export', 'student_export', 'minutes', 'family_page')"


def upgrade() -> None:
    op.create_table(
        "family_consents",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("application_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=10), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("given_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("given_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("recipient IN ('guardian', 'student')", name=op.f("ck_family_consents_recipient")),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_family_consents_application_id_applications")
        ),
        sa.ForeignKeyConstraint(["given_by_id"], ["users.id"], name=op.f("fk_family_consents_given_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_consents")),
    )
    op.create_index(op.f("ix_family_consents_application_id"), "family_consents", ["application_id"], unique=False)
    op.create_table(
        "family_links",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("application_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("consent_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("created_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("ended_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(length=12), nullable=True),
        sa.Column("mailed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "ended_reason IN ('revoked', 'renewed', 'anonymised')", name=op.f("ck_family_links_ended_reason")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_family_links_application_id_applications")
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["family_consents.id"], name=op.f("fk_family_links_consent_id_family_consents")
        ),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_family_links_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_links")),
    )
    op.create_index(op.f("ix_family_links_application_id"), "family_links", ["application_id"], unique=False)
    op.create_index(op.f("ix_family_links_consent_id"), "family_links", ["consent_id"], unique=False)

    op.alter_column(
        "documents", "uploaded_by_id", existing_type=advanced_alchemy.types.guid.GUID(length=16), nullable=True
    )
    op.add_column("documents", sa.Column("source", sa.String(length=10), server_default="referent", nullable=False))
    op.add_column("documents", sa.Column("review", sa.String(length=10), server_default="accepted", nullable=False))
    op.add_column("documents", sa.Column("reviewed_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True))
    op.add_column(
        "documents", sa.Column("reviewed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True)
    )
    op.add_column("documents", sa.Column("review_reason", sa.Text(), nullable=True))
    op.create_foreign_key(op.f("fk_documents_reviewed_by_id_users"), "documents", "users", ["reviewed_by_id"], ["id"])
    op.create_check_constraint(op.f("ck_documents_source"), "documents", "source IN ('referent', 'family')")
    op.create_check_constraint(op.f("ck_documents_review"), "documents", "review IN ('accepted', 'pending', 'refused')")
    op.create_check_constraint(
        op.f("ck_documents_uploader_known"), "documents", "uploaded_by_id IS NOT NULL OR source = 'family'"
    )

    op.drop_constraint(op.f("ck_access_records_kind"), "access_records", type_="check")
    op.create_check_constraint(op.f("ck_access_records_kind"), "access_records", KINDS_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM access_records WHERE kind = 'family_page'")
    op.drop_constraint(op.f("ck_access_records_kind"), "access_records", type_="check")
    op.create_check_constraint(op.f("ck_access_records_kind"), "access_records", KINDS_BEFORE)

    op.execute("DELETE FROM documents WHERE source = 'family'")  # their files go with the orphan sweep
    op.drop_constraint(op.f("ck_documents_uploader_known"), "documents", type_="check")
    op.drop_constraint(op.f("ck_documents_review"), "documents", type_="check")
    op.drop_constraint(op.f("ck_documents_source"), "documents", type_="check")
    op.drop_constraint(op.f("fk_documents_reviewed_by_id_users"), "documents", type_="foreignkey")
    op.drop_column("documents", "review_reason")
    op.drop_column("documents", "reviewed_at")
    op.drop_column("documents", "reviewed_by_id")
    op.drop_column("documents", "review")
    op.drop_column("documents", "source")
    op.alter_column(
        "documents", "uploaded_by_id", existing_type=advanced_alchemy.types.guid.GUID(length=16), nullable=False
    )

    op.drop_index(op.f("ix_family_links_consent_id"), table_name="family_links")
    op.drop_index(op.f("ix_family_links_application_id"), table_name="family_links")
    op.drop_table("family_links")
    op.drop_index(op.f("ix_family_consents_application_id"), table_name="family_consents")
    op.drop_table("family_consents")
