"""Mail: French templates without sensitive data, the folder mailbox, and SMTP against a real aiosmtpd server.

No database here: every SMTP server is started by the test, on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import asyncio
import datetime
import email
import ipaddress
import shutil
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jinja2 import UndefinedError

from fund.core.embedded import free_port
from fund.notifications import mail as mail_module
from fund.notifications.mail import (
    KINDS,
    TEMPLATES,
    FileMailer,
    Mail,
    Mailer,
    PermanentMailError,
    SensitiveDataError,
    SmtpMailer,
    TransientMailError,
    assert_no_sensitive,
    mailer_from_settings,
    render,
)

FUND = "Fonds de solidarité des Écoles de Production"
BASE = "https://fonds.example.org"
LINK = "/applications/0193ab12-cdef-7abc-8def-0123456789ab"
EURO = "1\u202f234,50\u00a0€"


def context_for(kind: str, reference: str = "FS-2026-000123") -> dict[str, Any]:
    items = [
        {"reference": reference, "category_label": "Transport", "amount": "120,00\u00a0€", "urgent": True},
        {"reference": "FS-2026-000124", "category_label": "Logement", "amount": EURO, "urgent": False},
    ]
    contexts: dict[str, dict[str, Any]] = {
        "decision_approved": {"reference": reference, "amount": EURO, "link": LINK},
        "decision_rejected": {"reference": reference, "link": LINK},
        "letter_ready": {"reference": reference, "version": 1, "link": LINK},
        "info_requested": {"reference": reference, "link": LINK},
        "transfer_sent": {"reference": reference, "amount": EURO, "link": LINK},
        "transfer_returned": {"reference": reference, "amount": EURO, "reason": "Compte clôturé", "link": LINK},
        "transfer_to_reissue": {
            "reference": reference,
            "amount": EURO,
            "reason": "compte clos",
            "reason_code": "AC04",
            "link": LINK,
        },
        "payee_corrected": {"reference": reference, "transfers": 1, "link": LINK},
        "new_request": {
            "reference": reference,
            "category_label": "Transport",
            "amount": "120,00\u00a0€",
            "urgent": True,
            "link": LINK,
        },
        "new_requests_digest": {"items": items, "link": LINK},
        "deadline_reminder": {"reference": reference, "hours_waiting": 80, "urgent": True, "link": LINK},
        "escalation": {"reference": reference, "hours_waiting": 96, "urgent": False, "link": LINK},
        "fast_track_request": {"reference": reference, "amount": "120,00\u00a0€", "link": LINK},
        "batch_ready": {"transfer_count": 3, "total": EURO, "link": LINK},
        "statement_returns": {"returned_count": 2, "link": LINK},
        "password_reset": {"minutes": 60, "link": LINK},
        "family_access": {"days": 30, "link": LINK},
        "family_document": {"reference": reference, "link": LINK},
        "account_invitation": {
            "link": LINK,
            "email": "nina@example.org",
            "roles": ["référent ou référente d'école"],
            "schools": ["École <de> Lille"],
            "inviter": "Alice <Admin>",
            "hours": 72,
        },
        "daily_digest": {
            "items": [
                {"subject": f"Demande {reference} accordée", "link": LINK},
                {"subject": "Virement envoyé", "link": "/applications/other"},
            ]
        },
    }
    return contexts[kind]


def a_mail(message_id: str = "notification-1", **changes: str) -> Mail:
    fields = {
        "to": "referent@example.org",
        "subject": "Demande FS-2026-000123 accordée : 120,00 €",
        "text": "Bonjour,\n\nL'aide est accordée. Événement reçu, à très bientôt.\n",
        "html": "<p>Bonjour,</p><p>L'aide est accordée. Événement reçu, à très bientôt.</p>",
        "message_id": message_id,
    }
    fields.update(changes)
    return Mail(**fields)


def parts(message: Message) -> dict[str, str]:
    """content type → decoded body of each leaf part (line ends as written by the caller: SMTP sends CRLF)."""
    bodies = {}
    for part in message.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            text = payload.decode(part.get_content_charset() or "ascii")
            bodies[part.get_content_type()] = text.replace("\r\n", "\n")
    return bodies


# ---------------------------------------------------------------- templates


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_in_french_with_the_fund_name_and_the_link(kind: str) -> None:
    subject, text, html = render(kind, context_for(kind), fund_name=FUND, base_url=BASE + "/")

    assert subject.strip()
    assert "\n" not in subject
    for body in (text, html):
        assert "Bonjour" in body
        assert "Vous recevez ce message" in body
        assert "préférences" in body
        assert f"{BASE}{LINK}" in body
        assert "//applications" not in body
    assert FUND in text
    assert FUND in html
    assert '<html lang="fr">' in html
    assert f'href="{BASE}{LINK}"' in html
    assert f"<title>{subject}</title>" in html


@pytest.mark.parametrize("kind", KINDS)
def test_html_escapes_what_the_context_brings(kind: str) -> None:
    reference = "FS-<b>1</b>"
    _, text, html = render(kind, context_for(kind, reference), fund_name="Fonds <A&B>", base_url=BASE)

    assert "Fonds &lt;A&amp;B&gt;" in html
    assert "<A&B>" not in html
    assert "Fonds <A&B>" in text  # plain text is not HTML: nothing to escape
    no_reference = {"batch_ready", "statement_returns", "password_reset", "account_invitation", "family_access"}
    if kind not in no_reference:
        assert "FS-&lt;b&gt;1&lt;/b&gt;" in html
        assert "<b>" not in html
        assert reference in text


def test_each_kind_has_a_text_and_an_html_template() -> None:
    for kind in KINDS:
        assert (TEMPLATES / "fr" / f"{kind}.txt").is_file()
        assert (TEMPLATES / "fr" / f"{kind}.html").is_file()


def test_subjects_agree_in_number() -> None:
    one = render("statement_returns", {"returned_count": 1, "link": LINK}, fund_name=FUND, base_url=BASE)[0]
    two = render("statement_returns", {"returned_count": 2, "link": LINK}, fund_name=FUND, base_url=BASE)[0]
    assert one == "Relevé bancaire : 1 virement retourné"
    assert two == "Relevé bancaire : 2 virements retournés"
    approved = render("decision_approved", context_for("decision_approved"), fund_name=FUND, base_url=BASE)[0]
    assert approved == f"Demande FS-2026-000123 accordée : {EURO}"


def test_greeting_and_preferences_link_are_optional() -> None:
    context = {**context_for("info_requested"), "recipient_name": "Camille", "preferences_link": "/me/notifications"}
    _, text, html = render("info_requested", context, fund_name=FUND, base_url=BASE)
    assert "Bonjour Camille," in text
    assert f"{BASE}/me/notifications" in text
    assert f'href="{BASE}/me/notifications"' in html


@pytest.mark.parametrize("locale", ["de", "en_GB", "fr-FR", "../fr", ""])
def test_a_locale_without_templates_falls_back_to_french(locale: str) -> None:
    subject, text, html = render(
        "decision_rejected", context_for("decision_rejected"), fund_name=FUND, base_url=BASE, locale=locale
    )
    assert subject == "Demande FS-2026-000123 : décision du comité"
    assert "Le comité n'a pas accordé" in text
    assert '<html lang="fr">' in html


def test_unknown_kind_and_missing_key_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown mail kind"):
        render("birthday", {}, fund_name=FUND, base_url=BASE)
    with pytest.raises(UndefinedError):
        render("transfer_sent", {"reference": "FS-2026-000123", "link": LINK}, fund_name=FUND, base_url=BASE)


@pytest.mark.parametrize(
    "text",
    [
        "FR7630006000011234567890189",
        "IBAN : FR76 3000 6000 0112 3456 7890 189.",
        "DE89370400440532013000",
        "<td>BE71 0961 2345 6769</td>",
    ],
)
def test_iban_guard_refuses_an_iban(text: str) -> None:
    with pytest.raises(SensitiveDataError):
        assert_no_sensitive(text)


@pytest.mark.parametrize(
    "text",
    [
        "Demande FS-2026-000123, 1\u202f234,50\u00a0€",
        f"{BASE}{LINK}",
        "FR76 •••• •••• 1234",
        "Motif : AC04 compte clôturé, code MS03 raison non précisée",
    ],
)
def test_iban_guard_lets_references_links_and_masked_ibans_through(text: str) -> None:
    assert_no_sensitive(text)


def test_render_refuses_an_iban_or_a_sensitive_key_in_the_context() -> None:
    context = {**context_for("transfer_returned"), "reason": "Compte FR76 3000 6000 0112 3456 7890 189 clôturé"}
    with pytest.raises(SensitiveDataError):
        render("transfer_returned", context, fund_name=FUND, base_url=BASE)
    for key in ("iban", "justification", "last_name", "student_name"):
        with pytest.raises(SensitiveDataError, match=key):
            render("info_requested", {**context_for("info_requested"), key: "x"}, fund_name=FUND, base_url=BASE)


# ---------------------------------------------------------------- the folder mailbox


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


async def test_file_mailer_writes_a_parseable_eml_and_logs_one_line_without_the_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = RecordingLog()
    monkeypatch.setattr(mail_module, "log", log)
    folder = tmp_path / "mail" / "outbox"  # created on first use
    mailer = FileMailer(folder, sender="Fonds <fonds@example.org>")
    assert isinstance(mailer, Mailer)

    await mailer.send(a_mail())

    [path] = folder.glob("*.eml")
    assert path.name.endswith("-notification-1.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
    assert message.get_content_type() == "multipart/alternative"
    assert message["Message-ID"] == "<notification-1@fund>"
    assert message["Subject"] == "Demande FS-2026-000123 accordée : 120,00 €"
    assert message["To"] == "referent@example.org"
    assert message["From"] == "Fonds <fonds@example.org>"
    assert message["Date"]
    bodies = parts(message)
    assert "Événement reçu, à très bientôt." in bodies["text/plain"]
    assert "<p>L'aide est accordée." in bodies["text/html"]
    assert log.lines == [
        (
            "mail.written",
            {"to": "referent@example.org", "subject": "Demande FS-2026-000123 accordée : 120,00 €", "path": str(path)},
        )
    ]


def mails_in(folder: Path) -> list[str]:
    """The files of the folder but the mailer's index."""
    return sorted(path.name for path in folder.iterdir() if path.name != FileMailer.INDEX)


