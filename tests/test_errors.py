"""Errors carry a stable code; people read the code's French text, in the API's ``detail`` and on the pages alike."""

from __future__ import annotations

import re
from pathlib import Path

import fund
from fund.core.errors import REFUSALS, Conflict, InvalidInput, NotFound, refusal
from tests.helpers import assert_problem, post_form, running_app, sign_in, submitted, vote

API = "/api/v1"
SOURCES = Path(fund.__file__).parent
RAISED = re.compile(
    r"""(?:raise\s+(?:Conflict|Forbidden|NotFound|IllegalTransition|StaleVersion|DomainError)\(\s*f?"([a-z_{}.]+)"
    |"code":\s*"([a-z_]+)"
    |problem\(\s*\d+,\s*"([a-z_]+)")""",
    re.VERBOSE,
)


def codes_in_the_code_base() -> set[str]:
    found: set[str] = set()
    for path in SOURCES.rglob("*.py"):
        for match in RAISED.finditer(path.read_text(encoding="utf-8")):
            code = next(group for group in match.groups() if group)
            if "{" in code:  # already_{ratification}: both outcomes
                found |= {code.split("{")[0] + outcome for outcome in ("ratified", "disavowed")}
            else:
                found.add(code)
    return found


def test_every_code_raised_in_the_code_base_has_its_french_text() -> None:
    raised = codes_in_the_code_base()
    assert len(raised) > 60
    assert not raised - REFUSALS.keys(), sorted(raised - REFUSALS.keys())


def test_a_refusal_names_its_values_and_survives_a_missing_one() -> None:
    error = Conflict("already_voted", reference="FS-2026-000042")
    assert error.code == "already_voted"
    assert error.detail == "Vous avez déjà voté sur la demande FS-2026-000042."
    assert NotFound().code == "not_found"
    assert refusal("already_voted") == "Vous avez déjà voté sur la demande ?."
    field = InvalidInput("amount_cents", "le montant accordé ne peut dépasser le montant demandé")
    assert field.code == "invalid_input"
    assert field.errors[0].field == "amount_cents"


async def test_a_refusal_answers_its_code_and_french_text_in_the_api(login) -> None:
    application = await submitted(await login("referent@example.org"))
    member = await login("committee1@example.org")
    assert (await vote(member, application["id"], "abstain")).status_code == 201
    again = await vote(member, application["id"], "abstain")
    body = assert_problem(again, 409)
    assert body["code"] == "already_voted"
    assert body["detail"] == f"Vous avez déjà voté sur la demande {application['reference']}."


async def test_the_http_layer_answers_codes_too(app_client, login) -> None:
    anonymous = await app_client.get(f"{API}/applications")
    assert assert_problem(anonymous, 401)["code"] == "token_missing"
    forged = await app_client.get(f"{API}/applications", headers={"Authorization": "Bearer forged"})
    assert assert_problem(forged, 401)["code"] == "token_invalid"
    accountant = await login("accountant@example.org")
    refused = assert_problem(await accountant.get(f"{API}/applications"), 403)
    assert refused["code"] == "role_required"
    assert refused["detail"].startswith("Cette action demande l'un de ces rôles")
    invalid = assert_problem(await accountant.post(f"{API}/payment-batches", json={"format": "x"}), 422, "format")
    assert invalid["code"] == "validation_failed"
    wrong = await app_client.post(f"{API}/auth/token", json={"email": "nobody@example.org", "password": "x" * 12})
    assert assert_problem(wrong, 401)["code"] == "wrong_credentials"


async def test_the_page_shows_the_same_text_as_the_api_detail(settings, login) -> None:
    application = await submitted(await login("referent@example.org"))
    assert (await vote(await login("committee1@example.org"), application["id"], "abstain")).status_code == 201
    async with running_app(settings) as client:
        await sign_in(client, "committee1@example.org")
        again = await post_form(client, f"/demandes/{application['id']}/vote", vote="abstain")
    assert REFUSALS["already_voted"].format(reference=application["reference"]) in again.text.replace("&#39;", "'")


async def test_the_openapi_document_lists_every_code(app_client) -> None:
    document = (await app_client.get("/schema/openapi.json")).json()
    problem = document["components"]["responses"]["Problem"]["content"]["application/problem+json"]["schema"]
    code = problem["properties"]["code"]
    assert set(code["enum"]) == set(REFUSALS)
