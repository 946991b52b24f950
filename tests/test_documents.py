"""Supporting documents: only PDF, JPEG and PNG recognised by content, no active PDF, size and count limits, safe
names; files stored encrypted outside any served folder under a random key; read only by the school's referent and
the committee deciding the case (404 for the accountant, the administrator, another school); no change after the
decision; removal with the retention job; the request page's fragment and its upload form."""

from __future__ import annotations

import os
import time
import uuid
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from fund.documents import service
from fund.documents.models import Document
from fund.documents.storage import STATIC_ROOT, DocumentStore, StoredFileError
from tests.helpers import assert_problem, count, csrf_token, draft, signed_in_as, submitted, vote

REFERENT = "referent@example.org"
OTHER_REFERENT = "referent.b@example.org"
COMMITTEE = ("committee1@example.org", "committee2@example.org")
CHAIR = "chair@example.org"
ACCOUNTANT = "accountant@example.org"
ADMIN = "admin@example.org"

PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00" + b"\x00" * 32
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


def pdf_with(body: bytes) -> bytes:
    return b"%PDF-1.7\n" + body + b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def compressed_object_stream(objects: bytes, *, damaged: bool = False) -> bytes:
    data = zlib.compress(objects)
    if damaged:  # a wrong checksum at the end: lenient readers still use what came before
        data = data[:-2] + bytes([data[-2] ^ 0xFF, data[-1]])
    return pdf_with(
        b"5 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\nstream\n" % len(data)
        + data
        + b"\nendstream\nendobj"
    )


async def upload(api: Any, application_id: str, name: str, content: bytes, mime: str = "application/pdf") -> Any:
    return await api.post(f"/api/v1/applications/{application_id}/documents", files={"file": (name, content, mime)})


async def uploaded(api: Any, application_id: str, name: str = "attestation.pdf", content: bytes = PDF) -> dict:
    response = await upload(api, application_id, name, content)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def count_documents(session_factory: Any) -> int:
    return await count(session_factory, Document)


async def storage_key_of(session_factory: Any, document_id: str) -> str:
    async with session_factory() as session:
        document = await session.get(Document, uuid.UUID(document_id))
        assert document is not None
        return document.storage_key


# --- what a file must be ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "content_type", "shown"),
    [
        ("attestation.pdf", PDF, "application/pdf", "attestation.pdf"),
        ("photo.JPEG", JPEG, "image/jpeg", "photo.jpeg"),
        ("scan.png", PNG, "image/png", "scan.png"),
        ("scan.pdf", PNG, "image/png", "scan.png"),  # the extension follows the content, not the name
    ],
)
async def test_each_accepted_type_is_recognised_by_its_content(login, name, content, content_type, shown) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    document = await uploaded(referent, application["id"], name, content)
    assert document["content_type"] == content_type
    assert document["name"] == shown
    assert document["size_bytes"] == len(content)
    listed = await referent.get(f"/api/v1/applications/{application['id']}/documents")
    assert [d["id"] for d in listed.json()] == [document["id"]]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("facture.pdf", EXE),  # a program renamed
        ("releve.pdf", HTML),  # a page named as a PDF
        ("photo.jpg", b"GIF89a\x01\x00\x01\x00"),  # another image type
        ("vide.pdf", b""),
        ("script.pdf", pdf_with(b"1 0 obj\n<< /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>\nendobj")),
        ("hex.pdf", pdf_with(b"1 0 obj\n<< /OpenAction << /S /J#61vaScript /J#53 (app.alert(1)) >> >>\nendobj")),
        ("lance.pdf", pdf_with(b"1 0 obj\n<< /OpenAction << /S /Launch /F (cmd.exe) >> >>\nendobj")),
        ("joint.pdf", pdf_with(b"1 0 obj\n<< /Names << /EmbeddedFiles 2 0 R >> >>\nendobj")),
        ("cache.pdf", compressed_object_stream(b"1 0 << /S /JavaScript /JS (app.alert(1)) >>")),
        ("abime.pdf", compressed_object_stream(b"1 0 << /JS (app.alert(1)) >>" + bytes(range(256)) * 8, damaged=True)),
        ("chiffre.pdf", pdf_with(b"1 0 obj\n<< /Type /ObjStm >>\nendobj\ntrailer << /Encrypt 9 0 R >>")),
    ],
)
async def test_a_file_that_is_not_a_safe_pdf_jpeg_or_png_is_refused(login, session_factory, name, content) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    response = await upload(referent, application["id"], name, content)
    assert_problem(response, 422, "file")
    assert await count_documents(session_factory) == 0


