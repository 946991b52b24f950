"""The family's page (issue 15): the referent records the family's agreement, the family receives a signed link and
follows its one request without an account, adds a missing document that waits for the referent's review; the link
expires, is renewed, withdrawn, throttled, recorded, and goes with the case's anonymisation."""

from __future__ import annotations

import datetime
import re
from email import message_from_bytes
from html import unescape
from pathlib import Path
from typing import Any

from sqlalchemy import select

from fund.audit.models import AuditEvent
from fund.auth.models import User
from fund.core.settings import get_settings
from fund.documents.models import Document
from fund.family import ratelimit
from fund.family import service as family
from fund.family.models import FamilyConsent, FamilyLink
from fund.notifications.models import Notification
from fund.privacy.models import AccessRecord
from fund.students.models import Student
from tests.helpers import (
    ACCOUNTANT,
    COMMENT,
    COMMITTEE,
    EMAILS,
    REFERENT,
    approved_with_comments,
    clear_mails,
    count,
    drain_outbox,
    execute,
    pdf_text,
    post_form,
    running_app,
    scalar,
    scalars,
    second_fund,
    signed_in_as,
    submitted,
    tiny_png,
)

GUARDIAN = "parent.martin@example.net"
_FAMILY_LINK = re.compile(r"https?://\S+?(/famille/[0-9a-f-]{36}/[\w.-]+)")


def family_mails() -> list[tuple[str, str, str]]:
    """(recipient, subject, text) of each family mail of the mail folder, in file order."""
    folder = Path(get_settings().mail_dir)
    found = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        message = message_from_bytes(path.read_bytes())
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                body = part.get_payload(decode=True).decode()
                if "/famille/" in body:
                    found.append((str(message["To"]), str(message["Subject"]), body))
    return found


def family_links() -> list[str]:
    return [path for _, _, text in family_mails() for path in _FAMILY_LINK.findall(text)]


async def give_access(settings: Any, session_factory: Any, application: dict[str, Any], email: str = GUARDIAN) -> str:
    """The referent ticks the family's agreement on the request page; the worker mails the link, returned."""
    await execute(
        session_factory,
        "UPDATE students SET guardian_email = :email WHERE id = :id",
        email=email,
        id=application["student_id"],
    )
    clear_mails()
    async with signed_in_as(settings, REFERENT) as referent:
        response = await post_form(referent, f"/demandes/{application['id']}/famille/acces", email=email, accord="oui")
        assert response.status_code == 303, response.text
    await drain_outbox(session_factory)
    links = family_links()
    assert len(links) == 1
    return links[0]


async def family_get(settings: Any, path: str, ip: str = "198.51.100.20") -> Any:
    async with running_app(settings, client_ip=ip) as client:
        return await client.get(path)


async def family_upload(settings: Any, link: str, name: str, content: bytes, mime: str) -> Any:
    async with running_app(settings, client_ip="198.51.100.21") as client:
        page = await client.get(link)
        assert page.status_code == 200, page.text
        return await client.post(
            f"{link}/pieces",
            data={"_csrf_token": client.cookies.get("csrftoken") or ""},
            files={"fichier": (name, content, mime)},
            follow_redirects=False,
        )


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


# ---------------------------------------------------------------------------------------------- the link


async def test_the_family_receives_a_link_that_shows_only_its_request(settings, login, session_factory) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    other = await submitted(referent)
    link = await give_access(settings, session_factory, application)

    [(to, subject, text)] = family_mails()
    assert to == GUARDIAN
    assert application["reference"] not in text + subject  # a link, nothing of the request
    assert "30 jours" in text

    consent = await scalar(session_factory, select(FamilyConsent))
    assert consent.email == GUARDIAN
    assert consent.given_by_id is not None
    assert consent.given_at is not None
    actions = await scalars(
        session_factory, select(AuditEvent.action).where(AuditEvent.entity_id == consent.application_id)
    )
    assert "family.access_given" in actions

    page = await family_get(settings, link)
    assert page.status_code == 200, page.text
    shown = text_of(page.text)
    assert application["reference"] in shown
    assert "Déposée" in shown
    assert other["reference"] not in shown
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in page.headers["x-robots-tag"]
    assert '<meta name="robots" content="noindex' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]

    # The same token with another request's id: unknown.
    _, _, application_id, token = link.split("/")
    assert (await family_get(settings, f"/famille/{other['id']}/{token}")).status_code == 404
    forged = f"/famille/{application_id}/{token[:-3]}AAA"
    assert (await family_get(settings, forged)).status_code == 404
    assert (await family_get(settings, f"/famille/{application_id}/pas-un-lien")).status_code == 404

    # Every opening is in the records of access, under the link's id.
    openings = await scalars(session_factory, select(AccessRecord).where(AccessRecord.kind == "family_page"))
    link_row = await scalar(session_factory, select(FamilyLink))
    assert [(r.user_id, str(r.object_id), r.ip) for r in openings] == [
        (link_row.id, application["id"], "198.51.100.20")
    ]


