"""Issue 16: the school's student list imported — awkward real-world files (BOM, Windows-1252, `;` and `,`, an XLSX
with merged header cells and dates as Excel dates or text, 2,000 lines), refused lines with their reason in French,
a preview kept server-side and applied exactly as shown in one transaction, the same file twice changing nothing,
the students who left (their instalments not yet paid cancelled, paid ones untouched), and who may do it."""

from __future__ import annotations

import datetime
import io
import time
import zipfile
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import func, select

from fund.audit.models import AuditEvent
from fund.budgets.models import BudgetReservation
from fund.disbursements.models import Disbursement
from fund.ledger.models import JournalEntry
from fund.students.ine import check_letter
from fund.students.models import Student
from tests.helpers import (
    ACCOUNTANT,
    ADMIN,
    CHAIR,
    COMMITTEE,
    REFERENT,
    assert_problem,
    count,
    drain_outbox,
    execute,
    fund_wide_reserved,
    listed_disbursements,
    pay_batch,
    ready_batch,
    school_of,
    second_fund,
    submitted_for,
    votes_by,
)

DATA = Path(__file__).parent / "data"
API = "/api/v1"
TODAY = datetime.date.today()


def ine(number: int) -> str:
    """A valid 10-digit INE with its check letter."""
    digits = f"{number:010d}"
    return digits + check_letter(digits)


def born(years: int, days: int = 30) -> datetime.date:
    return TODAY.replace(year=TODAY.year - years, day=min(TODAY.day, 28)) - datetime.timedelta(days=days)


def fr(day: datetime.date) -> str:
    return day.strftime("%d/%m/%Y")


def csv_file(*lines: str, header: str = "Nom;Prénom;Date de naissance;INE;Formation", encoding: str = "utf-8") -> bytes:
    return ("\r\n".join([header, *lines]) + "\r\n").encode(encoding)


async def preview(api: Any, school_id: str, content: bytes, name: str = "eleves.csv") -> Any:
    return await api.post(f"{API}/schools/{school_id}/students/import", files={"file": (name, content, "text/csv")})


async def previewed(api: Any, school_id: str, content: bytes, name: str = "eleves.csv") -> dict[str, Any]:
    response = await preview(api, school_id, content, name)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def applied(api: Any, school_id: str, import_id: str, **body: Any) -> dict[str, Any]:
    response = await api.post(f"{API}/schools/{school_id}/students/imports/{import_id}/apply", json=body or None)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def students_of(session_factory: Any, school_id: str) -> dict[str, Student]:
    async with session_factory() as session:
        rows = await session.scalars(select(Student).where(Student.school_id == UUID(school_id)))
        return {f"{s.last_name} {s.first_name}": s for s in rows}


async def audit_actions(session_factory: Any, *actions: str) -> int:
    async with session_factory() as session:
        return int(await session.scalar(select(func.count()).where(AuditEvent.action.in_(actions))) or 0)


# --- the files as schools export them ------------------------------------------------------------------------


async def test_a_utf8_csv_with_bom_and_semicolons_is_previewed_then_applied(login, session_factory) -> None:
    referent = await login(REFERENT)
    school = await school_of(referent)
    before = await count(session_factory, Student)
    preview_ = await previewed(referent, school, (DATA / "eleves_bom_pointvirgule.csv").read_bytes())
    assert preview_["counts"] == {"create": 3, "update": 0, "unchanged": 0, "refused": 0, "absent": 3}
    first = preview_["create"][0]
    assert first["line"] == 2
    assert first["values"]["last_name"] == "Lefèvre"  # the BOM did not stick to the first header
    assert first["values"]["birth_date"] == "2010-02-05"
    assert first["values"]["guardian_phone"] == "+33612345678"
    assert first["values"]["trade"] == "Ébénisterie"
    assert preview_["create"][1]["values"]["last_name"] == "Nguyễn"
    assert "Classe" in preview_["ignored_columns"]  # recognised, not kept: the record has no class
    # The three demo students of the school are absent from this list: listed, not deleted.
    assert {a["name"] for a in preview_["absent"]} == {"Martin Lucas", "Bernard Inès", "Petit Nathan"}
    assert await count(session_factory, Student) == before  # a preview changes nothing

    result = await applied(referent, school, preview_["id"], checksum_sha256=preview_["checksum_sha256"])
    assert result["status"] == "applied"
    assert result["applied_now"] is True
    assert result["result"] == {"created": 3, "updated": 0, "unchanged": 0}
    students = await students_of(session_factory, school)
    assert students["Lefèvre Zoé"].ine == ine(1200000001)
    assert students["Lefèvre Zoé"].guardian_email == "zoe.parent@exemple.fr"
    assert students["Ben Saïd Anaïs"].ine is None
    assert len(students) == 6
    assert await audit_actions(session_factory, "student.created") == 3
    assert await audit_actions(session_factory, "student_import.previewed", "student_import.applied") == 2


