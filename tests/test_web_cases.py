"""A request's page as each reader uses it: the referent submits, answers, appeals and withdraws; the committee
approves, rejects with a reason, asks a question, recuses; the chair decides a split vote and cancels; the
referent's students. Every action goes through the services' rules; every refusal changes nothing."""

from __future__ import annotations

from typing import Any

from tests.helpers import draft, post_form, running_app, sign_in, submitted, vote

COMMITTEE = ("committee1@example.org", "committee2@example.org", "committee3@example.org")
CHAIR = "chair@example.org"
REFERENT = "referent@example.org"
OTHER_REFERENT = "referent.b@example.org"


async def status_of(login: Any, application: dict[str, Any]) -> dict[str, Any]:
    response = await (await login(REFERENT)).get(f"/api/v1/applications/{application['id']}")
    assert response.status_code == 200
    return response.json()


# --- the referent ----------------------------------------------------------------------------------------------


async def test_the_referent_submits_a_draft_from_its_page_and_sees_the_confirmation(login, settings) -> None:
    application = await draft(await login(REFERENT))
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        page = await client.get(f"/demandes/{application['id']}")
        assert ">Soumettre</button>" in page.text
        assert "Aides de l'élève cette année" in page.text
        response = await post_form(client, f"/demandes/{application['id']}/soumettre")
        assert response.status_code == 303
        after = await client.get(response.headers["location"])
        assert "Demande déposée : le comité est prévenu." in after.text
        assert ">Soumettre</button>" not in after.text
        again = await client.get(f"/demandes/{application['id']}")
        assert "Demande déposée : le comité est prévenu." not in again.text  # a flash shows once
    assert (await status_of(login, application))["status"] == "submitted"


async def test_a_referent_of_another_school_cannot_submit_or_withdraw(login, settings) -> None:
    application = await draft(await login(REFERENT))
    async with running_app(settings) as client:
        await sign_in(client, OTHER_REFERENT)
        for action in ("soumettre", "retirer"):
            response = await post_form(client, f"/demandes/{application['id']}/{action}")
            assert response.status_code == 404, action
            assert "Page introuvable" in response.text
    assert (await status_of(login, application))["status"] == "draft"


async def test_a_committee_member_posting_the_referents_actions_is_sent_away(login, settings) -> None:
    application = await draft(await login(REFERENT))
    async with running_app(settings) as client:
        await sign_in(client, COMMITTEE[0])
        response = await post_form(client, f"/demandes/{application['id']}/soumettre")
        assert response.status_code == 303
        assert response.headers["location"] == "/comite"
    assert (await status_of(login, application))["status"] == "draft"


async def test_a_form_without_its_csrf_token_changes_nothing(login, settings) -> None:
    application = await draft(await login(REFERENT))
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        response = await client.post(f"/demandes/{application['id']}/soumettre", data={})
        assert response.status_code == 403
    assert (await status_of(login, application))["status"] == "draft"


async def test_the_referent_withdraws_a_request(login, settings) -> None:
    application = await submitted(await login(REFERENT))
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        response = await post_form(client, f"/demandes/{application['id']}/retirer", confirmer="oui")
        assert response.status_code == 303
        assert "Demande retirée." in (await client.get(response.headers["location"])).text
    assert (await status_of(login, application))["status"] == "withdrawn"


async def test_the_committee_asks_a_question_and_the_referent_answers_it(login, settings) -> None:
    application = await submitted(await login(REFERENT))
    async with running_app(settings) as client:
        await sign_in(client, COMMITTEE[0])
        empty = await post_form(client, f"/demandes/{application['id']}/complement", reason="")
        assert empty.status_code == 422
        assert 'id="erreur-question"' in empty.text
        assert "champ obligatoire" in empty.text
        response = await post_form(
            client, f"/demandes/{application['id']}/complement", reason="Quel est le coût mensuel exact ?"
        )
        assert response.status_code == 303
    assert (await status_of(login, application))["status"] == "info_requested"
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        home = await client.get("/referent")
        assert "une question vous attend" in home.text
        page = await client.get(f"/demandes/{application['id']}")
        assert "Quel est le coût mensuel exact ?" in page.text
        assert "Envoyer la réponse" in page.text
        response = await post_form(client, f"/demandes/{application['id']}/reponse", reason="48 € par mois.")
        assert response.status_code == 303
        assert "Réponse envoyée au comité." in (await client.get(response.headers["location"])).text
    assert (await status_of(login, application))["status"] == "submitted"


# --- the committee ---------------------------------------------------------------------------------------------