async def test_nothing_is_sent_without_the_ticked_agreement_or_with_a_wrong_address(
    settings, login, session_factory
) -> None:
    application = await submitted(await login(REFERENT))
    async with signed_in_as(settings, REFERENT) as referent:
        unticked = await post_form(referent, f"/demandes/{application['id']}/famille/acces", email=GUARDIAN)
        assert unticked.status_code == 422
        assert "accord" in text_of(unticked.text)
        wrong = await post_form(
            referent, f"/demandes/{application['id']}/famille/acces", email="pas-une-adresse", accord="oui"
        )
        assert wrong.status_code == 422
        assert 'id="erreur-email"' in wrong.text
    assert await count(session_factory, FamilyLink) == 0
    assert await count(session_factory, FamilyConsent) == 0


async def test_an_expired_link_shows_the_french_expired_page(settings, login, session_factory, monkeypatch) -> None:
    application = await submitted(await login(REFERENT))
    link = await give_access(settings, session_factory, application)
    assert (await family_get(settings, link)).status_code == 200

    later = datetime.datetime.now(datetime.UTC) + family.LINK_LIFETIME + datetime.timedelta(minutes=1)
    monkeypatch.setattr(family, "now", lambda: later)
    expired = await family_get(settings, link)
    assert expired.status_code == 410
    assert "Lien expiré" in expired.text
    assert application["reference"] not in expired.text
    async with running_app(settings, client_ip="198.51.100.30") as client:
        await client.get("/connexion")  # the CSRF cookie
        late = await client.post(
            f"{link}/pieces",
            data={"_csrf_token": client.cookies.get("csrftoken") or ""},
            files={"fichier": ("facture.png", tiny_png(), "image/png")},
            follow_redirects=False,
        )
    assert late.status_code == 410
    assert await count(session_factory, Document) == 0

    # The referent sees it expired and sends a new one, which opens.
    clear_mails()
    async with signed_in_as(settings, REFERENT) as referent:
        panel = await referent.get(f"/demandes/{application['id']}/famille")
        assert "a expiré" in text_of(panel.text)
        assert (await post_form(referent, f"/demandes/{application['id']}/famille/renouveler")).status_code == 303
    await drain_outbox(session_factory)
    [renewed] = family_links()
    assert (await family_get(settings, renewed)).status_code == 200


async def test_a_renewed_link_ends_the_old_one_and_a_withdrawn_access_opens_nothing(
    settings, login, session_factory
) -> None:
    application = await submitted(await login(REFERENT))
    first = await give_access(settings, session_factory, application)
    clear_mails()
    async with signed_in_as(settings, REFERENT) as referent:
        assert (await post_form(referent, f"/demandes/{application['id']}/famille/renouveler")).status_code == 303
    await drain_outbox(session_factory)
    [second] = family_links()
    assert second != first
    old = await family_get(settings, first)
    assert old.status_code == 410
    assert "n'est plus valable" in old.text
    assert (await family_get(settings, second)).status_code == 200

    async with signed_in_as(settings, REFERENT) as referent:
        assert (await post_form(referent, f"/demandes/{application['id']}/famille/retirer")).status_code == 303
        again = await post_form(referent, f"/demandes/{application['id']}/famille/retirer")
        assert again.status_code == 422  # nothing left to withdraw: said on the panel
        assert "pas d'accès ouvert" in text_of(again.text)
    assert (await family_get(settings, second)).status_code == 410
    actions = await scalars(session_factory, select(AuditEvent.action).order_by(AuditEvent.seq))
    assert {"family.access_given", "family.link_renewed", "family.access_revoked"} <= set(actions)
    # The link was mailed once each, however often the worker runs.
    await drain_outbox(session_factory)
    assert len(family_links()) == 1


