"""The Litestar application factory."""

from __future__ import annotations

import gc
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.config.csrf import CSRFConfig
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, OpenAPIMediaType, OpenAPIResponse, Schema, SecurityScheme
from litestar.openapi.spec.enums import OpenAPIType
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from fund.applications.controllers import ApplicationController, RatificationController
from fund.auth.cache import AuthCache, AuthListener
from fund.auth.controllers import AuthController, MeController, UserController
from fund.auth.middleware import BearerTokenMiddleware
from fund.budgets.controllers import BudgetController
from fund.casefiles.controllers import CaseFileController
from fund.core.api_docs import OfflineSwaggerPlugin, api_docs_asset
from fund.core.db import create_engine, create_reader_factory, create_session_factory
from fund.core.deps import DEPENDENCIES, resolve_dependencies_in_turn
from fund.core.errors import REFUSALS
from fund.core.health import health
from fund.core.http_security import security_headers
from fund.core.logging import configure_logging
from fund.core.methods import complete_allow
from fund.core.metrics import metrics
from fund.core.problems import EXCEPTION_HANDLERS
from fund.core.queue import connect
from fund.core.security import FieldCipher
from fund.core.settings import Settings, get_settings
from fund.core.validation import model_rules_plugin
from fund.dashboards.report_controllers import AnnualReportController
from fund.disbursements.controllers import DisbursementController, ExportController
from fund.documents.controllers import DocumentController
from fund.funds.controllers import FundContactController, PolicyController
from fund.ledger.service import Books
from fund.letters.controllers import LetterController
from fund.meetings.controllers import MeetingController
from fund.notifications.controllers import NotificationController
from fund.outbox.controllers import OperationsController
from fund.payments.controllers import BankStatementController, PaymentBatchController
from fund.privacy.controllers import DataProtectionController
from fund.schools.controllers import SchoolController
from fund.search.controllers import FlagController, SearchController
from fund.students.controllers import StudentController
from fund.students.import_controllers import StudentImportController, StudentListTemplateController
from fund.web.routes import PAGES, STATIC, favicon, template_environment

API_CONTROLLERS = [
    AuthController,
    MeController,
    UserController,
    SchoolController,
    StudentController,
    StudentImportController,
    StudentListTemplateController,
    ApplicationController,
    RatificationController,
    SearchController,
    FlagController,
    PolicyController,
    BudgetController,
    MeetingController,
    DisbursementController,
    PaymentBatchController,
    BankStatementController,
    ExportController,
    NotificationController,
    OperationsController,
    DataProtectionController,
    DocumentController,
    CaseFileController,
    AnnualReportController,
    LetterController,
    FundContactController,
]


# Every error answer (RFC 9457), with the stable codes a client may rely on and their French text.
PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    description="An error (application/problem+json). `code` is stable; `detail` is its French text.",
    required=["type", "title", "status", "code", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "code": Schema(
            type=OpenAPIType.STRING,
            enum=sorted(REFUSALS),
            description="; ".join(f"`{code}`: {text}" for code, text in sorted(REFUSALS.items())),
        ),
        "detail": Schema(type=OpenAPIType.STRING),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                properties={"field": Schema(type=OpenAPIType.STRING), "message": Schema(type=OpenAPIType.STRING)},
            ),
        ),
    },
)


def web_sessions(settings: Settings) -> CookieBackendConfig:
    """The web pages' session: an encrypted, signed cookie (``fund_session``) holding the session's token."""
    return CookieBackendConfig(
        secret=hashlib.sha256(b"fund-web-session:" + settings.effective_secret_key.encode()).digest(),
        key="fund_session",
        httponly=True,
        samesite="lax",
        secure=settings.is_production,
        max_age=settings.token_ttl_seconds,
        # Only the web pages have sessions; the API authenticates each request with its bearer token.
        exclude=["^/api/", "^/health", "^/metrics", "^/schema", "^/static/"],
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings.log_level, json=settings.is_production)
    resolve_dependencies_in_turn()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.settings = settings
        app.state.session_factory = create_session_factory(engine)
        app.state.reader_factory = create_reader_factory(engine)
        app.state.redis = connect(settings.redis_dsn)
        app.state.cipher = FieldCipher.from_settings(settings)
        app.state.books = Books(settings, app.state.cipher)
        # The token lookup's cache, on once its connection listens to PostgreSQL's notifications (fund.auth.cache).
        app.state.auth_cache = listener = None
        if settings.auth_cache_seconds > 0:
            app.state.auth_cache = AuthCache(settings.auth_cache_seconds, settings.auth_cache_entries)
            listener = AuthListener(app.state.auth_cache, settings.asyncpg_dsn)
            listener.start()
        app.state.auth_listener = listener
        try:
            yield
        finally:
            if listener is not None:
                await listener.stop()
            await app.state.redis.aclose()
            await engine.dispose()

    api = Router(
        path="/api/v1",
        route_handlers=API_CONTROLLERS,
        middleware=[BearerTokenMiddleware],
    )
    secret = settings.effective_secret_key
    sessions = web_sessions(settings)
    return Litestar(
        route_handlers=[
            health,
            metrics,
            api,
            *PAGES,
            favicon,
            api_docs_asset,
            create_static_files_router(path="/static", directories=[STATIC], include_in_schema=False),
        ],
        middleware=[sessions.middleware],
        before_send=[security_headers(production=settings.is_production), complete_allow],
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(template_environment())),
        csrf_config=CSRFConfig(
            secret=secret,
            cookie_secure=settings.is_production,
            cookie_samesite="strict",
            # The pages carry the token in their forms (and htmx's header): no script needs the cookie.
            cookie_httponly=True,
            # The API authenticates with bearer tokens, which a foreign site cannot send: no CSRF there.
            exclude=["/api/", "/health", "/metrics", "/schema", "/static/"],
        ),
        lifespan=[lifespan],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        debug=False,
        plugins=[model_rules_plugin()],
        request_max_body_size=1_000_000,
        openapi_config=OpenAPIConfig(
            title="fund",
            version="1.0.0",
            description="Case management for the solidarity fund of the Écoles de Production.",
            path="/schema",
            render_plugins=[OfflineSwaggerPlugin(path="/"), JsonRenderPlugin()],
            components=Components(
                # (a response: Litestar rebuilds ``schemas`` from the routes' own types)
                responses={
                    "Problem": OpenAPIResponse(
                        description="An error (RFC 9457) with its stable code",
                        content={"application/problem+json": OpenAPIMediaType(schema=PROBLEM_SCHEMA)},
                    )
                },
                security_schemes={
                    "BearerToken": SecurityScheme(
                        type="http", scheme="bearer", description="POST /api/v1/auth/token gives the token"
                    )
                },
            ),
        ),
    )


def _freeze_gc() -> None:
    gc.collect()
    gc.freeze()


def create_served_app(settings: Settings | None = None) -> Litestar:
    """The application as ``fund serve`` runs it, one per process: once started, everything then alive (modules,
    routes, schemas, templates, the pools) is moved out of the garbage collector's reach (``gc.freeze``), so that
    its full collections walk only what requests create. Those collections were the tail of the latency: a list's
    p99 at 10 clients went from about 100 ms to 25 ms (docs/PERFORMANCE.md). Not in ``create_app``: a process that
    builds many applications (the tests) would keep each one's garbage for good."""
    app = create_app(settings)
    app.on_startup.append(_freeze_gc)
    return app
