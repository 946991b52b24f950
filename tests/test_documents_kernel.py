"""The one way documents are made (fund.core.documents): French text, A4, fonts embedded, tagged, nothing fetched."""

from __future__ import annotations

import datetime
import io
import types

import pytest
from pypdf import PdfReader

from fund.core import documents
from tests.helpers import pdf_text

FUND = types.SimpleNamespace(name="Fonds de solidarité des Écoles de Production")


def _page(body: str, **context: object) -> str:
    template = documents.environment().from_string('{% extends "core/document.html" %}{% block content %}' + body)
    return template.render(title="Essai", fund=FUND, **({"contact_lines": []} | context)) + ""


def test_a_document_is_an_a4_pdf_with_its_french_text_fonts_embedded_and_tags() -> None:
    html = _page(
        "<h1>Décision</h1><p>{{ 48000 | euros }} accordés le {{ day | date_fr }} — « œuvre »</p>{% endblock %}",
        day=datetime.date(2027, 3, 1),
    )
    pdf = documents.html_to_pdf(html)
    text = pdf_text(pdf)
    assert "480,00\xa0€" in text
    assert "1er mars 2027" in text
    assert "« œuvre »" in text
    assert "Page 1 / 1" in text
    assert FUND.name in text
    reader = PdfReader(io.BytesIO(pdf))
    page = reader.pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)  # A4, in points
    fonts = page["/Resources"]["/Font"].values()
    descriptors = [font.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"] for font in fonts]
    assert descriptors
    assert all("/FontFile2" in d or "/FontFile3" in d for d in descriptors)  # the fonts travel with the file
    assert "/StructTreeRoot" in reader.trailer["/Root"]  # tagged for screen readers
    assert reader.trailer["/Root"]["/Lang"] == "fr"


def test_a_document_fetches_nothing_from_the_network() -> None:
    html = _page('<p>x</p><img src="https://example.org/tracker.png" alt="">{% endblock %}')
    pdf = documents.html_to_pdf(html)  # the image is left out, not fetched
    assert "x" in pdf_text(pdf)


def test_a_missing_value_in_a_template_is_an_error_not_a_blank() -> None:
    with pytest.raises(Exception, match="undefined"):
        _page("<p>{{ nowhere.amount }}</p>{% endblock %}")


def test_dates_read_as_letters_write_them() -> None:
    assert documents.date_fr(datetime.date(2026, 12, 3)) == "3 décembre 2026"
    assert documents.date_fr(datetime.date(2026, 12, 1)) == "1er décembre 2026"
    assert documents.date_fr(datetime.date(2026, 12, 3), long=False) == "03/12/2026"
    # 23:30 UTC on 31 December is already the new year in Paris
    late = datetime.datetime(2026, 12, 31, 23, 30, tzinfo=datetime.UTC)
    assert documents.date_fr(late) == "1er janvier 2027"
