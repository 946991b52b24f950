"""Issue 14, points 4 and 5: the committee sees the limits before voting and its own vote after; the referent is
warned while filing; one computation of a student's aid (``caps.aid_this_year``) behind every page and answer."""

from __future__ import annotations

import datetime
import html
import re
from typing import Any
from uuid import UUID

from fund.core.money import format_euros_fr
from tests.helpers import (
    ACCOUNTANT,
    CHAIR,
    COMMITTEE,
    REFERENT,
    application_body,
    assert_problem,
    drain_outbox,
    execute,
    listed_disbursements,
    pay_batch,
    post_form,
    ready_batch,
    running_app,
    second_fund,
    sign_in,
    submitted_for,
    vote,
    votes_by,
)

CEILING_WARNING = f"Au-dessus du plafond de la catégorie : {format_euros_fr(50_000)} au plus pour le transport."


async def student_named(referent: Any, last_name: str) -> str:
    students = (await referent.get("/api/v1/students")).json()["items"]
    return str(next(s["id"] for s in students if s["last_name"] == last_name))


def figures(page: str) -> dict[str, str]:
    """The « Aides de l'élève cette année » panel of a page (``_aide_contenu.html``): label → amount."""
    panel = page[page.index('<dl class="fiche">', page.index("titre-aide")) :]
    panel = panel[: panel.index("</dl>")]
    return {
        html.unescape(label): html.unescape(re.sub(r"<[^>]+>", "", value))
        for label, value in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", panel)
    }


def euros(cents: int) -> str:
    return format_euros_fr(cents)


# --- the API: limits and my_vote for the committee -------------------------------------------------------------


async def test_the_committee_reads_the_limits_and_the_warning_before_voting(login) -> None:
    referent = await login(REFERENT)
    student = await student_named(referent, "Petit")
    earlier = await submitted_for(referent, student, category="housing", amount_requested_cents=150_000)
    await votes_by(login, earlier["id"], "approve", *COMMITTEE)
    application = await submitted_for(referent, student, amount_requested_cents=60_000)

    for email in (COMMITTEE[0], CHAIR):
        shown = (await (await login(email)).get(f"/api/v1/applications/{application['id']}")).json()
        limits = shown["limits"]
        assert limits["category_ceiling_cents"] == 50_000
        assert (limits["student_granted_cents"], limits["student_paid_cents"]) == (150_000, 0)
        assert limits["student_pending_cents"] == 60_000
        assert (limits["student_yearly_ceiling_cents"], limits["room_cents"]) == (200_000, 50_000)
        assert limits["envelope_label"].startswith("enveloppe ")
        assert limits["envelope_available_cents"] == 5_000_000 - 150_000
        assert limits["warnings"][0] == CEILING_WARNING
        assert "reste à l'élève cette année : 500,00" in limits["warnings"][1]
        assert shown["my_vote"] is None
        assert shown["caps"] is None  # the referent's own panel, not the committee's


async def test_after_voting_the_member_reads_their_own_vote_in_the_request_and_the_list(login) -> None:
    referent = await login(REFERENT)
    application = await submitted_for(
        referent, await student_named(referent, "Petit"), category="housing", amount_requested_cents=60_000
    )
    member = await login(COMMITTEE[0])
    answer = await vote(member, application["id"], amount_cents=48_000, comment="Le loyer seul.")
    assert answer.status_code == 201, answer.text
    assert answer.json()["my_vote"]["vote"] == "approve"
    shown = (await member.get(f"/api/v1/applications/{application['id']}")).json()
    assert {k: shown["my_vote"][k] for k in ("vote", "amount_cents", "comment")} == {
        "vote": "approve",
        "amount_cents": 48_000,
        "comment": "Le loyer seul.",
    }
    listed = {a["id"]: a for a in (await member.get("/api/v1/applications", params={"limit": 200})).json()["items"]}
    assert listed[application["id"]]["my_vote"] == shown["my_vote"]
    assert listed[application["id"]]["limits"] is None  # the list is light: limits in the request's own answer

    # Another member has not voted: nothing of the first one's vote is theirs.
    other = await login(COMMITTEE[1])
    assert (await other.get(f"/api/v1/applications/{application['id']}")).json()["my_vote"] is None
    recused = await other.post(f"/api/v1/applications/{application['id']}/recusal", json={"reason": "Voisin."})
    assert recused.status_code == 200
    mine = recused.json()["my_vote"]
    assert (mine["vote"], mine["comment"]) == ("recused", "Voisin.")

    # Contre, with its reason.
    third = await login(COMMITTEE[2])
    await vote(third, application["id"], "reject", comment="Hors critères.")
    mine = (await third.get(f"/api/v1/applications/{application['id']}")).json()["my_vote"]
    assert (mine["vote"], mine["amount_cents"], mine["comment"]) == ("reject", None, "Hors critères.")