async def test_an_innocent_compressed_pdf_is_accepted(login) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    document = await uploaded(referent, application["id"], "formulaire.pdf", compressed_object_stream(b"1 0 << >>"))
    assert document["content_type"] == "application/pdf"


def test_a_compression_bomb_is_refused_without_being_inflated() -> None:
    bomb = compressed_object_stream(b"\x00" * (service.MAX_INFLATED_BYTES + 1024))
    assert len(bomb) < service.MAX_FILE_BYTES
    assert service.pdf_threat(bomb) is not None


async def test_a_file_over_5_mb_is_refused_naming_the_field(login, session_factory) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    just_over = PDF + b"%" * (service.MAX_FILE_BYTES - len(PDF) + 1)
    assert_problem(await upload(referent, application["id"], "gros.pdf", just_over), 422, "file")
    far_over = PDF + b"%" * (6 * 1024 * 1024)
    body = assert_problem(await upload(referent, application["id"], "enorme.pdf", far_over), 413, "file")
    assert "5 Mo" in body["errors"][0]["message"]
    assert await count_documents(session_factory) == 0
    at_limit = PDF + b"%" * (service.MAX_FILE_BYTES - len(PDF))
    assert (await uploaded(referent, application["id"], "juste.pdf", at_limit))["size_bytes"] == service.MAX_FILE_BYTES


async def test_the_eleventh_document_is_refused(login, session_factory) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    for number in range(service.MAX_FILES_PER_APPLICATION):
        await uploaded(referent, application["id"], f"piece-{number}.pdf")
    assert_problem(await upload(referent, application["id"], "onzieme.pdf", PDF), 422, "file")
    assert await count_documents(session_factory) == service.MAX_FILES_PER_APPLICATION


async def test_a_missing_file_field_is_refused_naming_it(login) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    response = await referent.post(
        f"/api/v1/applications/{application['id']}/documents", files={"document": ("a.pdf", PDF, "application/pdf")}
    )
    assert_problem(response, 422, "file")


# --- names -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "content_type", "shown"),
    [
        ("../../etc/passwd", "image/png", "passwd.png"),
        ("..\\..\\Windows\\system.ini", "application/pdf", "system.pdf"),
        ("<script>alert(1)</script>.pdf", "application/pdf", "script.pdf"),
        ('a"b;c=d.pdf', "application/pdf", "abcd.pdf"),
        ("facture\u202egnp.exe", "image/png", "facturegnp.png"),  # no right-to-left override
        ("ligne\r\nContent-Type: evil.pdf", "application/pdf", "ligneContent-Type evil.pdf"),
        ("Attestation CAF été.pdf", "application/pdf", "Attestation CAF été.pdf"),
        ("...", "image/jpeg", "piece-justificative.jpg"),
        ("", "application/pdf", "piece-justificative.pdf"),
        ("x" * 300 + ".pdf", "application/pdf", "x" * service.MAX_NAME_STEM + ".pdf"),
    ],
)
def test_display_names_are_sanitised(sent, content_type, shown) -> None:
    name = service.safe_display_name(sent, content_type)
    assert name == shown
    assert "/" not in name
    assert "\\" not in name
    assert all(ord(c) >= 32 for c in name)


async def test_a_hostile_name_is_kept_only_as_a_safe_display_name(login, session_factory, settings) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    document = await uploaded(referent, application["id"], "../../etc/<script>passwd.pdf")
    assert document["name"] == "scriptpasswd.pdf"
    long = await uploaded(referent, application["id"], "é" * 500 + ".pdf")
    assert long["name"] == "é" * service.MAX_NAME_STEM + ".pdf"
    key = await storage_key_of(session_factory, document["id"])
    stored = DocumentStore.from_settings(settings).path_of(key)
    assert "passwd" not in str(stored)
    assert not (Path(settings.data_dir) / "etc").exists()


# --- storage ---------------------------------------------------------------------------------------------------