async def test_too_many_wrong_links_from_one_address_are_refused_in_french(settings, login, session_factory) -> None:
    application = await submitted(await login(REFERENT))
    link = await give_access(settings, session_factory, application)
    _, _, application_id, token = link.split("/")
    ip = "192.0.2.50"
    for attempt in range(ratelimit.FAILURE_BUDGET):
        response = await family_get(settings, f"/famille/{application_id}/{token[:-4]}{attempt:04d}", ip)
        assert response.status_code == 404
    refused = await family_get(settings, link, ip)  # the right link too, from that address, for a while
    assert refused.status_code == 429
    assert "Trop de tentatives" in refused.text
    assert int(refused.headers["retry-after"]) > 0
    assert (await family_get(settings, link, "192.0.2.51")).status_code == 200


async def test_one_link_opened_too_often_is_refused(settings, login, session_factory, monkeypatch) -> None:
    application = await submitted(await login(REFERENT))
    link = await give_access(settings, session_factory, application)
    monkeypatch.setattr(ratelimit, "LINK_BUDGET", 3)
    statuses = [(await family_get(settings, link, f"192.0.2.{60 + i}")).status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429]


# ---------------------------------------------------------------------------------------------- what the page shows


async def test_the_page_shows_the_decision_and_payment_dates_and_nothing_of_the_committee(
    settings, login, session_factory
) -> None:
    application = await approved_with_comments(login, session_factory)
    link = await give_access(settings, session_factory, application)
    page = await family_get(settings, link)
    assert page.status_code == 200
    shown = text_of(page.text)
    assert "Accordée" in shown
    assert "120,00" in shown
    assert "prévu le" in shown
    assert COMMENT not in shown  # the members' comments, the question and its answer
    for hidden in ("Vote", "Pour", "Abstention", "Contre", "IBAN", "FR76", "Justification"):
        assert hidden not in shown, hidden
    async with session_factory() as session:
        names = (await session.execute(select(Student.first_name, Student.last_name))).all()
    for first, last in names:
        assert first not in shown
        assert last not in shown
    # The request is decided: no more documents.
    assert 'type="file"' not in page.text


async def test_the_family_downloads_the_decision_letter_from_its_page_and_the_download_is_recorded(
    settings, login, session_factory
) -> None:
    application = await approved_with_comments(login, session_factory)  # the worker made the decision letter
    link = await give_access(settings, session_factory, application)
    page = await family_get(settings, link)
    assert f'href="{link}/lettre"' in page.text
    letter = await family_get(settings, f"{link}/lettre")
    assert letter.status_code == 200
    assert letter.headers["content-type"] == "application/pdf"
    assert f"lettre-{application['reference']}-v1.pdf" in letter.headers["content-disposition"]
    text = pdf_text(letter.content)
    assert application["reference"] in text
    assert COMMENT not in text
    links = await scalars(session_factory, select(FamilyLink.id))
    kinds = await scalars(
        session_factory, select(AccessRecord.kind).where(AccessRecord.user_id.in_(links), AccessRecord.kind == "letter")
    )
    assert kinds == ["letter"]
    # The same link does not open another request's letter.
    other = await submitted(await login(REFERENT))
    assert (await family_get(settings, link.replace(application["id"], other["id"]) + "/lettre")).status_code == 404


async def test_a_request_not_yet_decided_offers_no_letter_to_the_family(settings, login, session_factory) -> None:
    application = await submitted(await login(REFERENT))
    link = await give_access(settings, session_factory, application)
    assert "/lettre" not in (await family_get(settings, link)).text
    assert (await family_get(settings, f"{link}/lettre")).status_code == 404


async def test_a_refusal_shows_its_reason_to_the_family(settings, login, session_factory) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    for email in COMMITTEE[:2]:
        member = await login(email)
        answer = await member.post(
            f"/api/v1/applications/{application['id']}/votes", json={"vote": "reject", "comment": "Hors critères."}
        )
        assert answer.status_code == 201, answer.text
    link = await give_access(settings, session_factory, application)
    shown = text_of((await family_get(settings, link)).text)
    assert "Refusée" in shown
    assert "n'a pas accordé" in shown


# ---------------------------------------------------------------------------------------------- the family's documents