async def test_the_referent_reads_neither_my_vote_nor_the_committees_limits(login) -> None:
    referent = await login(REFERENT)
    application = await submitted_for(referent, await student_named(referent, "Petit"), amount_requested_cents=20_000)
    await vote(await login(COMMITTEE[0]), application["id"], amount_cents=15_000)
    shown = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
    assert (shown["my_vote"], shown["limits"]) == (None, None)
    listed = (await referent.get("/api/v1/applications", params={"limit": 200})).json()["items"]
    assert all(a["my_vote"] is None and a["limits"] is None for a in listed)


async def test_a_member_of_another_fund_sees_none_of_it(login, session_factory, settings) -> None:
    other = await second_fund(session_factory)
    referent = await login(REFERENT)
    application = await submitted_for(referent, await student_named(referent, "Petit"), amount_requested_cents=60_000)
    for email in (other["other_committee"], other["other_chair"]):
        stranger = await login(email)
        assert_problem(await stranger.get(f"/api/v1/applications/{application['id']}"), 404)
        listed = (await stranger.get("/api/v1/applications", params={"limit": 200})).json()["items"]
        assert application["id"] not in {a["id"] for a in listed}
        refused = await vote(stranger, application["id"], amount_cents=10_000)
        assert_problem(refused, 404)
    async with running_app(settings) as client:
        await sign_in(client, other["other_committee"])
        assert (
            await client.get(f"/demandes/{application['id']}/alertes-montant", params={"amount": "600"})
        ).status_code == 404
        page = await client.get(f"/demandes/{application['id']}")
        assert page.status_code == 404
        assert "Avant de voter" not in page.text
        assert application["reference"] not in (await client.get("/comite")).text


# --- the pages ---------------------------------------------------------------------------------------------------


async def test_the_request_page_shows_the_limits_and_the_warning_then_the_members_own_vote(login, settings) -> None:
    referent = await login(REFERENT)
    application = await submitted_for(referent, await student_named(referent, "Petit"), amount_requested_cents=60_000)
    path = f"/demandes/{application['id']}"
    async with running_app(settings) as client:
        await sign_in(client, COMMITTEE[0])
        before = html.unescape((await client.get(path)).text)
        assert "Avant de voter : les limites" in before
        assert f"Plafond par demande (Transport)</dt><dd>{euros(50_000)}" in before
        assert (
            f"Reste possible pour l'élève (plafond annuel de {euros(200_000)})</dt><dd><strong>{euros(200_000)}"
            in before
        )
        assert CEILING_WARNING in before  # next to the amount field (empty: the 600 € asked) and in the panel
        assert before.index("Avant de voter") < before.index("Votre décision")
        assert 'id="approve_comment" name="comment"' in before  # the approval's comment reaches the vote
        assert f'hx-get="/demandes/{application["id"]}/alertes-montant"' in before

        # As it is typed: 600 € warns, 480 € does not, a typo says so.
        live = f"{path}/alertes-montant"
        assert CEILING_WARNING in html.unescape((await client.get(live, params={"amount": "600"})).text)
        assert "Attention" not in (await client.get(live, params={"amount": "480"})).text
        assert "Montant illisible" in html.unescape((await client.get(live, params={"amount": "6OO"})).text)

        # The vote of 600 € is refused naming the ceiling, next to the field; 480 € is recorded and shown.
        refused = await post_form(client, f"{path}/vote", vote="approve", amount="600")
        assert refused.status_code == 422
        text = html.unescape(refused.text)
        assert f"Plafond de la catégorie dépassé : {euros(50_000)} au plus pour le transport" in text
        assert 'aria-describedby="erreur-amount aide-amount alerte-montant" aria-invalid="true"' in refused.text
        done = await post_form(client, f"{path}/vote", vote="approve", amount="480", comment="Le bus seul.")
        assert done.status_code == 303
        after = html.unescape((await client.get(path)).text)
        assert f"Vous avez voté : Pour, {euros(48_000)}</strong>" in after
        assert "commentaire : Le bus seul." in after
        assert ">Approuver</button>" not in after

        queue = html.unescape((await client.get("/comite")).text)
        voted = queue[queue.index("Déjà voté") :]
        assert application["reference"] in voted
        assert f"Pour, {euros(48_000)}" in voted
        assert application["reference"] not in queue[queue.index("À voter") : queue.index("Déjà voté")]

    async with running_app(settings) as client:  # the second member still has it to vote
        await sign_in(client, COMMITTEE[1])
        queue = html.unescape((await client.get("/comite")).text)
        assert application["reference"] in queue[queue.index("À voter") : queue.index("Déjà voté")]
        await post_form(client, f"{path}/vote", vote="reject", comment="Trop élevé.")
        after = html.unescape((await client.get(path)).text)
        assert "Vous avez voté : Contre</strong>" in after
        assert "motif : Trop élevé." in after
        await sign_in(client, COMMITTEE[2])
        await post_form(client, f"{path}/vote", vote="abstain")
        assert "Vous avez voté : Abstention</strong>" in html.unescape((await client.get(path)).text)


