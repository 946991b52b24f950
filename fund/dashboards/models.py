"""The dashboards' figures, kept as the requests and the disbursements change (migration 0030), read instead of
aggregating a fiscal year's requests on every view.

Per fund and fiscal year (the year of the request's filing, the fund's own calendar):

- ``application_figures``: per dimension (``year``, ``category``, ``school``, ``region``, ``month``) and its key
  (``''``, the category, the school's id, the region, ``YYYY-MM`` in French time), the requests filed, approved,
  rejected, their amounts, and the distinct young people (with a request filed; with one granted); and
  ``schools`` (key ``''``): the schools' rows summed, distinct counts per school added up (« Autres écoles »).
  A key but the school's is split in eight shards by the young person (``hashtext(student_id) & 7``): two
  writers of one fund rarely share a row, and a young person counts in one shard only, so the shards add up to
  the distinct count.
- ``application_students``: per dimension, key and young person, how many requests filed and granted: what tells
  the triggers when a young person enters or leaves a group's distinct count.
- ``decision_times`` (each decision's time, in seconds, and how many) and ``decision_time_buckets`` (how many per
  hour): the median time to decision read from one bucket instead of sorting the year's decisions.
- ``paid_figures``: the amount paid of the year's requests, in eight shards by request.
"""

from __future__ import annotations

from advanced_alchemy.types import GUID
from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Numeric, SmallInteger, String, Table, text

from fund.core.db import metadata

application_figures = Table(
    "application_figures",
    metadata,
    Column("fund_id", ForeignKey("funds.id"), primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    Column("dimension", String(10), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("shard", SmallInteger, primary_key=True),
    Column("filed", BigInteger, nullable=False),
    Column("approved", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("requested_cents", BigInteger, nullable=False),
    Column("granted_cents", BigInteger, nullable=False),
    Column("young_people", BigInteger, nullable=False),
    Column("helped", BigInteger, nullable=False),
    # The schools of a year by most requests (the top read in order).
    Index(
        "ix_application_figures_schools",
        "fund_id",
        "fiscal_year",
        "filed",
        postgresql_where=text("dimension = 'school'"),
    ),
)

application_students = Table(
    "application_students",
    metadata,
    Column("fund_id", ForeignKey("funds.id"), primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    Column("dimension", String(10), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("student_id", GUID(length=16), primary_key=True),
    Column("filed", Integer, nullable=False),
    Column("granted", Integer, nullable=False),
)

decision_times = Table(
    "decision_times",
    metadata,
    Column("fund_id", ForeignKey("funds.id"), primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    Column("seconds", Numeric, primary_key=True),
    Column("count", BigInteger, nullable=False),
)

decision_time_buckets = Table(
    "decision_time_buckets",
    metadata,
    Column("fund_id", ForeignKey("funds.id"), primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    Column("bucket", Integer, primary_key=True),
    Column("count", BigInteger, nullable=False),
)

paid_figures = Table(
    "paid_figures",
    metadata,
    Column("fund_id", ForeignKey("funds.id"), primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    Column("shard", SmallInteger, primary_key=True),
    Column("paid_cents", BigInteger, nullable=False),
)
