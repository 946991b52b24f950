"""The service around the domain: health, OpenAPI, errors on unknown routes, migrations, settings, the CLI."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError

import fund.core.models  # noqa: F401  (every table in the metadata)
from fund import cli
from fund.core.db import metadata
from fund.core.demo import seed
from fund.core.settings import DEV_SECRET_KEY, Settings, get_settings, to_asyncpg_url
from tests.helpers import running_app

DB = "postgresql://fund@127.0.0.1:5432/fund"
REDIS = "redis://127.0.0.1:6379/0"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
UNREACHABLE_DB = "postgresql://nobody@127.0.0.1:1/nothing"
KEY_40 = "k" * 40


# The routes of API.md that this build has (payment batches, bank statements, budgets, policy, the XLSX and
# FEC exports are not built yet).
API_ROUTES = [
    ("get", "/health"),
    ("post", "/api/v1/auth/token"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/schools"),
    ("post", "/api/v1/students"),
    ("get", "/api/v1/students"),
    ("post", "/api/v1/applications"),
    ("get", "/api/v1/applications"),
    ("get", "/api/v1/applications/{application_id}"),
    ("patch", "/api/v1/applications/{application_id}"),
    ("post", "/api/v1/applications/{application_id}/submit"),
    ("post", "/api/v1/applications/{application_id}/withdraw"),
    ("post", "/api/v1/applications/{application_id}/votes"),
    ("post", "/api/v1/applications/{application_id}/request-info"),
    ("get", "/api/v1/applications/{application_id}/history"),
    ("get", "/api/v1/disbursements"),
    ("get", "/api/v1/exports/disbursements.csv"),
    ("post", "/api/v1/users"),
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No FUND_ variable from the suite leaks into a Settings built by a test; the cached settings are rebuilt."""
    for name in ("FUND_ENV", "FUND_DATABASE_URL", "FUND_REDIS_URL", "FUND_SECRET_KEY", "FUND_SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()  # monkeypatch restores the environment right after; the next call rebuilds


# --- health ----------------------------------------------------------------------------------------------------


async def test_health_is_ok_when_the_database_and_redis_answer(app_client) -> None:
    response = await app_client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


async def test_health_is_503_when_redis_is_unreachable(settings) -> None:
    async with running_app(settings.model_copy(update={"redis_url": UNREACHABLE_REDIS})) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["redis"] == "unavailable"
    assert response.json()["database"] == "ok"
    assert response.json()["status"] != "ok"


async def test_health_is_503_when_the_database_is_unreachable(settings) -> None:
    async with running_app(settings.model_copy(update={"database_url": UNREACHABLE_DB})) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "unavailable"
    assert response.json()["redis"] == "ok"


# --- OpenAPI and routing ---------------------------------------------------------------------------------------


async def test_the_openapi_document_lists_every_route_of_the_contract(app_client) -> None:
    response = await app_client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    missing = [(method, path) for method, path in API_ROUTES if method not in paths.get(path, {})]
    assert missing == []


async def test_the_openapi_document_declares_bearer_security_on_the_api(app_client) -> None:
    document = (await app_client.get("/schema/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    [(name, scheme)] = schemes.items()
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for method, path in API_ROUTES:
        if path.startswith("/api/v1") and path != "/api/v1/auth/token":
            assert {name: []} in document["paths"][path][method].get("security", []), (method, path)
    assert not document["paths"]["/health"]["get"].get("security")


async def test_the_openapi_document_shows_sign_in_as_public(app_client) -> None:
    document = (await app_client.get("/schema/openapi.json")).json()
    assert not document["paths"]["/api/v1/auth/token"]["post"].get("security")


async def test_the_openapi_document_names_the_export_query_parameters(app_client) -> None:
    document = (await app_client.get("/schema/openapi.json")).json()
    parameters = document["paths"]["/api/v1/exports/disbursements.csv"]["get"].get("parameters", [])
    assert {(p["name"], p["in"]) for p in parameters} >= {("from", "query"), ("to", "query")}


async def test_sign_in_works_without_a_token(app_client, demo) -> None:
    response = await app_client.post(
        "/api/v1/auth/token", json={"email": "admin@example.org", "password": "demo-password"}
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"


async def test_the_interactive_schema_page_is_html(app_client) -> None:
    response = await app_client.get("/schema")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v2/applications"])
async def test_an_unknown_route_is_404_problem_json(app_client, path: str) -> None:
    response = await app_client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 404
    assert {"type", "title", "detail"} <= body.keys()


async def test_a_wrong_method_is_405_problem_json(app_client) -> None:
    response = await app_client.delete("/health")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 405
    assert "GET" in response.headers["allow"]


# --- migrations ------------------------------------------------------------------------------------------------


async def test_the_migrations_build_exactly_the_models(engine) -> None:
    def differences(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    async with engine.connect() as connection:
        diff = await connection.run_sync(differences)
    assert diff == []


# --- settings --------------------------------------------------------------------------------------------------


def test_production_refuses_a_missing_secret_key(clean_env) -> None:
    with pytest.raises(ValidationError, match="FUND_SECRET_KEY"):
        Settings(env="production", database_url=DB, redis_url=REDIS)


def test_production_refuses_a_short_secret_key(clean_env) -> None:
    with pytest.raises(ValidationError, match="FUND_SECRET_KEY"):
        Settings(env="production", database_url=DB, redis_url=REDIS, secret_key="k" * 31)


def test_production_accepts_a_long_secret_key(clean_env) -> None:
    settings = Settings(env="production", database_url=DB, redis_url=REDIS, secret_key=KEY_40)
    assert settings.is_production
    assert settings.effective_secret_key == KEY_40


def test_production_refuses_missing_server_urls(clean_env) -> None:
    with pytest.raises(ValidationError, match="FUND_DATABASE_URL"):
        Settings(env="production", redis_url=REDIS, secret_key=KEY_40)
    with pytest.raises(ValidationError, match="FUND_REDIS_URL"):
        Settings(env="production", database_url=DB, secret_key=KEY_40)


def test_production_settings_come_from_the_environment(clean_env) -> None:
    clean_env.setenv("FUND_ENV", "production")
    clean_env.setenv("FUND_DATABASE_URL", DB)
    clean_env.setenv("FUND_REDIS_URL", REDIS)
    with pytest.raises(ValidationError):
        Settings()
    clean_env.setenv("FUND_SECRET_KEY", KEY_40)
    assert Settings().is_production


def test_dev_mode_falls_back_to_the_dev_key(clean_env) -> None:
    settings = Settings(env="dev")
    assert not settings.is_production
    assert settings.effective_secret_key == DEV_SECRET_KEY


def test_an_unknown_env_is_refused(clean_env) -> None:
    with pytest.raises(ValidationError):
        Settings(env="staging")


def test_a_plain_postgresql_url_is_accepted() -> None:
    assert to_asyncpg_url("postgresql://fund@127.0.0.1:5432/fund") == "postgresql+asyncpg://fund@127.0.0.1:5432/fund"
    assert to_asyncpg_url("postgres://u:p@db/fund?sslmode=x") == "postgresql+asyncpg://u:p@db/fund?sslmode=x"
    assert to_asyncpg_url("postgresql+asyncpg://u@h/d") == "postgresql+asyncpg://u@h/d"
    assert Settings(database_url=DB).sqlalchemy_url == "postgresql+asyncpg://fund@127.0.0.1:5432/fund"


@pytest.mark.parametrize("url", ["mysql://root@127.0.0.1/fund", "sqlite:///fund.core.db", "127.0.0.1:5432/fund"])
def test_a_database_url_other_than_postgresql_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"PostgreSQL only|postgresql://"):
        to_asyncpg_url(url)
    with pytest.raises(ValueError, match=r"PostgreSQL only|postgresql://"):
        _ = Settings(database_url=url).sqlalchemy_url


def test_a_redis_url_must_be_redis(clean_env) -> None:
    assert Settings(redis_url=REDIS).redis_dsn == REDIS
    with pytest.raises(ValueError, match="redis://"):
        _ = Settings(redis_url="http://127.0.0.1:6379").redis_dsn


# --- demo data and the command line ----------------------------------------------------------------------------


def test_fund_demo_refuses_in_production(clean_env, capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("FUND_ENV", "production")
    clean_env.setenv("FUND_SECRET_KEY", KEY_40)
    clean_env.setenv("FUND_DATABASE_URL", UNREACHABLE_DB)  # never reached: refused before any connection
    clean_env.setenv("FUND_REDIS_URL", UNREACHABLE_REDIS)
    get_settings.cache_clear()
    try:
        code = cli.main(["demo"])
    except SystemExit as exc:
        code = exc.code  # type: ignore[assignment]
    assert code == 2
    assert "production" in capsys.readouterr().err


def test_fund_demo_refuses_invalid_production_settings(clean_env, capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("FUND_ENV", "production")  # and no secret key
    get_settings.cache_clear()
    with pytest.raises(SystemExit) as info:
        cli.main(["demo"])
    assert info.value.code == 2
    assert "FUND_SECRET_KEY" in capsys.readouterr().err


async def test_the_demo_seed_refuses_production_settings(clean_env) -> None:
    production = Settings(env="production", database_url=DB, redis_url=REDIS, secret_key=KEY_40)
    with pytest.raises(RuntimeError, match="production"):
        await seed(None, production)  # type: ignore[arg-type]  # refused before touching any database


async def test_the_served_app_moves_its_startup_objects_out_of_the_collectors_reach(settings) -> None:
    """`fund serve` runs create_served_app: once started, what lives as long as the process is frozen (gc.freeze),
    so that full collections do not walk it on every request; create_app alone (tests, tools) does not."""
    import gc

    from fund.app import create_app, create_served_app

    gc.unfreeze()
    try:
        async with create_app(settings).lifespan():
            assert gc.get_freeze_count() == 0
        async with create_served_app(settings).lifespan():
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