async def test_files_are_stored_encrypted_outside_the_served_folder_under_a_random_key(
    login, session_factory, settings
) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    document = await uploaded(referent, application["id"], "bulletin Dupont.pdf")
    key = await storage_key_of(session_factory, document["id"])
    path = DocumentStore.from_settings(settings).path_of(key)
    assert path == Path(settings.data_dir) / "documents" / key[:2] / key
    assert path.is_file()
    assert key != document["id"].replace("-", "")  # not the public id either
    assert "Dupont" not in str(path)
    assert "bulletin" not in str(path)
    assert not path.is_relative_to(STATIC_ROOT.resolve())
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert PDF not in path.read_bytes()  # encrypted at rest
    assert not list(path.parent.glob(".tmp-*"))  # written atomically, nothing left behind
    static = await referent.get(f"/static/{key}")
    assert static.status_code == 404


def test_a_store_inside_the_static_folder_is_refused(tmp_path) -> None:
    with pytest.raises(RuntimeError):
        DocumentStore(STATIC_ROOT, "k" * 40)
    with pytest.raises(RuntimeError):
        DocumentStore(STATIC_ROOT / "uploads", "k" * 40)
    DocumentStore(tmp_path, "k" * 40)


def test_a_tampered_or_swapped_file_is_not_served_and_old_keys_still_read(tmp_path) -> None:
    import hashlib

    old = DocumentStore(tmp_path, "old-secret-" * 4)
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    old.write(first, PDF)
    old.write(second, PNG)
    digest = hashlib.sha256(PDF).hexdigest()
    # The key rotates: the new store reads what the old key wrote, and rewrites it under the new one.
    new = DocumentStore(tmp_path, "new-secret-" * 4, previous_secret_keys=["old-secret-" * 4])
    assert new.read(first, digest) == PDF
    assert new.reencrypt(first) is True
    assert new.reencrypt(first) is False
    assert DocumentStore(tmp_path, "new-secret-" * 4).read(first, digest) == PDF
    with pytest.raises(StoredFileError):
        DocumentStore(tmp_path, "new-secret-" * 4).read(second, hashlib.sha256(PNG).hexdigest())
    # With every file rewritten, the old secret can go.
    assert new.reencrypt(second) is True
    assert DocumentStore(tmp_path, "new-secret-" * 4).read(second, hashlib.sha256(PNG).hexdigest()) == PNG
    # A file copied under another document's key does not decrypt.
    new.path_of(second).write_bytes(new.path_of(first).read_bytes())
    with pytest.raises(StoredFileError):
        new.read(second, digest)
    # A flipped byte is detected.
    blob = bytearray(new.path_of(first).read_bytes())
    blob[-1] ^= 1
    new.path_of(first).write_bytes(bytes(blob))
    with pytest.raises(StoredFileError):
        new.read(first, digest)


# --- who reads -------------------------------------------------------------------------------------------------


async def test_the_referent_and_the_committee_download_with_safe_headers(login) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    document = await uploaded(referent, application["id"], "Attestation CAF été.pdf")
    for email in (REFERENT, COMMITTEE[0], CHAIR):
        response = await (await login(email)).get(f"/api/v1/documents/{document['id']}")
        assert response.status_code == 200, email
        assert response.content == PDF
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["x-content-type-options"] == "nosniff"
        disposition = response.headers["content-disposition"]
        assert disposition.startswith("attachment;")
        assert f"filename*=UTF-8''{quote('Attestation CAF été.pdf', safe='')}" in disposition
        assert 'filename="Attestation CAF ete.pdf"' in disposition
        assert "no-store" in response.headers["cache-control"]
        listed = await (await login(email)).get(f"/api/v1/applications/{application['id']}/documents")
        assert listed.status_code == 200
        assert len(listed.json()) == 1


@pytest.mark.parametrize("email", [ACCOUNTANT, ADMIN, OTHER_REFERENT])
async def test_the_accountant_the_admin_and_another_school_never_see_documents(login, email) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    document = await uploaded(referent, application["id"])
    api = await login(email)
    assert_problem(await api.get(f"/api/v1/documents/{document['id']}"), 404)
    assert_problem(await api.get(f"/api/v1/applications/{application['id']}/documents"), 404)
    assert_problem(await api.delete(f"/api/v1/documents/{document['id']}"), 404)
    assert_problem(await upload(api, application["id"], "x.pdf", PDF), 404)


