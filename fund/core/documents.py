"""Documents that leave the fund — decision letters, minutes, case files' summaries, the annual report — made one way.

Each domain writes its documents as HTML templates in its own ``templates/documents/`` folder, extending
``core/document.html`` (A4, the fund's letterhead, page numbers in the footer). WeasyPrint renders them to PDF with
their fonts embedded and their structure tagged for screen readers (PDF/UA-1). A render costs tens to hundreds of
milliseconds of CPU: async callers use ``render_pdf_async``, which runs it in a thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import threading
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, PrefixLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from fund.core.money import format_euros_fr

PACKAGE = Path(__file__).resolve().parents[1]
MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def date_fr(day: datetime.date | datetime.datetime | None, long: bool = True) -> str:
    """« 3 décembre 2026 » (long, as letters write it) or « 03/12/2026 »."""
    if day is None:
        return ""
    if isinstance(day, datetime.datetime):
        from fund.funds.calendar import local_day

        day = local_day(day) if day.tzinfo else day.date()
    if not long:
        return day.strftime("%d/%m/%Y")
    return f"{'1er' if day.day == 1 else day.day} {MONTHS_FR[day.month - 1]} {day.year}"


def euros(cents: int | None) -> str:
    return "" if cents is None else format_euros_fr(cents)


def plain(text: Any) -> str:
    """No-break spaces as plain ones (``120,00 €``): for text a reader copies out of the PDF; the template keeps
    the amount together (``white-space: nowrap``)."""
    return str(text).replace("\u202f", " ").replace("\u00a0", " ")


def css_string(text: Any) -> Markup:
    """``text`` safe inside a double-quoted CSS string of the document's own style sheet (the footer): quotes and
    backslashes escaped, no markup (a ``</style>`` in a fund's name stays text), on one line."""
    value = " ".join(str(text).split())
    value = value.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ").replace(">", "\\3e ")
    return Markup(value)  # noqa: S704 - escaped for CSS above


@cache
def environment() -> Environment:
    """Templates by domain prefix (``applications/documents/letter.html``), ``core/`` for the shared layout."""
    folders = {
        path.parent.name: FileSystemLoader(path)
        for path in sorted(PACKAGE.glob("*/templates"))
        if path.is_dir() and path.parent.name != "web"
    }
    folders["core"] = FileSystemLoader(PACKAGE / "core" / "templates")
    env = Environment(
        loader=PrefixLoader(folders),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a missing value in a letter is a bug, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(euros=euros, date_fr=date_fr, css_string=css_string, plain=plain)
    return env


def render_html(template: str, context: Mapping[str, Any]) -> str:
    return environment().get_template(template).render(**context)


def html_to_pdf(html: str) -> bytes:
    """PDF/UA-1 (tagged) with the fonts embedded. Nothing is fetched: a document refers to no URL."""
    from weasyprint import HTML  # imported on first use: it loads Pango and the fonts (about 0.3 s)
    from weasyprint.urls import URLFetcher

    # data: URIs only (an inline chart or logo); anything else is left out, never fetched
    fetcher = URLFetcher(allowed_protocols=["data"])
    return bytes(HTML(string=html, url_fetcher=fetcher).write_pdf(pdf_variant="pdf/ua-1"))


def render_pdf(template: str, context: Mapping[str, Any]) -> bytes:
    return html_to_pdf(render_html(template, context))


# Renders at once per process. A render is Python holding the GIL: twenty at once (a worker's burst of decisions)
# take as long as twenty in a row, all finishing late and starving the loop's other jobs (mails, payments) meanwhile;
# waiting threads hold no GIL, so the others go on and each document is done in its own render time.
CONCURRENT_RENDERS = 2
_RENDERS = threading.BoundedSemaphore(CONCURRENT_RENDERS)


def _html_to_pdf_in_turn(html: str) -> bytes:
    with _RENDERS:
        return html_to_pdf(html)


async def render_pdf_async(template: str, context: Mapping[str, Any]) -> bytes:
    html = render_html(template, context)  # in the loop: templates may read lazy values of the caller
    return await asyncio.to_thread(_html_to_pdf_in_turn, html)


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
