"""the token lookup's cache told of every change: triggers that NOTIFY channel fund_auth with the user's id (or '*')
when a token, an account, a school membership or a TOTP credential changes, when the fund's security settings
change, when a school is renamed or when one of those tables is truncated (fund.auth.cache)

Revision ID: 0026
Revises: 0027
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVERYTHING = ("auth_tokens", "users", "school_memberships", "totp_credentials", "fund_security_settings", "schools")


def upgrade() -> None:
    # NOTIFY is transactional (sent at commit, not at all on rollback); identical notifications of one transaction
    # are delivered once (revoking a user's hundred tokens notifies once).
    op.execute(
        """
        CREATE FUNCTION fund_auth_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_TABLE_NAME = 'users' THEN
            PERFORM pg_notify('fund_auth', OLD.id::text);
          ELSE
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
              PERFORM pg_notify('fund_auth', OLD.user_id::text);
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
              PERFORM pg_notify('fund_auth', NEW.user_id::text);
            END IF;
          END IF;
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION fund_auth_everything_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('fund_auth', '*');
          RETURN NULL;
        END $$
        """
    )
    # A new token is not in any cache: its INSERT says nothing.
    op.execute(
        "CREATE TRIGGER fund_auth_changed AFTER UPDATE OR DELETE ON auth_tokens "
        "FOR EACH ROW EXECUTE FUNCTION fund_auth_user_changed()"
    )
    op.execute(
        "CREATE TRIGGER fund_auth_changed AFTER UPDATE OR DELETE ON users "
        "FOR EACH ROW EXECUTE FUNCTION fund_auth_user_changed()"
    )
    for table in ("school_memberships", "totp_credentials"):
        op.execute(
            f"CREATE TRIGGER fund_auth_changed AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION fund_auth_user_changed()"
        )
    op.execute(
        "CREATE TRIGGER fund_auth_changed AFTER INSERT OR UPDATE OR DELETE ON fund_security_settings "
        "FOR EACH STATEMENT EXECUTE FUNCTION fund_auth_everything_changed()"
    )
    op.execute(
        "CREATE TRIGGER fund_auth_changed AFTER UPDATE OF name ON schools "
        "FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION fund_auth_everything_changed()"
    )
    for table in EVERYTHING:
        op.execute(
            f"CREATE TRIGGER fund_auth_truncated AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION fund_auth_everything_changed()"
        )


def downgrade() -> None:
    for table in EVERYTHING:
        op.execute(f"DROP TRIGGER IF EXISTS fund_auth_truncated ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS fund_auth_changed ON {table}")
    op.execute("DROP FUNCTION fund_auth_everything_changed()")
    op.execute("DROP FUNCTION fund_auth_user_changed()")
