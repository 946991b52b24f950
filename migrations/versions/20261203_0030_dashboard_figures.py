"""the dashboards' figures kept as the requests and the disbursements change, read instead of aggregating a fiscal
year's 120 000 requests on every view

Per fund and fiscal year (of the request's filing): ``application_figures`` (per dimension and key: requests filed,
approved, rejected, amounts, distinct young people with a request, distinct young people helped; keys but the
school's split in eight shards by young person, so that writers rarely share a row and the shards add up to the
distinct counts; the dimension ``schools`` sums the schools' rows, distinct counts per school added up, what
« Autres écoles » is made of), ``application_students`` (per dimension, key and young person: requests filed and
granted, what tells when a young person enters or leaves a distinct count), ``decision_times`` and
``decision_time_buckets`` (the median time to decision read from one hour's bucket), ``paid_figures`` (the amount
paid, in eight shards).

Kept by statement-level triggers with transition tables on ``applications`` (insert, update of the columns the
figures read, delete) and ``disbursements`` (what is paid), in the transaction of the change, whatever path changes
the rows (a service, a set-based move, a bulk COPY); rows changed in key order. Each statement of a trigger is
run by ``EXECUTE``, so planned for the rows of the change at hand (a plan cached for one row ran nested loops
over the transition tables: 2 s for a set-based update of 200 requests, 40 ms planned afresh). The fiscal year
is the one of the fund's ``fiscal_year_start_month`` and the region the school's, both as the change is made
(neither is edited by the application). The tables are filled from the rows present, by the triggers' own
statements, under a lock, and analyzed.

Revision ID: 0030
Revises: 0026
Create Date: 2026-12-03 17:30:00
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUID = advanced_alchemy.types.guid.GUID(length=16)

APPLICATION_COLUMNS = (
    "id, fund_id, student_id, school_id, category, status, amount_requested_cents, amount_granted_cents, "
    "submitted_at, decided_at"
)
FIGURE_COLUMNS = (
    "id, fund_id, student_id, school_id, category, status, amount_requested_cents, amount_granted_cents, "
    "submitted_at, decided_at"
)
# The requests an update changed in what the figures read: a set difference (hashed or sorted, linear), not a
# join of the two transition tables (an EXISTS over one was planned as nested loops: 3 s for 5 000 rows).
CHANGED = (
    f"SELECT id FROM (SELECT {FIGURE_COLUMNS} FROM new_rows EXCEPT SELECT {FIGURE_COLUMNS} FROM old_rows) AS moved"
)
# The rows a statement changed, each with its sign: what it adds (+1) and what it takes away (-1).
APPLICATION_CHANGES = {
    "INSERT": f"SELECT {APPLICATION_COLUMNS}, 1 AS sign FROM new_rows",
    "DELETE": f"SELECT {APPLICATION_COLUMNS}, -1 AS sign FROM old_rows",
    "UPDATE": f"SELECT {APPLICATION_COLUMNS}, 1 AS sign FROM new_rows WHERE id IN ({CHANGED}) "
    f"UNION ALL SELECT {APPLICATION_COLUMNS}, -1 AS sign FROM old_rows WHERE id IN ({CHANGED})",
    "FILL": f"SELECT {APPLICATION_COLUMNS}, 1 AS sign FROM applications",
}
FISCAL_YEAR = (
    "CAST(extract(year FROM timezone('Europe/Paris', r.submitted_at) "
    "- make_interval(0, f.fiscal_year_start_month - 1)) AS integer)"
)
GRANTED = "('approved', 'paid')"
DECIDED = "('approved', 'paid', 'rejected')"

FIGURES = f"""
WITH c AS (
  SELECT r.fund_id, {FISCAL_YEAR} AS fiscal_year, r.student_id, r.category, CAST(r.school_id AS text) AS school,
         s.region, to_char(timezone('Europe/Paris', r.submitted_at), 'YYYY-MM') AS month,
         r.sign AS filed,
         CASE WHEN r.status IN {GRANTED} THEN r.sign ELSE 0 END AS approved,
         CASE WHEN r.status = 'rejected' THEN r.sign ELSE 0 END AS rejected,
         r.sign * coalesce(r.amount_requested_cents, 0) AS requested,
         CASE WHEN r.status IN {GRANTED} THEN r.sign * coalesce(r.amount_granted_cents, 0) ELSE 0 END AS granted
  FROM ({{changes}}) r JOIN funds f ON f.id = r.fund_id LEFT JOIN schools s ON s.id = r.school_id
  WHERE r.submitted_at IS NOT NULL
), d AS (
  SELECT fund_id, fiscal_year, 'year' AS dimension, '' AS key, student_id, filed, approved, rejected, requested,
         granted FROM c
  UNION ALL
  SELECT fund_id, fiscal_year, 'category', category, student_id, filed, approved, rejected, requested, granted FROM c
  UNION ALL
  SELECT fund_id, fiscal_year, 'school', school, student_id, filed, approved, rejected, requested, granted FROM c
  WHERE school IS NOT NULL AND region IS NOT NULL
  UNION ALL
  SELECT fund_id, fiscal_year, 'region', region, student_id, filed, approved, rejected, requested, granted FROM c
  WHERE region IS NOT NULL
  UNION ALL
  SELECT fund_id, fiscal_year, 'month', month, student_id, filed, approved, rejected, requested, granted FROM c
), per_student AS (
  SELECT fund_id, fiscal_year, dimension, key, student_id, sum(filed) AS filed, sum(approved) AS granted
  FROM d GROUP BY fund_id, fiscal_year, dimension, key, student_id
), moved AS (
  INSERT INTO application_students AS t (fund_id, fiscal_year, dimension, key, student_id, filed, granted)
  SELECT fund_id, fiscal_year, dimension, key, student_id, filed, granted FROM per_student
  WHERE filed <> 0 OR granted <> 0
  ORDER BY fund_id, fiscal_year, dimension, key, student_id
  ON CONFLICT (fund_id, fiscal_year, dimension, key, student_id) DO UPDATE
    SET filed = t.filed + excluded.filed, granted = t.granted + excluded.granted
  RETURNING t.fund_id, t.fiscal_year, t.dimension, t.key, t.student_id, t.filed, t.granted
), people AS (
  SELECT m.fund_id, m.fiscal_year, m.dimension, m.key, m.student_id,
         CAST(m.filed > 0 AS integer) - CAST(m.filed - p.filed > 0 AS integer) AS young_people,
         CAST(m.granted > 0 AS integer) - CAST(m.granted - p.granted > 0 AS integer) AS helped
  FROM moved m JOIN per_student p USING (fund_id, fiscal_year, dimension, key, student_id)
), changed AS (
  SELECT fund_id, fiscal_year, dimension, key, student_id, filed, approved, rejected, requested, granted,
         0 AS young_people, 0 AS helped FROM d
  UNION ALL
  SELECT fund_id, fiscal_year, dimension, key, student_id, 0, 0, 0, 0, 0, young_people, helped FROM people
  UNION ALL
  SELECT fund_id, fiscal_year, 'schools', '', student_id, filed, approved, rejected, requested, granted, 0, 0
  FROM d WHERE dimension = 'school'
  UNION ALL
  SELECT fund_id, fiscal_year, 'schools', '', student_id, 0, 0, 0, 0, 0, young_people, helped
  FROM people WHERE dimension = 'school'
)
INSERT INTO application_figures AS t (fund_id, fiscal_year, dimension, key, shard, filed, approved, rejected,
                                      requested_cents, granted_cents, young_people, helped)
