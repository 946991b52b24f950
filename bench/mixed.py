"""The mixed load people make together: referents filing, committee members voting, readers on the lists, at once.

    .venv/bin/python -m bench.mixed                                # fund_scale_1m, 20 s, 1 API process, 1 worker
    .venv/bin/python -m bench.mixed --scale-out                    # then 2 API processes behind one port + 2 workers
    .venv/bin/python -m bench.mixed --db mydb --dev 2000 --duration 3   # a small development database

The mix (20 clients, one connection each, as the issue describes it): 6 referents of 6 schools each filing a request
and submitting it, over and over (``create+submit``); 10 committee members voting on the submitted requests, each
request getting exactly the approvals its band needs from as many different members, so that the last vote decides
(grant: ceilings, budget envelopes, books, letter and payment events); 4 readers, two referents on their lists and
two members on the committee's queue. Each group is one wrk process, so each kind of call has its own percentiles;
they run at the same time, for ``--duration`` seconds. The bare handler (``bench/baseline_app.py``) is measured
first with the same 20 connections, served the same way: the throughputs are compared in the same run.

The workers (``fund worker``, ``--workers`` of them, at a lower CPU priority: ``--worker-nice``) run during the load,
as in production; afterwards the run waits for the outbox to drain and checks that nothing was lost or doubled:
every vote answered 201 is stored once, every request decided has one decision, one disbursement plan per grant,
every outbox event is done once, no notification or letter twice, and the audit chain appended during the run holds
(each event recomputed and linked).

It works on a scratch copy of ``--db`` (``CREATE DATABASE … TEMPLATE``), migrated to the head, dropped at the end;
Redis database ``BENCH_REDIS`` (default 11) is flushed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import uuid_utils

from bench.common import (
    LUA_FILE_AND_SUBMIT,
    LUA_REPORT,
    REDIS,
    ROOT,
    Actors,
    WrkResult,
    build_dev_database,
    create_body,
    database_exists,
    db_url,
    drop_database,
    env_for,
    insert_token,
    load_average,
    prepare_scratch,
    serve_app,
    serve_baseline,
    submitted_pool,
    wrk,
    wrk_command,
    wrk_result,
)

REFERENTS, MEMBERS, READERS = 6, 10, 4

# Each wrk thread is one client with its own token (``BENCH_TOKENS``, one a line), given by ``setup`` in turn.
_THREADS = """
local counter = 0
watched = {}
setup = function(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(watched, thread)
end
-- Each answer from 300 up noted with the start of its body (the report prints them: a refusal is named).
refusals = ""
local function note(status, body)
  if status >= 300 and #refusals < 2000 then
    refusals = refusals .. status .. " " .. (body or ""):sub(1, 160):gsub("%s+", " ") .. " | "
  end
end
local function lines(path)
  local found = {}
  for line in io.lines(path) do found[#found + 1] = line end
  return found
end
"""

LUA_FILERS = (
    _THREADS
    + """
init = function(args)
  wrk.headers["Authorization"] = "Bearer " .. lines(os.getenv("BENCH_TOKENS"))[tid + 1]
  wrk.headers["Content-Type"] = "application/json"
  body = lines(os.getenv("BENCH_BODIES"))[tid + 1]
end
"""
    + LUA_FILE_AND_SUBMIT
    + LUA_REPORT
)

LUA_MEMBERS = (
    _THREADS
    + """
init = function(args)
  wrk.headers["Authorization"] = "Bearer " .. lines(os.getenv("BENCH_TOKENS"))[tid + 1]
  wrk.headers["Content-Type"] = "application/json"
  ids = lines(os.getenv("BENCH_IDS") .. "." .. tid)
  pos = 1
end
request = function()
  local id = ids[pos] or ids[#ids]
  pos = pos + 1
  return wrk.format("POST", "/api/v1/applications/" .. id .. "/votes", nil, '{"vote": "approve"}')
end
response = function(status, headers, body)
  note(status, body)
end
"""
    + LUA_REPORT
)

LUA_READERS = (
    _THREADS
    + """
init = function(args)
  wrk.headers["Authorization"] = "Bearer " .. lines(os.getenv("BENCH_TOKENS"))[tid + 1]
  path = lines(os.getenv("BENCH_PATHS"))[tid + 1]
end
request = function()
  return wrk.format("GET", path)
end
response = function(status, headers, body)
  note(status, body)
end
"""
    + LUA_REPORT
)


@dataclass
class Cast:
    """Who the mix acts as: tokens, the bodies the referents file, the paths the readers read, the votes to cast."""

    referent_tokens: list[str]
    bodies: list[str]
    member_tokens: list[str]
    member_ids: list[UUID]
    votes: list[list[UUID]]  # per member, the requests it votes on, in order
    reader_tokens: list[str]
    reader_paths: list[str]
    token_ids: list[UUID] = field(default_factory=list)
    school_id: UUID | None = None
    approvals: int = 0
    pool: list[UUID] = field(default_factory=list)


async def _token(conn: asyncpg.Connection, user_id: UUID, cast: Cast) -> str:
    token, token_id = await insert_token(conn, user_id)
    cast.token_ids.append(token_id)
    return token


async def cast_of(database: str, votes_wanted: int) -> Cast:
    """Six referents of the six largest schools, ten committee members (added when the fund has fewer), four
    readers, and a pool of submitted requests dealt to the members so that each gets the approvals it needs."""
    from fund.funds.policy import Policy

    conn = await asyncpg.connect(db_url(database))
    try:
        # The referents of the largest schools (the costliest lists); a small database's few, each filing twice.
        referents = await conn.fetch(
            "SELECT DISTINCT ON (big.school_id) u.id, big.school_id, u.fund_id, big.n FROM "
            "(SELECT school_id, count(*) AS n FROM applications GROUP BY school_id ORDER BY n DESC LIMIT 50) big "
            "JOIN school_memberships m ON m.school_id = big.school_id JOIN users u ON u.id = m.user_id "
            "WHERE 'referent' = ANY(u.roles) AND u.is_active ORDER BY big.school_id, u.id"
        )
        referents = sorted(referents, key=lambda r: -r["n"])[:REFERENTS]
        if not referents:
            raise SystemExit(f"{database}: no school with a referent and requests")
        referents = [referents[i % len(referents)] for i in range(REFERENTS)]
        fund_id = referents[0]["fund_id"]
        members = [
            r["id"]
            for r in await conn.fetch(
                "SELECT u.id FROM users u WHERE 'committee' = ANY(u.roles) AND u.is_active AND u.fund_id = $1 "
                "AND NOT EXISTS (SELECT 1 FROM school_memberships m WHERE m.user_id = u.id) ORDER BY u.id",
                fund_id,
            )
        ]
        model = members[0] if members else None
        while len(members) < MEMBERS:  # a committee of ten: the fund's members, and copies of one of them
            if model is None:
                raise SystemExit(f"{database}: no committee member to copy")
            new_id = UUID(str(uuid_utils.uuid7()))
            await conn.execute(
                "INSERT INTO users (id, fund_id, email, full_name, password_hash, roles, is_active, created_at, "
                "updated_at) SELECT $1, fund_id, $2, 'Membre du banc ' || $3, password_hash, ARRAY['committee'], "
                "true, now(), now() FROM users WHERE id = $4",
                new_id,
                f"banc-membre-{new_id}@bench.example.org",
                str(len(members) + 1),
                model,
            )
            members.append(new_id)
        members = members[:MEMBERS]
        policy = Policy.model_validate(
            json.loads(await conn.fetchval("SELECT policy FROM funds WHERE id = $1", fund_id))
        )
        cast = Cast([], [], [], members, [[] for _ in members], [], [])
        for r in referents:
            cast.referent_tokens.append(await _token(conn, r["id"], cast))
            student = await conn.fetchval(
                "SELECT id FROM students WHERE school_id = $1 ORDER BY id LIMIT 1", r["school_id"]
            )
            cast.bodies.append(create_body(student))
        cast.member_tokens = [await _token(conn, m, cast) for m in members]
        cast.reader_tokens = cast.referent_tokens[:2] + cast.member_tokens[:2]
        cast.reader_paths = ["/api/v1/applications?limit=50"] * 2 + [
            "/api/v1/applications?status=submitted&limit=50"
        ] * 2
        school = referents[0]["school_id"]
        template = await conn.fetchval(
            "SELECT id FROM applications WHERE school_id = $1 ORDER BY status = 'paid' DESC, id DESC LIMIT 1", school
        )
        amount = await conn.fetchval("SELECT amount_requested_cents FROM applications WHERE id = $1", template)
        cast.approvals = policy.approvals_needed(amount)
        cast.school_id = school
    finally:
        await conn.close()
    # The pool: every request gets ``approvals`` votes from as many members in turn, the last one deciding.
    actors = Actors("", "", school, UUID(int=0), UUID(int=0), template, cast.token_ids[-MEMBERS:])
    requests = -(-votes_wanted // cast.approvals)
    cast.pool = await submitted_pool(database, actors, requests)
    slot = 0
    for request in cast.pool:
        for _ in range(cast.approvals):
            cast.votes[slot % MEMBERS].append(request)
            slot += 1
    return cast


def start_workers(database: str, count: int, data_dir: str, nice: int) -> list[subprocess.Popen[bytes]]:
    """``count`` workers (``fund worker``) at CPU priority ``nice``: on cores shared with the API, the letters they
    render wait for the requests people are waiting on (the backlog drains once the load is over)."""
    env = env_for(database, FUND_DATA_DIR=data_dir)
    env.pop("FUND_SMTP_URL", None)
    return [
        subprocess.Popen(
            [sys.executable, "-m", "fund.cli", "worker"],
            preexec_fn=lambda: os.nice(nice),  # before any thread: the child is fresh
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(count)
    ]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for p in processes:
        if p.poll() is None:
            os.killpg(p.pid, 2)
    for p in processes:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)


@dataclass
class Mix:
    results: dict[str, WrkResult]
    seconds: float

    @property
    def rps(self) -> float:
        return sum(r.requests for r in self.results.values()) / self.seconds


def run_mix(base: str, cast: Cast, seconds: float, workdir: Path) -> Mix:
    """The three groups at once, each its own wrk process; returns each group's figures."""
    files: dict[str, list[str]] = {
        "referent_tokens": cast.referent_tokens,
        "bodies": cast.bodies,
        "member_tokens": cast.member_tokens,
        "reader_tokens": cast.reader_tokens,
        "reader_paths": cast.reader_paths,
    }
    for name, lines in files.items():
        (workdir / name).write_text("\n".join(lines) + "\n")
    for i, ids in enumerate(cast.votes):
        (workdir / f"votes.{i}").write_text("\n".join(str(x) for x in ids) + "\n")
    groups = {
        "create+submit": (
            LUA_FILERS,
            REFERENTS,
            {"BENCH_TOKENS": str(workdir / "referent_tokens"), "BENCH_BODIES": str(workdir / "bodies")},
        ),
        "vote": (
            LUA_MEMBERS,
            MEMBERS,
            {"BENCH_TOKENS": str(workdir / "member_tokens"), "BENCH_IDS": str(workdir / "votes")},
        ),
        "lists": (
            LUA_READERS,
            READERS,
            {"BENCH_TOKENS": str(workdir / "reader_tokens"), "BENCH_PATHS": str(workdir / "reader_paths")},
        ),
    }
    running = {}
    started = time.monotonic()
    for name, (script, clients, env) in groups.items():
        script_file = workdir / f"{name}.lua"
        script_file.write_text(script)
        command = wrk_command(f"{base}/", script_file, connections=clients, threads=clients, seconds=seconds)
        running[name] = subprocess.Popen(  # noqa: S603
            command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    results = {}
    for name, process in running.items():
        out, err = process.communicate()
        if process.returncode:
            raise RuntimeError(f"wrk ({name}) failed: {err}")
        results[name] = wrk_result(out)
    return Mix(results, max(r.seconds for r in results.values()) or time.monotonic() - started)


async def drain(database: str, within: float) -> tuple[int, float]:
    """Wait until the outbox holds no event waiting or failing; (events still waiting, seconds waited)."""
    conn = await asyncpg.connect(db_url(database))
    started = time.monotonic()
    try:
        while True:
            waiting = await conn.fetchval("SELECT count(*) FROM outbox_events WHERE status <> 'done'")
            if waiting == 0 or time.monotonic() - started > within:
                return int(waiting), time.monotonic() - started
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def integrity(database: str, cast: Cast, since_seq: int, since: Any, mix: Mix) -> dict[str, Any]:
    """What the run stored, checked against what it was answered: nothing lost, nothing doubled."""
    from fund.audit.models import AuditEvent
    from fund.audit.service import GENESIS_HASH, event_hash, hashed_fields

    conn = await asyncpg.connect(db_url(database))
    try:
        votes = await conn.fetchval(
            "SELECT count(*) FROM votes WHERE member_id = ANY($1::uuid[]) AND created_at >= $2", cast.member_ids, since
        )
        doubled_votes = await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM votes WHERE created_at >= $1 "
            "GROUP BY application_id, member_id, round HAVING count(*) > 1) d",
            since,
        )
        decided = await conn.fetchval(
            "SELECT count(*) FROM applications WHERE id = ANY($1::uuid[]) AND status = 'approved'", cast.pool
        )
        plans = await conn.fetchval(
            "SELECT count(DISTINCT application_id) FROM disbursements WHERE application_id = ANY($1::uuid[])",
            cast.pool,
        )
        doubled_plans = await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM disbursements WHERE application_id = ANY($1::uuid[]) "
            "GROUP BY application_id, sequence HAVING count(*) > 1) d",
            cast.pool,
        )
        letters = await conn.fetchval("SELECT count(*) FROM letters WHERE application_id = ANY($1::uuid[])", cast.pool)
        doubled_letters = await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM letters WHERE application_id = ANY($1::uuid[]) "
            "GROUP BY application_id HAVING count(*) > 1) d",
            cast.pool,
        )
        doubled_notifications = await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM notifications WHERE created_at >= $1 "
            "GROUP BY user_id, kind, link HAVING count(*) > 1) d",
            since,
        )
        events = await conn.fetch(
            "SELECT status, count(*) AS n FROM outbox_events WHERE created_at >= $1 GROUP BY status", since
        )
        created = await conn.fetchval(
            "SELECT count(*) FROM applications WHERE created_by_id IN (SELECT user_id FROM auth_tokens "
            "WHERE id = ANY($1::uuid[])) AND created_at >= $2",
            cast.token_ids,
            since,
        )
        rows = await conn.fetch(
            "SELECT seq, at, actor_id, action, entity_type, entity_id, from_status, to_status, detail, ip, prev_hash, "
            "hash FROM audit_events WHERE seq >= (SELECT max(seq) FROM audit_events WHERE seq <= $1) ORDER BY seq",
            since_seq,
        )
    finally:
        await conn.close()
    broken, expected = 0, None
    for row in rows:
        event = AuditEvent(**{k: v for k, v in row.items() if k != "seq"})
        if isinstance(event.detail, str):
            event.detail = json.loads(event.detail)
        if expected is not None and row["prev_hash"] != expected:
            broken += 1
        if event_hash(row["prev_hash"] or GENESIS_HASH, hashed_fields(event)) != row["hash"]:
            broken += 1
        expected = row["hash"]
    answered = mix.results["vote"].requests - mix.results["vote"].non2xx
    return {
        "votes answered 201": answered,
        "votes stored": votes,
        "votes stored twice": doubled_votes,
        "requests decided (approved)": decided,
        "with a disbursement plan": plans,
        "plans doubled": doubled_plans,
        "decision letters": letters,
        "letters doubled": doubled_letters,
        "notifications doubled": doubled_notifications,
        "outbox events": {r["status"]: r["n"] for r in events},
        "requests created": created,
        "audit events appended and checked": max(0, len(rows) - 1),
        "audit chain breaks": broken,
        "ok": votes >= answered
        and votes - answered <= MEMBERS  # a vote in flight when wrk stopped is stored, not counted by wrk
        and doubled_votes == 0
        and doubled_plans == 0
        and doubled_letters == 0
        and doubled_notifications == 0
        and broken == 0
        and plans == decided
        and letters == decided,
    }