async def test_a_windows_1252_csv_with_commas_and_a_title_above_the_header_is_read(login, session_factory) -> None:
    referent = await login(REFERENT)
    school = await school_of(referent)
    preview_ = await previewed(referent, school, (DATA / "eleves_windows1252_virgule.csv").read_bytes())
    assert preview_["refused"] == []
    values = {f"{r['values']['last_name']} {r['values']['first_name']}": r for r in preview_["create"]}
    assert set(values) == {"GARÇON Hélène", "D'ARC Jérôme", "Müller Agnès"}
    assert values["GARÇON Hélène"]["line"] == 4  # the title and the blank line count: the line the referent sees
    assert values["D'ARC Jérôme"]["values"]["trade"] == "Métallerie, serrurerie"  # a quoted comma
    assert values["D'ARC Jérôme"]["values"]["birth_date"] == "2008-02-29"
    assert values["Müller Agnès"]["values"]["birth_date"] == "2009-07-03"  # 3/7/2009
    assert values["Müller Agnès"]["values"]["guardian_phone"] == "+33612345679"  # the zero a spreadsheet dropped


async def test_an_xlsx_with_merged_header_cells_and_excel_dates_is_read(login, session_factory) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet["A1"] = "École de production de Lyon — élèves inscrits"
    sheet.merge_cells("A1:H1")
    sheet["A3"] = "Élève"
    sheet.merge_cells("A3:D3")
    sheet["E3"] = "Formation"
    sheet.merge_cells("E3:E4")  # one header over two rows
    sheet["F3"] = "Responsable légal"
    sheet.merge_cells("F3:H3")
    for column, title in zip(
        "ABCDFGH", ["Nom", "Prénom", "Date de naissance", "INE", "Nom", "Courriel", "Téléphone"], strict=False
    ):
        sheet[f"{column}4"] = title
    sheet.append(
        [
            "Fabre",
            "Léon",
            datetime.datetime(2009, 4, 12),
            ine(1400000001),
            "Usinage",
            "M. Fabre Marc",
            "marc.fabre@exemple.fr",
            "0611223344",
        ]
    )
    sheet.append(["Roux", "Maëlle", "23/10/2010", ine(1400000002), "Soudure", None, None, None])
    sheet.append([None] * 8)  # a blank line in the middle is skipped
    sheet.append(["Blanc", "Sacha", datetime.date(2008, 1, 31), None, "Menuiserie", "Mme Blanc", None, None])
    buffer = io.BytesIO()
    workbook.save(buffer)

    referent = await login(REFERENT)
    school = await school_of(referent)
    preview_ = await previewed(referent, school, buffer.getvalue(), "export-siecle.xlsx")
    assert preview_["refused"] == [], preview_["refused"]
    rows = {r["values"]["last_name"]: r for r in preview_["create"]}
    assert rows["Fabre"]["line"] == 5
    assert rows["Fabre"]["values"] == {
        "last_name": "Fabre",
        "first_name": "Léon",
        "birth_date": "2009-04-12",
        "ine": ine(1400000001),
        "trade": "Usinage",
        "guardian_name": "M. Fabre Marc",  # « Nom » under « Responsable légal » is the guardian's name
        "guardian_email": "marc.fabre@exemple.fr",
        "guardian_phone": "+33611223344",
    }
    assert rows["Roux"]["values"]["birth_date"] == "2010-10-23"  # a date typed as text
    assert rows["Blanc"]["line"] == 8
    assert rows["Blanc"]["values"]["birth_date"] == "2008-01-31"
    await applied(referent, school, preview_["id"])
    assert (await students_of(session_factory, school))["Fabre Léon"].guardian_name == "M. Fabre Marc"


