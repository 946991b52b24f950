"""Request bodies are validated by each model's own rules.

Litestar's pydantic plugin calls ``model_validate(value, strict=False)`` by default, which overrides the strict
types the schemas declare (``StrictInt``: ``"12000"`` or ``true`` would become an amount). With
``strict=None`` pydantic applies each model's own configuration: strict fields stay strict, and ISO dates and
UUIDs in JSON are still accepted where declared.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from litestar.plugins.pydantic import PydanticInitPlugin
from pydantic import AfterValidator, BeforeValidator, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError


def model_rules_plugin() -> PydanticInitPlugin:
    return PydanticInitPlugin(validate_strict=None)  # type: ignore[arg-type]


# --- French messages for what a person types (issue 14: « French everywhere a person reads ») -------------------


EMAIL_EXAMPLE = "par exemple prenom.nom@exemple.fr"
PHONE_EXAMPLE = "par exemple 06 12 34 56 78 ou +33 1 23 45 67 89"

# email-validator's reasons (English), by a fragment of their text, in French.
_EMAIL_REASONS: tuple[tuple[str, str], ...] = (
    ("must have an @-sign", "il manque le signe « @ »"),
    ("something after the @-sign", "il manque le domaine après « @ »"),
    ("something before the @-sign", "il manque le nom avant « @ »"),
    ("only one @-sign", "un seul signe « @ » est permis"),
    ("too long", "l'adresse est trop longue"),
    ("invalid characters", "l'adresse contient des caractères non permis"),
    ("should have a period", "le domaine après « @ » doit contenir un point, par exemple exemple.fr"),
    ("period", "un point est mal placé"),
    ("not a valid", "le domaine après « @ » n'est pas valable"),
    ("special-use", "ce domaine est réservé et ne reçoit pas de courrier"),
    ("whitespace", "l'adresse ne doit pas contenir d'espace"),
)


def email_reason(reason: str) -> str:
    """email-validator's English reason → a French one (a generic French one when unknown)."""
    for fragment, french in _EMAIL_REASONS:
        if fragment in reason:
            return french
    return "format non reconnu"


def email_message(reason: str) -> str:
    return f"adresse électronique non valable : {email_reason(reason)} ({EMAIL_EXAMPLE})"


def french_email(value: str) -> str:
    """A checked e-mail address (no DNS lookup), normalised as pydantic's ``EmailStr`` does; refused in French."""
    text = value.strip()
    if not text:
        raise PydanticCustomError("email_fr", "champ obligatoire")
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise PydanticCustomError("email_fr", "{message}", {"message": email_message(str(exc))}) from None
    return checked.normalized


# Metropolitan France and the overseas departments and collectivities that share the French numbering plan.
FRENCH_REGIONS = frozenset({"FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF"})
_PHONE_CHARACTERS = re.compile(r"[0-9 +().\-\u00a0\u202f]{1,30}")


def phone_problem(value: str) -> str | None:
    """Why ``value`` is not a French phone number (None: it is one)."""
    text = value.strip()
    if len(text) > 30:
        return f"numéro de téléphone trop long ({PHONE_EXAMPLE})"
    if not _PHONE_CHARACTERS.fullmatch(text):
        return f"numéro de téléphone non valable : chiffres seulement ({PHONE_EXAMPLE})"
    try:
        number = phonenumbers.parse(text, "FR")
    except phonenumbers.NumberParseException:
        return f"numéro de téléphone non valable ({PHONE_EXAMPLE})"
    if not phonenumbers.is_valid_number(number):
        digits = len(phonenumbers.national_significant_number(number))
        if digits < 9:
            return f"numéro de téléphone incomplet : 10 chiffres attendus ({PHONE_EXAMPLE})"
        return f"numéro de téléphone non valable ({PHONE_EXAMPLE})"
    if phonenumbers.region_code_for_number(number) not in FRENCH_REGIONS:
        return f"numéro de téléphone français attendu ({PHONE_EXAMPLE})"
    return None


