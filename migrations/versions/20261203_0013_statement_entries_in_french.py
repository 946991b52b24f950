"""the reason an imported statement entry matched nothing is stored in French, as the accountant reads it

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 11:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (start of the English text stored until now, the French text stored from now on)
REASONS = [
    ("no transfer ", "Retour d'un virement inconnu ou qui n'a pas été envoyé."),
    ("unknown or not sent EndToEndId", "Virement inconnu, ou remise pas encore marquée comme envoyée."),
    ("amount differs from the transfers", "Le montant diffère de celui des virements."),
    ("no sent batch", "Aucune remise envoyée ne porte cette référence."),
    ("amount differs from the batch total", "Le montant diffère du total de la remise."),
    ("no EndToEndId nor PmtInfId", "Ni référence de virement ni référence de remise du fonds."),
]


def upgrade() -> None:
    for start, french in REASONS:
        op.execute(
            sa.text("UPDATE statement_entries SET detail = :french WHERE detail LIKE :start").bindparams(
                french=french, start=start + "%"
            )
        )


def downgrade() -> None:
    """The English texts named the transfer or batch: they are not rebuilt."""