@dataclass
class Round:
    label: str
    baseline: WrkResult
    mix: Mix
    checks: dict[str, Any]
    drained_in: float


def one_round(source: str, label: str, api: int, workers: int, args: argparse.Namespace) -> Round:
    scratch = f"{source}_mixed_scratch" if "://" not in source else source
    with tempfile.TemporaryDirectory(prefix="fund-bench-mixed-") as tmp:
        work = Path(tmp)
        if scratch != source:
            asyncio.run(prepare_scratch(source, scratch))
        try:
            cast = asyncio.run(cast_of(scratch, int(args.duration * args.vote_rate) + 200))
            if scratch != source:  # the bench's own Redis database: a previous run's queue must not feed this one
                url = os.environ.get("BENCH_REDIS", REDIS)
                subprocess.run(  # noqa: S603
                    [sys.executable, "-c", f"import redis; redis.Redis.from_url({url!r}).flushdb()"], check=True
                )
            with serve_baseline(scratch, cast.school_id or UUID(int=0), args.server, api, args.pool_size) as s:
                base = f"http://127.0.0.1:{s.port}"
                baseline = wrk(
                    f"{base}/rows", LUA_REPORT, connections=20, threads=4, seconds=max(2.0, args.duration / 2)
                )
            since_seq, since = asyncio.run(_marks(scratch))
            processes = start_workers(scratch, workers, str(work / "data"), args.worker_nice)
            try:
                with serve_app(scratch, args.server, api, args.pool_size) as s:
                    base = f"http://127.0.0.1:{s.port}"
                    mix = run_mix(base, cast, args.duration, work)
                left, waited = asyncio.run(drain(scratch, args.drain_timeout)) if workers else (0, 0.0)
            finally:
                stop(processes)
            checks = asyncio.run(integrity(scratch, cast, since_seq, since, mix)) if workers else {}
            if workers and left:
                checks["outbox events still waiting"] = left
                checks["ok"] = False
            return Round(label, baseline, mix, checks, waited)
        finally:
            if scratch != source:
                asyncio.run(drop_database(scratch))


