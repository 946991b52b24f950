"""The auditor's case file: a streamed ZIP per request or per random sample, whose hashes ``fund audit verify
--case-file`` checks offline; tampering is caught; the draw is reproducible by its seed; administrator and
accountant of the fund only; every download recorded; an anonymised case stays anonymised."""

from __future__ import annotations

import datetime
import io
import itertools
import json
import zipfile
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select, update

from fund.applications.models import Application
from fund.audit.service import SYSTEM, event_hash, hashed_fields
from fund.auth.models import User
from fund.casefiles.service import draw
from fund.casefiles.verify import _event, verify_case_file
from fund.cli import main
from fund.funds.calendar import local_day
from fund.privacy.models import AccessRecord
from fund.privacy.retention import anonymise_application
from tests.helpers import (
    COMMENT,
    REFERENT,
    assert_problem,
    keep_first_page,
    paid_case,
    pdf_text,
    running_app,
    second_fund,
    sign_in,
    submitted,
)

TODAY = local_day(datetime.datetime.now(datetime.UTC))


async def case_file(api: Any, application_id: str) -> zipfile.ZipFile:
    response = await api.get(f"/api/v1/applications/{application_id}/case-file.zip")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.content))


def rewrite(archive: zipfile.ZipFile, changes: dict[str, bytes]) -> bytes:
    """The same ZIP with some files' bytes replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as copy:
        for name in archive.namelist():
            copy.writestr(name, changes.get(name, archive.read(name)))
    return out.getvalue()


def manifest_of(archive: zipfile.ZipFile, changes: dict[str, bytes]) -> bytes:
    """The manifest recomputed after the changes (a forger who updates it too)."""
    import hashlib

    lines = []
    for line in archive.read("MANIFEST.sha256").decode().splitlines():
        digest, path = line.split("  ", 1)
        if path in changes:
            digest = hashlib.sha256(changes[path]).hexdigest()
        lines.append(f"{digest}  {path}\n")
    return "".join(lines).encode()


async def test_a_paid_case_file_holds_everything_and_verifies_with_the_cli(login, session_factory, tmp_path, capsys):
    application = await paid_case(login, session_factory, ref="CASEFILE")
    archive = await case_file(await login("accountant@example.org"), application["id"])
    reference = application["reference"]
    names = set(archive.namelist())
    for part in ("demande.json", "demande.pdf", "votes.json", "versements.json", "ecritures.json", "audit.json"):
        assert f"{reference}/{part}" in names, part
    assert {"LISEZMOI.txt", "chaine.json", "MANIFEST.sha256"} <= names
    assert archive.namelist()[-1] == "MANIFEST.sha256"
    [piece] = [n for n in names if n.startswith(f"{reference}/pieces/")]
    assert archive.read(piece).startswith(b"\x89PNG")  # decrypted from the store
    request = json.loads(archive.read(f"{reference}/demande.json"))
    assert request["status"] == "paid"
    assert request["payee"]["iban_masked"]
    assert "payee_iban_encrypted" not in json.dumps(request)
    [payment] = json.loads(archive.read(f"{reference}/versements.json"))["disbursements"]
    [attempt] = payment["attempts"]
    assert attempt["end_to_end_id"]
    assert attempt["batch"]["message_id"]
    assert attempt["statement_entries"][0]["statement_id"]
    assert attempt["statement_entries"][0]["account_servicer_ref"].startswith("CASEFILE")
    entries = json.loads(archive.read(f"{reference}/ecritures.json"))["entries"]
    assert entries
    assert all(sum(x["debit_cents"] for x in e["lines"]) == sum(x["credit_cents"] for x in e["lines"]) for e in entries)
    votes = json.loads(archive.read(f"{reference}/votes.json"))["votes"]
    assert {v["choice"] for v in votes} == {"approve"}
    events = json.loads(archive.read(f"{reference}/audit.json"))["events"]
    actions = [e["action"] for e in events]
    assert {"application.submit", "document.added", "application.vote"} <= set(actions), actions
    assert any(e["entity_type"] == "disbursement" for e in events), actions  # its money's events too
    summary = pdf_text(archive.read(f"{reference}/demande.pdf"))
    assert reference in summary
    assert attempt["end_to_end_id"] in summary
    assert "Payé le " in summary  # in French, as the pages say it
    assert keep_first_page(archive.read(f"{reference}/demande.pdf"), "dossier-audit-demande-payee").exists()
    [letter] = [n for n in names if n.startswith(f"{reference}/courriers/")]  # the decision letter, as stored
    assert letter.endswith(f"lettre-{reference}-v1.pdf")
    letter_text = pdf_text(archive.read(letter))
    assert reference in letter_text
    assert "120,00" in letter_text

    path = tmp_path / "dossier.zip"
    path.write_bytes(rewrite(archive, {}))
    assert main(["audit", "verify", "--case-file", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"case file intact: {len(names) - 1} files, 1 case(s), {len(events)} audit events" in out


async def test_a_tampered_case_file_fails_verification(login, session_factory, tmp_path, capsys):
    application = await submitted(await login(REFERENT))
    archive = await case_file(await login("admin@example.org"), application["id"])
    reference = application["reference"]
    request_path, audit_path = f"{reference}/demande.json", f"{reference}/audit.json"
    assert verify_case_file(io.BytesIO(rewrite(archive, {}))).intact

    # A file changed, the manifest left alone: its SHA-256 differs.
    changed = archive.read(request_path).replace(b'"amount_requested_cents": ', b'"amount_requested_cents": 9')
    path = tmp_path / "altere.zip"
    path.write_bytes(rewrite(archive, {request_path: changed}))
    assert main(["audit", "verify", "--case-file", str(path)]) == 1
    assert f"FAILED {request_path}: SHA-256 differs from the manifest" in capsys.readouterr().out

    # An audit event changed and the manifest recomputed: the event's hash no longer holds.
    audit = json.loads(archive.read(audit_path))
    audit["events"][0]["actor_id"] = None
    forged = json.dumps(audit).encode()
    changes = {audit_path: forged}
    changes["MANIFEST.sha256"] = manifest_of(archive, changes)
    report = verify_case_file(io.BytesIO(rewrite(archive, changes)))
    assert not report.intact
    assert any("hash mismatch" in p for p in report.problems), report.problems

    # An event marked redacted (as in an anonymised case) to escape the hash check, in a case that is not anonymised.
    audit = json.loads(archive.read(audit_path))
    audit["events"][0]["actor_id"] = None
    audit["events"][0]["redacted"] = True
    changes = {audit_path: json.dumps(audit).encode()}
    changes["MANIFEST.sha256"] = manifest_of(archive, changes)
    problems = verify_case_file(io.BytesIO(rewrite(archive, changes))).problems
    assert any("marked redacted in a case that is not anonymised" in p for p in problems), problems

    # A file added that the manifest does not list.
    out = io.BytesIO(rewrite(archive, {}))
    with zipfile.ZipFile(out, "a") as more:
        more.writestr(f"{reference}/pieces/ajout.pdf", b"%PDF-1.4")
    assert any("not listed" in p for p in verify_case_file(io.BytesIO(out.getvalue())).problems)


async def test_the_sample_is_drawn_again_with_its_seed(login, session_factory):
    referent = await login(REFERENT)
    for _ in range(5):
        await submitted(referent)
    accountant = await login("accountant@example.org")
    params = {"from": (TODAY - datetime.timedelta(days=1)).isoformat(), "to": TODAY.isoformat(), "size": "3"}
    first = await accountant.get("/api/v1/case-files/sample.zip", params={**params, "seed": "4242"})
    again = await accountant.get("/api/v1/case-files/sample.zip", params={**params, "seed": "4242"})
    fresh = await accountant.get("/api/v1/case-files/sample.zip", params=params)
    assert first.status_code == again.status_code == fresh.status_code == 200, first.text
    assert first.headers["x-case-file-seed"] == "4242"
    assert fresh.headers["x-case-file-seed"].isdigit()
    samples = [json.loads(zipfile.ZipFile(io.BytesIO(r.content)).read("echantillon.json")) for r in (first, again)]
    assert samples[0]["drawn"] == samples[1]["drawn"]
    assert len(samples[0]["drawn"]) == 3
    assert samples[0]["seed"] == 4242
    population = samples[0]["population"]
    assert len(population) >= 5
    assert draw(population, 3, 4242) == samples[0]["drawn"]
    assert {draw(population, 3, seed)[0] for seed in range(20)} != {samples[0]["drawn"][0]}  # the seed matters
    archive = zipfile.ZipFile(io.BytesIO(first.content))
    assert {n.split("/")[0] for n in archive.namelist() if "/" in n} == set(samples[0]["drawn"])
    assert "Graine du tirage : 4242" in archive.read("LISEZMOI.txt").decode()
    report = verify_case_file(io.BytesIO(first.content))
    assert report.intact, report.problems
    assert report.cases == 3


async def test_bad_sample_parameters_are_refused_naming_the_field(login):
    admin = await login("admin@example.org")
    url = "/api/v1/case-files/sample.zip"
    day = TODAY.isoformat()
    assert_problem(await admin.get(url, params={"to": day, "size": "3"}), 422, "from")
    assert_problem(await admin.get(url, params={"from": "31/12/2026", "to": day, "size": "3"}), 422, "from")
    assert_problem(await admin.get(url, params={"from": day, "to": "2000-01-01", "size": "3"}), 422, "to")
    assert_problem(await admin.get(url, params={"from": day, "to": day, "size": "0"}), 422, "size")
    assert_problem(await admin.get(url, params={"from": day, "to": day, "size": "1001"}), 422, "size")
    assert_problem(await admin.get(url, params={"from": day, "to": day, "size": "3", "seed": "-1"}), 422, "seed")
    assert_problem(await admin.get(url, params={"from": "2001-01-01", "to": "2001-01-02", "size": "3"}), 422, "from")


async def test_only_the_funds_administrator_and_accountant_get_case_files(login, session_factory, app_client):
    application = await submitted(await login(REFERENT))
    url = f"/api/v1/applications/{application['id']}/case-file.zip"
    sample = "/api/v1/case-files/sample.zip"
    for email in (REFERENT, "committee1@example.org", "chair@example.org"):
        assert_problem(await (await login(email)).get(url), 403)
        assert_problem(await (await login(email)).get(sample, params={"from": "2026-01-01", "size": "1"}), 403)
    assert (await app_client.get(url)).status_code == 401
    other = await second_fund(session_factory)
    for role in ("other_admin", "other_accountant"):
        api = await login(other[role])
        assert_problem(await api.get(url), 404)
        day = TODAY.isoformat()
        # The other fund's sample never draws this fund's requests: its population is empty.
        assert_problem(await api.get(sample, params={"from": day, "to": day, "size": "5"}), 422, "from")
    assert (await (await login("admin@example.org")).get(url)).status_code == 200
    async with session_factory() as session:
        records = list(await session.scalars(select(AccessRecord).where(AccessRecord.kind == "case_file")))
    assert [r.object_id for r in records] == [UUID(application["id"])]


async def test_every_case_of_a_sample_download_is_recorded(login, session_factory):
    referent = await login(REFERENT)
    ids = {(await submitted(referent))["id"] for _ in range(2)}
    admin = await login("admin@example.org")
    day = TODAY.isoformat()
    response = await admin.get("/api/v1/case-files/sample.zip", params={"from": day, "to": day, "size": "1000"})
    assert response.status_code == 200
    drawn = json.loads(zipfile.ZipFile(io.BytesIO(response.content)).read("echantillon.json"))["drawn"]
    async with session_factory() as session:
        recorded = set(await session.scalars(select(AccessRecord.object_id).where(AccessRecord.kind == "case_file")))
        references = set(await session.scalars(select(Application.reference).where(Application.id.in_(recorded))))
    assert {str(i) for i in recorded} >= ids
    assert references == set(drawn)


async def test_an_anonymised_case_file_carries_nothing_the_retention_removed(login, session_factory):
    application = await paid_case(login, session_factory, ref="ANON")
    async with session_factory() as session:
        await anonymise_application(session, UUID(application["id"]), "retention", SYSTEM)
        await session.commit()
        justification = await session.scalar(
            select(Application.justification).where(Application.id == UUID(application["id"]))
        )
    assert justification == "Anonymisé"
    archive = await case_file(await login("admin@example.org"), application["id"])
    reference = application["reference"]
    request = json.loads(archive.read(f"{reference}/demande.json"))
    assert request["anonymised"]["reason"] == "retention"
    assert request["justification"] == "Anonymisé"
    assert request["documents"] == []
    assert not [n for n in archive.namelist() if "/pieces/" in n]
    assert all(v["comment"] is None for v in json.loads(archive.read(f"{reference}/votes.json"))["votes"])
    assert request["info_request_message"] is None
    # The audit events' free texts (the question, the answer) are gone too, marked so.
    assert COMMENT not in "".join(archive.read(n).decode(errors="replace") for n in archive.namelist())
    events = json.loads(archive.read(f"{reference}/audit.json"))["events"]
    redacted = [e for e in events if e.get("redacted")]
    assert {e["action"] for e in redacted} >= {"application.request_info", "application.submit"}
    # The books and the money stay (kept ten years), and the file still verifies: links for the redacted events.
    assert json.loads(archive.read(f"{reference}/ecritures.json"))["entries"]
    report = verify_case_file(io.BytesIO(rewrite(archive, {})))
    assert report.intact, report.problems
    assert report.redacted == len(redacted)
    assert report.events == len(events)


async def test_the_case_file_of_a_request_filed_before_the_period_is_not_drawn(login, session_factory):
    referent = await login(REFERENT)
    old = await submitted(referent)
    async with session_factory() as session:
        await session.execute(
            update(Application)
            .where(Application.id == UUID(old["id"]))
            .values(submitted_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=40))
        )
        await session.commit()
    admin = await login("admin@example.org")
    day = TODAY.isoformat()
    response = await admin.get("/api/v1/case-files/sample.zip", params={"from": day, "to": day, "size": "1000"})
    assert response.status_code == 200
    population = json.loads(zipfile.ZipFile(io.BytesIO(response.content)).read("echantillon.json"))["population"]
    assert old["reference"] not in population


# --- the web pages ------------------------------------------------------------------------------------------------


async def test_the_auditor_page_refuses_a_wrong_period_next_to_the_field_and_records_nothing(
    login, session_factory, settings
):
    application = await submitted(await login(REFERENT))
    day = TODAY.isoformat()
    async with running_app(settings) as client:
        await sign_in(client, "accountant@example.org")
        home = await client.get("/dossiers-audit")
        assert home.status_code == 200
        assert '<li><a href="/dossiers-audit">Dossiers d\'audit</a></li>' in home.text  # in the menu
        wrong = await client.get(
            "/dossiers-audit/echantillon", params={"du": day, "au": "2000-01-01", "taille": "5", "graine": ""}
        )
        assert wrong.status_code == 400
        assert 'id="erreur-au">la date de fin précède la date de début</span>' in wrong.text
        assert 'aria-invalid="true" aria-describedby="erreur-au"' in wrong.text
        assert 'value="2000-01-01"' in wrong.text  # what was typed stays
        letters = await client.get("/dossiers-audit/echantillon", params={"du": day, "au": day, "taille": "cinq"})
        assert letters.status_code == 400
        assert 'id="erreur-taille">nombre de demandes attendu entre 1 et 1000</span>' in letters.text
        unknown = await client.get("/dossiers-audit/demande", params={"reference": "FS-1999-000001"})
        assert unknown.status_code == 400
        assert "aucune demande de votre fonds ne porte cette référence" in unknown.text
        async with session_factory() as session:
            assert not list(await session.scalars(select(AccessRecord).where(AccessRecord.kind == "case_file")))
        found = await client.get("/dossiers-audit/demande", params={"reference": application["reference"].lower()})
        assert found.status_code == 200
        assert found.headers["content-type"] == "application/zip"
        assert verify_case_file(io.BytesIO(found.content)).intact
        drawn = await client.get("/dossiers-audit/echantillon", params={"du": day, "au": day, "taille": "1"})
        assert drawn.status_code == 200
        assert drawn.headers["x-case-file-seed"].isdigit()


async def test_the_case_file_button_is_for_the_auditors_of_the_fund_only(login, session_factory, settings):
    application = await submitted(await login(REFERENT))
    async with session_factory() as session:  # a chair who is also the administrator sees the request's page
        await session.execute(update(User).where(User.email == "chair@example.org").values(roles=["chair", "admin"]))
        await session.commit()
    button = f'href="/dossiers-audit/demandes/{application["id"]}"'
    async with running_app(settings) as client:
        await sign_in(client, "chair@example.org")
        shown = await client.get(f"/demandes/{application['id']}")
        assert shown.status_code == 200
        assert button in shown.text
        download = await client.get(f"/dossiers-audit/demandes/{application['id']}")
        assert download.headers["content-type"] == "application/zip"
    async with running_app(settings) as client:
        await sign_in(client, REFERENT)
        page = await client.get(f"/demandes/{application['id']}")
        assert page.status_code == 200
        assert button not in page.text
        refused = await client.get(f"/dossiers-audit/demandes/{application['id']}", follow_redirects=False)
        assert refused.status_code in (303, 403)
        assert refused.headers.get("content-type") != "application/zip"
        assert (await client.get("/dossiers-audit", follow_redirects=False)).status_code in (303, 403)
    other = await second_fund(session_factory)
    async with running_app(settings) as client:
        await sign_in(client, other["other_admin"])
        hidden = await client.get(f"/dossiers-audit/demandes/{application['id']}")
        assert hidden.status_code == 404
        assert hidden.headers["content-type"].startswith("text/html")


async def test_the_zip_is_sent_as_it_is_written_one_case_at_a_time(login, session_factory, settings, monkeypatch):
    """Each case's bytes leave before the next case is read: a 1,000-request sample is never held in memory."""
    import time

    from fund.casefiles import service
    from fund.documents.storage import DocumentStore

    referent = await login(REFERENT)
    for _ in range(4):
        await submitted(referent)
    async with session_factory() as session:
        admin = await session.scalar(select(User).where(User.email == "admin@example.org"))
        assert admin is not None
        selection = await service.select_sample(session, admin, TODAY, TODAY, 1000, 7)
    sent = 0
    sent_when_read: list[int] = []
    real_gather = service.gather

    async def gather(*args: Any) -> Any:
        sent_when_read.append(sent)
        return await real_gather(*args)

    monkeypatch.setattr(service, "gather", gather)
    started = time.perf_counter()
    chunks = 0
    out = io.BytesIO()
    async for chunk in service.case_file_chunks(
        session_factory, DocumentStore.from_settings(settings), admin, selection
    ):
        sent += len(chunk)
        chunks += 1
        out.write(chunk)
    elapsed = time.perf_counter() - started
    cases = len(selection.application_ids)
    assert cases >= 4
    assert len(sent_when_read) == cases
    assert all(later > earlier for earlier, later in itertools.pairwise(sent_when_read))
    assert chunks > cases * 6  # a chunk per file written, not one at the end
    assert verify_case_file(io.BytesIO(out.getvalue())).intact
    print(f"case file: {cases} cases, {sent} bytes, {elapsed / cases:.3f} s per case")


