"""The minutes (procès-verbal) of a committee meeting as a PDF ready to sign, A4, in French.

Written with fpdf2's standard Helvetica, encoded in Windows-1252 (WinAnsi): every French letter, « », € and œ, with
no font file to ship. A character outside it (typed by a user) is shown as « ? » rather than failing the download.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import anyio.to_thread
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from fund.auth.models import User
from fund.core.uow import UnitOfWork
from fund.meetings.minutes import gather

FONT = "Helvetica"
LINE = 5.5


def plain(text: str) -> str:
    """``text`` as Windows-1252 can show it: narrow and other spaces become spaces, the rest « ? »."""
    text = unicodedata.normalize("NFC", text).replace("\u202f", " ").replace("\u2009", " ")
    return text.encode("cp1252", "replace").decode("cp1252")


class _Minutes(FPDF):
    title_line = ""
    draft = False

    def header(self) -> None:
        if self.draft:
            self.set_font(FONT, "B", 10)
            self.set_text_color(170, 0, 0)
            self.cell(0, 6, "PROJET — séance non close, ce document n'est pas le procès-verbal définitif", align="C")
            self.set_text_color(0, 0, 0)
            self.ln(8)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FONT, "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, plain(f"{self.title_line} — page {self.page_no()}/{{nb}}"), align="C")
        self.set_text_color(0, 0, 0)


def _heading(pdf: FPDF, text: str) -> None:
    if pdf.get_y() > pdf.h - 50:
        pdf.add_page()
    pdf.ln(3)
    pdf.set_font(FONT, "B", 12)
    pdf.multi_cell(0, 7, plain(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(60, 60, 60)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(2)
    pdf.set_font(FONT, "", 10)


def _para(pdf: FPDF, text: str, *, bold: bool = False) -> None:
    pdf.set_font(FONT, "B" if bold else "", 10)
    pdf.multi_cell(0, LINE, plain(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 10)


def _names(names: list[str]) -> str:
    return ", ".join(names) if names else "aucun"


def write(context: dict[str, Any]) -> bytes:
    """The PDF of the minutes gathered by ``fund.meetings.minutes.gather``."""
    pdf = _Minutes(format="A4")
    pdf.title_line = f"Procès-verbal du comité d'attribution — séance du {context['held_on']}"
    pdf.draft = bool(context["draft"])
    pdf.core_fonts_encoding = "windows-1252"
    pdf.set_title(plain(pdf.title_line))
    pdf.set_author(plain(context["fund_name"]))
    pdf.set_creator("Fonds de solidarité des Écoles de Production")
    pdf.set_lang("fr-FR")
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()

    pdf.set_font(FONT, "B", 15)
    pdf.multi_cell(0, 8, "Procès-verbal de la séance du comité d'attribution", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)
    _para(pdf, context["fund_name"], bold=True)
    place = f", {context['place']}" if context["place"] else ", lieu non précisé"
    _para(pdf, f"Séance du {context['held_on']}{place}.")
    closing = f"close le {context['closed_time']}" if context["closed_time"] else "pas encore close"
    _para(pdf, f"Ouverte le {context['opened_at']}, {closing}.")
    _para(pdf, f"Présidence : {context['chair_name']}.")

    _heading(pdf, "Membres du comité")
    _para(pdf, f"Présents : {_names(context['attendees'])}.")
    _para(pdf, f"Excusés : {_names(context['excused'])}.")
    _para(pdf, f"Absents : {_names(context['absent'])}.")
    if context["unknown"]:
        _para(pdf, f"Présence non renseignée : {_names(context['unknown'])}.")

    _heading(pdf, "Demandes examinées")
    if not context["decisions"]:
        _para(pdf, "Aucune demande à l'ordre du jour.")
    for item in context["decisions"]:
        if pdf.get_y() > pdf.h - 60:
            pdf.add_page()
        urgent = " (urgente)" if item["urgent"] else ""
        _para(
            pdf,
            f"Point {item['position']} — {item['reference']} — {item['category']}, "
            f"{item['amount_requested']} demandés{urgent}",
            bold=True,
        )
        _para(pdf, f"Élève : {item['student']}.")
        if item["votes"]:
            pdf.set_font(FONT, "", 9.5)
            with pdf.table(
                col_widths=(90, 40, 44),
                text_align=("LEFT", "LEFT", "RIGHT"),
                line_height=LINE,
                first_row_as_headings=True,
                padding=1.2,
            ) as table:
                table.row(["Membre", "Vote", "Montant proposé"])
                for vote in item["votes"]:
                    table.row([plain(vote["member"]), plain(vote["choice"]), plain(vote["amount"])])
            pdf.set_font(FONT, "", 10)
        else:
            _para(pdf, "Aucun vote.")
        _para(pdf, f"Décision : {item['decision']}.", bold=True)
        pdf.ln(2)

    _heading(pdf, "Décisions prises en urgence soumises à ratification")
    if not context["ratifications"]:
        _para(pdf, "Aucune.")
    for item in context["ratifications"]:
        _para(
            pdf, f"{item['reference']} — {item['category']}, accordé {item['amount_granted']} : {item['ratification']}."
        )

    # Signature blocks, side by side, kept together on one page.
    if pdf.get_y() > pdf.h - 70:
        pdf.add_page()
    pdf.ln(8)
    _para(pdf, f"Fait le {context['closed_at'] or '…'}.")
    pdf.ln(4)
    top = pdf.get_y()
    width = (pdf.w - pdf.l_margin - pdf.r_margin - 10) / 2
    blocks = (
        ("Le/la président(e) du comité", context["chair_name"]),
        ("Le/la secrétaire de séance", "Nom : ................................................"),
    )
    for index, (role, name) in enumerate(blocks):
        x = pdf.l_margin + index * (width + 10)
        pdf.set_xy(x, top)
        pdf.set_font(FONT, "B", 10)
        pdf.cell(width, LINE, plain(role), new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_font(FONT, "", 10)
        pdf.cell(width, LINE, plain(name), new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.cell(width, LINE, "Signature :", new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.rect(x, top + 3 * LINE + 1, width, 28)
    pdf.set_y(top + 3 * LINE + 32)
    return bytes(pdf.output())


async def render(uow: UnitOfWork, user: User, meeting_id: Any) -> tuple[Any, bytes]:
    """(the meeting, the PDF bytes) of its minutes; a draft while the meeting is open."""
    context = await gather(uow, user, meeting_id)
    # About 10 ms per agenda item of pure-Python layout: off the event loop, so that other requests go on meanwhile.
    return context["meeting"], await anyio.to_thread.run_sync(write, context)