async def test_a_document_from_the_family_waits_for_review_before_the_committee_sees_it(
    settings, login, session_factory
) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    link = await give_access(settings, session_factory, application)

    refused_type = await family_upload(settings, link, "notes.txt", b"just text", "text/plain")
    assert refused_type.status_code == 422
    assert "seuls les PDF, JPEG et PNG" in text_of(refused_type.text)
    assert await count(session_factory, Document) == 0

    sent = await family_upload(settings, link, "facture.png", tiny_png(), "image/png")
    assert sent.status_code == 303
    shown = text_of((await family_get(settings, link)).text)
    assert "facture.png" in shown
    assert "à vérifier" in shown
    document = await scalar(session_factory, select(Document))
    assert (document.source, document.review, document.uploaded_by_id) == ("family", "pending", None)
    # The school's referents are told; the committee is not.
    await drain_outbox(session_factory)
    told = await scalars(
        session_factory, select(User.email).join(Notification).where(Notification.kind == "family_document")
    )
    assert told == [REFERENT]

    member = await login(COMMITTEE[0])
    listed = await member.get(f"/api/v1/applications/{application['id']}/documents")
    assert listed.status_code == 200
    assert listed.json() == []
    assert (await member.get(f"/api/v1/documents/{document.id}")).status_code == 404
    async with signed_in_as(settings, COMMITTEE[0]) as committee_page:
        fragment = await committee_page.get(f"/demandes/{application['id']}/pieces")
        assert "facture.png" not in fragment.text
    mine = await referent.get(f"/api/v1/applications/{application['id']}/documents")
    assert [(d["source"], d["review"]) for d in mine.json()] == [("family", "pending")]

    async with signed_in_as(settings, REFERENT) as referent_page:
        path = f"/demandes/{application['id']}/famille/pieces/{document.id}"
        no_reason = await post_form(referent_page, path, decision="refuser", reason="  ")
        assert no_reason.status_code == 422
        assert "pourquoi la pièce est refusée" in text_of(no_reason.text)
        assert (await post_form(referent_page, path, decision="accepter")).status_code == 303
        assert (await post_form(referent_page, path, decision="accepter")).status_code == 422  # already reviewed

    listed = await member.get(f"/api/v1/applications/{application['id']}/documents")
    assert [d["name"] for d in listed.json()] == ["facture.png"]
    assert (await member.get(f"/api/v1/documents/{document.id}")).status_code == 200
    assert "acceptée" in text_of((await family_get(settings, link)).text)
    actions = await scalars(session_factory, select(AuditEvent.action).order_by(AuditEvent.seq))
    assert {"document.family_added", "document.family_accepted"} <= set(actions)


async def test_a_file_too_large_is_refused_before_it_is_read_with_the_reason_on_the_page(
    settings, login, session_factory
) -> None:
    from fund.documents.service import MAX_FILE_BYTES

    application = await submitted(await login(REFERENT))
    link = await give_access(settings, session_factory, application)
    too_large = b"%PDF-1.4\n" + b"0" * (MAX_FILE_BYTES + 200_000)
    response = await family_upload(settings, link, "scan.pdf", too_large, "application/pdf")
    assert response.status_code == 303
    assert response.headers["location"] == f"{link}?erreur=taille"
    page = await family_get(settings, response.headers["location"])
    assert "Fichier trop volumineux : 5 Mo au plus." in text_of(page.text)
    assert await count(session_factory, Document) == 0


async def test_a_refused_family_document_tells_the_family_why_and_stays_from_the_committee(
    settings, login, session_factory
) -> None:
    application = await submitted(await login(REFERENT))
    link = await give_access(settings, session_factory, application)
    assert (await family_upload(settings, link, "photo.png", tiny_png(), "image/png")).status_code == 303
    document = await scalar(session_factory, select(Document))
    async with signed_in_as(settings, REFERENT) as referent_page:
        path = f"/demandes/{application['id']}/famille/pieces/{document.id}"
        response = await post_form(referent_page, path, decision="refuser", reason="Illisible, merci de la refaire.")
        assert response.status_code == 303
    shown = text_of((await family_get(settings, link)).text)
    assert "refusée" in shown
    assert "Illisible, merci de la refaire." in shown
    member = await login(COMMITTEE[0])
    assert (await member.get(f"/api/v1/applications/{application['id']}/documents")).json() == []