async def test_the_committee_sees_no_draft_and_no_document_once_the_case_is_decided(login) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    document = await uploaded(referent, application["id"])
    member = await login(COMMITTEE[0])
    assert_problem(await member.get(f"/api/v1/documents/{document['id']}"), 404)  # not submitted yet
    await referent.post(f"/api/v1/applications/{application['id']}/submit")
    assert (await member.get(f"/api/v1/documents/{document['id']}")).status_code == 200
    for email in COMMITTEE:
        await vote(await login(email), application["id"], "reject", comment="Déjà couvert.")
    assert_problem(await member.get(f"/api/v1/documents/{document['id']}"), 404)
    assert (await referent.get(f"/api/v1/documents/{document['id']}")).status_code == 200


async def test_a_recused_member_no_longer_reads_the_documents(login) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    document = await uploaded(referent, application["id"])
    member = await login(COMMITTEE[0])
    response = await member.post(f"/api/v1/applications/{application['id']}/recusal", json={"reason": "Je connais"})
    assert response.status_code == 200, response.text
    assert_problem(await member.get(f"/api/v1/documents/{document['id']}"), 404)


async def test_the_committee_reads_but_may_not_add_or_remove(login, session_factory) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    document = await uploaded(referent, application["id"])
    member = await login(COMMITTEE[0])
    assert_problem(await upload(member, application["id"], "x.pdf", PDF), 403)
    assert_problem(await member.delete(f"/api/v1/documents/{document['id']}"), 403)
    assert await count_documents(session_factory) == 1


async def test_anonymous_callers_are_refused(login, app_client) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    document = await uploaded(referent, application["id"])
    assert_problem(await app_client.get(f"/api/v1/documents/{document['id']}"), 401)
    response = await app_client.post(
        f"/api/v1/applications/{application['id']}/documents", files={"file": ("a.pdf", PDF, "application/pdf")}
    )
    assert_problem(response, 401)


# --- changes until the decision --------------------------------------------------------------------------------


async def test_no_upload_or_removal_after_the_decision(login, session_factory) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    document = await uploaded(referent, application["id"])
    for email in COMMITTEE:
        await vote(await login(email), application["id"], "reject", comment="Déjà couvert.")
    assert_problem(await upload(referent, application["id"], "tard.pdf", PDF), 409)
    assert_problem(await referent.delete(f"/api/v1/documents/{document['id']}"), 409)
    assert await count_documents(session_factory) == 1


async def test_the_referent_uploads_while_the_committee_asks_for_information(login) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    response = await (await login(COMMITTEE[0])).post(
        f"/api/v1/applications/{application['id']}/request-info", json={"message": "Le justificatif de domicile ?"}
    )
    assert response.status_code == 200, response.text
    await uploaded(referent, application["id"], "domicile.jpg", JPEG)


async def test_the_referent_deletes_a_document_and_its_file(login, session_factory, settings) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    document = await uploaded(referent, application["id"])
    path = DocumentStore.from_settings(settings).path_of(await storage_key_of(session_factory, document["id"]))
    assert path.exists()
    response = await referent.delete(f"/api/v1/documents/{document['id']}")
    assert response.status_code == 204, response.text
    assert not path.exists()
    assert_problem(await referent.get(f"/api/v1/documents/{document['id']}"), 404)
    assert (await referent.get(f"/api/v1/applications/{application['id']}/documents")).json() == []


# --- retention -------------------------------------------------------------------------------------------------


async def test_delete_for_application_removes_rows_then_files_on_commit(login, session_factory, settings) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    kept_application = await draft(referent)
    documents = [await uploaded(referent, application["id"], f"p{i}.pdf") for i in range(2)]
    kept = await uploaded(referent, kept_application["id"])
    store = DocumentStore.from_settings(settings)
    paths = [store.path_of(await storage_key_of(session_factory, d["id"])) for d in documents]
    kept_path = store.path_of(await storage_key_of(session_factory, kept["id"]))

    async with session_factory() as session:  # a rollback keeps rows and files
        assert await service.delete_for_application(session, uuid.UUID(application["id"]), store) == 2
        await session.rollback()
    assert all(p.exists() for p in paths)
    assert await count_documents(session_factory) == 3

    async with session_factory() as session:
        assert await service.delete_for_application(session, uuid.UUID(application["id"]), store) == 2
        assert all(p.exists() for p in paths)  # not before the commit
        await session.commit()
    assert not any(p.exists() for p in paths)
    assert kept_path.exists()
    assert await count_documents(session_factory) == 1


