"""The accountant's pages: disbursements by status, batches (remises) and their SEPA file, bank statements, exports.

Each page uses the API's services: the tests set up a request through the API, then pay it through the pages and
try the refusals (nothing due, a bad statement, a bad date range, other roles, a post without the CSRF token).
"""

from __future__ import annotations

import datetime
import io
import re
from html import unescape
from urllib.parse import urlencode

import openpyxl
from lxml import etree
from sqlalchemy import select

from fund.disbursements.models import BankStatement, Disbursement, ExportRecord, PaymentBatch
from fund.payments.calendar import next_target_business_day
from fund.payments.sepa import validate_pain001
from tests.helpers import (
    approved_and_scheduled,
    camt054,
    count,
    csrf_token,
    drain_outbox,
    entry,
    import_statement,
    post_form,
    ready_batch,
    signed_in_as,
)

NOT_ACCOUNTANTS = {
    "referent@example.org": "/referent",
    "committee1@example.org": "/comite",
    "chair@example.org": "/comite",
    "admin@example.org": "/administration",
}
JUSTIFICATION = "Abonnement de bus mensuel"  # tests.helpers.application_body's justification


def hidden_key(html: str) -> str:
    match = re.search(r'name="cle" value="([0-9a-f]+)"', html)
    assert match, "the form carries an idempotency key"
    return match.group(1)


def today_iso() -> str:
    """The first TARGET2 business day from today (the only days a batch may be executed on)."""
    return next_target_business_day(datetime.date.today()).isoformat()


# --------------------------------------------------------------------------------------------------------------
# The whole payment through the pages