def french_phone(value: str) -> str:
    """A French mobile or landline number (``06 12 34 56 78``, ``+33 6 12 34 56 78``…) → E.164 (``+33612345678``)."""
    problem = phone_problem(value)
    if problem is not None:
        raise PydanticCustomError("phone_fr", "{message}", {"message": problem})
    number = phonenumbers.parse(value.strip(), "FR")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_display(value: str | None) -> str:
    """A stored number as a French reader writes it: ``06 12 34 56 78`` (the international form abroad)."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, "FR")
    except phonenumbers.NumberParseException:
        return value
    if phonenumbers.region_code_for_number(number) == "FR":
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


Email = Annotated[
    str,
    BeforeValidator(_text),
    StringConstraints(max_length=254),
    AfterValidator(french_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254}),
]
FrenchPhone = Annotated[
    str,
    BeforeValidator(_text),
    AfterValidator(french_phone),
    WithJsonSchema({"type": "string", "maxLength": 30, "description": "French number, stored in E.164 (+33612345678)"}),
]


# Pydantic's own messages are English: what a person reads says the same in French, by error type.
PYDANTIC_FR = {
    "missing": "champ obligatoire",
    "string_too_short": "champ obligatoire",
    "string_too_long": "texte trop long ({max_length} caractères au plus)",
    "string_type": "texte attendu",
    "uuid_parsing": "choisir dans la liste",
    "uuid_type": "choisir dans la liste",
    "uuid_version": "choisir dans la liste",
    "enum": "choisir dans la liste",
    "literal_error": "choisir dans la liste",
    "date_parsing": "date attendue, par exemple 27/11/2026",
    "date_from_datetime_parsing": "date attendue, par exemple 27/11/2026",
    "date_from_datetime_inexact": "date attendue, par exemple 27/11/2026",
    "date_type": "date attendue, par exemple 27/11/2026",
    "datetime_parsing": "date et heure attendues, par exemple 27/11/2026 14:30",
    "datetime_from_date_parsing": "date et heure attendues, par exemple 27/11/2026 14:30",
    "datetime_type": "date et heure attendues, par exemple 27/11/2026 14:30",
    "int_parsing": "nombre entier attendu",
    "int_type": "nombre entier attendu",
    "int_from_float": "nombre entier attendu",
    "float_parsing": "nombre attendu",
    "float_type": "nombre attendu",
    "decimal_parsing": "nombre attendu",
    "bool_parsing": "oui ou non attendu",
    "bool_type": "oui ou non attendu",
    "greater_than": "doit être supérieur à {gt}",
    "greater_than_equal": "doit être au moins {ge}",
    "less_than": "doit être inférieur à {lt}",
    "less_than_equal": "doit être au plus {le}",
    "too_short": "au moins {min_length} élément(s)",
    "too_long": "au plus {max_length} élément(s)",
    "list_type": "liste attendue",
    "dict_type": "valeur attendue",
    "model_type": "valeur attendue",
    "extra_forbidden": "champ inconnu",
    "string_pattern_mismatch": "format non reconnu",
    "value_not_email": f"adresse électronique non valable ({EMAIL_EXAMPLE})",
    "url_parsing": "adresse web non valable",
    "url_scheme": "adresse web non valable",
}
# Messages the application writes itself (French already): shown as they are.
OWN_MESSAGES = frozenset({"value_error", "assertion_error", "email_fr", "phone_fr"})


def clean_message(message: str) -> str:
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def french_message(error: Mapping[str, Any]) -> str:
    """One pydantic error (an entry of ``ValidationError.errors()``) in French."""
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    if kind == "value_error" and "valid email address" in str(error.get("msg", "")):
        # pydantic's EmailStr: « value is not a valid email address: There must be something after the @-sign. »
        return email_message(str(error.get("msg", "")))
    if kind in OWN_MESSAGES:
        return clean_message(str(error.get("msg", "")))
    if kind == "string_too_short" and context.get("min_length", 1) > 1:
        return f"au moins {context['min_length']} caractères"
    template = PYDANTIC_FR.get(kind)
    if template is None:
        return "valeur non valable"
    try:
        return template.format(**context)
    except (KeyError, IndexError):
        return "valeur non valable"
