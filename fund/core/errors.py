"""Domain errors. Services raise these with a stable **code**; the HTTP layer maps each kind to one status in one
place (``fund.core.problems``) and answers the code with its French text; the pages show the same text. Nobody matches
message text: a client or a page that must react to a refusal reads its ``code``.

``REFUSALS`` is the catalogue: code → the French sentence people read, with ``{named}`` values filled in by the
raiser (``Conflict("budget_exhausted", envelope=…, available=…, needed=…)``). A test checks that every code raised
in the code base is in it, and the OpenAPI document lists them (``Problem.code``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REFUSALS: dict[str, str] = {
    # one per kind, when nothing more precise applies
    "not_found": "Introuvable, ou pas visible avec votre compte.",
    "forbidden": "Cette action ne vous est pas permise.",
    "conflict": "Action impossible dans l'état actuel : rechargez la page.",
    "invalid_input": "{field} : {message}",
    # the HTTP layer's own answers
    "bad_request": "Requête illisible : {reason}",
    "validation_failed": "Requête invalide : voir la liste des erreurs.",
    "not_authenticated": "Connexion requise : envoyez un jeton valable (Authorization: Bearer …).",
    "wrong_credentials": "Adresse électronique ou mot de passe incorrect.",
    "token_missing": "Connexion requise : envoyez le jeton obtenu par POST /api/v1/auth/token.",
    "token_invalid": "Jeton non valable, expiré ou révoqué : reconnectez-vous.",
    "role_required": "Cette action demande l'un de ces rôles : {roles}.",
    "totp_enrolment_required": (
        "La double authentification est obligatoire pour ce compte et pas encore activée : configurez-la "
        "(POST /api/v1/auth/totp/setup puis /confirm)."
    ),
    "totp_required": "Ce compte utilise la double authentification : donnez le code à 6 chiffres de l'application.",
    "totp_invalid": "Code de double authentification erroné, expiré ou déjà utilisé.",
    "too_many_attempts": "Trop d'essais infructueux : réessayez après le délai indiqué (Retry-After, en secondes).",
    "sign_in_unavailable": "La connexion est momentanément indisponible ; les jetons déjà délivrés restent valables.",
    "method_not_allowed": "Méthode non permise sur cette adresse.",
    "too_large": "Envoi trop volumineux.",
    "too_many_requests": "Trop de requêtes : réessayez dans un instant.",
    "internal_error": "Une erreur inattendue s'est produite ; elle a été enregistrée.",
    "unavailable": "Service momentanément indisponible.",
    # issue 14, outage: the database is restarting or unreachable (503 with Retry-After)
    "database_unavailable": (
        "Service momentanément indisponible : la base de données ne répond pas (redémarrage ou maintenance). "
        "Réessayez dans {retry_after} secondes."
    ),
    # aid requests
    "application_not_found": "Demande introuvable, ou pas visible avec votre compte.",
    "referent_only": "Seul(e) le ou la référent(e) de l'école de l'élève peut faire cela.",
    "committee_only": "Seuls les membres du comité et la présidence peuvent faire cela.",
    "chair_only": "Seule la présidence du comité peut faire cela.",
    "accountant_only": "Seul(e) le ou la comptable peut faire cela.",
    "stale_version": (
        "La demande {reference} a été modifiée entre-temps (elle est à la version {current}, vous aviez la "
        "version {given}) : rechargez-la et refaites votre modification."
    ),
    "illegal_transition": "Action impossible : la demande {reference} est « {status} ».",
    "not_editable": "La demande {reference} est « {status} » : elle ne peut plus être modifiée.",
    "filed_it": "Vous avez déposé cette demande : vous ne pouvez pas prendre part à sa décision.",
    "attached_to_school": (
        "Vous êtes rattaché(e) à l'école de cette demande : vous ne pouvez pas prendre part à sa décision."
    ),
    "not_votable": "La demande {reference} n'est plus ouverte au vote (elle est « {status} »).",
    "already_voted": "Vous avez déjà voté sur la demande {reference}.",
    "voted_cannot_recuse": "Vous avez déjà voté sur la demande {reference} : trop tard pour vous récuser.",
    "already_recused": "Vous vous êtes déjà récusé(e) sur la demande {reference}.",
    "recused_cannot_vote": "Vous vous êtes récusé(e) sur la demande {reference} : vous ne pouvez pas la voter.",
    "no_question_to_answer": "Le comité n'a pas demandé de complément sur la demande {reference} : rien à répondre.",
    "chair_decides_split_vote_only": (
        "La présidence ne tranche qu'un vote partagé d'une demande en cours d'examen ; la demande {reference} "
        "est « {status} »."
    ),
    "committee_can_still_decide": (
        "Le comité peut encore décider la demande {reference} : des membres qui peuvent voter ne l'ont pas encore fait."
    ),
    "already_being_paid": "La demande {reference} est déjà en paiement : elle ne peut plus être annulée.",
    "already_appealed": "La demande {reference} a déjà fait l'objet d'un recours : un seul recours est possible.",
    "not_fast_tracked": "La demande {reference} n'a pas été décidée en urgence : il n'y a rien à ratifier.",
    "already_ratified": "La décision sur la demande {reference} a déjà été ratifiée.",
    "already_disavowed": "La décision sur la demande {reference} a déjà été désavouée.",
    "payee_frozen": (
        "La demande {reference} est « {status} » : le bénéficiaire ne change plus (un brouillon se modifie "
        "directement)."
    ),
    "transfer_in_flight": (
        "Un virement au bénéficiaire actuel est dans une remise ou à la banque : attendez qu'il soit payé ou rejeté."
    ),
    "category_ceiling_exceeded": (
        # committee limits (issue 14): the refusal names the ceiling, at the vote as at the decision
        "Plafond de la catégorie dépassé : {ceiling} au plus pour {category} ; {amount} seraient accordés."
    ),
    "yearly_ceiling_exceeded": (
        "Plafond annuel dépassé : {ceiling} par élève pour l'exercice {fiscal_year} ; {granted} déjà accordés, "
        "{amount} de plus demandés."
    ),
    # budgets
    "no_budget": "Aucune enveloppe budgétaire du fonds pour l'exercice {fiscal_year} : rien ne peut être accordé.",
    "budget_exhausted": "Budget épuisé : {envelope} n'a plus que {available} disponibles, {needed} nécessaires.",
    "envelope_exists": "Une enveloppe existe déjà pour cet exercice et ce périmètre.",
    "payment_exceeds_reservation": "Le paiement dépasse le montant réservé pour cette demande.",
    "return_exceeds_payment": "Le retour dépasse ce qui a été payé pour cette demande.",
    # committee meetings
    "meeting_not_found": "Séance introuvable, ou pas visible avec votre compte.",
    "meeting_already_open": "Une séance est déjà ouverte : closez-la avant d'en ouvrir une autre.",
    "meeting_closed": "Cette séance est close : plus rien n'y change.",
    "meeting_already_closed": "Cette séance est déjà close.",
    "not_on_agenda": "Cette demande n'est pas à l'ordre du jour de la séance.",
    # committee meetings as real meetings (issue 14: attendance, minutes as a PDF)
    "meeting_member_not_found": "Cette personne n'est pas membre du comité de ce fonds.",
    # money
    "status_forbids": "Action impossible : {what} est « {status} ».",
    "disbursement_not_found": "Versement introuvable.",
    "disbursement_not_payable": "Le versement {reference} est « {status} » : seul un versement programmé ou "
    "envoyé peut être marqué payé.",
    "not_returned": "Le versement {reference} n'a pas été retourné par la banque : il n'y a rien à réémettre.",
    "nothing_to_reissue": "La demande {reference} n'est plus accordée : il n'y a rien à réémettre.",
    # the money after the vote: a returned transfer is corrected by the referent, then re-issued (issue 14)
    "payee_not_corrected": (
        "Le virement {reference} a été retourné par la banque ({reason}) et le bénéficiaire n'a pas été corrigé "
        "depuis : le réémettre l'enverrait au même compte. Attendez la correction du référent, ou indiquez pourquoi "
        "vous le réémettez quand même."
    ),
    "instalments_too_late": (
        "La demande {reference} ne peut être payée en plusieurs fois que tant que tous ses versements sont "
        "programmés (aucun dans une remise, envoyé ou payé)."
    ),
    "siren_missing": "Le SIREN du fonds n'est pas configuré (FUND_SIREN) : le fichier FEC porte son nom.",
    "debtor_account_missing": (
        "Le compte bancaire du fonds n'est pas configuré (FUND_DEBTOR_NAME, FUND_DEBTOR_IBAN) : aucune remise ne "
        "peut être préparée."
    ),
    "nothing_due": "Aucun versement n'est à payer au plus tard le {date} : il n'y a rien à mettre dans une remise.",
    "batch_not_found": "Remise introuvable.",
    "batch_file_unavailable": "Le fichier de cette remise n'est pas disponible (remise « {status} »).",
    "batch_not_ready": "Seule une remise prête peut être marquée comme envoyée à la banque (celle-ci : « {status} »).",
    "batch_not_cancellable": "Une remise envoyée à la banque ou déjà annulée ne peut plus être annulée.",
    "statement_not_found": "Relevé introuvable.",
    "statement_too_large": "Le fichier est trop gros pour être un relevé bancaire.",
    "statement_empty": "Le fichier est vide.",
    "statement_is_html": "C'est une page web (HTML), pas un relevé : téléchargez le fichier camt lui-même.",
    "statement_has_dtd": "Le fichier déclare une DTD ou des entités, ce qu'un relevé ne fait jamais : refusé.",
    "statement_not_xml": "Le fichier n'est pas un fichier XML lisible.",
    "statement_is_payment_order": (
        "C'est un ordre de virement (pain.001), pas un relevé : importez un camt.053 ou camt.054."
    ),
    "statement_not_camt": "Ce fichier n'est pas un relevé camt.053 ou camt.054.",
    "statement_several_accounts": "Le fichier contient les relevés de plusieurs comptes : importez-en un par compte.",
    "statement_incomplete": (
        "Ce relevé est incomplet ou illisible (camt.053 ou camt.054 attendu) : rien n'a été enregistré ({detail})."
    ),
    # bank statements and execution dates (issue 14: TARGET2 business days, statements imported once)
    "execution_date_not_business_day": (
        "la date d'exécution doit être un jour ouvré TARGET2 : le {day} est {why} ; prochain jour ouvré : {next}"
    ),
    # people and places
    "user_not_found": "Compte introuvable.",
    "email_taken": "Un compte existe déjà avec cette adresse électronique.",
    "roles_incompatible": (
        "Le rôle de comptable ne peut pas être tenu avec un rôle du comité (comité, présidence) : qui vote ne paie pas."
    ),
    "own_admin_role": "Un administrateur ne peut pas se retirer son propre rôle d'administrateur.",
    "own_account_deactivation": "Un administrateur ne peut pas désactiver son propre compte.",
    "totp_already_enabled": "La double authentification est déjà activée pour ce compte.",
    "totp_no_enrolment": "Aucune activation de la double authentification en cours : commencez par la configurer.",
    "totp_not_enabled": "Ce compte n'a pas de double authentification.",
    "school_not_found": "École introuvable.",
    "uai_taken": "Une école porte déjà le code UAI {uai}.",
    "student_not_found": "Élève introuvable, ou pas dans vos écoles.",
    "fund_not_found": "Fonds introuvable.",
    "erasure_while_open": (
        "Les données de l'élève ne peuvent pas être effacées tant qu'une demande est en cours ({open}) : "
        "retirez-la ou menez-la à son terme (ses données servent à décider et à payer l'aide)."
    ),
    "notification_not_found": "Notification introuvable.",
    "event_not_found": "Événement introuvable.",
    "event_not_failed": "Seul un événement en échec est relancé ; celui-ci est « {status} ».",
    # issue 16, the school's student list imported (preview, then apply exactly what was previewed)
    "student_import_not_found": "Import de liste introuvable, ou pas visible avec votre compte.",
    "student_import_expired": (
        "Cet import a expiré (un aperçu est gardé 2 heures, une liste appliquée 7 jours) : importez à nouveau le "
        "fichier pour un aperçu à jour."
    ),
    "student_import_stale": (
        "La liste des élèves de l'école a changé depuis l'aperçu (ligne {line}) : rien n'a été appliqué ; importez "
        "à nouveau le fichier pour un aperçu à jour."
    ),
    "student_import_checksum": (
        "Ce n'est pas le fichier de l'aperçu (empreinte différente) : rien n'a été appliqué ; importez-le à nouveau."
    ),
    # supporting documents
    "document_not_found": "Pièce introuvable.",
    "document_file_missing": "Le fichier de cette pièce est indisponible.",
    "documents_closed": "La demande {reference} est « {status} » : ses pièces ne changent plus après la décision.",
    # issue 15, the family's page: its link and the review of the files the family sends
    "family_no_consent": "La famille n'a pas encore donné son accord : enregistrez-le d'abord avec son adresse.",
    "family_no_link": "La famille n'a pas d'accès ouvert à retirer.",
    "document_not_pending": "Cette pièce n'attend pas de vérification.",
    # the welcome of new accounts (issue 14: invitation mail)
    "invitation_inactive_account": "Ce compte est désactivé : réactivez-le avant de lui envoyer une invitation.",
    "invitation_already_accepted": (
        "Ce compte a déjà choisi son mot de passe avec son invitation : en cas d'oubli, envoyez-lui plutôt un lien "
        "de réinitialisation."
    ),
    # search and duplicate warnings (issue 16)
    "flag_not_found": "Signalement introuvable sur cette demande (ce qu'il signalait a peut-être changé).",
    "flag_already_checked": "Ce signalement a déjà été vérifié ({by}, le {at}).",
    "search_role": "La recherche de dossiers est réservée aux référents, au comité et à la comptabilité.",
    # decision letters (issue 15)
    "letter_not_found": "Lettre introuvable.",
    "letter_file_missing": "Le fichier de cette lettre est indisponible : demandez-en une nouvelle version.",
    "appeal_too_late": (
        "Le délai de recours contre le refus de la demande {reference} a pris fin le {until} : un recours n'est plus "
        "possible."
    ),
    "letter_needs_decision": (
        "La demande {reference} est « {status} » : une lettre n'est établie que pour une décision (accordée, "
        "refusée, annulée)."
    ),
}


def refusal(code: str, **params: Any) -> str:
    """The French sentence of ``code`` with its values; a missing value shows as « ? » rather than failing."""
    template = REFUSALS[code]
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template.format_map(_Missing(params))


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


@dataclass
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    """Base of every rule violation a service reports: a code of ``REFUSALS`` and the values its text names."""

    title = "Error"
    code = "conflict"

    def __init__(self, code: str | None = None, /, *, errors: list[FieldError] | None = None, **params: Any) -> None:
        self.code = code or type(self).code
        self.params = params
        self.detail = refusal(self.code, **params)
        super().__init__(self.detail)
        self.errors = errors or []


class NotFound(DomainError):
    """The object does not exist or the caller may not see it (never tell which)."""

    title = "Not found"
    code = "not_found"


class Forbidden(DomainError):
    """The caller is known but this action is not theirs to take."""

    title = "Forbidden"
    code = "forbidden"


class Conflict(DomainError):
    """The request is valid but the current state forbids it."""

    title = "Conflict"


class IllegalTransition(Conflict):
    title = "Illegal transition"
    code = "illegal_transition"


class StaleVersion(Conflict):
    title = "Stale version"
    code = "stale_version"


class InvalidInput(DomainError):
    """A rule about the input that the schema alone cannot check (names the field; the message is French)."""

    title = "Invalid input"
    code = "invalid_input"

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(errors=[FieldError(field_name, message)], field=field_name, message=message)


@dataclass
class Unauthenticated(Exception):
    detail: str = "Authentication required"
    extra: dict[str, str] = field(default_factory=dict)