# --- anchored in the fund's chain (the command line, with the database) ---------------------------------------------


@pytest.fixture
async def case_zip(login, session_factory, tmp_path) -> dict[str, Any]:
    application = await submitted(await login(REFERENT))
    archive = await case_file(await login("admin@example.org"), application["id"])
    reference = application["reference"]
    path = tmp_path / "dossier.zip"
    path.write_bytes(rewrite(archive, {}))
    # The same file where an event and the manifest were rewritten together: offline checks cannot see it.
    audit_path = f"{reference}/audit.json"
    audit = json.loads(archive.read(audit_path))
    event = audit["events"][-1]  # the last of the case: its link forward is rewritten too
    event["action"] = "application.forged"
    event["hash"] = event_hash(event["prev_hash"], hashed_fields(_event(event)))
    if event["next"]:
        event["next"]["prev_hash"] = event["hash"]
    changes = {audit_path: json.dumps(audit).encode()}
    changes["MANIFEST.sha256"] = manifest_of(archive, changes)
    forged = tmp_path / "contrefait.zip"
    forged.write_bytes(rewrite(archive, changes))
    return {"path": str(path), "forged": str(forged), "seq": event["seq"]}


def test_the_case_file_is_anchored_in_the_funds_audit_chain(case_zip, capsys) -> None:
    assert main(["audit", "verify", "--case-file", case_zip["path"], "--against-database"]) == 0
    assert "anchored: the " in capsys.readouterr().out
    assert main(["audit", "verify", "--case-file", case_zip["forged"]]) == 0  # offline, the forgery holds together
    capsys.readouterr()
    assert main(["audit", "verify", "--case-file", case_zip["forged"], "--against-database"]) == 1
    out = capsys.readouterr().out
    assert f"FAILED event seq {case_zip['seq']}: its hash differs from the fund's audit chain" in out
