"""Every validation message a person reads in the web is French: bad values are submitted to each web form that
takes typed data, and no English message (pydantic's, email-validator's) shows on the page that answers."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import select

from fund.schools.models import School
from fund.students.models import Student
from tests.helpers import draft, post_form, signed_in_as, submitted, user_id

# What pydantic, email-validator and Litestar say in English (text of the page, tags removed).
ENGLISH = re.compile(
    r"Field required|String should|Input should|[Vv]alue is not|There must be|must have|is not a valid|"
    r"should have|Value error|Extra inputs|[Ii]nvalid |at least \d|at most \d|greater than|less than|"
    r"not a valid|Unable to|unable to|characters?\b(?! )|\bmissing\b|expected|required",
)
TAGS = re.compile(r"<[^>]+>")


def readable_text(page: str) -> str:
    body = page.split("<main", 1)[-1]
    return html.unescape(TAGS.sub(" ", body))


def assert_french(response: Any, where: str) -> None:
    text = readable_text(response.text)
    found = ENGLISH.search(text)
    assert found is None, f"{where}: « {text[max(0, found.start() - 80) : found.end() + 80]} »"


async def answer(client: Any, path: str, data: dict[str, Any]) -> Any:
    """The page the browser ends on after posting ``data`` (a redirect followed once)."""
    response = await post_form(client, path, data)
    if response.status_code in (302, 303):
        response = await client.get(response.headers["location"])
    assert response.status_code < 500, (path, response.status_code)
    return response


BAD_EMAILS = ["a@", "@exemple.fr", "pas-une-adresse", "a@b", "a b@exemple.fr", "a@@exemple.fr", "prenom.nom@exemple"]
BAD_PHONES = ["06 12 34", "abc", "+1 202 555 0143", "00 00 00 00 00", "1" * 40]


@pytest.mark.parametrize("email", BAD_EMAILS)
async def test_the_new_account_form_refuses_bad_addresses_in_french(settings, demo, email: str) -> None:
    async with signed_in_as(settings, "admin@example.org") as client:
        response = await answer(
            client,
            "/administration/utilisateurs/nouveau",
            {"full_name": "x" * 300, "email": email, "roles": ["bogus"], "school_ids": "pas-un-id", "how": "lien"},
        )
    assert response.status_code == 422
    assert "adresse électronique non valable" in html.unescape(response.text)
    assert_french(response, email)


@pytest.mark.parametrize(("email", "phone"), list(zip(BAD_EMAILS[:5], BAD_PHONES, strict=True)))
async def test_the_student_forms_refuse_bad_addresses_and_phones_in_french(
    settings, demo, session_factory, email: str, phone: str
) -> None:
    async with session_factory() as session:
        school = await session.scalar(select(School.id).where(School.uai == "0691234S"))
        student = await session.scalar(select(Student.id).where(Student.school_id == school).limit(1))
    bad = {
        "school_id": str(school),
        "first_name": "",
        "last_name": "y" * 300,
        "birth_date": "le 3 mars",
        "guardian_email": email,
        "guardian_phone": phone,
    }
    async with signed_in_as(settings, "referent@example.org") as client:
        new = await answer(client, "/eleves/nouveau", bad)
        edit = await answer(client, f"/eleves/{student}", bad)
    for response in (new, edit):
        assert response.status_code == 422
        text = html.unescape(response.text)
        assert "adresse électronique non valable" in text
        assert "numéro de téléphone" in text
        assert_french(response, f"{email} {phone}")


async def test_a_french_phone_is_accepted_in_either_form_and_stored_in_e164(settings, demo, session_factory) -> None:
    async with session_factory() as session:
        school = await session.scalar(select(School.id).where(School.uai == "0691234S"))
    async with signed_in_as(settings, "referent@example.org") as client:
        response = await post_form(
            client,
            "/eleves/nouveau",
            {
                "school_id": str(school),
                "first_name": "Léa",
                "last_name": "Fontaine",
                "birth_date": "2010-03-04",
                "guardian_phone": "06 12 34 56 78",
                "guardian_email": "paul.fontaine@example.org",
            },
        )
        assert response.status_code == 303, response.text
    async with session_factory() as session:
        stored = await session.scalar(select(Student.guardian_phone).where(Student.last_name == "Fontaine"))
    assert stored == "+33612345678"


async def test_the_api_refuses_a_short_phone_and_a_bad_address_naming_the_field(login) -> None:
    referent = await login("referent@example.org")
    school = str((await referent.get("/api/v1/me")).json()["school_ids"][0])
    body = {"school_id": school, "first_name": "Léa", "last_name": "Fontaine", "birth_date": "2010-03-04"}
    short = await referent.post("/api/v1/students", json={**body, "guardian_phone": "06 12 34"})
    assert short.status_code == 422
    [error] = short.json()["errors"]
    assert error["field"] == "guardian_phone"
    assert error["message"].startswith("numéro de téléphone incomplet")
    email = await referent.post("/api/v1/students", json={**body, "guardian_email": "a@"})
    assert email.status_code == 422
    [error] = email.json()["errors"]
    assert error["field"] == "guardian_email"
    assert error["message"].startswith("adresse électronique non valable : il manque le domaine")
    landline = await referent.post("/api/v1/students", json={**body, "guardian_phone": "+33 4 72 00 00 00"})
    assert landline.status_code == 201, landline.text
    assert landline.json()["guardian_phone"] == "+33472000000"


async def test_the_admin_forms_answer_bad_values_in_french(settings, demo, session_factory) -> None:
    account = await user_id(session_factory, "committee2@example.org")
    async with session_factory() as session:
        school = await session.scalar(select(School.id).limit(1))
    forms = [
        (f"/administration/utilisateurs/{account}", {"full_name": "", "roles": ["bogus"], "school_ids": ["zz"]}),
        (f"/administration/utilisateurs/{account}/mot-de-passe", {"how": "mot_de_passe", "password": "court"}),
        ("/administration/ecoles", {"name": "", "uai": "pas un UAI", "region": "", "department": "999"}),
        (f"/administration/ecoles/{school}", {"name": "x" * 300, "region": "", "department": "zz"}),
        ("/administration/budgets", {"fiscal_year": "deux mille", "amount": "beaucoup", "school_id": "zz"}),
        ("/administration/politique", {"fast_track_ceiling": "abc", "rejections_to_reject": "x", "bands.0.up_to": "?"}),
    ]
    async with signed_in_as(settings, "admin@example.org") as client:
        for path, data in forms:
            assert_french(await answer(client, path, data), path)


async def test_the_referent_forms_answer_bad_values_in_french(login, settings) -> None:
    referent = await login("referent@example.org")
    application = await draft(referent)
    bad = {
        "student_id": "zz",
        "category": "bogus",
        "amount": "cent",
        "period_start": "hier",
        "period_end": "demain",
        "justification": "",
        "payee_kind": "bogus",
        "payee_name": "",
        "payee_iban": "FR00",
        "version": str(application["version"]),
    }
    async with signed_in_as(settings, "referent@example.org") as client:
        for path in ("/demandes/nouvelle", f"/demandes/{application['id']}/modifier"):
            response = await answer(client, path, bad)
            assert response.status_code == 422, path
            assert_french(response, path)


async def test_the_committee_and_accountant_forms_answer_bad_values_in_french(login, settings) -> None:
    referent = await login("referent@example.org")
    application = await submitted(referent)
    async with signed_in_as(settings, "committee1@example.org") as client:
        response = await answer(client, f"/demandes/{application['id']}/vote", {"vote": "bogus", "amount": "x"})
        assert_french(response, "vote")
    async with signed_in_as(settings, "chair@example.org") as client:
        assert_french(await answer(client, "/seances", {"held_on": "un jour"}), "/seances")
    async with signed_in_as(settings, "accountant@example.org") as client:
        assert_french(await answer(client, "/remises", {"execution_date": "xx", "format": "bogus"}), "/remises")


async def test_the_sign_in_forms_answer_bad_values_in_french(settings, demo) -> None:
    async with signed_in_as(settings, "admin@example.org") as client:
        assert_french(await answer(client, "/confirmer", {"password": "x" * 300, "suite": "/"}), "/confirmer")
    from tests.helpers import running_app

    async with running_app(settings) as client:
        for path, data in [
            ("/connexion", {"email": "a" * 300, "password": "x"}),
            ("/mot-de-passe-oublie", {"email": "a@"}),
            ("/mot-de-passe/jeton-faux", {"password": "court", "confirmation": ""}),
            ("/bienvenue/jeton-faux", {"password": "court", "confirmation": ""}),
        ]:
            assert_french(await answer(client, path, data), path)


def test_a_bad_bic_is_refused_in_french() -> None:
    from fund.core.banking import normalize_bic

    with pytest.raises(ValueError, match=r"^BIC invalide \(8 ou 11 lettres et chiffres, par exemple BNPAFRPP\)$"):
        normalize_bic("XX")
    assert normalize_bic("BNPAFRPP") == "BNPAFRPP"