async def _marks(database: str) -> tuple[int, Any]:
    conn = await asyncpg.connect(db_url(database))
    try:
        return (
            int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM audit_events")),
            await conn.fetchval("SELECT now()"),
        )
    finally:
        await conn.close()


def table(rounds: list[Round]) -> list[str]:
    lines = [
        "| configuration | kind | clients | req/s | p50 ms | p95 ms | p99 ms | non-2xx | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    clients = {"create+submit": REFERENTS, "vote": MEMBERS, "lists": READERS}
    for r in rounds:
        b = r.baseline
        lines.append(
            f"| {r.label} | bare handler | 20 | {b.rps:,.0f} | {b.p50_ms:.1f} | {b.p95_ms:.1f} | {b.p99_ms:.1f} | "
            f"{b.non2xx} | {b.errors} |"
        )
        for kind, x in r.mix.results.items():
            lines.append(
                f"| {r.label} | {kind} | {clients[kind]} | {x.rps:,.0f} | {x.p50_ms:.1f} | {x.p95_ms:.1f} | "
                f"{x.p99_ms:.1f} | {x.non2xx} | {x.errors} |"
            )
        worst = max(x.p99_ms for x in r.mix.results.values())
        lines.append(
            f"| {r.label} | **the mix** | 20 | **{r.mix.rps:,.0f}** ({r.mix.rps / b.rps:.2f}× bare) | | | "
            f"worst {worst:.1f} | | |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="fund_scale_1m", help="the database copied and loaded (default fund_scale_1m)")
    parser.add_argument("--dev", type=int, default=0, help="first build --db as the demo plus N cloned requests")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (default 20)")
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    parser.add_argument("--pool-size", type=int, default=10, help="connections per API process (default 10)")
    parser.add_argument("--workers", type=int, default=1, help="background workers during the load (default 1)")
    parser.add_argument("--scale-out", action="store_true", help="then 2 API processes and 2 workers, compared")
    parser.add_argument("--worker-nice", type=int, default=10, help="the workers' niceness (default 10; 0: as the API)")
    parser.add_argument("--vote-rate", type=float, default=600, help="votes/s the pool must last for (default 600)")
    parser.add_argument("--drain-timeout", type=float, default=600, help="seconds to wait for the outbox to drain")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.dev:
        build_dev_database(args.db, args.dev)
    if not asyncio.run(database_exists(args.db)):
        raise SystemExit(f"no database {args.db} (generate it, or pass --dev N to build a small one)")
    print(
        f"Machine: {os.cpu_count()} CPUs; database {args.db}; {args.duration:g} s of load; load average before: "
        f"{load_average()}",
        flush=True,
    )
    configurations = [("1 API process + 1 worker" if args.workers else "1 API process", 1, args.workers)]
    if args.scale_out:
        configurations.append(("2 API processes + 2 workers", 2, 2))
    rounds = []
    for label, api, workers in configurations:
        rounds.append(one_round(args.db, label, api, workers, args))
        r = rounds[-1]
        print("\n".join(table([r])), flush=True)
        for kind, x in r.mix.results.items():
            for noted in x.refusals:
                print(f"answers from 300 up ({kind}): {noted}", flush=True)
        if r.checks:
            print(f"drained in {r.drained_in:.1f} s; checks: {json.dumps(r.checks, default=str)}", flush=True)
    print()
    print("\n".join(table(rounds)))
    if len(rounds) == 2:
        print(f"\nscale-out: the mix's throughput × {rounds[1].mix.rps / rounds[0].mix.rps:.2f}")
    print(f"load average after: {load_average()}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [
                    {
                        "label": r.label,
                        "baseline": {**r.baseline.__dict__, "rps": r.baseline.rps},
                        "mix": {k: {**v.__dict__, "rps": v.rps} for k, v in r.mix.results.items()},
                        "rps": r.mix.rps,
                        "checks": r.checks,
                        "drained_in": r.drained_in,
                    }
                    for r in rounds
                ],
                indent=2,
                default=str,
            )
        )
    failed = [r.label for r in rounds if r.checks and not r.checks.get("ok")]
    if failed:
        print(f"integrity checks FAILED: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