async def test_every_refused_line_says_its_number_field_and_reason_in_french(login, session_factory) -> None:
    referent = await login(REFERENT)
    school = await school_of(referent)
    good = ine(1500000001)
    wrong_key = good[:10] + ("A" if good[10] != "A" else "B")
    content = csv_file(
        f"Vidal;Rose;{fr(born(16))};{good};Usinage",  # 2
        f"Vidal;Paul;{fr(born(16))};{wrong_key};Usinage",  # 3: the check letter does not match
        f"Vidal;Jade;{fr(born(16))};12345;Usinage",  # 4: too short
        "Vidal;Lina;31/02/2010;;Usinage",  # 5: no 31 February
        f";Tom;{fr(born(16))};;Usinage",  # 6: no name
        f"Vidal;Noé;{fr(born(12))};;Usinage",  # 7: too young
        f"Vidal;Éva;{fr(born(27))};;Usinage",  # 8: too old
        f"Vidal;Rose;{fr(born(16))};;Usinage",  # 9: line 2 again
        f"Vidal;Marc;{fr(born(17))};{good};Usinage",  # 10: line 2's INE again
        "Vidal;Léo;hier;;Usinage",  # 11: not a date
    )
    rows = content.decode().rstrip("\r\n").split("\r\n")
    rows[0] += ";Courriel;Téléphone"
    rows[1] += ";;"
    rows.append(f"Vidal;Ines;{fr(born(16))};;Usinage;pas-une-adresse;")  # 12
    rows.append(f"Vidal;Alix;{fr(born(16))};;Usinage;;01 23")  # 13
    preview_ = await previewed(referent, school, "\r\n".join(rows).encode())
    refused = {r["line"]: (r["field"], r["reason"]) for r in preview_["refused"]}
    assert sorted(refused) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert refused[3][0] == "ine"
    assert "lettre-clé" in refused[3][1]
    assert refused[4] == ("ine", "INE non valable : 11 caractères attendus, 5 donnés (par exemple 0601234567J)")
    assert refused[5] == ("birth_date", "date impossible : 31/02/2010")
    assert refused[6] == ("last_name", "nom manquant")
    assert refused[7][0] == "birth_date"
    assert "12 ans" in refused[7][1]
    assert refused[8][0] == "birth_date"
    assert "27 ans" in refused[8][1]
    assert refused[9] == ("last_name", "même nom et même date de naissance que la ligne 2")
    assert refused[10] == ("ine", "INE déjà donné ligne 2")
    assert refused[11][0] == "birth_date"
    assert "jj/mm/aaaa" in refused[11][1]
    assert refused[12][0] == "guardian_email"
    assert "adresse électronique non valable" in refused[12][1]
    assert refused[13][0] == "guardian_phone"
    assert "numéro de téléphone" in refused[13][1]
    assert [r["values"]["first_name"] for r in preview_["create"]] == ["Rose"]
    # Applying creates the one good line only.
    before = await count(session_factory, Student)
    await applied(referent, school, preview_["id"])
    assert await count(session_factory, Student) == before + 1


async def test_an_rnie_ine_and_an_apprentice_ine_are_accepted(login) -> None:
    referent = await login(REFERENT)
    school = await school_of(referent)
    content = csv_file(f"Morel;Ana;{fr(born(16))};123456789AB;", f"Morel;Léa;{fr(born(17))};2019A12345K;")
    preview_ = await previewed(referent, school, content)
    assert preview_["refused"] == []
    assert preview_["counts"]["create"] == 2


# --- matching, idempotency, exactly what was previewed ----------------------------------------------------------


async def test_the_same_file_twice_changes_nothing_the_second_time(login, session_factory) -> None:
    referent = await login(REFERENT)
    school = await school_of(referent)
    content = (DATA / "eleves_bom_pointvirgule.csv").read_bytes()
    await applied(referent, school, (await previewed(referent, school, content))["id"])
    students = await students_of(session_factory, school)
    created_events = await audit_actions(session_factory, "student.created", "student.updated")

    again = await previewed(referent, school, content)
    assert again["counts"] == {"create": 0, "update": 0, "unchanged": 3, "refused": 0, "absent": 3}
    result = await applied(referent, school, again["id"])
    assert result["result"] == {"created": 0, "updated": 0, "unchanged": 3}
    after = await students_of(session_factory, school)
    assert {k: s.updated_at for k, s in after.items()} == {k: s.updated_at for k, s in students.items()}
    assert await audit_actions(session_factory, "student.created", "student.updated") == created_events
    # Applying the same preview again is a no-op too, and says so.
    twice = await applied(referent, school, again["id"])
    assert twice["applied_now"] is False
    assert twice["result"] == result["result"]