async def test_file_mailer_rewrites_the_same_message_id(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path)
    await mailer.send(a_mail("n-1"))
    first = mailer.path_for("n-1")
    await mailer.send(a_mail("n-1", subject="Second envoi"))
    await mailer.send(a_mail("x-n-1"))  # a message_id that ends like the first one is another mail

    assert mailer.path_for("n-1") == first
    assert sorted(name.split("-", 1)[1] for name in mails_in(tmp_path)) == ["n-1.eml", "x-n-1.eml"]  # no temporary file
    assert first is not None
    assert email.message_from_bytes(first.read_bytes(), policy=default_policy)["Subject"] == "Second envoi"


async def test_file_mailer_finds_a_message_id_without_scanning_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mailer = FileMailer(tmp_path)
    for i in range(3):
        await mailer.send(a_mail(f"n-{i}"))

    def no_scan(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the folder was scanned")

    monkeypatch.setattr(Path, "glob", no_scan)
    monkeypatch.setattr(Path, "iterdir", no_scan)
    first = mailer.path_for("n-1")
    await mailer.send(a_mail("n-1", subject="Second envoi"))
    await mailer.send(a_mail("n-3"))
    monkeypatch.undo()

    assert mailer.path_for("n-1") == first
    assert len(mails_in(tmp_path)) == 4
    assert first is not None
    assert email.message_from_bytes(first.read_bytes(), policy=default_policy)["Subject"] == "Second envoi"


async def test_file_mailer_indexes_a_folder_written_before_its_index(tmp_path: Path) -> None:
    """Mails written by an older version (no index): re-sending one rewrites its file, as before."""
    await FileMailer(tmp_path).send(a_mail("n-1"))
    await FileMailer(tmp_path).send(a_mail("x-n-1"))
    [old] = [tmp_path / name for name in mails_in(tmp_path) if name.endswith("-n-1.eml") and "-x-" not in name]
    shutil.rmtree(tmp_path / FileMailer.INDEX)

    mailer = FileMailer(tmp_path)
    await mailer.send(a_mail("n-1", subject="Second envoi"))
    await mailer.send(a_mail("n-2"))

    assert mailer.path_for("n-1") == old
    assert sorted(name.split("-", 1)[1] for name in mails_in(tmp_path)) == ["n-1.eml", "n-2.eml", "x-n-1.eml"]
    assert email.message_from_bytes(old.read_bytes(), policy=default_policy)["Subject"] == "Second envoi"


async def test_two_mailers_sending_the_same_message_id_at_once_write_one_file(tmp_path: Path) -> None:
    """Two worker processes on one folder: the first to name the file wins, the other rewrites it."""
    await asyncio.gather(*(FileMailer(tmp_path).send(a_mail("n-1")) for _ in range(8)))
    assert [name.split("-", 1)[1] for name in mails_in(tmp_path)] == ["n-1.eml"]


@pytest.mark.parametrize("address", ["not-an-address", "a b@example.org", "x@", "a@example.org\r\nBcc: b@example.org"])
async def test_a_malformed_address_is_permanent(tmp_path: Path, address: str) -> None:
    with pytest.raises(PermanentMailError, match="malformed recipient"):
        await FileMailer(tmp_path).send(a_mail(to=address))
    assert mails_in(tmp_path) == []


@pytest.mark.parametrize("message_id", ["", "a b", "../x", "<id@fund>", "x" * 192])
def test_a_message_id_must_be_safe_for_a_header_and_a_file_name(message_id: str) -> None:
    with pytest.raises(ValueError, match="message_id"):
        a_mail(message_id)


def test_mailer_from_settings(tmp_path: Path) -> None:
    assert isinstance(mailer_from_settings(None, tmp_path, "fonds@example.org"), FileMailer)
    assert isinstance(mailer_from_settings("", tmp_path, "fonds@example.org"), FileMailer)
    smtp = mailer_from_settings("smtp://mail.example.org:587", tmp_path, "fonds@example.org")
    assert isinstance(smtp, SmtpMailer)
    assert (smtp.hostname, smtp.port, smtp.sender) == ("mail.example.org", 587, "fonds@example.org")


# ---------------------------------------------------------------- SMTP URL


def test_smtp_url_settings() -> None:
    plain = SmtpMailer("smtp://mail.example.org")
    assert (plain.port, plain.use_tls, plain.start_tls, plain.timeout) == (25, False, None, 10.0)
    assert plain.sender == "fund@localhost"
    assert plain.username is None

    tls = SmtpMailer("smtps://fonds%40example.org:p%40ss%3Aword@mail.example.org?timeout=2.5", sender="a@b.org")
    assert (tls.port, tls.use_tls, tls.timeout, tls.username) == (465, True, 2.5, "fonds@example.org")
    assert tls._password == "p@ss:word"
    assert "p%40ss" not in repr(tls)
    assert "word" not in repr(tls)
    assert tls.sender == "a@b.org"

    assert SmtpMailer("smtp://h:2525?starttls=1").start_tls is True
    assert SmtpMailer("smtp://h:2525?starttls=0").start_tls is False
    assert SmtpMailer("smtp://h?from=fonds@example.org", sender="other@example.org").sender == "fonds@example.org"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.example.org", "smtp:// or smtps://"),
        ("smtp://", "no host"),
        ("smtp://h?starttls=maybe", "starttls must be"),
        ("smtp://h?timeout=soon", "timeout must be a number"),
        ("smtp://h?timeout=0", "timeout must be positive"),
        ("smtp://h?tls=1", "unknown SMTP URL parameter"),
        ("smtps://h?starttls=1", "already uses TLS"),
    ],
)
def test_a_bad_smtp_url_is_refused_at_once(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SmtpMailer(url)


# ---------------------------------------------------------------- SMTP against aiosmtpd


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool


class Recorder:
    """An aiosmtpd handler that keeps what it accepts, or answers a chosen reply."""

    def __init__(self, rcpt_reply: str | None = None, data_reply: str | None = None) -> None:
        self.rcpt_reply, self.data_reply = rcpt_reply, data_reply
        self.received: list[Received] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, bool(session.ssl)))
        return "250 Message accepted for delivery"


