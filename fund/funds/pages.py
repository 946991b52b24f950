"""The administrator's page of the approval policy: the whole policy in one form, amounts in euros.

The form is turned into the API's own ``Policy`` (cents) and goes through the same whole-policy validation as
``PUT /api/v1/policy``; every message lands next to the field it names (``bands.1.approvals`` …).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel, ConfigDict, ValidationError

from fund.auth.models import User
from fund.core.errors import DomainError
from fund.funds import service
from fund.funds.policy import CATEGORIES, Policy, category_label
from fund.funds.schemas import FundContact
from fund.web.pages import (
    PageController,
    actor_of,
    domain_errors,
    flash,
    kept_form,
    page,
    parse_euros,
    require_step_up,
    signed_in,
    uow_of,
    validation_errors,
)

MAX_BANDS = 10
# The policy's own rules about bands, in French.
BAND_RULES_FR = {
    "only the last band may be unbounded": "seule la dernière tranche peut rester sans plafond",
    "bands must be in increasing order of amount": "les plafonds des tranches doivent croître d'une tranche à la "
    "suivante",
    "the last band must be unbounded (up_to_cents null)": "la dernière tranche doit rester sans plafond (laisser "
    "« jusqu'à » vide)",
}
SCALAR_FIELDS = {
    "rejections_to_reject": "rejections_to_reject",
    "fast_track_ceiling_cents": "fast_track_ceiling",
    "student_yearly_ceiling_cents": "student_yearly_ceiling",
    "target_decision_hours": "target_decision_hours",
    "target_decision_hours_urgent": "target_decision_hours_urgent",
    "repeat_refusal_days": "repeat_refusal_days",
    "appeal_window_days": "appeal_window_days",
    "category_ceilings_cents": "category_ceilings",
    "bands": "bands",
    **{f"category_ceilings_cents.{c}": f"category_ceilings.{c}" for c in CATEGORIES},
}


class PolicyForm(BaseModel):
    """The posted form: fixed fields, and the band rows as ``bands.<row>.up_to|approvals|chair_required``."""

    model_config = ConfigDict(extra="allow")

    rejections_to_reject: str = ""
    fast_track_ceiling: str = ""
    student_yearly_ceiling: str = ""
    target_decision_hours: str = ""
    target_decision_hours_urgent: str = ""
    repeat_refusal_days: str = ""
    appeal_window_days: str = ""

    def values(self) -> dict[str, str]:
        """Every posted text field, the band rows included (a repeated field is ignored)."""
        return {k: v for k, v in self.model_dump().items() if isinstance(v, str)}


def euros_text(cents: int | None) -> str:
    """Cents as the text of a euro field: ``120``, ``120,50`` (empty for none)."""
    if cents is None:
        return ""
    return str(cents // 100) if cents % 100 == 0 else f"{cents // 100},{cents % 100:02d}"


def form_values(policy: Policy) -> dict[str, str]:
    values = {
        "rejections_to_reject": str(policy.rejections_to_reject),
        "fast_track_ceiling": euros_text(policy.fast_track_ceiling_cents or None),
        "student_yearly_ceiling": euros_text(policy.student_yearly_ceiling_cents),
        "target_decision_hours": str(policy.target_decision_hours),
        "target_decision_hours_urgent": str(policy.target_decision_hours_urgent),
        "repeat_refusal_days": str(policy.repeat_refusal_days),
        "appeal_window_days": str(policy.appeal_window_days),
    }
    for category in CATEGORIES:
        values[f"category_ceilings.{category}"] = euros_text(policy.category_ceiling(category))
    for row, band in enumerate(policy.bands):
        values[f"bands.{row}.up_to"] = euros_text(band.up_to_cents)
        values[f"bands.{row}.approvals"] = str(band.approvals)
        values[f"bands.{row}.chair_required"] = "1" if band.chair_required else ""
    return values


def band_rows(values: Mapping[str, str]) -> int:
    """How many band rows the form shows: the rows filled in, and one empty row to add a band."""
    filled = [row for row in range(MAX_BANDS) if any(values.get(f"bands.{row}.{k}") for k in ("up_to", "approvals"))]
    return min(MAX_BANDS, (max(filled) + 2) if filled else 1)


def _whole(values: Mapping[str, str], field: str, errors: dict[str, str], *, default: int) -> int:
    text = values.get(field, "").strip()
    if not text:
        errors[field] = "champ obligatoire"
        return default
    if not text.isdigit() or len(text) > 6:
        errors[field] = "nombre entier attendu"
        return default
    return int(text)


def _euros(values: Mapping[str, str], field: str, errors: dict[str, str]) -> int | None:
    try:
        return parse_euros(values.get(field, ""))
    except ValueError as exc:
        errors[field] = str(exc)
        return None


def parse_policy(values: Mapping[str, str]) -> tuple[dict[str, Any], dict[int, int], dict[str, str]]:
    """The form as the API's policy body (cents), the form row of each band, and the errors of the form itself."""
    errors: dict[str, str] = {}
    bands: list[dict[str, Any]] = []
    rows: dict[int, int] = {}
    for row in range(MAX_BANDS):
        up_to, approvals = (values.get(f"bands.{row}.{k}", "").strip() for k in ("up_to", "approvals"))
        chair = bool(values.get(f"bands.{row}.chair_required"))
        if not up_to and not approvals:
            continue  # an empty row: no band (emptying a row removes its band)
        rows[len(bands)] = row
        bands.append(
            {
                "up_to_cents": _euros(values, f"bands.{row}.up_to", errors),
                "approvals": _whole(values, f"bands.{row}.approvals", errors, default=1),
                "chair_required": chair,
            }
        )
    if not bands:
        errors["bands"] = "au moins une tranche, la dernière sans plafond"
    ceilings: dict[str, int] = {}
    for category in CATEGORIES:
        cents = _euros(values, f"category_ceilings.{category}", errors)
        if cents is not None:
            ceilings[category] = cents
    body = {
        "bands": bands,
        "rejections_to_reject": _whole(values, "rejections_to_reject", errors, default=1),
        "fast_track_ceiling_cents": _euros(values, "fast_track_ceiling", errors) or 0,
        "category_ceilings_cents": ceilings,
        "student_yearly_ceiling_cents": _euros(values, "student_yearly_ceiling", errors),
        "target_decision_hours": _whole(values, "target_decision_hours", errors, default=72),
        "target_decision_hours_urgent": _whole(values, "target_decision_hours_urgent", errors, default=24),
        # left empty: the default of the policy (90 days)
        "repeat_refusal_days": _whole(values, "repeat_refusal_days", errors, default=90)
        if values.get("repeat_refusal_days", "").strip()
        else 90,
        # Left empty: the default window (30 days), as before the field existed.
        "appeal_window_days": _whole(values, "appeal_window_days", errors, default=30)
        if values.get("appeal_window_days", "").strip()
        else 30,
    }
    return body, rows, errors