async def test_the_sweep_removes_files_left_by_a_crash_and_keeps_the_others(login, session_factory, settings) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    document = await uploaded(referent, application["id"])
    store = DocumentStore.from_settings(settings)
    orphan = uuid.uuid4().hex
    store.write(orphan, PDF)  # a file whose row never committed
    temporary = store.path_of(orphan).parent / ".tmp-interrupted"
    temporary.write_bytes(b"half")
    fresh = uuid.uuid4().hex
    store.write(fresh, PDF)  # an upload in progress: too recent to touch
    hour_ago = time.time() - 7200
    for path in (
        store.path_of(orphan),
        temporary,
        store.path_of(await storage_key_of(session_factory, document["id"])),
    ):
        os.utime(path, (hour_ago, hour_ago))
    async with session_factory() as session:
        assert await service.sweep_orphans(session, store) == 2
    assert not store.path_of(orphan).exists()
    assert not temporary.exists()
    assert store.path_of(fresh).exists()
    assert (await referent.get(f"/api/v1/documents/{document['id']}")).status_code == 200


def test_sizes_read_in_french() -> None:
    assert service.size_fr(1_258_291) == "1,2\u00a0Mo"
    assert service.size_fr(5 * 1024 * 1024) == "5\u00a0Mo"
    assert service.size_fr(348_160) == "340\u00a0ko"
    assert service.size_fr(512) == "512 o"


# --- the web page ----------------------------------------------------------------------------------------------