async def test_the_chair_settling_a_split_vote_is_warned_and_refused_above_the_ceiling(login, settings) -> None:
    referent = await login(REFERENT)
    application = await submitted_for(referent, await student_named(referent, "Petit"), amount_requested_cents=60_000)
    for email in COMMITTEE[:2]:
        recusal = await (await login(email)).post(
            f"/api/v1/applications/{application['id']}/recusal", json={"reason": "Lien avec la famille."}
        )
        assert recusal.status_code == 200
    assert (await vote(await login(COMMITTEE[2]), application["id"], amount_cents=45_000)).status_code == 201
    path = f"/demandes/{application['id']}"
    async with running_app(settings) as client:
        await sign_in(client, CHAIR)
        page = await client.get(path)
        assert "Voix de la présidence" in page.text
        assert 'id="chair_amount" name="amount"' in page.text
        assert 'hx-target="#alerte-chair_amount"' in page.text
        live = f"{path}/alertes-montant"
        assert CEILING_WARNING in html.unescape((await client.get(live, params={"amount": "600", "vide": "rien"})).text)
        assert "Attention" not in (await client.get(live, params={"amount": "", "vide": "rien"})).text
        refused = await post_form(client, f"{path}/decision-presidence", outcome="approve", amount="600")
        assert refused.status_code == 422
        assert 'id="erreur-chair_amount"' in refused.text
        assert f"{euros(50_000)} au plus pour le transport" in html.unescape(refused.text)
        done = await post_form(client, f"{path}/decision-presidence", outcome="approve", amount="450")
        assert done.status_code == 303
    shown = (await referent.get(f"/api/v1/applications/{application['id']}")).json()
    assert (shown["status"], shown["amount_granted_cents"]) == ("approved", 45_000)
    mine = (await (await login(COMMITTEE[0])).get(f"/api/v1/applications/{application['id']}")).json()["my_vote"]
    assert (mine["vote"], mine["comment"]) == ("recused", "Lien avec la famille.")


async def test_the_referent_sees_neither_the_committees_limits_nor_its_votes_on_the_page(login, settings) -> None:
    referent = await login(REFERENT)
    application = await submitted_for(referent, await student_named(referent, "Petit"), amount_requested_cents=60_000)
    await vote(await login(COMMITTEE[0]), application["id"], amount_cents=45_000, comment="Avis confidentiel.")
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        page = (await client.get(f"/demandes/{application['id']}")).text
        assert "Avant de voter" not in page
        assert "Vous avez voté" not in page
        assert "Avis confidentiel." not in page
        live = await client.get(f"/demandes/{application['id']}/alertes-montant", params={"amount": "600"})
        assert live.status_code in (302, 303)
        assert "Attention" not in live.text