# ---------------------------------------------------------------------------------------------- who may do what


async def test_only_the_requests_referent_gives_renews_withdraws_and_reviews(settings, login, session_factory) -> None:
    others = await second_fund(session_factory)
    application = await submitted(await login(REFERENT))
    link = await give_access(settings, session_factory, application)
    assert (await family_upload(settings, link, "piece.png", tiny_png(), "image/png")).status_code == 303
    document = await scalar(session_factory, select(Document))
    base = f"/demandes/{application['id']}/famille"
    actions = {
        f"{base}/acces": {"email": "intrus@example.net", "accord": "oui"},
        f"{base}/renouveler": {},
        f"{base}/retirer": {},
        f"{base}/pieces/{document.id}": {"decision": "accepter"},
    }
    for email in (EMAILS["referent_b"], others["other_referent"]):
        async with signed_in_as(settings, email) as client:
            assert (await client.get(base)).status_code == 404
            for path, fields in actions.items():
                assert (await post_form(client, path, **fields)).status_code == 404, (email, path)
    for email, home in ((COMMITTEE[0], "/comite"), (ACCOUNTANT, "/comptabilite")):
        async with signed_in_as(settings, email) as client:
            for path, fields in actions.items():
                response = await post_form(client, path, **fields)
                assert (response.status_code, response.headers["location"]) == (303, home), (email, path)
    async with running_app(settings) as anonymous:
        for path, fields in actions.items():
            response = await post_form(anonymous, path, **fields)
            assert response.status_code in (302, 303)
            assert response.headers["location"].startswith("/connexion")

    # Nothing changed: one consent, one open link, the document still to review, the family page still opens.
    assert await count(session_factory, FamilyConsent) == 1
    assert [link_row.ended_at for link_row in await scalars(session_factory, select(FamilyLink))] == [None]
    assert (await scalar(session_factory, select(Document.review))) == "pending"
    assert (await family_get(settings, link)).status_code == 200


# ---------------------------------------------------------------------------------------------- retention


async def test_anonymising_the_case_deletes_its_links_and_erases_the_familys_address(
    settings, login, session_factory
) -> None:
    from fund.applications.models import Application
    from fund.audit.service import SYSTEM
    from fund.privacy.retention import anonymise_application

    application = await submitted(await login(REFERENT))
    link = await give_access(settings, session_factory, application)
    assert (await family_upload(settings, link, "piece.png", tiny_png(), "image/png")).status_code == 303
    async with session_factory() as session:
        await session.get(Application, application["id"], with_for_update=True)
        await anonymise_application(session, application["id"], "retention", SYSTEM)
        await session.commit()

    assert await count(session_factory, FamilyLink) == 0
    assert await count(session_factory, Document) == 0
    consent = await scalar(session_factory, select(FamilyConsent))
    assert consent.email is None
    assert consent.given_by_id is not None
    assert (await family_get(settings, link)).status_code == 404
    actions = await scalars(session_factory, select(AuditEvent.action).order_by(AuditEvent.seq))
    assert "family.access_erased" in actions


def test_the_family_is_the_guardian_of_a_minor_and_the_student_from_the_18th_birthday() -> None:
    today = datetime.date(2026, 12, 3)
    assert family.recipient_of(Student(birth_date=datetime.date(2010, 1, 1)), today) == "guardian"
    assert family.recipient_of(Student(birth_date=datetime.date(2008, 12, 4)), today) == "guardian"
    assert family.recipient_of(Student(birth_date=datetime.date(2008, 12, 3)), today) == "student"


async def test_the_familys_openings_are_named_in_who_viewed_the_case_and_its_link_never_logged(
    settings, login, session_factory
) -> None:
    from fund.core.logging import redact_text
    from fund.privacy.service import FAMILY_READER, views_of_case

    application = await submitted(await login(REFERENT))
    link = await give_access(settings, session_factory, application)
    assert (await family_get(settings, link)).status_code == 200
    async with session_factory() as session:
        views = await views_of_case(session, application["reference"])
    assert [(v.full_name, v.ip) for v in views if v.email is None] == [(FAMILY_READER, "198.51.100.20")]

    token = link.rsplit("/", 1)[1]
    logged = redact_text(f'"GET {link} HTTP/1.1" 200 and "POST {link}/pieces"')
    assert token not in logged
    assert application["id"] in logged