async def test_a_member_rejects_with_a_reason_and_a_rejection_without_one_is_refused(login, settings) -> None:
    application = await submitted(await login(REFERENT), amount_requested_cents=20000)
    async with running_app(settings) as client:
        await sign_in(client, COMMITTEE[0])
        refused = await post_form(client, f"/demandes/{application['id']}/vote", vote="reject", comment=" ")
        assert refused.status_code == 422
        assert 'id="erreur-reject_reason"' in refused.text
        assert (await status_of(login, application))["votes"] == []
        response = await post_form(
            client, f"/demandes/{application['id']}/vote", vote="reject", comment="Déjà couvert par la région."
        )
        assert response.status_code == 303
    async with running_app(settings) as client:
        await sign_in(client, COMMITTEE[1])
        await post_form(client, f"/demandes/{application['id']}/vote", vote="reject", comment="Idem.")
    assert (await status_of(login, application))["status"] == "rejected"


async def test_the_referent_appeals_a_rejection_once(login, settings) -> None:
    application = await submitted(await login(REFERENT), amount_requested_cents=20000)
    for email in COMMITTEE[:2]:
        await vote(await login(email), application["id"], "reject", comment="Non.")
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        page = await client.get(f"/demandes/{application['id']}")
        assert "Déposer le recours" in page.text
        response = await post_form(client, f"/demandes/{application['id']}/recours", reason="Situation nouvelle.")
        assert response.status_code == 303
        assert "Déposer le recours" not in (await client.get(f"/demandes/{application['id']}")).text
    assert (await status_of(login, application))["status"] == "under_review"


async def test_a_member_recuses_and_is_no_longer_offered_the_vote(login, settings) -> None:
    application = await submitted(await login(REFERENT))
    async with running_app(settings) as client:
        await sign_in(client, COMMITTEE[0])
        response = await post_form(client, f"/demandes/{application['id']}/recusation", reason="Je connais la famille.")
        assert response.status_code == 303
        page = await client.get(f"/demandes/{application['id']}")
        assert "<strong>Vous vous êtes récusé(e)</strong>" in page.text
        assert "raison : Je connais la famille." in page.text
        assert ">Approuver</button>" not in page.text
        again = await post_form(client, f"/demandes/{application['id']}/vote", vote="approve", amount="")
        assert again.status_code == 422
        assert "Vous vous êtes récusé(e) sur la demande" in again.text
    assert (await status_of(login, application))["votes"] == []


async def test_a_referent_who_is_not_on_the_committee_cannot_vote_through_the_page(login, settings) -> None:
    application = await submitted(await login(REFERENT))
    async with running_app(settings) as client:
        await sign_in(client, OTHER_REFERENT)
        response = await post_form(client, f"/demandes/{application['id']}/vote", vote="approve", amount="")
        assert response.status_code == 303
        assert response.headers["location"] == "/referent"
    assert (await status_of(login, application))["votes"] == []


async def test_an_approval_above_the_ceiling_is_refused_in_french_and_changes_nothing(login, settings) -> None:
    # The demo policy caps a transport request at 500 €: an approval of the 600 € asked is refused, naming it.
    application = await submitted(await login(REFERENT), category="transport", amount_requested_cents=60_000)
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        response = await post_form(client, f"/demandes/{application['id']}/vote", vote="approve", amount="")
        assert response.status_code == 422
        assert "Plafond de la catégorie dépassé : 500,00\u00a0€ au plus pour le transport" in response.text
        assert "ceiling" not in response.text
    shown = await status_of(login, application)
    assert (shown["status"], len(shown["votes"])) == ("submitted", 0)


async def test_the_chair_settles_a_split_vote_from_the_page(login, settings) -> None:
    application = await submitted(await login(REFERENT), amount_requested_cents=40_000)
    for email in COMMITTEE[:2]:
        member = await login(email)
        response = await member.post(
            f"/api/v1/applications/{application['id']}/recusal", json={"reason": "Lien avec l'école."}
        )
        assert response.status_code == 200
    await vote(await login(COMMITTEE[2]), application["id"])
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        page = await client.get(f"/demandes/{application['id']}")
        assert "Voix de la présidence" in page.text
        without_reason = await post_form(
            client, f"/demandes/{application['id']}/decision-presidence", outcome="reject", reason=""
        )
        assert without_reason.status_code == 422
        assert 'id="erreur-chair_reason"' in without_reason.text
        response = await post_form(
            client,
            f"/demandes/{application['id']}/decision-presidence",
            outcome="reject",
            reason="Une autre aide couvre ce besoin.",
        )
        assert response.status_code == 303
    shown = await status_of(login, application)
    assert shown["status"] == "rejected"


