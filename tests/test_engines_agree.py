"""SQLite as the reference for PostgreSQL: the same random run of outbox and incident operations gives the same answers.

SQLite is the engine every other test has exercised for months; the PostgreSQL store must be indistinguishable from it
through the store's methods. Hypothesis plays random sequences (queue rows, some depending on others, under colliding
keys; claim in both lanes with small limits; mark sent, fail, retry later, hand back; declare incidents; read the
timeline) on one store of each engine and compares every answer and, at the end, every outbox row (ids aside).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.outbox import Kind, Message, Priority
from app.store import Store
from app.store.engines import open_store

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
KEYS = [f"k{n}" for n in range(6)]
# Any text but NUL, which PostgreSQL cannot store in a text column at all: what people type is refused with NUL in it
# before it reaches a store (app/text.py `unreadable`), and JSON columns hold it escaped.
TEXT = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))  # nor lone surrogates, refused alike

operation = st.one_of(
    st.tuples(st.just("enqueue"), st.sampled_from(KEYS), st.booleans(), st.none() | st.sampled_from(KEYS),
              st.integers(0, 120)),
    st.tuples(st.just("claim"), st.sampled_from([True, False, None]), st.integers(1, 3), st.integers(0, 180)),
    st.tuples(st.just("sent"), st.integers(0, 5)),
    st.tuples(st.just("failed"), st.integers(0, 5), st.text(TEXT, max_size=20)),
    st.tuples(st.just("retry"), st.integers(0, 5), st.integers(0, 90), st.booleans()),
    st.tuples(st.just("hand_back"), st.integers(0, 5)),
    st.tuples(st.just("incident"), st.text(TEXT, min_size=1, max_size=30)),
)

# Not the ids: a PostgreSQL sequence also advances on an insert that ON CONFLICT turns away, so ids may skip numbers
# there (nobody sees an outbox id; incidents are numbered by MAX(number) + 1, compared above). Rows are kept in id order.
_COLUMNS = "incident_id, kind, dedupe_key, payload, priority, depends_on, status, attempts, next_attempt_at, " \
           "claimed_by, claimed_until, last_error, sent_at, in_doubt"


def _play(store: Store, ops: list[tuple[Any, ...]]) -> list[Any]:
    """Every answer the store gives to `ops`, in a form both engines can be compared on."""
    answers: list[Any] = []
    claimed: list[int] = []
    for op in ops:
        kind = op[0]
        if kind == "enqueue":
            _, key, page, depends_on, at = op
            message = Message(Kind.PAGE if page else Kind.CHANNEL_MESSAGE, key, Priority.PAGE if page else Priority.MESSAGE,
                              None, {"key": key}, depends_on if depends_on != key else None)
            with store.transaction() as tx:
                answers.append(tx.enqueue(message, NOW + timedelta(seconds=at)))
        elif kind == "claim":
            _, lane, limit, at = op
            rows = store.claim_due(NOW + timedelta(seconds=at), "host-a", limit, pages=lane)
            claimed += [row.id for row in rows]
            answers.append([(r.kind, r.dedupe_key, r.payload, r.attempts, r.in_doubt) for r in rows])
        elif kind in ("sent", "failed", "retry", "hand_back") and claimed:
            row_id = claimed[op[1] % len(claimed)]
            if kind == "sent":
                with store.transaction() as tx:
                    tx.mark_sent(row_id, NOW)
            elif kind == "failed":
                with store.transaction() as tx:
                    answers.append(sorted(r["dedupe_key"] for r in tx.mark_failed(row_id, op[2])))
            elif kind == "retry":
                store.retry_later(row_id, NOW + timedelta(seconds=op[2]), "later", in_doubt=op[3])
            else:
                store.hand_back([row_id], "host-a")
        elif kind == "incident":
            with store.transaction() as tx:
                incident = tx.insert_incident(NOW, title=op[1], service_id="payouts", service_name="Payouts",
                                              team_id="payments", team_name="Payments", severity="sev2", status="triggered",
                                              declared_by="U0SAM")
                tx.add_timeline(incident["id"], NOW, "declared", op[1], "U0SAM", {"title": op[1]})
            answers.append((incident["number"], incident["title"], incident["private"],
                            [(e["kind"], e["text"], e["data"]) for e in store.timeline(incident["id"])]))
    answers.append([tuple(row) for row in store.conn.execute(f"SELECT {_COLUMNS} FROM outbox ORDER BY id").fetchall()])
    answers.append(store.pending_count())
    return answers


def test_postgresql_answers_as_sqlite_does_over_random_runs(postgres_server, tmp_path: Path) -> None:
    runs = iter(range(10_000))

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(operation, min_size=1, max_size=25))
    def check(ops: list[tuple[Any, ...]]) -> None:
        n = next(runs)
        reference = open_store(tmp_path / f"reference-{n}.db")
        url = postgres_server.new_database()
        candidate = open_store("", url)
        try:
            assert _play(candidate, ops) == _play(reference, ops)
        finally:
            candidate.close()
            reference.close()
            postgres_server.drop_database(url)

    check()