Serve = Callable[..., tuple[Recorder, int]]


@pytest.fixture
def smtp_server() -> Iterator[Serve]:
    """``serve(handler=None, **aiosmtpd options)`` → (handler, port); every server is stopped after the test."""
    controllers: list[Controller] = []

    def serve(handler: Recorder | None = None, **options: Any) -> tuple[Recorder, int]:
        handler = handler or Recorder()
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return handler, port

    yield serve
    for controller in controllers:
        controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate file, key file)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def client_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def rendered_mail() -> Mail:
    subject, text, html = render("decision_approved", context_for("decision_approved"), fund_name=FUND, base_url=BASE)
    return Mail("referent@example.org", subject, text, html, "notification-42")


async def test_smtp_delivers_both_parts_with_accents_intact(smtp_server: Serve) -> None:
    handler, port = smtp_server()
    mail = rendered_mail()

    await SmtpMailer(f"smtp://127.0.0.1:{port}?from=fonds@example.org").send(mail)

    [received] = handler.received
    assert received.mail_from == "fonds@example.org"
    assert received.rcpt_tos == ["referent@example.org"]
    message = email.message_from_bytes(received.content, policy=default_policy)
    assert message["Subject"] == f"Demande FS-2026-000123 accordée : {EURO}"
    assert message["Message-ID"] == "<notification-42@fund>"
    assert message["Auto-Submitted"] == "auto-generated"
    bodies = parts(message)
    assert bodies["text/plain"] == mail.text
    assert bodies["text/html"] == mail.html
    assert "Écoles" in bodies["text/plain"]
    assert "accordé une aide" in bodies["text/plain"]
    assert max(received.content) < 128  # 7-bit safe on the wire (quoted-printable, encoded headers)


