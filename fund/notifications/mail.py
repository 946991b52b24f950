"""Mail: French templates (text and HTML, one layout) and two senders — SMTP, or a folder of ``.eml`` files.

A mail carries a reference and a link to the case, never an IBAN, a social justification or a student's name:
the contexts handed to :func:`render` never hold them, and :func:`assert_no_sensitive` checks the result.
Senders raise :class:`TransientMailError` (try again later) or :class:`PermanentMailError` (give up); the caller
owns the retries and their back-off.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
import re
import secrets
import shutil
import ssl
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, parseaddr
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib
import structlog
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

log = structlog.get_logger(__name__)

KINDS = (
    "decision_approved",
    "decision_rejected",
    "letter_ready",
    "info_requested",
    "transfer_sent",
    "transfer_returned",
    "transfer_to_reissue",
    "payee_corrected",
    "new_request",
    "new_requests_digest",
    "deadline_reminder",
    "escalation",
    "fast_track_request",
    "batch_ready",
    "statement_returns",
    "password_reset",
    "account_invitation",
    "daily_digest",
    "family_access",
    "family_document",
)
DEFAULT_LOCALE = "fr"
DEFAULT_SENDER = "fund@localhost"
TEMPLATES = Path(__file__).parent / "templates"

# Safe in a Message-ID header and in a file name.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,190}")
# Two letters, two check digits, then 10 to 30 letters or digits, single spaces allowed (printed IBAN groups).
# Upper case only, as IBANs are stored and printed; lower-case hex (UUIDs in links) never matches.
_IBAN_LIKE = re.compile(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){10,30}\b")
# Context keys that would carry what a mail must never show.
_FORBIDDEN_KEYS = frozenset(
    {"iban", "bic", "justification", "first_name", "last_name", "student_name", "birth_date", "payee_name"}
)
_LOCALE = re.compile(r"[a-z]{2}(?:_[A-Z]{2})?")


@dataclass(frozen=True)
class Mail:
    """One mail to one person. ``message_id`` is stable across re-sends (the header is ``<{message_id}@fund>``)."""

    to: str
    subject: str
    text: str
    html: str
    message_id: str

    def __post_init__(self) -> None:
        if not _MESSAGE_ID.fullmatch(self.message_id):
            raise ValueError("message_id: letters, digits, '.', '_' and '-' only, at most 191 characters")


class MailError(Exception):
    """A mail was not delivered; ``code`` is the SMTP reply code when there was one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientMailError(MailError):
    """Try again later: server unreachable, timeout, TLS failure, 4xx reply."""


class PermanentMailError(MailError):
    """Trying again will not help: 5xx reply (unknown user, bad credentials), malformed address."""


class SensitiveDataError(ValueError):
    """A rendered mail would show data that must never leave the service by mail."""


@runtime_checkable
class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


# ---------------------------------------------------------------- templates


@cache
def _environment(locale: str) -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES / locale),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # The templates ship with the code: no look at their files' times before each use.
        auto_reload=False,
    )


def _resolve_locale(locale: str) -> str:
    """``fr_FR`` / ``fr-FR`` → that folder if it exists, else ``fr``'s language folder, else French."""
    candidate = locale.replace("-", "_")
    if not _LOCALE.fullmatch(candidate):
        return DEFAULT_LOCALE
    for name in (candidate, candidate[:2]):
        if (TEMPLATES / name / "layout.txt").is_file():
            return name
    return DEFAULT_LOCALE


def assert_no_sensitive(text: str) -> None:
    """Raise :class:`SensitiveDataError` if ``text`` holds something that looks like an IBAN."""
    if _IBAN_LIKE.search(text):
        raise SensitiveDataError("a mail must not contain an IBAN")


