"""IBAN and BIC checks (schwifty) and the masked form shown everywhere but in payment files."""

from __future__ import annotations

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

# What schwifty found wrong, said in French for the people typing the IBAN.
IBAN_PROBLEMS_FR = {
    "InvalidChecksumDigits": "les deux chiffres de contrôle ne correspondent pas : une erreur de frappe ?",
    "InvalidBBANChecksum": "la clé RIB ne correspond pas : une erreur de frappe ?",
    "InvalidLength": "nombre de caractères incorrect pour ce pays",
    "InvalidCountryCode": "code pays inconnu (les deux premières lettres)",
    "InvalidStructure": "caractères inattendus pour un IBAN de ce pays",
    "InvalidBankCode": "code banque inconnu",
    "InvalidBranchCode": "code guichet inconnu",
    "InvalidAccountCode": "numéro de compte non valable",
}


def normalize_iban(value: str) -> str:
    """Validate country, length, mod-97 checksum and national check digits (the French RIB key).

    Returns the compact form (``FR7630006000011234567890189``); raises ``ValueError`` with a French message.
    """
    try:
        iban = IBAN(value, validate_bban=True)
    except SchwiftyException as exc:
        reason = IBAN_PROBLEMS_FR.get(type(exc).__name__, "format non reconnu")
        raise ValueError(f"IBAN invalide ({reason})") from exc
    return iban.compact


def normalize_bic(value: str) -> str:
    try:
        return str(BIC(value).compact)
    except SchwiftyException as exc:
        # schwifty's reason is English: the French one a person can act on
        raise ValueError("BIC invalide (8 ou 11 lettres et chiffres, par exemple BNPAFRPP)") from exc


def mask_iban(compact: str) -> str:
    """``FR7630006000011234567890189`` → ``FR76 •••• •••• 0189``."""
    return f"{compact[:4]} •••• •••• {compact[-4:]}"