async def test_the_referent_is_warned_while_filing_and_on_the_draft_but_may_submit(login, settings) -> None:
    referent = await login(REFERENT)
    student = await student_named(referent, "Petit")
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        panel = await client.get(
            "/demandes/nouvelle/aide-accordee", params={"student_id": student, "category": "transport", "amount": "600"}
        )
        text = html.unescape(panel.text)
        assert CEILING_WARNING in text
        assert 'id="alerte-montant" hx-swap-oob="innerHTML"' in panel.text  # lands next to the amount field
        quiet = await client.get(
            "/demandes/nouvelle/aide-accordee", params={"student_id": student, "category": "housing", "amount": "600"}
        )
        assert "Attention" not in quiet.text

        body = application_body(student, amount_requested_cents=60_000)
        response = await post_form(
            client,
            "/demandes/nouvelle",
            student_id=student,
            category="transport",
            amount="600",
            period_start=body["period_start"],
            period_end=body["period_end"],
            justification=body["justification"],
            payee_kind="guardian",
            payee_name="Mme Petit Anne",
            payee_iban=body["payee"]["iban"],
        )
        assert response.status_code == 303, response.text
        draft_page = html.unescape((await client.get(response.headers["location"])).text)
        assert "le comité ne pourra pas l'accorder en entier" in draft_page
        assert CEILING_WARNING in draft_page
        submitted = await post_form(client, response.headers["location"] + "/soumettre")
        assert submitted.status_code == 303  # a warning, not a refusal


async def test_the_api_warns_the_referent_on_the_draft_and_not_once_submitted(login) -> None:
    referent = await login(REFERENT)
    student = await student_named(referent, "Petit")
    created = await referent.post("/api/v1/applications", json=application_body(student, amount_requested_cents=60_000))
    assert created.status_code == 201, created.text
    assert created.json()["caps"]["warnings"] == [CEILING_WARNING]
    fitting = await referent.post("/api/v1/applications", json=application_body(student, amount_requested_cents=50_000))
    assert fitting.json()["caps"]["warnings"] == []
    submitted = await referent.post(f"/api/v1/applications/{created.json()['id']}/submit")
    assert submitted.status_code == 200  # a warning, not a refusal
    assert submitted.json()["caps"]["warnings"] == []  # the committee's to weigh now


async def test_the_yearly_room_warns_the_referent_and_the_committee_alike(login, settings) -> None:
    referent = await login(REFERENT)
    student = await student_named(referent, "Petit")
    earlier = await submitted_for(referent, student, category="housing", amount_requested_cents=150_000)
    await votes_by(login, earlier["id"], "approve", *COMMITTEE)
    room = (
        f"Au-dessus de ce qui reste à l'élève cette année : {euros(50_000)} sur le plafond annuel de {euros(200_000)}."
    )
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        panel = await client.get(
            "/demandes/nouvelle/aide-accordee", params={"student_id": student, "category": "housing", "amount": "600"}
        )
        assert room in html.unescape(panel.text)
    application = await submitted_for(referent, student, category="housing", amount_requested_cents=60_000)
    async with running_app(settings) as client:
        await sign_in(client, COMMITTEE[0])
        assert room in html.unescape((await client.get(f"/demandes/{application['id']}")).text)
        refused = await post_form(client, f"/demandes/{application['id']}/vote", vote="approve", amount="")
        assert "Plafond annuel dépassé" in html.unescape(refused.text)


# --- one computation of a student's aid -------------------------------------------------------------------------