async def test_the_chair_is_not_offered_a_casting_vote_while_the_committee_can_decide(login, settings) -> None:
    application = await submitted(await login(REFERENT), amount_requested_cents=40_000)
    await vote(await login(COMMITTEE[0]), application["id"])
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        assert "Voix de la présidence" not in (await client.get(f"/demandes/{application['id']}")).text
        response = await post_form(
            client, f"/demandes/{application['id']}/decision-presidence", outcome="approve", amount=""
        )
        assert response.status_code == 422
        assert "Le comité peut encore décider" in response.text
    assert (await status_of(login, application))["status"] == "under_review"


async def test_a_committee_member_posting_the_chairs_decision_is_sent_away(login, settings) -> None:
    application = await submitted(await login(REFERENT))
    async with running_app(settings) as client:
        await sign_in(client, COMMITTEE[0])
        response = await post_form(client, f"/demandes/{application['id']}/decision-presidence", outcome="approve")
        assert response.status_code == 303
        assert response.headers["location"] == "/comite"


# --- the form's live checks ------------------------------------------------------------------------------------


async def test_the_iban_is_checked_as_it_is_typed(settings, demo) -> None:
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        await client.get("/demandes/nouvelle")
        good = await post_form(
            client, "/demandes/nouvelle/verifier-iban", payee_iban="FR76 3000 6000 0112 3456 7890 189"
        )
        assert "IBAN valable" in good.text
        bad = await post_form(
            client, "/demandes/nouvelle/verifier-iban", payee_iban="FR76 3000 6000 0112 3456 7890 188"
        )
        assert "IBAN invalide" in bad.text
        assert "IBAN valable" not in bad.text
        short = await post_form(client, "/demandes/nouvelle/verifier-iban", payee_iban="FR7")
        assert short.text.strip() == ""


async def test_the_iban_check_needs_a_signed_in_referent(settings, demo) -> None:
    async with running_app(settings) as client:
        await client.get("/connexion")
        anonymous = await post_form(
            client, "/demandes/nouvelle/verifier-iban", payee_iban="FR7630006000011234567890189"
        )
        assert anonymous.status_code in (302, 303)
        assert anonymous.headers["location"] == "/connexion"


async def test_the_aid_so_far_is_shown_for_the_chosen_student_only_if_theirs(login, settings) -> None:
    referent = await login(REFERENT)
    own = (await referent.get("/api/v1/students")).json()["items"][0]["id"]
    other = (await (await login(OTHER_REFERENT)).get("/api/v1/students")).json()["items"][0]["id"]
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        shown = await client.get(f"/demandes/nouvelle/aide-accordee?student_id={own}&category=food")
        assert "Déjà accordé" in shown.text
        hidden = await client.get(f"/demandes/nouvelle/aide-accordee?student_id={other}&category=food")
        assert "Déjà accordé" not in hidden.text
        assert "Choisissez un élève" in hidden.text


# --- students --------------------------------------------------------------------------------------------------


async def test_the_referent_registers_a_student_and_corrects_the_record(login, settings) -> None:
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        form = await client.get("/eleves/nouveau")
        school = form.text.split('<select id="school_id" name="school_id"', 1)[1].split('value="', 1)[1].split('"')[0]
        response = await post_form(
            client,
            "/eleves/nouveau",
            school_id=school,
            first_name="Inès",
            last_name="Durand",
            birth_date="12/03/2010",
            trade="Usinage",
        )
        assert response.status_code == 303
        page = await client.get(response.headers["location"])
        assert "Inès Durand" in page.text
        assert "Usinage" in page.text
        listing = await client.get("/eleves")
        assert "Durand Inès" in listing.text
        corrected = await post_form(
            client,
            response.headers["location"],
            first_name="Inès",
            last_name="Durand-Moreau",
            birth_date="2010-03-12",
            trade="Usinage",
        )
        assert corrected.status_code == 303
        assert "Durand-Moreau" in (await client.get(corrected.headers["location"])).text
    students = (await (await login(REFERENT)).get("/api/v1/students")).json()["items"]
    assert any(s["last_name"] == "Durand-Moreau" and s["birth_date"] == "2010-03-12" for s in students)