async def test_a_student_is_matched_by_ine_else_by_name_and_birth_date_accents_and_case_ignored(
    login, session_factory
) -> None:
    referent = await login(REFERENT)
    school = await school_of(referent)
    # Inès Bernard (born 02/07/2010) exists without INE: « BERNARD Ines » with the same birth date is her.
    first = await previewed(referent, school, csv_file(f"BERNARD;Ines;02/07/2010;{ine(1600000001)};Usinage CNC"))
    assert first["counts"]["create"] == 0
    assert first["counts"]["update"] == 1
    (update,) = first["update"]
    assert update["name"] == "Bernard Inès"
    changes = {c["field"]: (c["before"], c["after"]) for c in update["changes"]}
    assert changes == {"ine": (None, ine(1600000001)), "trade": ("Usinage", "Usinage CNC")}  # the name kept
    await applied(referent, school, first["id"])
    # Now known by her INE: a corrected birth date and spelling are an update of the same student.
    second = await previewed(referent, school, csv_file(f"Bernard-Lopez;Inès;03/07/2010;{ine(1600000001)};"))
    assert second["counts"]["create"] == 0
    changes = {c["field"]: c["after"] for c in second["update"][0]["changes"]}
    assert changes == {"last_name": "Bernard-Lopez", "birth_date": "2010-07-03"}
    await applied(referent, school, second["id"])
    students = await students_of(session_factory, school)
    assert students["Bernard-Lopez Inès"].trade == "Usinage CNC"  # an empty cell erases nothing
    # Another INE for the same name and birth date is refused rather than guessed.
    third = await previewed(referent, school, csv_file(f"Bernard-Lopez;Inès;03/07/2010;{ine(1600000009)};"))
    assert [(r["line"], r["field"]) for r in third["refused"]] == [(2, "ine")]


async def test_what_is_applied_is_exactly_what_was_previewed(login, session_factory) -> None:
    referent = await login(REFERENT)
    school = await school_of(referent)
    preview_ = await previewed(referent, school, csv_file("Martin;Lucas;14/03/2009;;Chaudronnerie"))
    assert preview_["update"][0]["changes"] == [{"field": "trade", "before": "Chaudronnier", "after": "Chaudronnerie"}]
    # Another file's checksum: refused, nothing applied.
    wrong = await referent.post(
        f"{API}/schools/{school}/students/imports/{preview_['id']}/apply", json={"checksum_sha256": "0" * 64}
    )
    assert assert_problem(wrong, 409)["code"] == "student_import_checksum"
    # The student changed since the preview: refused, nothing applied.
    lucas = (await students_of(session_factory, school))["Martin Lucas"]
    assert (await referent.patch(f"{API}/students/{lucas.id}", json={"trade": "Soudure"})).status_code == 200
    stale = await referent.post(f"{API}/schools/{school}/students/imports/{preview_['id']}/apply")
    problem = assert_problem(stale, 409)
    assert problem["code"] == "student_import_stale"
    assert "ligne 2" in problem["detail"]
    assert (await students_of(session_factory, school))["Martin Lucas"].trade == "Soudure"
    # A preview not applied in time expires.
    fresh = await previewed(referent, school, csv_file("Martin;Lucas;14/03/2009;;Chaudronnerie"))
    await execute(
        session_factory,
        "UPDATE student_imports SET expires_at = now() - interval '1 minute' WHERE id = :id",
        id=UUID(fresh["id"]),
    )
    expired = await referent.post(f"{API}/schools/{school}/students/imports/{fresh['id']}/apply")
    assert assert_problem(expired, 409)["code"] == "student_import_expired"


async def test_two_thousand_lines_are_previewed_and_applied_in_one_go(login, session_factory) -> None:
    referent = await login(REFERENT)
    school = await school_of(referent)
    lines = [
        f"Élève{n:04d};Prénom{n:04d};{fr(born(14 + n % 8, n % 300))};{ine(1700000000 + n)};Usinage" for n in range(2000)
    ]
    content = csv_file(*lines)
    started = time.perf_counter()
    preview_ = await previewed(referent, school, content)
    previewed_in = time.perf_counter() - started
    assert preview_["counts"]["create"] == 2000, preview_["refused"][:3]
    started = time.perf_counter()
    result = await applied(referent, school, preview_["id"])
    applied_in = time.perf_counter() - started
    assert result["result"]["created"] == 2000
    started = time.perf_counter()
    again = await previewed(referent, school, content)
    again_in = time.perf_counter() - started
    assert again["counts"]["unchanged"] == 2000
    print(
        f"\n2,000 lines ({len(content) / 1024:.0f} KB): preview {previewed_in:.2f} s, apply {applied_in:.2f} s, "
        f"second preview (all unchanged) {again_in:.2f} s"
    )


# --- the students who left ------------------------------------------------------------------------------------