def render(
    kind: str, context: Mapping[str, Any], *, fund_name: str, base_url: str, locale: str = DEFAULT_LOCALE
) -> tuple[str, str, str]:
    """(subject, text, html) of a mail of ``kind`` in ``locale`` (French when that locale has no templates).

    ``context`` holds the keys of the kind (see the templates); links are paths, made absolute with ``base_url``.
    Optional keys for every kind: ``recipient_name`` (the greeting) and ``preferences_link`` (the footer).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    forbidden = _FORBIDDEN_KEYS.intersection(context)
    if forbidden:
        raise SensitiveDataError(f"a mail context must not hold {', '.join(sorted(forbidden))}")
    resolved = _resolve_locale(locale)
    env = _environment(resolved)
    root = base_url.rstrip("/")

    def url(link: str) -> str:
        return link if link.startswith(("https://", "http://")) else f"{root}/{link.lstrip('/')}"

    values: dict[str, Any] = {**context, "fund_name": fund_name, "url": url, "locale": resolved}
    text_template = env.get_template(f"{kind}.txt")
    subject = _one_line(_render_block(text_template, "subject", values))
    values["subject"] = subject
    text = text_template.render(values)
    html = env.get_template(f"{kind}.html").render(values)
    for part in (subject, text, html):
        assert_no_sensitive(part)
    return subject, text, html


def subject(kind: str, context: Mapping[str, Any], *, fund_name: str = "", locale: str = DEFAULT_LOCALE) -> str:
    """The subject alone of a mail of ``kind`` (what « Mes notifications » and the API show): its one block
    rendered, not the whole mail."""
    if kind not in KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    resolved = _resolve_locale(locale)
    values: dict[str, Any] = {**context, "fund_name": fund_name, "url": lambda link: link, "locale": resolved}
    text = _one_line(_render_block(_environment(resolved).get_template(f"{kind}.txt"), "subject", values))
    assert_no_sensitive(text)
    return text


def _one_line(text: str) -> str:
    """Collapse line breaks and runs of spaces; keep no-break spaces (``1 234,50 €``)."""
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


def _render_block(template: Template, name: str, values: dict[str, Any]) -> str:
    block: Callable[[Any], Any] = template.blocks[name]
    return "".join(block(template.new_context(values)))


# ---------------------------------------------------------------- the message


def build_message(mail: Mail, sender: str) -> bytes:
    """The RFC 5322 message as sent (CRLF lines, 7-bit): multipart/alternative (text, then HTML), UTF-8,
    quoted-printable bodies and encoded headers.

    Written directly rather than through Python's ``email`` package, whose header objects cost ten times the
    rendering of the mail; the package still checks the recipient's address and writes the sender's header (once per
    sender), and writes the whole message when an address is not plain ASCII.
    """
    _check_address(mail.to)
    subject = _one_line(mail.subject)
    if not mail.to.isascii() or not _SAFE_ADDRESS.fullmatch(mail.to):
        return _package_message(mail, sender, subject)
    boundary = f"=_{secrets.token_hex(16)}"
    head = b"".join(
        (
            _header("Subject", subject),
            _from_header(sender),
            f"To: {mail.to}\r\nDate: {formatdate(localtime=True)}\r\nMessage-ID: <{mail.message_id}@fund>\r\n"
            # RFC 3834: no out-of-office replies to a robot
            "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'.encode(),
        )
    )
    delimiter = f"--{boundary}\r\n".encode()
    return b"".join(
        (
            head,
            delimiter,
            _part("plain", mail.text),
            b"\r\n",
            delimiter,
            _part("html", mail.html),
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )


@lru_cache(maxsize=4096)
def _check_address(address: str) -> None:
    """Raise :class:`PermanentMailError` for a malformed address (the ``email`` package's parser, once per address:
    the same people get most mails)."""
    try:
        Address(addr_spec=address)
    except Exception as exc:  # the header parser raises several types for a malformed address
        raise PermanentMailError(f"malformed recipient address: {exc}") from None


# An address written as is in the To header: no display name, quotes, comments or spaces to encode or fold.
_SAFE_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~@-]{1,200}")
# Bytes of text per encoded word: 56 characters of base64, a folded line of at most 78 with its ``=?utf-8?b?`` and
# the header's name.
_WORD_BYTES = 42


def _header(name: str, value: str) -> bytes:
    """``name: value``, as is when it is short printable ASCII, else as RFC 2047 encoded words on folded lines."""
    line = f"{name}: {value}"
    if value.isascii() and value.isprintable() and len(line) <= 78:
        return f"{line}\r\n".encode()
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for char in value:
        width = len(char.encode())
        if size + width > _WORD_BYTES:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += width
    words.append("".join(chunk))
    encoded = [f"=?utf-8?b?{base64.b64encode(word.encode()).decode()}?=" for word in words]
    return (f"{name}: " + "\r\n ".join(encoded) + "\r\n").encode()


@cache
def _from_header(sender: str) -> bytes:
    """The From header as the ``email`` package encodes and folds it (a display name may need encoding)."""
    message = EmailMessage()
    message["From"] = sender
    return message.as_bytes(policy=SMTP).split(b"\r\n\r\n", 1)[0] + b"\r\n"


def _part(subtype: str, body: str) -> bytes:
    """One text part: UTF-8, quoted-printable, every line ended by CRLF (as the ``email`` package writes it)."""
    data = ("\r\n".join(body.splitlines()) + "\r\n").encode()
    encoded = binascii.b2a_qp(data, istext=True)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
    ).encode() + encoded


def _package_message(mail: Mail, sender: str, subject: str) -> bytes:
    """The message written by the ``email`` package (an address that is not plain ASCII)."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = mail.to
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = f"<{mail.message_id}@fund>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text, cte="quoted-printable")
    message.add_alternative(mail.html, subtype="html", cte="quoted-printable")
    return message.as_bytes(policy=SMTP)