async def test_the_accountant_pays_an_approved_request_through_the_pages(login, session_factory, settings) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=20000)
    async with signed_in_as(settings, "accountant@example.org") as client:
        home = await client.get("/comptabilite")
        assert home.status_code == 200
        assert "<h1>Versements</h1>" in home.text
        assert application["reference"] in home.text
        assert "200,00\u00a0€" in home.text
        assert "FR76 •••• •••• 0189" in home.text
        assert JUSTIFICATION not in home.text

        form = await client.get("/remises")
        assert "Créer une remise</button>" in form.text
        assert f'value="{today_iso()}"' in form.text  # the first business day from today, as the API
        key = hidden_key(form.text)
        created = await post_form(client, "/remises", cle=key, execution_date=today_iso(), format="pain.001.001.09")
        assert created.status_code == 303, created.text
        location = created.headers["location"]
        assert re.fullmatch(r"/remises/[0-9a-f-]{36}", location)
        again = await post_form(client, "/remises", cle=key, execution_date=today_iso(), format="pain.001.001.09")
        assert again.headers["location"] == location  # a double submit gives back the same batch
        assert await count(session_factory, PaymentBatch) == 1

        pending = await client.get(location)
        assert "Remise créée : le fichier est en préparation." in pending.text
        assert "En préparation" in pending.text
        assert 'hx-trigger="every 2s"' in pending.text
        assert "Télécharger le fichier" not in pending.text
        assert (await client.get(f"{location}/fichier")).status_code == 409  # no file before the worker built it

        await drain_outbox(session_factory)  # the worker builds and validates the file
        ready = await client.get(location)
        assert "Prête" in ready.text
        assert "every 2s" not in ready.text
        assert "Télécharger le fichier</a>" in ready.text
        assert "Marquer comme envoyée à la banque</button>" in ready.text
        assert application["reference"] in ready.text

        file = await client.get(f"{location}/fichier")
        assert file.status_code == 200
        assert file.headers["content-type"].startswith("application/xml")
        async with session_factory() as session:
            batch = await session.scalar(select(PaymentBatch))
        assert file.headers["content-disposition"] == f'attachment; filename="{batch.message_id}.xml"'
        validate_pain001(file.content, "pain.001.001.09")
        e2e = etree.fromstring(file.content).findtext(
            ".//p:EndToEndId", namespaces={"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}
        )
        assert e2e == application["reference"].replace("-", "") + "-1-1"

        sent = await post_form(client, f"{location}/envoi", confirmer="oui")
        assert sent.status_code == 303
        after = await client.get(location)
        assert "Remise marquée comme envoyée à la banque." in after.text
        assert "Envoyée à la banque" in after.text
        assert "Marquer comme envoyée" not in after.text
        assert "Annuler la remise" not in after.text  # a sent batch stays

        listing = await client.get("/remises")
        assert batch.message_id in listing.text
        assert "Envoyée à la banque" in listing.text

        upload = await client.post(
            "/releves",
            data={"_csrf_token": csrf_token(client)},
            files={"fichier": ("releve.xml", camt054(entry("BANK-REF-1", "200.00", "DBIT", e2e)), "text/xml")},
            follow_redirects=False,
        )
        assert upload.status_code == 303, upload.text
        statement_url = upload.headers["location"]
        waiting = await client.get(statement_url)
        assert "Rapprochement en cours" in waiting.text
        await drain_outbox(session_factory)  # the worker reconciles
        statement = await client.get(statement_url)
        assert "Rapproché" in statement.text
        paid_section = statement.text.split('id="titre-payes"', 1)[1].split("</section>", 1)[0]
        assert "Payés (1)" in paid_section
        assert e2e in paid_section
        assert "200,00\u00a0€" in paid_section
        assert "Non rapprochés (0)" in statement.text

        paid = await client.get("/comptabilite", params={"statut": "paid"})
        listed = paid.text.split('id="titre-statut"', 1)[1].split("</section>", 1)[0]
        assert application["reference"] in listed
        assert batch.message_id in listed
        assert "Aucun versement à payer." in paid.text
        assert "releve.xml" in (await client.get("/releves")).text

        same = await client.post(
            "/releves",
            data={"_csrf_token": csrf_token(client)},
            files={"fichier": ("releve.xml", camt054(entry("BANK-REF-1", "200.00", "DBIT", e2e)), "text/xml")},
            follow_redirects=False,
        )
        assert (same.status_code, same.headers["location"]) == (303, statement_url)  # the first import's page
        said = unescape((await client.get(statement_url)).text)
        assert "Relevé déjà importé le" in said
        assert "rien n'a changé" in said
        assert await count(session_factory, BankStatement) == 1
    referent = await login("referent@example.org")
    assert (await referent.get(f"/api/v1/applications/{application['id']}")).json()["status"] == "paid"


async def test_nothing_due_shows_the_french_message_next_to_the_date_and_creates_nothing(
    login, session_factory, settings
) -> None:
    async with signed_in_as(settings, "accountant@example.org") as client:
        key = hidden_key((await client.get("/remises")).text)
        response = await post_form(client, "/remises", cle=key, execution_date=today_iso(), format="pain.001.001.09")
    assert response.status_code == 409
    assert "Aucun versement n'est à payer au plus tard le" in unescape(response.text)
    field = unescape(response.text).split('id="execution_date"', 1)[1].split("</p>", 1)[0]
    assert 'aria-invalid="true"' in field
    assert "Aucun versement n'est à payer" in field
    assert f'value="{key}"' in response.text  # a retry keeps the key
    assert "no disbursement" not in response.text
    assert await count(session_factory, PaymentBatch) == 0


async def test_a_past_or_malformed_execution_date_is_refused_next_to_the_field(
    login, session_factory, settings
) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    yesterday = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    async with signed_in_as(settings, "accountant@example.org") as client:
        past = await post_form(client, "/remises", cle="k1", execution_date=yesterday, format="pain.001.001.09")
        assert past.status_code == 422
        assert "la date d'exécution ne peut pas être passée" in unescape(past.text)
        garbled = await post_form(client, "/remises", cle="k2", execution_date="demain", format="pain.001.001.09")
        assert garbled.status_code == 422
        assert "date attendue" in garbled.text
        unknown = await post_form(client, "/remises", cle="k3", execution_date=today_iso(), format="pain.002")
        assert unknown.status_code == 422
        assert "choisir dans la liste" in unknown.text.split('id="format"', 1)[1].split("</p>", 1)[0]
    assert await count(session_factory, PaymentBatch) == 0


async def test_a_batch_is_cancelled_from_its_page_and_its_disbursements_are_due_again(
    login, session_factory, settings
) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    batch = await ready_batch(login, session_factory)
    async with signed_in_as(settings, "accountant@example.org") as client:
        page = await client.get(f"/remises/{batch['id']}")
        assert "Annuler la remise</button>" in page.text
        cancelled = await post_form(client, f"/remises/{batch['id']}/annulation", confirmer="oui")
        assert cancelled.status_code == 303
        after = await client.get(f"/remises/{batch['id']}")
        assert "Remise annulée : ses versements sont de nouveau à payer." in after.text
        assert "Annulée" in after.text
        assert "Télécharger le fichier" not in after.text
        again = await post_form(client, f"/remises/{batch['id']}/annulation", confirmer="oui")
        assert again.status_code == 409
        assert "ne peut plus être annulée" in again.text
        not_ready = await post_form(client, f"/remises/{batch['id']}/envoi", confirmer="oui")
        assert not_ready.status_code == 409
        assert "Seule une remise prête" in not_ready.text
        home = await client.get("/comptabilite")
        assert "Programmé" in home.text.split('id="titre-a-payer"', 1)[1]
    async with session_factory() as session:
        assert await session.scalar(select(Disbursement.status)) == "scheduled"


async def test_an_unknown_batch_or_statement_is_not_found(login, settings) -> None:
    unknown = "0190a000-0000-7000-8000-000000000000"
    async with signed_in_as(settings, "accountant@example.org") as client:
        for url in (f"/remises/{unknown}", f"/remises/{unknown}/fichier", f"/releves/{unknown}"):
            assert (await client.get(url)).status_code == 404, url
        assert (await post_form(client, f"/remises/{unknown}/envoi", confirmer="oui")).status_code == 404


# --------------------------------------------------------------------------------------------------------------
# Returned transfers


async def test_a_returned_transfer_shows_its_french_reason_and_is_reissued(login, session_factory, settings) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=15000)
    accountant = await login("accountant@example.org")
    batch = await ready_batch(login, session_factory)
    e2e = batch["transfers"][0]["end_to_end_id"]
    await accountant.post(f"/api/v1/payment-batches/{batch['id']}/sent")
    await import_statement(login, session_factory, camt054(entry("REF-PAID", "150.00", "DBIT", e2e)))
    returned = await import_statement(
        login, session_factory, camt054(entry("REF-RTRN", "150.00", "CRDT", e2e, reason="AC04"))
    )
    async with session_factory() as session:
        disbursement = await session.scalar(select(Disbursement))
    async with signed_in_as(settings, "accountant@example.org") as client:
        statement = await client.get(f"/releves/{returned['id']}")
        section = statement.text.split('id="titre-rejetes"', 1)[1].split("</section>", 1)[0]
        assert "compte clos" in section
        assert e2e in section

        home = await client.get("/comptabilite", params={"statut": "returned"})
        listed = home.text.split('id="titre-statut"', 1)[1].split("</section>", 1)[0]
        assert application["reference"] in listed
        assert "compte clos" in listed
        # Not corrected yet: no one-click re-issue, the way to the returned transfers' page instead.
        assert f'action="/comptabilite/versements/{disbursement.id}/reemission"' not in listed
        assert f'href="/comptabilite/retours#retour-{disbursement.id}"' in listed
        refused = await post_form(client, f"/comptabilite/versements/{disbursement.id}/reemission")
        assert refused.status_code == 409
        assert "n'a pas été corrigé" in unescape(refused.text)
        assert "compte clos (AC04)" in unescape(refused.text)

        reissued = await post_form(
            client,
            f"/comptabilite/versements/{disbursement.id}/reemission",
            motif="La banque confirme que le compte est rouvert.",
        )
        assert reissued.status_code == 303
        assert reissued.headers["location"] == "/comptabilite"
        after = await client.get("/comptabilite")
        assert f"Versement {application['reference']}/1 de nouveau à payer" in after.text
        assert "Réémettre" not in after.text

        twice = await post_form(client, f"/comptabilite/versements/{disbursement.id}/reemission")
        assert twice.status_code == 409
        assert "rien à réémettre" in twice.text
        assert "cannot" not in twice.text
    async with session_factory() as session:
        assert await session.scalar(select(Disbursement.status)) == "scheduled"