async def test_a_student_marked_as_having_left_has_the_instalments_not_yet_paid_cancelled(
    login, session_factory
) -> None:
    referent = await login(REFERENT)
    school = await school_of(referent)
    students = await students_of(session_factory, school)
    petit, martin = str(students["Petit Nathan"].id), str(students["Martin Lucas"].id)
    reserved_at_start = await fund_wide_reserved(login)
    # Nathan: 480 € granted in two instalments, the first paid. Lucas: 120 € granted, nothing paid yet.
    split = await submitted_for(referent, petit, category="housing", amount_requested_cents=48_000)
    await votes_by(login, split["id"], "approve", *COMMITTEE)
    whole = await submitted_for(referent, martin, amount_requested_cents=12_000)
    await votes_by(login, whole["id"], "approve", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    accountant = await login(ACCOUNTANT)
    disbursement = next(d for d in await listed_disbursements(accountant) if d["application_id"] == split["id"])
    later = TODAY + datetime.timedelta(days=40)
    response = await accountant.post(
        f"{API}/disbursements/{disbursement['id']}/instalments", json={"due_dates": [str(TODAY), str(later)]}
    )
    assert response.status_code == 200, response.text
    await execute(  # Lucas's aid is due later: the batch of today pays Nathan's first instalment only
        session_factory,
        "UPDATE disbursements SET due_date = :later WHERE application_id = :id",
        later=later,
        id=UUID(whole["id"]),
    )
    batch = await ready_batch(login, session_factory)
    await pay_batch(login, session_factory, batch, TODAY, "AIDE")
    reserved_before = await fund_wide_reserved(login)
    assert reserved_before == reserved_at_start + 24_000 + 12_000

    # The new list has Inès only: Nathan and Lucas are absent.
    preview_ = await previewed(referent, school, csv_file("Bernard;Inès;02/07/2010;;Usinage"))
    await applied(referent, school, preview_["id"])
    assert {a["name"] for a in preview_["absent"]} == {"Martin Lucas", "Petit Nathan"}
    left = await referent.post(
        f"{API}/schools/{school}/students/imports/{preview_['id']}/left", json={"student_ids": [petit, martin]}
    )
    assert left.status_code == 200, left.text
    by_student = {d["student_id"]: d for d in left.json()}
    assert by_student[petit]["cancelled_instalments"] == 1
    assert by_student[petit]["cancelled_cents"] == 24_000
    assert by_student[martin]["cancelled_instalments"] == 1
    assert by_student[martin]["cancelled_cents"] == 12_000

    async with session_factory() as session:
        statuses = {
            (str(d.application_id), d.sequence): d.status
            for d in await session.scalars(select(Disbursement).order_by(Disbursement.sequence))
        }
        assert statuses[(split["id"], 1)] == "paid"  # paid: untouched
        assert statuses[(split["id"], 2)] == "cancelled"
        assert statuses[(whole["id"], 1)] == "cancelled"
        cancellations = list(await session.scalars(select(JournalEntry).where(JournalEntry.kind == "cancellation")))
        assert sorted(e.label.split()[-1] for e in cancellations) == sorted([split["reference"], whole["reference"]])
        reservations = list(
            await session.scalars(
                select(BudgetReservation).where(BudgetReservation.application_id == UUID(split["id"]))
            )
        )
        assert all(r.amount_cents == r.paid_cents == 24_000 and r.status == "paid" for r in reservations)
        nathan = await session.get(Student, UUID(petit))
        assert nathan is not None
        assert nathan.left_on == TODAY
    assert await fund_wide_reserved(login) == reserved_at_start
    # Nathan's request is paid (what is left of it was); Lucas's, nothing of which was paid, is cancelled.
    assert (await referent.get(f"{API}/applications/{split['id']}")).json()["status"] == "paid"
    cancelled = (await referent.get(f"{API}/applications/{whole['id']}")).json()
    assert cancelled["status"] == "cancelled"
    history = (await referent.get(f"{API}/applications/{whole['id']}/history")).json()
    assert "application.student_left" in {e["action"] for e in history}
    # Marking them again changes nothing.
    again = await referent.post(
        f"{API}/schools/{school}/students/imports/{preview_['id']}/left", json={"student_ids": [petit]}
    )
    assert again.json() == [
        {
            "student_id": petit,
            "cancelled_instalments": 0,
            "cancelled_cents": 0,
            "instalments_in_payment": 0,
            "already_left": True,
        }
    ]
    # A student on the list cannot be marked as having left from it.
    ines = str(students["Bernard Inès"].id)
    listed = await referent.post(
        f"{API}/schools/{school}/students/imports/{preview_['id']}/left", json={"student_ids": [ines]}
    )
    assert_problem(listed, 422, "student_ids")
    # Listed again later, a student who left is back (the change shows in the preview).
    back = await previewed(referent, school, csv_file("Petit;Nathan;23/11/2008;;Menuisier"))
    assert back["update"][0]["changes"] == [{"field": "left_on", "before": TODAY.isoformat(), "after": None}]


# --- refused files and limits ---------------------------------------------------------------------------------


async def test_unreadable_files_are_refused_on_the_file_field_and_change_nothing(login, session_factory) -> None:
    referent = await login(REFERENT)
    school = await school_of(referent)
    before = await count(session_factory, Student)
    imports_before = await audit_actions(session_factory, "student_import.previewed")
    no_header = csv_file("a;b;c", header="x;y;z")
    too_many = csv_file(*[f"Nom{n};Prénom;{fr(born(16))};;" for n in range(5001)])
    too_big = b"Nom;Pr\xc3\xa9nom;Date de naissance\r\n" + b"x" * (2 * 1024 * 1024)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"<row/>" * 8_000_000)  # 48 MB of nothing, a few KB packed
    for content, name, words in (
        (no_header, "eleves.csv", "en-têtes introuvables"),
        (too_many, "eleves.csv", "5000 lignes"),
        (too_big, "eleves.csv", "2 Mo"),
        (bomb.getvalue(), "eleves.xlsx", "volume anormal"),
        (b"PK\x03\x04 not a zip", "eleves.xlsx", "illisible"),
        (b"", "eleves.csv", "vide"),
        (b"\xd0\xcf\x11\xe0 old excel", "eleves.xls", "CSV ou en XLSX"),
    ):
        response = await preview(referent, school, content, name)
        problem = assert_problem(response, 422, "file")
        assert words in problem["errors"][0]["message"], (name, problem)
    missing = await referent.post(
        f"{API}/schools/{school}/students/import", files={"autre": ("a.csv", b"x", "text/csv")}
    )
    assert_problem(missing, 422, "file")
    assert await count(session_factory, Student) == before
    assert await audit_actions(session_factory, "student_import.previewed") == imports_before