SELECT fund_id, fiscal_year, dimension, key,
       CASE WHEN dimension = 'school' THEN 0 ELSE hashtext(CAST(student_id AS text)) & 7 END AS shard,
       sum(filed), sum(approved), sum(rejected), sum(requested), sum(granted), sum(young_people), sum(helped)
FROM changed
GROUP BY 1, 2, 3, 4, 5
HAVING sum(filed) <> 0 OR sum(approved) <> 0 OR sum(rejected) <> 0 OR sum(requested) <> 0 OR sum(granted) <> 0
    OR sum(young_people) <> 0 OR sum(helped) <> 0
ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (fund_id, fiscal_year, dimension, key, shard) DO UPDATE
  SET filed = t.filed + excluded.filed, approved = t.approved + excluded.approved,
      rejected = t.rejected + excluded.rejected, requested_cents = t.requested_cents + excluded.requested_cents,
      granted_cents = t.granted_cents + excluded.granted_cents, young_people = t.young_people + excluded.young_people,
      helped = t.helped + excluded.helped
"""

DECISIONS = f"""
WITH c AS (
  SELECT r.fund_id, {FISCAL_YEAR} AS fiscal_year, extract(epoch FROM r.decided_at - r.submitted_at) AS seconds,
         r.sign
  FROM ({{changes}}) r JOIN funds f ON f.id = r.fund_id
  WHERE r.submitted_at IS NOT NULL AND r.decided_at IS NOT NULL AND r.status IN {DECIDED}
), buckets AS (
  INSERT INTO decision_time_buckets AS t (fund_id, fiscal_year, bucket, count)
  SELECT fund_id, fiscal_year, CAST(floor(seconds / 3600) AS integer), sum(sign) FROM c
  GROUP BY 1, 2, 3 HAVING sum(sign) <> 0 ORDER BY 1, 2, 3
  ON CONFLICT (fund_id, fiscal_year, bucket) DO UPDATE SET count = t.count + excluded.count
)
INSERT INTO decision_times AS t (fund_id, fiscal_year, seconds, count)
SELECT fund_id, fiscal_year, seconds, sum(sign) FROM c
GROUP BY 1, 2, 3 HAVING sum(sign) <> 0 ORDER BY 1, 2, 3
ON CONFLICT (fund_id, fiscal_year, seconds) DO UPDATE SET count = t.count + excluded.count
"""

# What is paid of a request moves with the request's fiscal year (its filing moved) ...
PAID_OF_REQUESTS = f"""
INSERT INTO paid_figures AS t (fund_id, fiscal_year, shard, paid_cents)
SELECT r.fund_id, {FISCAL_YEAR}, hashtext(CAST(r.id AS text)) & 7, sum(r.sign * p.amount_cents)
FROM ({{changes}}) r JOIN funds f ON f.id = r.fund_id
JOIN disbursements p ON p.application_id = r.id AND p.fund_id = r.fund_id AND p.status = 'paid'
WHERE r.submitted_at IS NOT NULL
GROUP BY 1, 2, 3 HAVING sum(r.sign * p.amount_cents) <> 0 ORDER BY 1, 2, 3
ON CONFLICT (fund_id, fiscal_year, shard) DO UPDATE SET paid_cents = t.paid_cents + excluded.paid_cents
"""

# ... and with the disbursements' own moves.
DISBURSEMENT_COLUMNS = "fund_id, application_id, amount_cents"
DISBURSEMENT_CHANGES = {
    "INSERT": f"SELECT {DISBURSEMENT_COLUMNS}, 1 AS sign FROM new_rows WHERE status = 'paid'",
    "DELETE": f"SELECT {DISBURSEMENT_COLUMNS}, -1 AS sign FROM old_rows WHERE status = 'paid'",
    "UPDATE": f"SELECT {DISBURSEMENT_COLUMNS}, 1 AS sign FROM new_rows WHERE status = 'paid' "
    f"UNION ALL SELECT {DISBURSEMENT_COLUMNS}, -1 AS sign FROM old_rows WHERE status = 'paid'",
}
PAID = f"""
INSERT INTO paid_figures AS t (fund_id, fiscal_year, shard, paid_cents)
SELECT r.fund_id, {FISCAL_YEAR.replace("r.submitted_at", "a.submitted_at")},
       hashtext(CAST(r.application_id AS text)) & 7, sum(r.sign * r.amount_cents)