async def test_a_student_form_shows_each_error_next_to_its_field_and_registers_nobody(login, settings) -> None:
    before = len((await (await login(REFERENT)).get("/api/v1/students")).json()["items"])
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        form = await client.get("/eleves/nouveau")
        school = form.text.split('<select id="school_id" name="school_id"', 1)[1].split('value="', 1)[1].split('"')[0]
        response = await post_form(
            client,
            "/eleves/nouveau",
            school_id=school,
            first_name="",
            last_name="Durand",
            birth_date="1990-01-01",
            guardian_email="pas-une-adresse",
        )
        assert response.status_code == 422
        assert 'id="erreur-first_name"' in response.text
        assert 'id="erreur-birth_date"' in response.text
        assert "entre 13 et 30 ans" in response.text
        assert 'id="erreur-guardian_email"' in response.text
        assert "String should" not in response.text  # French, not pydantic's English
    assert len((await (await login(REFERENT)).get("/api/v1/students")).json()["items"]) == before


async def test_another_schools_student_is_not_found_and_cannot_be_corrected(login, settings) -> None:
    other = (await (await login(OTHER_REFERENT)).get("/api/v1/students")).json()["items"][0]
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        assert (await client.get(f"/eleves/{other['id']}")).status_code == 404
        assert other["last_name"] not in (await client.get("/eleves")).text
        response = await post_form(
            client, f"/eleves/{other['id']}", first_name="X", last_name="Y", birth_date="2010-01-01"
        )
        assert response.status_code == 404
    again = (await (await login(OTHER_REFERENT)).get(f"/api/v1/students/{other['id']}")).json()
    assert again["last_name"] == other["last_name"]


async def test_a_referent_cannot_register_a_student_in_another_school(login, settings) -> None:
    other_school = (await (await login(OTHER_REFERENT)).get("/api/v1/me")).json()["school_ids"][0]
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        await client.get("/eleves/nouveau")
        response = await post_form(
            client, "/eleves/nouveau", school_id=other_school, first_name="A", last_name="B", birth_date="2010-01-01"
        )
        assert response.status_code == 422
        assert 'id="erreur-school_id"' in response.text


async def test_only_referents_reach_the_student_pages(settings, demo) -> None:
    for email in (COMMITTEE[0], "accountant@example.org", "admin@example.org"):
        async with running_app(settings) as client:
            await sign_in(client, email)
            response = await client.get("/eleves", follow_redirects=False)
            assert response.status_code == 303, email
            assert response.headers["location"] != "/eleves"


async def test_the_api_corrects_a_student_and_refuses_clearing_a_required_field(login) -> None:
    referent = await login(REFERENT)
    student = (await referent.get("/api/v1/students")).json()["items"][0]
    response = await referent.patch(f"/api/v1/students/{student['id']}", json={"trade": "Chaudronnerie"})
    assert response.status_code == 200
    assert response.json()["trade"] == "Chaudronnerie"
    cleared = await referent.patch(f"/api/v1/students/{student['id']}", json={"last_name": None})
    assert cleared.status_code == 422
    assert cleared.json()["errors"][0]["field"] == "last_name"
    other = await login(OTHER_REFERENT)
    assert (await other.patch(f"/api/v1/students/{student['id']}", json={"trade": "X"})).status_code == 404


def test_every_event_a_request_can_show_in_its_timeline_has_a_french_label() -> None:
    import re
    from pathlib import Path

    import fund
    from fund.applications.pages import ACTIONS_FR
    from fund.applications.workflow import TRANSITIONS

    recorded = set()
    for path in Path(fund.__file__).parent.rglob("*.py"):
        for call in re.findall(r"await record\((.*?)\n\s*\)", path.read_text(encoding="utf-8"), re.DOTALL):
            if 'entity_type="application"' in call:
                recorded |= set(re.findall(r'^\s*"([a-z_]+\.[a-z_]+)",', call, re.MULTILINE))
    expected = recorded | {f"application.{action}" for action in TRANSITIONS}
    expected |= {"application.ratified", "application.disavowed", "application.deadline_reminder"}
    expected |= {"application.escalation"}
    assert len(recorded) >= 10
    assert not expected - ACTIONS_FR.keys(), sorted(expected - ACTIONS_FR.keys())


async def test_the_request_form_promises_the_funds_own_decision_times(settings, login) -> None:
    from html import unescape

    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        form = unescape((await client.get("/demandes/nouvelle")).text)
        assert "décision visée sous 24 h, au lieu de 72 h" in form
        admin = await login("admin@example.org")
        policy = (await admin.get("/api/v1/policy")).json()
        changed = await admin.put("/api/v1/policy", json={**policy, "target_decision_hours_urgent": 12})
        assert changed.status_code == 200, changed.text
        form = unescape((await client.get("/demandes/nouvelle")).text)
        assert "décision visée sous 12 h, au lieu de 72 h" in form