async def test_smtp_sender_with_a_display_name(smtp_server: Serve) -> None:
    handler, port = smtp_server()
    await SmtpMailer(f"smtp://127.0.0.1:{port}", sender="Fonds de solidarité <fonds@example.org>").send(a_mail())
    [received] = handler.received
    assert received.mail_from == "fonds@example.org"
    message = email.message_from_bytes(received.content, policy=default_policy)
    assert message["From"] == "Fonds de solidarité <fonds@example.org>"


def accept_user_secret(logins: list[str]) -> Callable[..., AuthResult]:
    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = (v.decode() if isinstance(v, bytes) else v for v in (auth_data.login, auth_data.password))
        ok = (login, password) == ("user", "secret")
        if ok:
            logins.append(login)
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 235 or 535 itself

    return authenticator


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_smtp_logs_in_with_the_credentials_of_the_url(smtp_server: Serve) -> None:
    logins: list[str] = []
    handler, port = smtp_server(authenticator=accept_user_secret(logins), auth_require_tls=False, auth_required=True)

    await SmtpMailer(f"smtp://user:secret@127.0.0.1:{port}").send(a_mail())

    assert logins == ["user"]
    assert len(handler.received) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_smtp_wrong_password_is_permanent(smtp_server: Serve) -> None:
    handler, port = smtp_server(authenticator=accept_user_secret([]), auth_require_tls=False, auth_required=True)

    with pytest.raises(PermanentMailError) as caught:
        await SmtpMailer(f"smtp://user:wrong@127.0.0.1:{port}").send(a_mail())

    assert caught.value.code == 535
    assert "wrong" not in str(caught.value)
    assert handler.received == []