FROM ({{changes}}) r JOIN applications a ON a.id = r.application_id AND a.fund_id = r.fund_id
JOIN funds f ON f.id = r.fund_id
WHERE a.submitted_at IS NOT NULL
GROUP BY 1, 2, 3 HAVING sum(r.sign * r.amount_cents) <> 0 ORDER BY 1, 2, 3
ON CONFLICT (fund_id, fiscal_year, shard) DO UPDATE SET paid_cents = t.paid_cents + excluded.paid_cents
"""


# A change of at most this many rows (a service's: one request, one batch's few) runs the statements as written in the
# function, their plans kept by the connection (planning them anew cost ~15 ms a change); a larger one (a set-based
# move, a bulk load) runs them by ``EXECUTE``, planned for its own size.
SMALL_CHANGE = 50


def _function(name: str, body: dict[str, list[str]], unchanged: str | None = None) -> str:
    """A trigger function running each statement as written for a small change, by ``EXECUTE`` for a large one:
    planned for the number of rows the statement changed (a plan kept from a change of one row, nested loops over
    the transition tables, took 2 s for 200 rows)."""

    def run(statement: str, into: str = "") -> str:
        return (
            f"    IF small THEN\n      {statement}{into};\n"
            f"    ELSE\n      EXECUTE $q${statement}$q${into};\n    END IF;\n"
        )

    branches = []
    for index, (operation, statements) in enumerate(body.items()):
        keyword = "IF" if index == 0 else "ELSIF"
        rows = "old_rows" if operation == "DELETE" else "new_rows"
        check = f"    small := (SELECT count(*) FROM {rows}) <= {SMALL_CHANGE};\n"
        if operation == "UPDATE" and unchanged:  # nothing the figures read changed: nothing to plan nor run
            check += run(unchanged, " INTO idle") + "    IF idle THEN\n      RETURN NULL;\n    END IF;\n"
        branches.append(f"  {keyword} TG_OP = '{operation}' THEN\n" + check + "".join(run(s) for s in statements))
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nDECLARE\n  idle boolean;\n"
        "  small boolean;\nBEGIN\n" + "".join(branches) + "  END IF;\n  RETURN NULL;\nEND\n$$"
    )


def _application_statements(changes: str) -> list[str]:
    return [s.format(changes=changes) for s in (FIGURES, DECISIONS, PAID_OF_REQUESTS)]


APPLICATIONS_FUNCTION = _function(
    "dashboard_figures_of_applications",
    {op_: _application_statements(APPLICATION_CHANGES[op_]) for op_ in ("INSERT", "UPDATE", "DELETE")},
    unchanged=f"SELECT NOT EXISTS ({CHANGED})",
)
DISBURSEMENTS_FUNCTION = _function(
    "dashboard_figures_of_disbursements",
    {op_: [PAID.format(changes=DISBURSEMENT_CHANGES[op_])] for op_ in ("INSERT", "UPDATE", "DELETE")},
)
TRANSITIONS = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
}
TABLES = ("application_figures", "application_students", "decision_times", "decision_time_buckets", "paid_figures")


def _fund_key() -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column("fund_id", GUID, nullable=False), sa.Column("fiscal_year", sa.Integer(), nullable=False)]


def _keys(table: str, *columns: str) -> list[sa.Constraint]:
    return [
        sa.ForeignKeyConstraint(["fund_id"], ["funds.id"], name=op.f(f"fk_{table}_fund_id_funds")),
        sa.PrimaryKeyConstraint("fund_id", "fiscal_year", *columns, name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    counts = ("filed", "approved", "rejected", "requested_cents", "granted_cents", "young_people", "helped")
    op.create_table(
        "application_figures",
        *_fund_key(),
        sa.Column("dimension", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        *[sa.Column(name, sa.BigInteger(), nullable=False) for name in counts],
        *_keys("application_figures", "dimension", "key", "shard"),
    )
    # The schools of a year by most requests: the top read in order, not the year's 10 000 schools sorted.
    op.create_index(
        "ix_application_figures_schools",
        "application_figures",
        ["fund_id", "fiscal_year", "filed"],
        postgresql_where=sa.text("dimension = 'school'"),
    )
    op.create_table(
        "application_students",
        *_fund_key(),
        sa.Column("dimension", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("student_id", GUID, nullable=False),
        sa.Column("filed", sa.Integer(), nullable=False),
        sa.Column("granted", sa.Integer(), nullable=False),
        *_keys("application_students", "dimension", "key", "student_id"),
    )
    op.create_table(
        "decision_times",
        *_fund_key(),
        sa.Column("seconds", sa.Numeric(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        *_keys("decision_times", "seconds"),
    )
    op.create_table(
        "decision_time_buckets",
        *_fund_key(),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        *_keys("decision_time_buckets", "bucket"),
    )
    op.create_table(
        "paid_figures",
        *_fund_key(),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("paid_cents", sa.BigInteger(), nullable=False),
        *_keys("paid_figures", "shard"),
    )
    # No change between the fill and the triggers: the requests and the disbursements are locked against writes.
    op.execute("LOCK TABLE applications, disbursements IN SHARE ROW EXCLUSIVE MODE")
    op.execute("SET LOCAL work_mem = '256MB'")
    for statement in _application_statements(APPLICATION_CHANGES["FILL"]):
        op.execute(statement)
    op.execute(APPLICATIONS_FUNCTION)
    op.execute(DISBURSEMENTS_FUNCTION)
    for table, function in (
        ("applications", "dashboard_figures_of_applications"),
        ("disbursements", "dashboard_figures_of_disbursements"),
    ):
        for event, transitions in TRANSITIONS.items():
            op.execute(
                f"CREATE TRIGGER dashboard_figures_on_{event} AFTER {event.upper()} ON {table} {transitions} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
    # Statistics now, not at autovacuum's leisure: the dashboards' first reads are planned on them.
    op.execute(f"ANALYZE {', '.join(TABLES)}")


def downgrade() -> None:
    for table in ("applications", "disbursements"):
        for event in TRANSITIONS:
            op.execute(f"DROP TRIGGER dashboard_figures_on_{event} ON {table}")
    op.execute("DROP FUNCTION dashboard_figures_of_applications()")
    op.execute("DROP FUNCTION dashboard_figures_of_disbursements()")
    for table in reversed(TABLES):
        op.drop_table(table)