# --------------------------------------------------------------------------------------------------------------
# Statements


async def test_a_file_that_is_not_a_statement_shows_the_french_error_next_to_the_field(
    login, session_factory, settings
) -> None:
    async with signed_in_as(settings, "accountant@example.org") as client:
        cases = [
            (b"<html><body>hi</body></html>", "page web"),
            (b"not xml at all", "pas un fichier XML"),
            (b"", "vide"),
            (b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"/>', "virement"),
        ]
        for content, expected in cases:
            response = await client.post(
                "/releves",
                data={"_csrf_token": csrf_token(client)},
                files={"fichier": ("releve.xml", content, "text/xml")},
                follow_redirects=False,
            )
            assert response.status_code == 422, content
            field = response.text.split('id="fichier"', 1)[1].split("</p>", 1)[0]
            assert 'aria-invalid="true"' in field
            assert expected in field, response.text
            assert "the file" not in response.text
        no_file = await post_form(client, "/releves")
        assert no_file.status_code == 422
        assert "Choisissez le fichier du relevé." in no_file.text
    assert await count(session_factory, BankStatement) == 0


async def test_an_entry_that_matches_nothing_is_listed_unmatched_in_french(login, session_factory, settings) -> None:
    async with signed_in_as(settings, "accountant@example.org") as client:
        upload = await client.post(
            "/releves",
            data={"_csrf_token": csrf_token(client)},
            files={"fichier": ("avis.xml", camt054(entry("REF-X", "12.00", "DBIT", "SOMEONE-ELSE")), "text/xml")},
            follow_redirects=False,
        )
        assert upload.status_code == 303
        await drain_outbox(session_factory)
        page = await client.get(upload.headers["location"])
    section = page.text.split('id="titre-non-rapproches"', 1)[1].split("</section>", 1)[0]
    assert "Non rapprochés (1)" in section
    assert "Virement inconnu, ou remise pas encore marquée comme envoyée." in section
    assert "12,00\u00a0€" in section
    assert "Payés (0)" in page.text


# --------------------------------------------------------------------------------------------------------------
# Disbursements by status


async def test_the_status_list_pages_by_keyset(login, session_factory, settings, monkeypatch) -> None:
    first = await approved_and_scheduled(login, session_factory, amount=11000)
    second = await approved_and_scheduled(login, session_factory, amount=13000)
    monkeypatch.setattr("fund.disbursements.pages.PAGE_SIZE", 1)
    async with signed_in_as(settings, "accountant@example.org") as client:
        home = await client.get("/comptabilite", params={"statut": "scheduled"})
        totals = home.text.split("</table>", 1)[0]
        assert "Programmés" in totals
        assert "240,00\u00a0€" in totals  # count and amount per status
        page_one = home.text.split('id="titre-statut"', 1)[1].split("</section>", 1)[0]
        assert second["reference"] in page_one  # newest first
        assert first["reference"] not in page_one
        more = re.search(r'href="(/comptabilite\?statut=scheduled&amp;apres=[^"]+)"', page_one)
        assert more
        page_two = await client.get(more.group(1).replace("&amp;", "&"))
        listed = page_two.text.split('id="titre-statut"', 1)[1].split("</section>", 1)[0]
        assert first["reference"] in listed
        assert second["reference"] not in listed
        assert "apres=" not in listed
        unknown = await client.get("/comptabilite", params={"statut": "nonsense"})
        assert unknown.status_code == 200
        assert 'id="titre-statut"' not in unknown.text


# --------------------------------------------------------------------------------------------------------------
# Exports


async def test_exports_download_from_the_page_and_are_recorded(login, session_factory, settings) -> None:
    application = await approved_and_scheduled(login, session_factory, amount=12345)
    async with signed_in_as(settings, "accountant@example.org") as client:
        page = await client.get("/exports")
        assert '<label for="du">Du</label>' in page.text
        assert '<label for="au">Au</label>' in page.text
        for text in ("Exporter en CSV", "Exporter en XLSX", "Exporter le FEC"):
            assert f">{text}</button>" in page.text
        assert "Aucun export pour l'instant." in unescape(page.text)

        csv = await client.get("/exports/fichier", params={"format": "csv", "du": "", "au": ""})
        assert csv.status_code == 200
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.headers["content-disposition"] == 'attachment; filename="versements_debut_fin.csv"'
        text = csv.content.decode("utf-8-sig")
        assert application["reference"] in text
        assert "123,45" in text
        assert JUSTIFICATION not in text

        day = datetime.date.today()
        xlsx = await client.get("/exports/fichier", params={"format": "xlsx", "du": day.isoformat(), "au": ""})
        assert xlsx.status_code == 200
        assert f'filename="versements_{day}_fin.xlsx"' in xlsx.headers["content-disposition"]
        rows = list(openpyxl.load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
        assert rows[1][0] == application["reference"]

        fec = await client.get("/exports/fichier", params={"format": "fec", "au": day.strftime("%d/%m/%Y")})
        assert fec.status_code == 200
        assert f'FEC{day.strftime("%Y%m%d")}.txt"' in fec.headers["content-disposition"]
        assert fec.content.decode("iso-8859-15").splitlines()[0].startswith("JournalCode|")

        records = await client.get("/exports")
    async with session_factory() as session:
        saved = list(await session.scalars(select(ExportRecord).order_by(ExportRecord.id)))
    assert [r.kind for r in saved] == ["csv", "xlsx", "fec"]
    assert all(r.checksum_sha256 and r.completed_at for r in saved)
    assert saved[1].date_from == day
    table = records.text.split("<tbody>", 1)[1]
    assert table.index("FEC") < table.index("CSV")  # newest first
    for r in saved:
        assert r.checksum_sha256 in table
        assert r.file_name in table
    assert "Jean Comptable" in table  # who downloaded, by name
    assert f"<td>{day.strftime('%d/%m/%Y')}</td>" in table


async def test_a_bad_export_range_shows_the_error_next_to_the_field_and_records_nothing(
    login, session_factory, settings
) -> None:
    async with signed_in_as(settings, "accountant@example.org") as client:
        reversed_range = await client.get(
            "/exports/fichier", params={"format": "csv", "du": "2026-12-31", "au": "2026-01-01"}
        )
        assert reversed_range.status_code == 422
        field = reversed_range.text.split('id="au"', 1)[1].split("</p>", 1)[0]
        assert "la date de fin précède la date de début" in field
        assert 'aria-invalid="true"' in field
        assert 'value="2026-12-31"' in reversed_range.text  # the form keeps what was typed

        garbled = await client.get("/exports/fichier", params={"format": "xlsx", "du": "hier"})
        assert garbled.status_code == 422
        assert "date attendue" in garbled.text.split('id="du"', 1)[1].split("</p>", 1)[0]

        no_format = await client.get("/exports/fichier", params={"format": "pdf"})
        assert no_format.status_code == 422
        assert "Choisissez un format" in no_format.text
    assert await count(session_factory, ExportRecord) == 0


# --------------------------------------------------------------------------------------------------------------
# Who may


async def test_other_roles_are_sent_home_from_every_page_and_cannot_post(login, session_factory, settings) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    batch = await ready_batch(login, session_factory)
    async with session_factory() as session:
        disbursement_id = await session.scalar(select(Disbursement.id))
    pages = [
        "/comptabilite",
        "/comptabilite?statut=batched",
        "/remises",
        f"/remises/{batch['id']}",
        f"/remises/{batch['id']}/fichier",
        "/releves",
        "/exports",
        "/exports/fichier?format=csv",
    ]
    posts = [
        ("/remises", {"cle": "intrus", "execution_date": today_iso(), "format": "pain.001.001.09"}),
        (f"/remises/{batch['id']}/envoi", {}),
        (f"/remises/{batch['id']}/annulation", {}),
        (f"/comptabilite/versements/{disbursement_id}/reemission", {}),
    ]
    for email, home in NOT_ACCOUNTANTS.items():
        async with signed_in_as(settings, email) as client:
            for url in pages:
                response = await client.get(url, follow_redirects=False)
                assert response.status_code == 303, (email, url)
                assert response.headers["location"] == home, (email, url)
            for url, data in posts:
                response = await post_form(client, url, **data)
                assert response.status_code == 303, (email, url)
                assert response.headers["location"] == home, (email, url)
            upload = await client.post(
                "/releves",
                data={"_csrf_token": csrf_token(client)},
                files={"fichier": ("releve.xml", camt054(entry("R", "120.00", "DBIT", "X")), "text/xml")},
                follow_redirects=False,
            )
            assert upload.headers["location"] == home
    async with session_factory() as session:
        assert await session.scalar(select(PaymentBatch.status)) == "ready"  # neither sent nor cancelled
    assert await count(session_factory, PaymentBatch) == 1
    assert await count(session_factory, BankStatement) == 0
    assert await count(session_factory, ExportRecord) == 0


async def test_signed_out_visitors_are_sent_to_the_sign_in_page(app_client, demo) -> None:
    for url in ("/comptabilite", "/remises", "/releves", "/exports", "/exports/fichier?format=csv"):
        response = await app_client.get(url, follow_redirects=False)
        assert response.headers["location"] == "/connexion?" + urlencode({"suite": url}), url


async def test_a_post_without_the_csrf_token_is_refused(login, session_factory, settings) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    async with signed_in_as(settings, "accountant@example.org") as client:
        await client.get("/remises")
        response = await client.post(
            "/remises", data={"cle": "k", "execution_date": today_iso()}, follow_redirects=False
        )
        assert response.status_code == 403
        upload = await client.post(
            "/releves",
            files={"fichier": ("releve.xml", camt054(entry("R", "120.00", "DBIT", "X")), "text/xml")},
            follow_redirects=False,
        )
        assert upload.status_code == 403
    assert await count(session_factory, PaymentBatch) == 0
    assert await count(session_factory, BankStatement) == 0


async def test_another_file_of_an_imported_statement_shows_deja_importe_and_stores_nothing(
    login, session_factory, settings
) -> None:
    await approved_and_scheduled(login, session_factory, amount=12000)
    batch = await ready_batch(login, session_factory)  # never marked sent
    (transfer,) = batch["transfers"]
    content = camt054(entry("WEB-ONCE", "120.00", "DBIT", transfer["end_to_end_id"]))
    async with signed_in_as(settings, "accountant@example.org") as client:
        first = await client.post(
            "/releves",
            data={"_csrf_token": csrf_token(client)},
            files={"fichier": ("releve.xml", content, "text/xml")},
            follow_redirects=False,
        )
        assert first.status_code == 303
        statement_url = first.headers["location"]
        await drain_outbox(session_factory)
        shown = unescape((await client.get(statement_url)).text)
        assert "Rapproché" in shown
        assert "relevé rapproché : toutes ses écritures sont rapprochées" in shown

        export = content.replace(b"<MsgId>NTF-1</MsgId>", b"<MsgId>EXPORT-2</MsgId>").replace(b"\n", b"\r\n")
        again = await client.post(
            "/releves",
            data={"_csrf_token": csrf_token(client)},
            files={"fichier": ("export-du-lendemain.xml", export, "text/xml")},
            follow_redirects=False,
        )
        assert (again.status_code, again.headers["location"]) == (303, statement_url)
        page = unescape((await client.get(statement_url)).text)
        assert "Relevé déjà importé le" in page
        assert "du compte FR76 •••• •••• 7845" in page
        assert "fichier « releve.xml »" in page
        assert await count(session_factory, BankStatement) == 1

        # The batch the statement proved sent says so in its history.
        remise = unescape((await client.get(f"/remises/{batch['id']}")).text)
        assert 'role="status">Envoyée à la banque</span>' in remise
        assert "Marquer comme envoyée à la banque</button>" not in remise
        assert "remise marquée envoyée d'après le relevé de la banque" in remise