@pytest.mark.parametrize(
    ("handler", "error", "code"),
    [
        (Recorder(data_reply="451 Try again later"), TransientMailError, 451),
        (Recorder(rcpt_reply="450 Mailbox busy"), TransientMailError, 450),
        (Recorder(rcpt_reply="550 No such user"), PermanentMailError, 550),
        (Recorder(data_reply="554 Message refused"), PermanentMailError, 554),
    ],
    ids=["451-at-data", "450-at-rcpt", "550-at-rcpt", "554-at-data"],
)
async def test_smtp_replies_map_to_transient_or_permanent(
    smtp_server: Serve, handler: Recorder, error: type[Exception], code: int
) -> None:
    _, port = smtp_server(handler)
    with pytest.raises(error) as caught:
        await SmtpMailer(f"smtp://127.0.0.1:{port}").send(a_mail())
    assert caught.value.code == code  # type: ignore[attr-defined]


async def test_smtp_nothing_listening_is_transient() -> None:
    with pytest.raises(TransientMailError):
        await SmtpMailer(f"smtp://127.0.0.1:{free_port()}?timeout=2").send(a_mail())


async def test_smtp_silent_server_times_out_as_transient() -> None:
    held: list[asyncio.StreamWriter] = []

    async def never_greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(never_greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TransientMailError):
            await SmtpMailer(f"smtp://127.0.0.1:{port}?timeout=0.3").send(a_mail())
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_smtp_mandatory_starttls_with_a_trusted_self_signed_certificate(
    smtp_server: Serve, certificate: tuple[Path, Path]
) -> None:
    handler, port = smtp_server(tls_context=server_tls(certificate), require_starttls=True)

    await SmtpMailer(f"smtp://127.0.0.1:{port}?starttls=1", tls_context=client_tls(certificate)).send(a_mail())

    [received] = handler.received
    assert received.tls