def field_map(rows: Mapping[int, int]) -> dict[str, str]:
    """Where each location of the policy (``bands.<band>.approvals``) lands in the form (``bands.<row>.…``)."""
    fields = dict(SCALAR_FIELDS)
    for band, row in rows.items():
        fields[f"bands.{band}"] = f"bands.{row}.approvals"
        fields[f"bands.{band}.up_to_cents"] = f"bands.{row}.up_to"
        fields[f"bands.{band}.approvals"] = f"bands.{row}.approvals"
        fields[f"bands.{band}.chair_required"] = f"bands.{row}.chair_required"
    return fields


class PolicyPages(PageController):
    path = "/administration/politique"

    def _form(
        self, request: Request[Any, Any, Any], user: User, values: Mapping[str, str], errors: dict[str, str]
    ) -> Template:
        return page(
            request,
            "funds/politique.html",
            user,
            errors=errors,
            values=values,
            rows=band_rows(values),
            categories=[(c, category_label(c)) for c in CATEGORIES],
        )

    @get()
    async def policy_page(self, request: Request[Any, Any, Any], state: State) -> Template:
        user = await signed_in(request, state, "admin")
        await require_step_up(request, state)
        kept = kept_form(request)  # typed before the confirmation page
        if kept:
            return self._form(request, user, PolicyForm.model_validate(kept).values(), {})
        async with state.session_factory() as session:
            policy = await service.policy_of(session, user.fund_id)
        return self._form(request, user, form_values(policy), {})

    @post(status_code=303)
    async def save_policy(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[PolicyForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "admin")
        await require_step_up(request, state, "/administration/politique")
        values = data.values()
        body, rows, errors = parse_policy(values)
        fields = field_map(rows)
        policy: Policy | None = None
        try:
            policy = Policy.model_validate(body)
        except ValidationError as exc:
            for field, message in validation_errors(exc, fields, "bands").items():
                errors.setdefault(field, BAND_RULES_FR.get(message, message))
        if errors or policy is None:
            return self._form(request, user, values, errors)
        async with state.session_factory() as session:
            try:
                await service.replace_policy(uow_of(state, session), user, policy, actor_of(request, user))
            except DomainError as exc:
                await session.rollback()
                return self._form(request, user, values, domain_errors(exc, fields))
        flash(request, "Règles enregistrées.")
        return Redirect("/administration/politique", status_code=303)


class ContactForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    postal_address: str = ""
    email: str = ""
    phone: str = ""


class ContactPages(PageController):
    """The fund's contact printed at the head of its letters (decision letters, minutes)."""

    path = "/administration/coordonnees"

    def _form(
        self, request: Request[Any, Any, Any], user: User, values: Mapping[str, str], errors: dict[str, str]
    ) -> Template:
        return page(request, "funds/coordonnees.html", user, errors=errors, values=values)

    @get()
    async def contact_page(self, request: Request[Any, Any, Any], state: State) -> Template:
        user = await signed_in(request, state, "admin")
        async with state.session_factory() as session:
            fund = await service.get_fund(session, user.fund_id)
        values = {
            "postal_address": fund.postal_address or "",
            "email": fund.contact_email or "",
            "phone": fund.contact_phone or "",
        }
        return self._form(request, user, values, {})

    @post(status_code=303)
    async def save_contact(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: Annotated[ContactForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = await signed_in(request, state, "admin")
        values = data.model_dump()
        try:
            contact = FundContact.model_validate({k: v.strip() or None for k, v in values.items()})
        except ValidationError as exc:
            fields = {k: k for k in values}
            return self._form(request, user, values, validation_errors(exc, fields, "postal_address"))
        async with state.session_factory() as session:
            await service.replace_contact(
                uow_of(state, session),
                user,
                postal_address=contact.postal_address or None,
                email=contact.email or None,
                phone=contact.phone or None,
                actor=actor_of(request, user),
            )
        flash(request, "Coordonnées enregistrées : elles figurent en tête des prochaines lettres.")
        return Redirect("/administration/coordonnees", status_code=303)


PAGES: list[type[Controller]] = [PolicyPages, ContactPages]
