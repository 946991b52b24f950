"""The web application: every domain's pages, and one template environment where ``<domain>/<page>.html`` names
the template ``fund/<domain>/templates/<page>.html``."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, PrefixLoader, select_autoescape
from litestar import Controller, get
from litestar.response import Redirect

from fund.applications.editing import PAGES as DRAFT_PAGES
from fund.applications.pages import PAGES as APPLICATION_PAGES
from fund.auth.pages import PAGES as USER_PAGES
from fund.budgets.pages import PAGES as BUDGET_PAGES
from fund.casefiles.pages import PAGES as CASE_FILE_PAGES
from fund.dashboards.pages import PAGES as DASHBOARD_PAGES
from fund.dashboards.report_pages import PAGES as REPORT_PAGES
from fund.disbursements.pages import PAGES as DISBURSEMENT_PAGES
from fund.documents.pages import PAGES as DOCUMENT_PAGES
from fund.family.pages import PAGES as FAMILY_PAGES
from fund.funds.pages import PAGES as POLICY_PAGES
from fund.letters.pages import PAGES as LETTER_PAGES
from fund.meetings.pages import PAGES as MEETING_PAGES
from fund.notifications.pages import PAGES as NOTIFICATION_PAGES
from fund.payments.pages import PAGES as PAYMENT_PAGES
from fund.schools.pages import PAGES as SCHOOL_PAGES
from fund.search.pages import PAGES as SEARCH_PAGES
from fund.students.import_pages import PAGES as STUDENT_IMPORT_PAGES
from fund.students.pages import PAGES as STUDENT_PAGES
from fund.web.controllers import SignInController
from fund.web.formatting import FILTERS

ROOT = Path(__file__).parent.parent
DOMAINS = (
    "web",
    "applications",
    "search",
    "students",
    "disbursements",
    "payments",
    "auth",
    "schools",
    "budgets",
    "funds",
    "meetings",
    "dashboards",
    "documents",
    "notifications",
    "family",
    "casefiles",
    "letters",
)
STATIC = ROOT / "web" / "static"

PAGES: list[type[Controller]] = [
    SignInController,
    *APPLICATION_PAGES,
    *DRAFT_PAGES,
    *SEARCH_PAGES,
    *STUDENT_PAGES,
    *STUDENT_IMPORT_PAGES,
    *DISBURSEMENT_PAGES,
    *PAYMENT_PAGES,
    *USER_PAGES,
    *SCHOOL_PAGES,
    *BUDGET_PAGES,
    *POLICY_PAGES,
    *MEETING_PAGES,
    *DASHBOARD_PAGES,
    *DOCUMENT_PAGES,
    *LETTER_PAGES,
    *NOTIFICATION_PAGES,
    *FAMILY_PAGES,
    *CASE_FILE_PAGES,
    *REPORT_PAGES,
]


@get("/favicon.ico", include_in_schema=False, cache=86_400)
async def favicon() -> Redirect:
    """Browsers and tools that ask for ``/favicon.ico`` without reading the pages' ``<link rel="icon">``."""
    return Redirect("/static/favicon.svg", status_code=301)


def template_environment() -> Environment:
    """The pages' templates, compiled once per process: ``auto_reload`` off, since a template is part of the
    package and changes with a new release (a restart), never while serving; with it on, every page's template
    and each one it extends, includes or imports was checked on disk at every request (0.7 ms of a page's 6)."""
    loader = PrefixLoader({name: FileSystemLoader(ROOT / name / "templates") for name in DOMAINS})
    environment = Environment(loader=loader, autoescape=select_autoescape(["html"]), auto_reload=False)
    environment.filters.update(FILTERS)
    return environment