async def test_the_template_downloads_as_csv_and_xlsx_and_reads_back(login) -> None:
    referent = await login(REFERENT)
    school = await school_of(referent)
    for kind in ("csv", "xlsx"):
        response = await referent.get(f"{API}/students/import-template", params={"format": kind})
        assert response.status_code == 200, response.text
        assert f"modele-liste-eleves.{kind}" in response.headers["content-disposition"]
        preview_ = await previewed(referent, school, response.content, f"modele.{kind}")
        assert preview_["counts"]["create"] == 0
        assert preview_["refused"] == []
    assert response.content.startswith(b"PK")
    assert_problem(await referent.get(f"{API}/students/import-template", params={"format": "ods"}), 422, "format")


# --- who may ----------------------------------------------------------------------------------------------------


async def test_only_the_schools_referents_import_its_list(login, session_factory, app_client) -> None:
    referent = await login(REFERENT)
    school = await school_of(referent)
    content = csv_file("Martin;Lucas;14/03/2009;;Chaudronnerie")
    preview_ = await previewed(referent, school, content)
    paths = [
        ("post", f"{API}/schools/{school}/students/import"),
        ("get", f"{API}/schools/{school}/students/imports/{preview_['id']}"),
        ("post", f"{API}/schools/{school}/students/imports/{preview_['id']}/apply"),
        ("post", f"{API}/schools/{school}/students/imports/{preview_['id']}/left"),
    ]

    async def attempt(api: Any, method: str, path: str) -> Any:
        if path.endswith("/import"):
            return await api.post(path, files={"file": ("eleves.csv", content, "text/csv")})
        if path.endswith("/left"):
            return await api.post(path, json={"student_ids": [str(UUID(int=1))]})
        return await getattr(api, method)(path)

    # Another school's referent: the school and its import do not exist for them.
    other_school = await login("referent.b@example.org")
    for method, path in paths:
        assert (await attempt(other_school, method, path)).status_code == 404, path
    # Their own school's id with this import's id: not found either.
    their_school = await school_of(other_school)
    hidden = await other_school.get(f"{API}/schools/{their_school}/students/imports/{preview_['id']}")
    assert assert_problem(hidden, 404)["code"] == "student_import_not_found"
    # The committee, the chair, the accountant and the administrator: not theirs.
    for email in (COMMITTEE[0], CHAIR, ACCOUNTANT, ADMIN):
        api = await login(email)
        for method, path in paths:
            assert (await attempt(api, method, path)).status_code == 403, (email, path)
    # No token.
    for method, path in paths:
        assert (await getattr(app_client, method)(path)).status_code == 401, path
    # Nothing was applied by any of them.
    assert (await students_of(session_factory, school))["Martin Lucas"].trade == "Chaudronnier"
    # Another fund's referent of the same school keeps its list (a school and its pupils belong to no fund).
    other_fund = await second_fund(session_factory)
    elsewhere = await login(other_fund["other_referent"])
    result = await applied(elsewhere, school, preview_["id"])
    assert result["result"] == {"created": 0, "updated": 1, "unchanged": 0}
    other_committee = await login(other_fund["other_committee"])
    assert (await other_committee.get(paths[1][1])).status_code == 403


