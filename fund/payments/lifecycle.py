"""The lifecycle of an imported bank statement (*relevé*), as a transition table like the money's own
(``fund.disbursements.lifecycle``): every status change names its move and goes through ``STATEMENT.move``, which
refuses a move the status does not allow; the caller audits it (``bank_statement.<move>``).

```
statement:  pending ─reconcile→ processed        every entry paid, returned, pending at the bank or known
            pending ─reconcile_unmatched→ unmatched   some entries matched nothing: for the accountant to look at
            pending ─reconcile_known→ duplicate  every entry applied by an earlier statement: nothing applied
```

A file imported again (the same bytes, or another file of the same statement of the same account) creates no
statement at all: it is refused as imported already (``fund.payments.statements.import_file``).
"""

from __future__ import annotations

from fund.disbursements.lifecycle import Lifecycle

STATEMENT = Lifecycle(
    "le relevé",
    {
        "reconcile": (frozenset({"pending"}), "processed"),
        "reconcile_unmatched": (frozenset({"pending"}), "unmatched"),
        "reconcile_known": (frozenset({"pending"}), "duplicate"),
    },
)

# What each status means to the accountant (the statements' pages).
STATEMENT_FR = {
    "pending": "Rapprochement en cours",
    "processed": "Rapproché",
    "unmatched": "Rapproché, écritures à examiner",
    "duplicate": "Déjà importé",
    "failed": "Échec",
}

# The French label of every audited event of a statement or of a batch moved by a statement.
AUDIT_FR = {
    "bank_statement.imported": "relevé importé",
    "bank_statement.reconcile": "relevé rapproché : toutes ses écritures sont rapprochées",
    "bank_statement.reconcile_unmatched": "relevé rapproché, avec des écritures non rapprochées à examiner",
    "bank_statement.reconcile_known": "relevé déjà rapproché par un import précédent : rien n'a été appliqué",
    "payment_batch.created": "remise créée",
    "payment_batch.ready": "fichier de la remise prêt",
    "payment_batch.failed": "fichier de la remise impossible à produire",
    "payment_batch.downloaded": "fichier de la remise téléchargé",
    "payment_batch.sent": "remise marquée envoyée à la banque",
    "payment_batch.sent_by_statement": "remise marquée envoyée d'après le relevé de la banque",
    "payment_batch.cancelled": "remise annulée",
}