async def test_the_request_page_loads_the_documents_and_the_referent_adds_one(login, settings) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    async with signed_in_as(settings, REFERENT) as client:
        case = await client.get(f"/demandes/{application['id']}")
        assert f'hx-get="/demandes/{application["id"]}/pieces"' in case.text
        assert f'href="/demandes/{application["id"]}/pieces"' in case.text  # without script
        fragment = await client.get(f"/demandes/{application['id']}/pieces", headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        assert "<html" not in fragment.text
        assert "Ajouter une pièce justificative" in fragment.text
        assert 'enctype="multipart/form-data"' in fragment.text
        assert 'name="_csrf_token"' in fragment.text
        assert "5 Mo au plus" in fragment.text
        response = await client.post(
            f"/demandes/{application['id']}/pieces",
            data={"_csrf_token": csrf_token(client)},
            files={"fichier": ("Quittance été.pdf", PDF, "application/pdf")},
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/demandes/{application['id']}#pieces"
        after = await client.get(f"/demandes/{application['id']}")
        assert "Pièce ajoutée : Quittance été.pdf." in after.text
        listing = await client.get(f"/demandes/{application['id']}/pieces", headers={"HX-Request": "true"})
        assert "Quittance été.pdf" in listing.text
        assert "PDF" in listing.text
        assert f"{len(PDF)} o" in listing.text
        document_id = (await referent.get(f"/api/v1/applications/{application['id']}/documents")).json()[0]["id"]
        download = await client.get(f"/pieces/{document_id}")
        assert download.status_code == 200
        assert download.content == PDF
        assert download.headers["content-disposition"].startswith("attachment;")
        removed = await client.post(f"/pieces/{document_id}/supprimer", data={"_csrf_token": csrf_token(client)})
        assert removed.status_code == 303
    assert (await referent.get(f"/api/v1/applications/{application['id']}/documents")).json() == []


async def test_the_upload_form_shows_the_error_next_to_the_field(login, settings, session_factory) -> None:
    application = await draft(await login(REFERENT))
    async with signed_in_as(settings, REFERENT) as client:
        response = await client.post(
            f"/demandes/{application['id']}/pieces",
            data={"_csrf_token": csrf_token(client)},
            files={"fichier": ("facture.pdf", EXE, "application/pdf")},
        )
        assert response.status_code == 422
        assert 'id="erreur-fichier"' in response.text
        assert 'aria-invalid="true"' in response.text
        assert "Type de fichier refusé : seuls les PDF, JPEG et PNG sont acceptés." in response.text
        empty = await client.post(f"/demandes/{application['id']}/pieces", data={"_csrf_token": csrf_token(client)})
        assert empty.status_code == 422
        assert "Choisissez le fichier à ajouter." in empty.text
        huge = await client.post(
            f"/demandes/{application['id']}/pieces",
            data={"_csrf_token": csrf_token(client)},
            files={"fichier": ("enorme.pdf", PDF + b"%" * (6 * 1024 * 1024), "application/pdf")},
        )
        assert huge.status_code == 303
        told = await client.get(huge.headers["location"])
        assert "Fichier trop volumineux : 5 Mo au plus." in told.text
    assert await count_documents(session_factory) == 0


async def test_the_web_upload_requires_the_csrf_token(login, settings, session_factory) -> None:
    application = await draft(await login(REFERENT))
    async with signed_in_as(settings, REFERENT) as client:
        response = await client.post(
            f"/demandes/{application['id']}/pieces", files={"fichier": ("a.pdf", PDF, "application/pdf")}
        )
        assert response.status_code == 403
        forged = await client.post(
            f"/demandes/{application['id']}/pieces",
            data={"_csrf_token": "forged"},
            files={"fichier": ("a.pdf", PDF, "application/pdf")},
        )
        assert forged.status_code == 403
    assert await count_documents(session_factory) == 0


@pytest.mark.parametrize("email", [ACCOUNTANT, ADMIN, OTHER_REFERENT])
async def test_the_accountant_the_admin_and_another_school_see_nothing_on_the_web(login, settings, email) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    document = await uploaded(referent, application["id"], "Dupont.pdf")
    async with signed_in_as(settings, email) as client:
        for url in (f"/demandes/{application['id']}/pieces", f"/pieces/{document['id']}"):
            response = await client.get(url, headers={"HX-Request": "true"})
            assert response.status_code == 404, url
            assert "Dupont" not in response.text
        case = await client.get(f"/demandes/{application['id']}")
        assert "/pieces" not in case.text


async def test_the_committee_sees_the_list_without_the_form_and_nothing_after_the_decision(login, settings) -> None:
    referent = await login(REFERENT)
    application = await submitted(referent)
    await uploaded(referent, application["id"], "Dupont.pdf")
    async with signed_in_as(settings, COMMITTEE[0]) as client:
        fragment = await client.get(f"/demandes/{application['id']}/pieces", headers={"HX-Request": "true"})
        assert "Dupont.pdf" in fragment.text
        assert "Ajouter une pièce justificative" not in fragment.text
        assert "Retirer" not in fragment.text
        refused = await client.post(
            f"/demandes/{application['id']}/pieces",
            data={"_csrf_token": csrf_token(client)},
            files={"fichier": ("a.pdf", PDF, "application/pdf")},
        )
        assert refused.status_code == 303
        assert refused.headers["location"] == "/comite"
        for email in COMMITTEE:
            await vote(await login(email), application["id"], "reject", comment="Déjà couvert.")
        after = await client.get(f"/demandes/{application['id']}/pieces", headers={"HX-Request": "true"})
        assert after.status_code == 200
        assert "Dupont.pdf" not in after.text
        assert "pendant l'examen" in after.text


async def test_rotating_the_key_rewrites_every_file_and_downloads_go_on(login, session_factory, settings) -> None:
    referent = await login(REFERENT)
    application = await draft(referent)
    document = await uploaded(referent, application["id"])
    old = DocumentStore.from_settings(settings)
    new = DocumentStore(Path(settings.data_dir), "a-brand-new-secret-key-" * 2, [old.secret_key])
    async with session_factory() as session:
        assert await service.reencrypt_all(session, new) == 1
        assert await service.reencrypt_all(session, new) == 0
    key = await storage_key_of(session_factory, document["id"])
    assert DocumentStore(Path(settings.data_dir), "a-brand-new-secret-key-" * 2).read(key, document["sha256"]) == PDF
    with pytest.raises(StoredFileError):
        old.read(key, document["sha256"])