# --- the referent's pages ---------------------------------------------------------------------------------------


async def test_the_referent_imports_a_list_through_the_pages(settings, session_factory, demo) -> None:
    from html import unescape

    from tests.helpers import csrf_token, post_form, signed_in_as

    content = csv_file(f"Martin;Lucas;14/03/2009;{ine(1800000001)};Chaudronnerie", "Neuve;Alma;31/02/2010;;Usinage")
    async with signed_in_as(settings, REFERENT) as client:
        students_page = await client.get("/eleves")
        assert 'href="/eleves/import"' in students_page.text
        form = await client.get("/eleves/import")
        assert form.status_code == 200
        assert "Importer la liste des élèves" in unescape(form.text)
        assert (await client.get("/eleves/import/modele.xlsx")).content.startswith(b"PK")
        # No file: the French message next to the field, nothing imported.
        empty = await client.post(
            "/eleves/import",
            data={"_csrf_token": csrf_token(client)},
            files={"fichier": ("", b"", "application/octet-stream")},
        )
        assert empty.status_code == 422
        assert "Choisissez le fichier de la liste" in unescape(empty.text)
        unreadable = await client.post(
            "/eleves/import",
            data={"_csrf_token": csrf_token(client)},
            files={"fichier": ("notes.csv", b"x;y\r\n1;2\r\n", "text/csv")},
        )
        assert unreadable.status_code == 422
        assert "En-têtes introuvables" in unescape(unreadable.text)

        uploaded = await client.post(
            "/eleves/import",
            data={"_csrf_token": csrf_token(client)},
            files={"fichier": ("eleves.csv", content, "text/csv")},
        )
        assert uploaded.status_code == 303, uploaded.text
        preview_page = await client.get(uploaded.headers["location"])
        text = unescape(preview_page.text)
        assert "Ligne 3" in text
        assert "date impossible : 31/02/2010" in text
        assert "Formation : Chaudronnier → Chaudronnerie" in text
        assert "Petit Nathan" in text
        assert "Bernard Inès" in text
        import_id = uploaded.headers["location"].rsplit("/", 1)[1]

        applied_ = await post_form(client, f"/eleves/import/{import_id}/appliquer")
        assert applied_.status_code == 303
        after = unescape((await client.get(f"/eleves/import/{import_id}")).text)
        assert "Liste appliquée : 0 élève(s) inscrit(s), 1 fiche(s) mise(s) à jour." in after
        again = await post_form(client, f"/eleves/import/{import_id}/appliquer")
        assert again.status_code == 303
        assert "Aucun changement" in unescape((await client.get(f"/eleves/import/{import_id}")).text)

        petit = str((await students_of(session_factory, await school_of_page(session_factory)))["Petit Nathan"].id)
        # Not confirmed: refused with the French message next to the box; nothing changes.
        unconfirmed = await post_form(client, f"/eleves/import/{import_id}/depart", eleves=petit)
        assert unconfirmed.status_code == 422
        assert "Cochez la case pour confirmer" in unescape(unconfirmed.text)
        async with session_factory() as session:
            assert (await session.get(Student, UUID(petit))).left_on is None  # type: ignore[union-attr]
        done = await post_form(client, f"/eleves/import/{import_id}/depart", eleves=petit, confirmer="oui")
        assert done.status_code == 303
        shown = unescape((await client.get(f"/eleves/import/{import_id}")).text)
        assert "1 élève(s) marqué(s) comme ayant quitté l'école" in shown
        assert "a quitté l'école le" in shown
    # Another school's referent does not see this import.
    async with signed_in_as(settings, "referent.b@example.org") as other:
        assert (await other.get(f"/eleves/import/{import_id}")).status_code == 404
        hidden = await post_form(other, f"/eleves/import/{import_id}/appliquer")
        assert hidden.status_code == 404


async def school_of_page(session_factory: Any) -> str:
    from fund.auth.models import User

    async with session_factory() as session:
        user = await session.scalar(select(User).where(User.email == REFERENT))
        assert user is not None
        await session.refresh(user, ["schools"])
        return str(user.schools[0].id)