async def test_every_page_and_answer_shows_the_same_aid_of_the_student(login, session_factory, settings) -> None:
    """Issue 14, point 5: the request page said 0 € granted and 2 000 € left while the student's page said 480 €
    and 1 520 €. Requests in every status, instalments, another fiscal year and another fund: one set of figures."""
    referent = await login(REFERENT)
    student = await student_named(referent, "Petit")
    # Granted 480 € (a request of 600 € housing, three approvals of 480 €), in two instalments, the first paid.
    granted = await submitted_for(referent, student, category="housing", amount_requested_cents=60_000)
    await votes_by(login, granted["id"], "approve", *COMMITTEE, amount_cents=48_000)
    await drain_outbox(session_factory)
    accountant = await login(ACCOUNTANT)
    (disbursement,) = await listed_disbursements(accountant)
    today = datetime.date.today()
    split = await accountant.post(
        f"/api/v1/disbursements/{disbursement['id']}/instalments",
        json={"due_dates": [str(today), str(today + datetime.timedelta(days=40))]},
    )
    assert split.status_code == 200, split.text
    batch = await ready_batch(login, session_factory)
    await pay_batch(login, session_factory, batch, today, "AIDE")
    # Granted last fiscal year: not this year's.
    old = await submitted_for(referent, student, category="food", amount_requested_cents=20_000)
    await votes_by(login, old["id"], "approve", *COMMITTEE[:2])
    await execute(
        session_factory,
        "UPDATE applications SET decided_at = decided_at - interval '366 days' WHERE id = :id",
        id=UUID(old["id"]),
    )
    # Pending 150 €; a draft, a withdrawn and a rejected request count for nothing.
    pending = await submitted_for(referent, student, category="food", amount_requested_cents=15_000)
    draft = await referent.post("/api/v1/applications", json=application_body(student, amount_requested_cents=9_000))
    withdrawn = await submitted_for(referent, student, amount_requested_cents=7_000)
    assert (await referent.post(f"/api/v1/applications/{withdrawn['id']}/withdraw")).status_code == 200
    refused = await submitted_for(referent, student, amount_requested_cents=8_000)
    await votes_by(login, refused["id"], "reject", *COMMITTEE[:2], comment="Non.")
    # Another fund's request for the same student (schools serve several funds): not this fund's.
    other = await second_fund(session_factory)
    elsewhere = await login(other["other_referent"])
    assert (await submitted_for(elsewhere, student, amount_requested_cents=30_000))["status"] == "submitted"

    expected = {"granted": 48_000, "paid": 24_000, "pending": 15_000, "remaining": 152_000}
    api = (await referent.get(f"/api/v1/students/{student}/aid")).json()
    assert {k: api[f"{k}_cents"] for k in expected} == expected
    for application in (granted, pending, draft.json()):
        caps = (await referent.get(f"/api/v1/applications/{application['id']}")).json()["caps"]
        assert {k: caps[f"student_{k}_cents"] for k in expected} == expected, application["status"]
    limits = (await (await login(COMMITTEE[0])).get(f"/api/v1/applications/{pending['id']}")).json()["limits"]
    assert (limits["student_granted_cents"], limits["student_paid_cents"], limits["student_pending_cents"]) == (
        48_000,
        24_000,
        15_000,
    )
    assert limits["room_cents"] == 152_000
    other_fund = (await elsewhere.get(f"/api/v1/students/{student}/aid")).json()
    assert (other_fund["granted_cents"], other_fund["pending_cents"]) == (0, 30_000)

    shown = {
        "Déjà accordé": euros(48_000),
        "Dont déjà versé": euros(24_000),
        "En attente de décision": euros(15_000),
        "Reste possible": euros(152_000),
    }
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        pages = {
            "student": (await client.get(f"/eleves/{student}")).text,
            "granted request": (await client.get(f"/demandes/{granted['id']}")).text,
            "pending request": (await client.get(f"/demandes/{pending['id']}")).text,
            "draft": (await client.get(f"/demandes/{draft.json()['id']}")).text,
            "form": (await client.get("/demandes/nouvelle", params={"eleve": student})).text,
            "live panel": (
                await client.get("/demandes/nouvelle/aide-accordee", params={"student_id": student, "category": "food"})
            ).text.replace('<dl class="fiche">', '<span id="titre-aide"></span><dl class="fiche">', 1),
        }
    for name, text in pages.items():
        found = figures(text)
        assert {k: found.get(k) for k in shown} == shown, (name, found)


async def test_a_granted_request_counts_once_on_its_own_page(login, settings) -> None:
    """The request page used to leave the request itself out: 0 € granted on the page of a request of 480 €."""
    referent = await login(REFERENT)
    student = await student_named(referent, "Petit")
    application = await submitted_for(referent, student, category="housing", amount_requested_cents=48_000)
    await votes_by(login, application["id"], "approve", *COMMITTEE)
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        found = figures((await client.get(f"/demandes/{application['id']}")).text)
        student_page = figures((await client.get(f"/eleves/{student}")).text)
    assert found["Déjà accordé"] == student_page["Déjà accordé"] == euros(48_000)
    assert found["Reste possible"] == student_page["Reste possible"] == euros(152_000)


async def test_the_openapi_document_describes_my_vote_and_the_limits(app_client) -> None:
    document = (await app_client.get("/schema/openapi.json")).json()
    schemas = document["components"]["schemas"]
    application = schemas["ApplicationOut"]["properties"]
    assert "own vote" in str(application["my_vote"])
    assert "limits" in str(application["limits"])
    assert set(schemas["MyVoteOut"]["properties"]["vote"]["enum"]) == {"approve", "reject", "abstain", "recused"}
    assert {"room_cents", "envelope_available_cents", "warnings", "student_paid_cents"} <= set(
        schemas["LimitsOut"]["properties"]
    )
    assert "paid_cents" in schemas["StudentAidOut"]["properties"]
