"""The home pages read a page at a time: the referent's requests, the committee's queue and what the accountant has
to pay, each by keyset (« plus anciennes », « suivantes »), with the counts of everything above them.

Each test makes the page one row long and walks every link: each request or transfer is on exactly one page, in the
page's order, and the counts are those of all of them, not of the page shown."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from fund.applications import workflow
from tests.helpers import approved_and_scheduled, draft, signed_in_as, submitted

REFERENT = "referent@example.org"
MEMBER = "committee1@example.org"
REFERENCE = re.compile(r'<a href="/demandes/[0-9a-f-]+">([^<]+)</a>')


async def _walk(client: Any, first: str, link: re.Pattern[str], section: str | None = None) -> list[str]:
    """Every page from ``first`` by its « next » link: each page's text (``section``: from that id to the end of
    its ``</section>``)."""
    pages: list[str] = []
    url: str | None = first
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200, url
        text = response.text
        if section is not None:
            text = text.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]
        pages.append(text)
        found = link.search(response.text)
        url = unescape(found.group(1)) if found else None
        assert len(pages) < 50, "the pages end"
    return pages


def _count(totals: str, label: str) -> int:
    """The count of one status in the accountant's table of totals."""
    found = re.search(label + r'</a></td>\s*<td class="montant">(\d+)</td>', totals)
    assert found, label
    return int(found.group(1))


async def test_the_referent_walks_every_request_page_by_page_and_the_counts_are_of_them_all(
    login, settings, monkeypatch
) -> None:
    referent = await login(REFERENT)
    drafts = [await draft(referent, amount_requested_cents=10_000 + n) for n in range(3)]
    filed = await submitted(referent)
    listed = (await referent.get("/api/v1/applications", params={"limit": 200})).json()["items"]
    every = [a["reference"] for a in listed]  # newest first, as the page
    monkeypatch.setattr("fund.applications.pages.HOME_ROWS", 1)
    async with signed_in_as(settings, REFERENT) as client:
        pages = await _walk(client, "/referent", re.compile(r'href="(/referent\?apres=[^"]+)"'))
        first = pages[0]
        statuses = first.split('id="titre-statuts"', 1)[1].split("</nav>", 1)[0]
        assert f'Toutes</a> <span class="compte">({len(every)})</span>' in statuses
        drafts_count = sum(a["status"] == "draft" for a in listed)
        assert f'href="/referent?statut=draft">Brouillon</a> <span class="compte">({drafts_count})</span>' in statuses
        assert "sur cette page" in first
        assert "Revenir aux plus récentes" not in first
        assert "Revenir aux plus récentes" in pages[1]
        shown = [ref for text in pages for ref in REFERENCE.findall(text.split('id="groupe-1"', 1)[1])]
        assert shown == every  # each once, newest first, nothing lost between pages
        assert filed["reference"] in shown
        assert all(d["reference"] in shown for d in drafts)
        # One status's list pages the same way, and keeps its status from page to page.
        only = await _walk(
            client, "/referent?statut=draft", re.compile(r'href="(/referent\?statut=draft&amp;apres=[^"]+)"')
        )
        by_status = [ref for text in only for ref in REFERENCE.findall(text.split('id="groupe-1"', 1)[1])]
        assert by_status == [a["reference"] for a in listed if a["status"] == "draft"]
        assert 'aria-current="page">Brouillon' in only[0].replace('href="/referent?statut=draft" ', "")
        # A cursor that cannot be read: the first page, not an error.
        assert (await client.get("/referent", params={"apres": "nimportequoi"})).status_code == 200


async def test_the_committee_walks_the_whole_queue_urgent_first_and_sees_how_many_wait(
    login, settings, monkeypatch
) -> None:
    referent = await login(REFERENT)
    normal = [await submitted(referent, amount_requested_cents=20_000 + n) for n in range(2)]
    urgent = await submitted(referent, urgent=True)
    member = await login(MEMBER)
    listed = [
        a
        for status in sorted(workflow.AWAITING_DECISION)
        for a in (await member.get("/api/v1/applications", params={"status": status, "limit": 200})).json()["items"]
    ]
    monkeypatch.setattr("fund.applications.pages.QUEUE_ROWS", 1)
    async with signed_in_as(settings, MEMBER) as client:
        pages = await _walk(client, "/comite", re.compile(r'href="(/comite\?apres=[^"]+)"'))
        assert f"<strong>{len(listed)} demandes</strong> en attente du comité, 1 sur cette page" in pages[0]
        assert "Revenir au début de la liste" not in pages[0]
        assert "Revenir au début de la liste" in pages[1]
        shown = [ref for text in pages for ref in REFERENCE.findall(text.split("<h1>", 1)[1])]
        assert sorted(shown) == sorted(a["reference"] for a in listed)  # each once
        queue = sorted(listed, key=lambda a: (not a["urgent"], a["submitted_at"], a["id"]))
        assert shown == [a["reference"] for a in queue]  # urgent first, then by filing, across the pages
        assert shown.index(urgent["reference"]) < min(shown.index(a["reference"]) for a in normal)
        assert (await client.get("/comite", params={"apres": "1_x_y"})).status_code == 200


async def test_the_accountant_walks_every_transfer_to_pay_by_due_date(
    login, session_factory, settings, monkeypatch
) -> None:
    made = [await approved_and_scheduled(login, session_factory, amount=11_000 + n * 100) for n in range(3)]
    monkeypatch.setattr("fund.disbursements.pages.PAGE_SIZE", 1)
    async with signed_in_as(settings, "accountant@example.org") as client:
        home = (await client.get("/comptabilite")).text
        totals = home.split("</table>", 1)[0]
        scheduled, returned = _count(totals, "Programmés"), _count(totals, "Retournés par la banque")
        pages = await _walk(
            client,
            "/comptabilite",
            re.compile(r'href="(/comptabilite\?suite=[^"#]+)#titre-a-payer"'),
            section="titre-a-payer",
        )
        assert f'<span class="compte">({scheduled + returned})</span>' in pages[0]
        rows = [re.findall(r"<tr>\s*<td>([^<]+)</td>", text) for text in pages]
        assert all(len(r) == 1 for r in rows)  # one a page
        shown = [r[0] for r in rows]
        assert len(shown) == scheduled + returned  # every one, each once
        assert all(a["reference"] in shown for a in made)
        assert "Revenir aux premières échéances" not in pages[0]
        assert "Revenir aux premières échéances" in pages[1]
        # With a status's list shown, the link of what is due keeps it.
        by_status = (await client.get("/comptabilite", params={"statut": "scheduled"})).text
        assert re.search(r'href="/comptabilite\?statut=scheduled&amp;suite=[^"]+#titre-a-payer"', by_status)
        assert (await client.get("/comptabilite", params={"suite": "2026-13-01_zz"})).status_code == 200