async def test_an_import_is_forgotten_after_its_time_and_then_marks_nobody(login, session_factory) -> None:
    from fund.students.models import StudentImport

    referent = await login(REFERENT)
    school = await school_of(referent)
    stored = await previewed(referent, school, csv_file("Bernard;Inès;02/07/2010;;Usinage"))
    result = await applied(referent, school, stored["id"])
    kept = datetime.datetime.fromisoformat(result["expires_at"]) - datetime.datetime.fromisoformat(result["applied_at"])
    assert kept == datetime.timedelta(days=7)  # time to mark the students absent from it
    await execute(
        session_factory,
        "UPDATE student_imports SET expires_at = now() - interval '1 minute' WHERE id = :id",
        id=UUID(stored["id"]),
    )
    petit = str((await students_of(session_factory, school))["Petit Nathan"].id)
    late = await referent.post(
        f"{API}/schools/{school}/students/imports/{stored['id']}/left", json={"student_ids": [petit]}
    )
    assert assert_problem(late, 409)["code"] == "student_import_expired"
    # The school's next import forgets it (it held the list's personal data).
    await previewed(referent, school, csv_file("Bernard;Inès;02/07/2010;;Usinage"))
    assert await count(session_factory, StudentImport, StudentImport.id == UUID(stored["id"])) == 0


async def test_an_instalment_already_in_a_payment_batch_is_left_to_the_accountant(login, session_factory) -> None:
    referent = await login(REFERENT)
    school = await school_of(referent)
    petit = str((await students_of(session_factory, school))["Petit Nathan"].id)
    granted = await submitted_for(referent, petit, amount_requested_cents=12_000)
    await votes_by(login, granted["id"], "approve", *COMMITTEE[:2])
    await drain_outbox(session_factory)
    await ready_batch(login, session_factory)  # the transfer is in a batch, not sent yet
    stored = await previewed(referent, school, csv_file("Bernard;Inès;02/07/2010;;Usinage"))
    left = await referent.post(
        f"{API}/schools/{school}/students/imports/{stored['id']}/left", json={"student_ids": [petit]}
    )
    assert left.status_code == 200, left.text
    (departure,) = left.json()
    assert departure["cancelled_instalments"] == 0
    assert departure["instalments_in_payment"] == 1
    async with session_factory() as session:
        assert list(await session.scalars(select(Disbursement.status))) == ["batched"]
    assert (await referent.get(f"{API}/applications/{granted['id']}")).json()["status"] == "approved"


async def test_the_same_preview_applied_twice_at_once_creates_each_student_once(login, session_factory) -> None:
    import asyncio

    referent = await login(REFERENT)
    school = await school_of(referent)
    stored = await previewed(referent, school, (DATA / "eleves_bom_pointvirgule.csv").read_bytes())
    before = await count(session_factory, Student)
    url = f"{API}/schools/{school}/students/imports/{stored['id']}/apply"
    first, second = await asyncio.gather(referent.post(url), referent.post(url))
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert sorted([first.json()["applied_now"], second.json()["applied_now"]]) == [False, True]
    assert await count(session_factory, Student) == before + 3


async def test_a_referent_types_an_ine_by_hand_checked_as_the_import_checks_it(login, session_factory) -> None:
    referent = await login(REFERENT)
    school = await school_of(referent)
    body = {"school_id": school, "first_name": "Zélie", "last_name": "Garnier", "birth_date": str(born(16))}
    good = ine(2000000001)
    wrong = await referent.post(f"{API}/students", json={**body, "ine": good[:10] + "Z"})
    problem = assert_problem(wrong, 422, "ine")
    assert "lettre-clé" in problem["errors"][0]["message"]
    created = await referent.post(f"{API}/students", json={**body, "ine": f"{good[:4]} {good[4:]}".lower()})
    assert created.status_code == 201, created.text
    assert created.json()["ine"] == good  # written as typed, stored normalised
    taken = await referent.post(f"{API}/students", json={**body, "first_name": "Autre", "ine": good})
    assert_problem(taken, 422, "ine")
    lucas = (await students_of(session_factory, school))["Martin Lucas"]
    clash = await referent.patch(f"{API}/students/{lucas.id}", json={"ine": good})
    assert_problem(clash, 422, "ine")
    # The list then finds her by the INE, whatever the spelling of her name.
    preview_ = await previewed(referent, school, csv_file(f"GARNIER;Zelie;{fr(born(16))};{good};Usinage"))
    assert preview_["counts"]["create"] == 0
    assert [c["field"] for c in preview_["update"][0]["changes"]] == ["trade"]