async def test_smtp_starttls_is_used_when_offered(smtp_server: Serve, certificate: tuple[Path, Path]) -> None:
    handler, port = smtp_server(tls_context=server_tls(certificate))
    await SmtpMailer(f"smtp://127.0.0.1:{port}", tls_context=client_tls(certificate)).send(a_mail())
    assert handler.received[0].tls


async def test_smtp_starttls_zero_stays_plain(smtp_server: Serve, certificate: tuple[Path, Path]) -> None:
    handler, port = smtp_server(tls_context=server_tls(certificate))
    await SmtpMailer(f"smtp://127.0.0.1:{port}?starttls=0").send(a_mail())
    assert not handler.received[0].tls


async def test_smtp_untrusted_certificate_is_not_used_and_nothing_is_sent(
    smtp_server: Serve, certificate: tuple[Path, Path]
) -> None:
    handler, port = smtp_server(tls_context=server_tls(certificate))
    with pytest.raises(TransientMailError):
        await SmtpMailer(f"smtp://127.0.0.1:{port}").send(a_mail())  # the system trust store: not trusted
    assert handler.received == []


async def test_smtp_mandatory_starttls_not_offered_sends_nothing(smtp_server: Serve) -> None:
    handler, port = smtp_server()
    with pytest.raises(TransientMailError, match="STARTTLS"):
        await SmtpMailer(f"smtp://127.0.0.1:{port}?starttls=1").send(a_mail())
    assert handler.received == []


async def test_smtps_implicit_tls(smtp_server: Serve, certificate: tuple[Path, Path]) -> None:
    handler, port = smtp_server(ssl_context=server_tls(certificate))
    await SmtpMailer(f"smtps://127.0.0.1:{port}", tls_context=client_tls(certificate)).send(a_mail())
    assert len(handler.received) == 1
