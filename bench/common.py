"""Shared by the API benchmarks: databases, the benchmark's actors and tokens, servers and wrk.

Everything here talks to the local PostgreSQL (``BENCH_PG``, default ``postgresql://postgres@127.0.0.1:5432``)
and Redis (``BENCH_REDIS``, default ``redis://127.0.0.1:6379/11``), never to the test suite's databases.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import asyncpg
import uuid_utils

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/11")


def db_url(name: str) -> str:
    """A database of the local server by name, or a full ``postgresql://`` URL as it is."""
    if "://" in name:
        return name.replace("postgresql+asyncpg://", "postgresql://", 1)
    return f"{PG}/{name}"


async def database_exists(name: str) -> bool:
    if "://" in name:
        return True
    conn = await asyncpg.connect(db_url("postgres"))
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def create_database(name: str, template: str | None = None) -> None:
    conn = await asyncpg.connect(db_url("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await conn.close()


async def prepare_scratch(source: str, scratch: str) -> None:
    """A scratch copy of ``source``, migrated to the head (a copy made before the newest migrations gets them)."""
    from fund.core.migrate import upgrade

    await create_database(scratch, template=source)
    await asyncio.to_thread(upgrade, db_url(scratch).replace("postgresql://", "postgresql+asyncpg://", 1))


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(db_url("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def env_for(database: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FUND_DATABASE_URL=db_url(database),
        FUND_REDIS_URL=os.environ.get("BENCH_REDIS", REDIS),
        FUND_LOG_LEVEL="WARNING",
        FUND_ENV="dev",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


# --- a small development database (the demo, then N cloned applications) -------------------------------------


def build_dev_database(name: str, applications: int) -> None:
    """Create ``name`` with the schema, the demo data and ``applications`` more requests spread over its schools
    and statuses (cloned from the demo's rows): enough to develop the benchmarks before the scale databases exist."""
    asyncio.run(create_database(name))
    env = env_for(name)
    subprocess.run([sys.executable, "-m", "fund.cli", "db", "upgrade"], env=env, check=True, cwd=ROOT)
    seed = "import asyncio, fund.app\nfrom fund.cli import _seed\nfrom fund.core.settings import get_settings\n"
    seed += "asyncio.run(_seed(get_settings()))\n"
    subprocess.run([sys.executable, "-c", seed], env=env, check=True, cwd=ROOT)  # noqa: S603
    asyncio.run(_clone_applications(name, applications))


async def _clone_applications(name: str, count: int) -> None:
    conn = await asyncpg.connect(db_url(name))
    try:
        template = await conn.fetchval("SELECT id FROM applications ORDER BY id LIMIT 1")
        students = await conn.fetch("SELECT id, school_id FROM students ORDER BY id")
        statuses = ["submitted", "under_review", "approved", "rejected", "draft", "paid"]
        ids = sorted(uuid_utils.uuid7() for _ in range(count))
        rows = [
            (UUID(str(ids[i])), f"BN-{i:012d}", students[i % len(students)]["id"], students[i % len(students)][1])
            for i in range(count)
        ]
        await _clone(conn, template, rows, statuses)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _clone(
    conn: asyncpg.Connection, template: UUID, rows: list[tuple[UUID, str, UUID, UUID]], statuses: list[str]
) -> None:
    """Insert copies of the application ``template`` with the given (id, reference, student, school), the status
    cycling through ``statuses`` (submitted ones submitted now, nothing decided)."""
    columns = [
        r["column_name"]
        for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'applications' ORDER BY ordinal_position"
        )
    ]
    override = {
        "id": "u.id",
        "reference": "u.ref",
        "student_id": "u.student",
        "school_id": "u.school",
        "status": "u.status",
        "submitted_at": "CASE WHEN u.status = 'draft' THEN NULL ELSE now() END",
        "decided_at": "CASE WHEN u.status IN ('approved', 'rejected', 'paid') THEN now() ELSE NULL END",
        "amount_granted_cents": "CASE WHEN u.status IN ('approved', 'paid') THEN t.amount_requested_cents END",
        "review_round": "1",
        "fast_tracked": "false",
        "decided_by_chair": "false",
        "escalation_stage": "0",
        "ratification": "NULL",
        "ratified_at": "NULL",
        "ratified_by_id": "NULL",
        "decision_reason": "NULL",
        "cancel_reason": "NULL",
        "appeal_reason": "NULL",
        "appealed_at": "NULL",
        "info_request_message": "NULL",
        "info_response_message": "NULL",
        "version": "1",
        "created_at": "now()",
        "updated_at": "now()",
    }
    select = ", ".join(override.get(c, f"t.{c}") for c in columns)
    await conn.execute(
        f"INSERT INTO applications ({', '.join(columns)}) SELECT {select} "  # noqa: S608
        "FROM applications t, unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::text[]) "
        "AS u(id, ref, student, school, status) WHERE t.id = $6",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [statuses[i % len(statuses)] for i in range(len(rows))],
        template,
    )


# --- who the benchmark acts as ------------------------------------------------------------------------------


@dataclass
class Actors:
    referent_token: str
    committee_token: str
    school_id: UUID
    student_id: UUID
    application_id: UUID  # a submitted request of the referent's school: visible to both
    template_id: UUID  # the request cloned into the pool of submitted requests the votes use
    token_ids: list[UUID]


async def prepare_actors(database: str) -> Actors:
    """The referent of the school with the most requests, a committee member outside that school, and a bearer
    token for each (inserted as the service stores them: SHA-256 digest, one day)."""

    conn = await asyncpg.connect(db_url(database))
    try:
        school_id = await conn.fetchval(
            "SELECT a.school_id FROM applications a JOIN school_memberships m ON m.school_id = a.school_id "
            "JOIN users u ON u.id = m.user_id AND 'referent' = ANY(u.roles) AND u.is_active "
            "GROUP BY a.school_id ORDER BY count(*) DESC LIMIT 1"
        )
        referent = await conn.fetchval(
            "SELECT u.id FROM users u JOIN school_memberships m ON m.user_id = u.id WHERE m.school_id = $1 "
            "AND 'referent' = ANY(u.roles) AND u.is_active ORDER BY u.id LIMIT 1",
            school_id,
        )
        member = await conn.fetchval(
            "SELECT u.id FROM users u WHERE 'committee' = ANY(u.roles) AND u.is_active AND NOT EXISTS "
            "(SELECT 1 FROM school_memberships m WHERE m.user_id = u.id AND m.school_id = $1) ORDER BY u.id LIMIT 1",
            school_id,
        )
        application_id = await conn.fetchval(
            "SELECT id FROM applications WHERE school_id = $1 AND submitted_at IS NOT NULL ORDER BY id DESC LIMIT 1",
            school_id,
        )
        student_id = await conn.fetchval("SELECT id FROM students WHERE school_id = $1 LIMIT 1", school_id)
        template_id = await conn.fetchval(
            "SELECT id FROM applications WHERE school_id = $1 AND created_by_id <> $2 ORDER BY id DESC LIMIT 1",
            school_id,
            member,
        )
        if None in (school_id, referent, member, application_id, student_id, template_id):
            raise SystemExit(f"{database}: no referent/committee member/submitted request to benchmark with")
        tokens: list[str] = []
        token_ids: list[UUID] = []
        for user in (referent, member):
            token, token_id = await insert_token(conn, user)
            tokens.append(token)
            token_ids.append(token_id)
        return Actors(tokens[0], tokens[1], school_id, student_id, application_id, template_id, token_ids)
    finally:
        await conn.close()


async def insert_token(conn: asyncpg.Connection, user_id: UUID) -> tuple[str, UUID]:
    """A bearer token for ``user_id``, stored as the service stores them (SHA-256 digest, one day, confirmed now):
    the token and its row's id."""
    from fund.core.security import new_token, token_digest

    token = new_token()
    token_id = UUID(str(uuid_utils.uuid7()))
    await conn.execute(
        "INSERT INTO auth_tokens (id, user_id, digest, expires_at, confirmed_at, created_at, updated_at) "
        "VALUES ($1, $2, $3, now() + interval '1 day', now(), now(), now())",
        token_id,
        user_id,
        token_digest(token),
    )
    return token, token_id


def create_body(student_id: UUID) -> str:
    """A referent's new request for ``student_id``, as the create benchmarks post it."""
    return json.dumps(
        {
            "student_id": str(student_id),
            "category": "transport",
            "amount_requested_cents": 4500,
            "justification": "Abonnement de transport du mois (banc d'essai)",
            "urgent": False,
            "period_start": "2026-12-01",
            "period_end": "2026-12-31",
            "payee": {"kind": "guardian", "name": "Parent Banc", "iban": "FR7630006000011234567890189"},
        }
    )


async def revoke_tokens(database: str, actors: Actors) -> None:
    conn = await asyncpg.connect(db_url(database))
    try:
        await conn.execute("DELETE FROM auth_tokens WHERE id = ANY($1::uuid[])", actors.token_ids)
    finally:
        await conn.close()


async def submitted_pool(
    database: str, actors: Actors, count: int, *, per_student: int = 2, own_school: bool = False
) -> list[UUID]:
    """``count`` fresh submitted requests for the vote benchmark (one vote each), ``per_student`` a student as in
    life (a student with thousands of pending requests would make every vote's ceiling check read them all), of
    students from schools where no committee member of the benchmark sits; ``own_school``: the referent's school's
    students only (to fill its list)."""
    conn = await asyncpg.connect(db_url(database))
    try:
        students = await conn.fetch(
            "SELECT s.id, s.school_id FROM students s WHERE NOT EXISTS (SELECT 1 FROM school_memberships m "
            "JOIN auth_tokens t ON t.user_id = m.user_id JOIN users u ON u.id = t.user_id "
            "WHERE t.id = ANY($1::uuid[]) AND 'committee' = ANY(u.roles) AND m.school_id = s.school_id) "
            "AND ($3::uuid IS NULL OR s.school_id = $3) ORDER BY s.id LIMIT $2",
            actors.token_ids,
            max(1, -(-count // per_student)),
            actors.school_id if own_school else None,
        )
        stamp = datetime.datetime.now().strftime("%H%M%S")
        ids = sorted(UUID(str(uuid_utils.uuid7())) for _ in range(count))
        rows = [
            (ids[i], f"BV-{stamp}-{i:07d}", students[i % len(students)][0], students[i % len(students)][1])
            for i in range(count)
        ]
        await _clone(conn, actors.template_id, rows, ["submitted"])
        return ids
    finally:
        await conn.close()


# --- servers ------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A server process (the service or the baseline) started with ``command``; ``probe`` answers once it is up."""

    def __init__(self, command: list[str], env: dict[str, str], port: int, probe: str) -> None:
        self.port = port
        self.log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603
            command, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {Path(self.log.name).read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # it answers (a 401 is an answer)
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start: {Path(self.log.name).read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 2)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self.log.close()
        if keep := os.environ.get("BENCH_KEEP_LOG"):  # a folder: the server's log is kept there
            shutil.copy(self.log.name, Path(keep) / Path(self.log.name).name)
        Path(self.log.name).unlink(missing_ok=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def serve_app(database: str, server: str, workers: int, pool_size: int) -> Server:
    port = free_port()
    env = env_for(database, FUND_PORT=str(port), FUND_DB_POOL_SIZE=str(pool_size))
    command = [sys.executable, "-m", "fund.cli", "serve", "--server", server, "--workers", str(workers)]
    return Server(command, env, port, "/health")


def serve_baseline(database: str, school_id: UUID, server: str, workers: int, pool_size: int) -> Server:
    port = free_port()
    env = env_for(database, BENCH_DATABASE_URL=db_url(database), BENCH_SCHOOL_ID=str(school_id))
    env["BENCH_POOL_SIZE"] = str(pool_size)
    command = [
        sys.executable,
        "-m",
        "bench.baseline_app",
        "--server",
        server,
        "--workers",
        str(workers),
        "--port",
        str(port),
    ]
    return Server(command, env, port, "/rows")


# --- wrk ----------------------------------------------------------------------------------------------------

# ``non200``: the answers other than 200 counted by the threads listed in ``watched`` (a script that defines a
# ``response`` callback counting them in the thread's global ``non200``, and ``setup`` adding each thread to
# ``watched``: see LUA_PAGE); wrk's own ``non2xx`` only counts statuses from 400 up, not a redirect.
LUA_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  local other = 0
  for _, t in ipairs(watched or {}) do other = other + (t:get("non200") or 0) end
  for _, t in ipairs(watched or {}) do  -- what a script noted of its odd answers (``refusals``: status and body)
    local noted = t:get("refusals")
    if noted and noted ~= "" then io.write("BENCH_REFUSED " .. noted .. "\\n") end
  end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "non2xx": %d, '
    .. '"errors": %d, "non200": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout, other))
end
"""

LUA_GET = (
    """
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
"""
    + LUA_REPORT
)

# A web page of a signed-in user: the session cookie (``BENCH_COOKIE``), every answer but a 200 counted (a
# redirect to the sign-in page or to the user's home is a failure of the bench, not a figure).
LUA_PAGE = (
    """
wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE") or ""
watched = {}
setup = function(thread)
  table.insert(watched, thread)
end
non200 = 0
response = function(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end
"""
    + LUA_REPORT
)

# Create then submit: every created draft's id (from the 201's body) is queued in the wrk thread, and the
# thread's next request submits it; so about half the requests are creates and half submits.
# The requests of a referent filing and submitting (``body``: the draft to post); ``note`` may see every answer.
LUA_FILE_AND_SUBMIT = """
local queue = {}
request = function()
  local id = table.remove(queue)
  if id then
    return wrk.format("POST", "/api/v1/applications/" .. id .. "/submit", nil, "")
  end
  return wrk.format("POST", "/api/v1/applications", nil, body)
end
response = function(status, headers, answer)
  if note then note(status, answer) end
  if status == 201 then
    local id = answer:match('"id":"([%x%-]+)"')
    if id then queue[#queue + 1] = id end
  end
end
"""

LUA_CREATE_SUBMIT = (
    """
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"
body = os.getenv("BENCH_BODY")
"""
    + LUA_FILE_AND_SUBMIT
    + LUA_REPORT
)

# A vote on a request nobody voted on yet: the pool's ids are dealt to the wrk threads in turn.
LUA_VOTE = (
    """
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"
local counter = 0
setup = function(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
init = function(args)
  ids = {}
  for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
  step = tonumber(os.getenv("BENCH_THREADS"))
  pos = tid + 1
end
request = function()
  local id = ids[pos] or ids[1]
  pos = pos + step
  return wrk.format("POST", "/api/v1/applications/" .. id .. "/votes", nil, '{"vote": "approve"}')
end
"""
    + LUA_REPORT
)


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    errors: int
    p95_ms: float = 0.0
    non200: int = 0
    refusals: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_command(url: str, script: Path, *, connections: int, threads: int, seconds: float) -> list[str]:
    program = shutil.which("wrk")
    if program is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    return [
        program,
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]


def wrk_result(out: str) -> WrkResult:
    """The figures that ``LUA_REPORT`` printed."""
    line = next((x for x in out.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures:\n{out}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        non2xx=data["non2xx"],
        errors=data["errors"],
        p95_ms=data["p95_us"] / 1000,
        non200=data["non200"],
        refusals=[x.removeprefix("BENCH_REFUSED ") for x in out.splitlines() if x.startswith("BENCH_REFUSED ")],
    )


def wrk(
    url: str, script: str, *, connections: int, threads: int, seconds: float, env: dict[str, str] | None = None
) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        command = wrk_command(url, Path(f.name), connections=connections, threads=threads, seconds=seconds)
        out = subprocess.run(  # noqa: S603
            command, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=True
        ).stdout
    finally:
        Path(f.name).unlink(missing_ok=True)
    return wrk_result(out)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