# ---------------------------------------------------------------- SMTP


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class SmtpMailer:
    """Send through an SMTP server given by URL.

    ``smtp://[user:password@]host[:port]`` (port 25): STARTTLS when the server offers it; ``?starttls=1`` makes it
    mandatory (no plain-text fallback), ``?starttls=0`` never tries. ``smtps://…`` (port 465): implicit TLS.
    ``?timeout=`` seconds (default 10); ``?from=`` the sender, which wins over ``sender``. User and password are
    percent-decoded. ``tls_context`` replaces the system's trust store (a test's self-signed certificate).
    """

    def __init__(self, url: str, *, sender: str | None = None, tls_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"}:
            raise ValueError("the SMTP URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("the SMTP URL has no host")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        unknown = set(query) - {"starttls", "timeout", "from"}
        if unknown:
            raise ValueError(f"unknown SMTP URL parameter(s): {', '.join(sorted(unknown))}")
        self.hostname = parts.hostname
        self.use_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.use_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password is not None else None
        self.start_tls = _parse_starttls(query.get("starttls"))
        if self.use_tls and self.start_tls:
            raise ValueError("smtps:// already uses TLS: starttls=1 does not apply")
        try:
            self.timeout = float(query.get("timeout", "10"))
        except ValueError:
            raise ValueError("timeout must be a number of seconds") from None
        if not self.timeout > 0:
            raise ValueError("timeout must be positive")
        self.sender = query.get("from") or sender or DEFAULT_SENDER
        self.tls_context = tls_context

    def __repr__(self) -> str:  # never the password
        user = f"{self.username}:***@" if self.username else ""
        return f"SmtpMailer({'smtps' if self.use_tls else 'smtp'}://{user}{self.hostname}:{self.port})"

    async def send(self, mail: Mail) -> None:
        message = build_message(mail, self.sender)
        try:
            errors, _ = await aiosmtplib.send(
                message,
                sender=parseaddr(self.sender)[1],
                recipients=[mail.to],
                hostname=self.hostname,
                port=self.port,
                username=self.username,
                password=self._password,
                use_tls=self.use_tls,
                start_tls=self.start_tls,
                tls_context=self.tls_context,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _by_code(min((r.code for r in exc.recipients), default=None), str(exc)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, f"{exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ssl.SSLError) as exc:
            # Unreachable, timed out, disconnected, TLS failed (or mandatory and not offered): the server's state,
            # not the mail's.
            raise TransientMailError(f"{type(exc).__name__}: {exc}") from exc
        if errors:  # a recipient refused while the mail went to others (never with one recipient, kept for safety)
            response = next(iter(errors.values()))
            raise _by_code(response.code, f"{response.code} {response.message}")
        log.info("mail.sent", to=mail.to, subject=mail.subject, message_id=mail.message_id)


def _parse_starttls(value: str | None) -> bool | None:
    if value is None:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError("starttls must be 0 or 1")


def _by_code(code: int | None, message: str) -> MailError:
    if code is not None and 500 <= code < 600:
        return PermanentMailError(message, code)
    return TransientMailError(message, code)


# ---------------------------------------------------------------- folder


class FileMailer:
    """Write each mail as ``<timestamp>-<message_id>.eml`` in ``folder`` (the demo's mailbox) and log one line.

    Sending the same ``message_id`` again rewrites the same file: ``.by-id/<message_id>``, a symbolic link to the
    mail's file made (atomically, once) before the file is written, tells in one look-up, however many mails the
    folder holds. A folder of mails written before the index is indexed on first use.
    """

    INDEX = ".by-id"

    def __init__(self, folder: Path, *, sender: str = DEFAULT_SENDER) -> None:
        self.folder = Path(folder)
        self.sender = sender
        self._index = self.folder / self.INDEX
        self._indexed = False

    async def send(self, mail: Mail) -> None:
        data = build_message(mail, self.sender)
        path = await asyncio.to_thread(self._write, mail.message_id, data)
        log.info("mail.written", to=mail.to, subject=mail.subject, path=str(path))

    def path_for(self, message_id: str) -> Path | None:
        """The file written (or being written) for ``message_id``, if any."""
        try:
            return self.folder / os.readlink(self._index / message_id)
        except FileNotFoundError:
            return None

    def _claim(self, message_id: str) -> Path:
        """The file of ``message_id``: the one already named in the index, or a new name recorded there first."""
        if not self._indexed:
            if not self._index.is_dir():
                self._build_index()
            self._indexed = True
        path = self.folder / f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{message_id}.eml"
        for _ in range(10):
            try:
                # Fails if the link exists: one name per message, whichever process comes first.
                os.symlink(path.name, self._index / message_id)
            except FileExistsError:
                return self.folder / os.readlink(self._index / message_id)
            except FileNotFoundError:
                # Another process's first index, still empty, replaced the one this link was made in (a rename
                # over an empty folder succeeds): make it again in the one now in place.
                continue
            return path
        raise RuntimeError(f"could not index the mail {message_id} in {self._index}")

    def _build_index(self) -> None:
        """Index the mails already in the folder (once; several processes doing it at once agree)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=self.folder, prefix=".by-id-"))
        for path in sorted(self.folder.glob("*-*.eml")):
            with contextlib.suppress(FileExistsError):  # the oldest file of a message_id wins
                os.symlink(path.name, building / path.name.split("-", 1)[1].removesuffix(".eml"))
        try:
            os.rename(building, self._index)
        except OSError:  # another process made it first
            shutil.rmtree(building, ignore_errors=True)

    def _write(self, message_id: str, data: bytes) -> Path:
        path = self._claim(message_id)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def mailer_from_settings(smtp_url: str | None, mail_dir: Path, sender: str) -> Mailer:
    """SMTP when a URL is configured, else the folder (development and demo)."""
    if smtp_url:
        return SmtpMailer(smtp_url, sender=sender)
    return FileMailer(mail_dir, sender=sender)
