"""The weekly digest through Slack's protocol, on a frozen clock: once per period, across restarts and downtime.

tests/digest_catalog.yaml: Payments keeps Berlin time (UTC+1 in winter, +2 in summer) and gets a digest on Mondays at
09:00 there, in #team-payments. The week of Monday 2026-11-23 has three incidents, played through the real use cases
at known instants (Berlin time in brackets):
- A, SEV2, Tue 24 Nov 10:00 UTC (11:00): alice paged, acknowledges after 4 min, resolved after 60 min;
- B, SEV1, Wed 25 Nov 02:00 UTC (03:00, night): alice paged, level 1 times out at 02:05, dana paged (night),
  acknowledges at 02:08 (8 min), resolved at 02:30 (30 min);
- C, SEV2, Thu 26 Nov 14:00 UTC (15:00): alice paged, acknowledges after 2 min, resolved after 20 min.
By hand: MTTA p50 of [2, 4, 8] min is 4m 00s; MTTR p50 of [20, 30, 60] min is 30m 00s; 4 pages, 2 outside working
hours and 2 at night (both of B's); alice has 3; payments level 1 timed out once.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app import digests, incidents
from app.catalog import Catalog
from app.store import Store
from tests.support import TESTS, Clock, Engine, frozen_clock, start_engine

CATALOG = TESTS / "digest_catalog.yaml"
UPLOAD_STEPS = ("files.getUploadURLExternal", "upload", "files.completeUploadExternal")
UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
FIRST_FIRE = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def play(engine: Engine, declared: datetime, severity: str, ack_minutes: int, resolve_minutes: int,
         acker: str = "alice", climb: bool = False) -> None:
    """One incident through the real use cases at explicit instants, the worker ticking at each."""
    store, catalog, clock = engine.runtime.store, engine.runtime.catalog, engine.clock
    clock.move_to(declared)
    outcome = incidents.declare(store, catalog, incidents.DeclareRequest("Transfers failing", "bank-transfers", severity,
                                                                         engine.user("sam")), declared)
    incident_id = outcome.incident["id"]  # type: ignore[index]
    engine.deliver()
    if climb:
        clock.move_to(declared + timedelta(minutes=5))
        engine.deliver()  # level 1 timed out: level 2 paged
    acked = declared + timedelta(minutes=ack_minutes)
    clock.move_to(acked)
    incidents.acknowledge(store, incident_id, engine.user(acker), acked, catalog)
    engine.deliver()
    resolved = declared + timedelta(minutes=resolve_minutes)
    clock.move_to(resolved)
    incidents.resolve(store, incident_id, engine.user(acker), "", resolved)
    engine.deliver()


def digest_rows(engine: Engine) -> list[dict]:
    rows = engine.runtime.store.conn.execute(
        "SELECT dedupe_key, status, last_error, payload FROM outbox WHERE kind = 'digest' ORDER BY id").fetchall()
    return [{**dict(r), "payload": json.loads(r["payload"])} for r in rows]


def digests_in(engine: Engine, channel: str = "team-payments") -> list[dict]:
    found = engine.slack.channel_named(channel)
    assert found is not None
    return [m for m in engine.slack.messages_in(found["id"]) if "Ladder digest" in m.get("text", "")]


def step_at(engine: Engine, moment: datetime) -> None:
    engine.clock.move_to(moment)
    engine.deliver()


@pytest.fixture
def engine(slack, tmp_path: Path, clock: Clock):
    engine, close = start_engine(slack, tmp_path, clock, CATALOG)
    yield engine
    close()


def test_the_weeks_figures_and_chart_go_up_monday_0900_berlin_and_each_period_once(slack, tmp_path: Path, clock: Clock) -> None:
    engine, close = start_engine(slack, tmp_path, clock, CATALOG)
    engine.deliver()  # the first tick plans the digest
    assert engine.runtime.store.digest_row("payments")["due_at"] == "2026-11-30T08:00:00.000000Z"
    assert engine.runtime.store.digest_row("identity") is None  # no digest in the catalog
    play(engine, at("2026-11-24T10:00"), "sev2", 4, 60)
    play(engine, at("2026-11-25T02:00"), "sev1", 8, 30, acker="dana", climb=True)
    play(engine, at("2026-11-26T14:00"), "sev2", 2, 20)

    step_at(engine, FIRST_FIRE - timedelta(minutes=1))  # 08:59 in Berlin
    mark = len(slack.calls)
    assert digest_rows(engine) == [] and digests_in(engine) == []

    step_at(engine, FIRST_FIRE)  # 09:00 in Berlin
    steps = [c.method for c in slack.calls[mark:] if c.method in UPLOAD_STEPS]
    assert steps == list(UPLOAD_STEPS)  # Slack's external upload, in order, once
    [row] = digest_rows(engine)
    assert row["dedupe_key"] == "digest:payments:2026-11-23T08:00:00.000000Z" and row["status"] == "sent"
    assert row["payload"] == {"team": "payments", "channel": "#team-payments", "since": "2026-11-23T08:00:00.000000Z",
                              "until": "2026-11-30T08:00:00.000000Z", "missed": 0}
    complete = next(c for c in slack.calls[mark:] if c.method == "files.completeUploadExternal")
    assert complete.args["channel_id"] == slack.channel_named("team-payments")["id"]  # the name turned into its ID
    [message] = digests_in(engine)
    text = message["text"]
    assert text.startswith(":bar_chart: *Ladder digest for Payments*: Mon 23 Nov 09:00 to Mon 30 Nov 09:00 (Europe/Berlin)")
    assert "• *3 incidents* (SEV1 · Critical: 1, SEV2 · Major: 2)" in text
    assert "Time to acknowledge, p50: *4m 00s* · time to resolve, p50: *30m 00s*" in text
    assert "• *4 pages*: 2 outside working hours, 2 at night (22:00–07:00)" in text
    assert "• Busiest: alice@example.com (3 pages)" in text
    assert "• Timed out most: payments level 1 (1 time)" in text
    assert "missed" not in text
    [shared] = message["files"]
    assert shared["name"] == "ladder-digest-payments-2026-11-23.png"
    assert slack.file_content(shared["id"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert engine.runtime.store.digest_row("payments")["due_at"] == "2026-12-07T08:00:00.000000Z"

    step_at(engine, FIRST_FIRE + timedelta(hours=1))
    assert len(digests_in(engine)) == 1  # once per period

    # The next Monday: a quiet week, a short message and no chart.
    mark = len(slack.calls)
    step_at(engine, FIRST_FIRE + timedelta(weeks=1))
    assert [c.method for c in slack.calls[mark:] if c.method in UPLOAD_STEPS] == []
    quiet = digests_in(engine)[-1]
    assert len(digests_in(engine)) == 2 and not quiet.get("files")
    assert quiet["text"] == (":bar_chart: *Ladder digest for Payments*: Mon 30 Nov 09:00 to Mon 07 Dec 09:00 (Europe/Berlin)\n"
                             ":relieved: A quiet week: no incidents.")
    assert [r["dedupe_key"] for r in digest_rows(engine)][-1] == "digest:payments:2026-11-30T08:00:00.000000Z"

    # Queued at 09:00 on 14 December, then Ladder stops before sending it: the next one sends it, once.
    third = FIRST_FIRE + timedelta(weeks=2)
    clock.move_to(third)
    worker = engine.runtime.worker
    assert worker.hold_lease(third)
    worker.tick(third)
    assert [r["status"] for r in digest_rows(engine)] == ["sent", "sent", "pending"]
    close()
    clock.advance(minutes=3)
    engine, close = start_engine(slack, tmp_path, clock, CATALOG)
    engine.deliver()
    assert [r["status"] for r in digest_rows(engine)] == ["sent", "sent", "sent"] and len(digests_in(engine)) == 3
    close()  # and after posting: another restart posts nothing again
    clock.advance(minutes=3)
    engine, close = start_engine(slack, tmp_path, clock, CATALOG)
    engine.deliver()
    step_at(engine, third + timedelta(days=1))
    assert len(digest_rows(engine)) == 3 and len(digests_in(engine)) == 3
    close()

    # Down for three weeks (the digests of 21 and 28 December, and 4 January, fall due meanwhile): one digest, the latest.
    clock.move_to(third + timedelta(weeks=3, hours=2))
    engine, close = start_engine(slack, tmp_path, clock, CATALOG)
    engine.deliver()
    engine.deliver()
    rows = digest_rows(engine)
    assert len(rows) == 4 and rows[-1]["payload"]["since"] == "2026-12-28T08:00:00.000000Z"
    assert rows[-1]["payload"]["until"] == "2027-01-04T08:00:00.000000Z" and rows[-1]["payload"]["missed"] == 2
    latest = digests_in(engine)[-1]["text"]
    assert len(digests_in(engine)) == 4
    assert "Mon 28 Dec 09:00 to Mon 04 Jan 09:00" in latest
    assert "Ladder was not running when 2 earlier digests fell due; they were missed, and this one covers the latest week only." in latest
    assert engine.runtime.store.digest_row("payments")["due_at"] == "2027-01-11T08:00:00.000000Z"
    close()


def test_a_dst_week_keeps_0900_in_berlin(slack, tmp_path: Path) -> None:
    with frozen_clock(at("2027-03-22T08:30")) as clock:  # Monday; Berlin moves to summer time on Sunday 28 March
        engine, close = start_engine(slack, tmp_path, clock, CATALOG)
        try:
            engine.deliver()
            assert engine.runtime.store.digest_row("payments")["due_at"] == "2027-03-29T07:00:00.000000Z"  # 09:00 CEST
            step_at(engine, at("2027-03-29T06:59"))
            assert digest_rows(engine) == []
            step_at(engine, at("2027-03-29T07:00"))
            [row] = digest_rows(engine)
            assert (row["payload"]["since"], row["payload"]["until"]) == ("2027-03-22T08:00:00.000000Z", "2027-03-29T07:00:00.000000Z")
            assert "Mon 22 Mar 09:00 to Mon 29 Mar 09:00 (Europe/Berlin)" in digests_in(engine)[0]["text"]
            assert engine.runtime.store.digest_row("payments")["due_at"] == "2027-04-05T07:00:00.000000Z"
        finally:
            close()


def test_a_catalog_edit_moves_adds_and_stops_a_digest(slack, tmp_path: Path, clock: Clock) -> None:
    catalog = tmp_path / "catalog.yaml"
    shutil.copy(CATALOG, catalog)
    engine, close = start_engine(slack, tmp_path, clock, catalog)
    try:
        engine.deliver()
        store = engine.runtime.store
        assert store.digest_row("payments")["due_at"] == "2026-11-30T08:00:00.000000Z"
        text = catalog.read_text()
        catalog.write_text(text.replace('digest: {cron: "0 9 * * MON"}', 'digest: {cron: "30 17 * * FRI", channel: "#general"}')
                           .replace('    escalation_policy: identity\n', '    escalation_policy: identity\n    digest: {cron: "0 8 * * *"}\n'))
        assert engine.runtime.catalog_watcher.poll(clock()) is True
        engine.deliver()
        assert store.digest_row("payments")["due_at"] == "2026-11-27T16:30:00.000000Z"  # Friday 17:30 in Berlin
        assert store.digest_row("identity")["due_at"] == "2026-11-24T08:00:00.000000Z"  # daily 08:00 UTC, added
        step_at(engine, at("2026-11-27T16:30"))
        assert [r["payload"]["channel"] for r in digest_rows(engine)] == ["#team-identity", "#general"]
        assert digest_rows(engine)[0]["payload"]["missed"] == 3  # Tuesday to Thursday: the latest day only
        assert "A quiet week" in digests_in(engine, "general")[0]["text"]
        assert "A quiet day" in digests_in(engine, "team-identity")[-1]["text"]
        catalog.write_text(text)  # the digest of identity is gone again, and payments' is back on Mondays
        assert engine.runtime.catalog_watcher.poll(clock()) is True
        engine.deliver()
        assert store.digest_row("identity")["due_at"] is None
        assert store.digest_row("payments")["due_at"] == "2026-11-30T08:00:00.000000Z"
        step_at(engine, at("2026-12-01T08:00"))
        assert len(digests_in(engine, "team-identity")) == 1 and len(digests_in(engine)) == 1
    finally:
        close()


def test_a_channel_the_bot_cannot_post_to_fails_the_digest_saying_so(slack, tmp_path: Path, clock: Clock) -> None:
    engine, close = start_engine(slack, tmp_path, clock, CATALOG)
    try:
        engine.deliver()
        play(engine, at("2026-11-24T10:00"), "sev2", 4, 60)
        slack.channel_named("team-payments")["archived"] = True
        step_at(engine, FIRST_FIRE)
        [row] = digest_rows(engine)
        assert row["status"] == "failed"
        assert "channel_not_found for #team-payments" in row["last_error"] and "invite the Ladder bot" in row["last_error"]
        assert not slack.calls_to("files.getUploadURLExternal")[1:]  # only the review's upload (of incident A)
    finally:
        close()


def test_an_upload_whose_answer_was_lost_is_found_after_a_restart_and_not_posted_twice(slack, tmp_path: Path, clock: Clock) -> None:
    engine, close = start_engine(slack, tmp_path, clock, CATALOG, SLACK_TIMEOUT="1")
    engine.deliver()
    play(engine, at("2026-11-24T10:00"), "sev2", 4, 60)
    mark = len(slack.calls)
    # Slack shares the chart, but its answer to the last step comes after Ladder stopped waiting; then Ladder restarts.
    slack.fail("files.completeUploadExternal", hold=1.5, match=lambda args: "pages per person" in str(args.get("files")))
    step_at(engine, FIRST_FIRE)
    slack.wait_for(lambda: [c for c in slack.calls[mark:] if c.method == "files.completeUploadExternal" and c.response.get("ok")])
    assert engine.runtime.store.conn.execute("SELECT in_doubt FROM outbox WHERE kind = 'digest'").fetchone()[0] == 1
    close()
    clock.advance(minutes=5)
    engine, close = start_engine(slack, tmp_path, clock, CATALOG, SLACK_TIMEOUT="1")
    try:
        engine.deliver()
        assert [r["status"] for r in digest_rows(engine)] == ["sent"]
        assert [c.method for c in slack.calls[mark:] if c.method in UPLOAD_STEPS] == list(UPLOAD_STEPS)  # not again
        assert len(digests_in(engine)) == 1 and digests_in(engine)[0]["files"]
    finally:
        close()


# -- the local-time rule, pure ----------------------------------------------------------------------------------

def _plan(cron: str) -> digests.Plan:
    return digests.Plan("t", cron, BERLIN, "#t")


def test_a_fire_time_in_the_spring_gap_is_the_first_instant_after_it_and_a_repeated_one_its_first() -> None:
    # Berlin skips 02:00-03:00 on Sunday 28 March 2027 and repeats 02:00-03:00 on Sunday 31 October 2027.
    assert digests.next_fire(_plan("30 2 * * SUN"), at("2027-03-27T12:00")) == at("2027-03-28T01:00")  # 03:00 CEST
    fall = _plan("30 2 * * SUN")
    assert digests.next_fire(fall, at("2027-10-30T12:00")) == at("2027-10-31T00:30")  # 02:30 CEST, the first one
    assert digests.next_fire(fall, at("2027-10-31T00:30")) == at("2027-11-07T01:30")  # not again an hour later
    assert digests.last_fire(fall, at("2027-10-31T01:45")) == at("2027-10-31T00:30")
    assert digests.next_fire(_plan("0 9 29 2 *"), at("2027-03-01T00:00")) == at("2028-02-29T08:00")  # rare: found


def test_a_row_keeps_its_time_only_while_the_schedule_would_put_it_there() -> None:
    plan, now = _plan("0 9 * * MON"), at("2026-12-02T12:00")  # a Wednesday
    posted = {"due_at": "2026-12-07T08:00:00.000000Z", "last_period": "2026-11-23T08:00:00.000000Z/2026-11-30T08:00:00.000000Z"}
    assert digests.planned_due(plan, posted, now) == at("2026-12-07T08:00")
    overdue = {**posted, "due_at": "2026-11-30T08:00:00.000000Z",
               "last_period": "2026-11-16T08:00:00.000000Z/2026-11-23T08:00:00.000000Z"}
    assert digests.planned_due(plan, overdue, now) == at("2026-11-30T08:00")  # downtime: still due, posted late
    assert digests.planned_due(_plan("0 9 * * *"), posted, now) == at("2026-12-03T08:00")  # edited: from now
    assert digests.planned_due(None, posted, now) is None  # removed
    # A row that says what it was planned from: kept while that is the catalog's, overdue or not; else re-planned.
    daily = _plan("0 9 * * *")
    moved = {**overdue, "due_at": "2026-11-24T08:00:00.000000Z", "schedule": "0 9 * * TUE|Europe/Berlin"}
    assert digests.planned_due(_plan("0 9 * * TUE"), moved, now) == at("2026-11-24T08:00")  # unchanged: posted late
    assert digests.planned_due(daily, moved, now) == at("2026-12-03T08:00")  # edited: the next fire after now
    assert digests.planned_due(_plan("0 9 * * TUE"), {**moved, "schedule": "0 9 * * TUE|UTC"}, now) == at("2026-12-08T08:00")
    just_posted = {**posted, "schedule": "0 9 * * MON|Europe/Berlin"}
    assert digests.planned_due(daily, just_posted, at("2026-11-30T08:30")) == at("2026-12-01T08:00")  # a day: not a stub
    assert digests.planned_due(_plan("0 10 * * MON"), just_posted, at("2026-11-30T08:30")) == at("2026-12-07T09:00")  # merged


# -- a cron edit: no week twice, none dropped (the worker's tick on a store, no Slack) --------------------------

def _catalog_with_cron(tmp_path: Path, cron: str) -> Catalog:
    from app.catalog import load_catalog

    path = tmp_path / f"catalog-{cron.replace(' ', '_').replace('*', 'x')}.yaml"
    path.write_text(CATALOG.read_text().replace('digest: {cron: "0 9 * * MON"}', f'digest: {{cron: "{cron}"}}'))
    return load_catalog(path)


def _queued(store: Store) -> list[tuple[str, str, str, int]]:
    rows = store.conn.execute("SELECT payload FROM outbox WHERE kind = 'digest' ORDER BY id").fetchall()
    return [(p["since"], p["until"], p["channel"], p["missed"]) for p in (json.loads(r["payload"]) for r in rows)]


def test_a_cron_moved_an_hour_after_posting_does_not_post_the_same_week_again(tmp_path: Path) -> None:
    from app.worker import tick

    mon9, mon10 = _catalog_with_cron(tmp_path, "0 9 * * MON"), _catalog_with_cron(tmp_path, "0 10 * * MON")
    store = Store(tmp_path / "ladder.db")
    try:
        tick(store, mon9, at("2026-11-23T07:00"))
        tick(store, mon9, at("2026-11-23T08:00"))  # Monday 09:00 in Berlin: the week to now, posted
        tick(store, mon10, at("2026-11-23T08:30"))  # 09:30: the digest moves to Mondays 10:00
        tick(store, mon10, at("2026-11-23T09:00"))  # 10:00: an hour since the last: merged into the next period
        assert _queued(store) == [("2026-11-16T08:00:00.000000Z", "2026-11-23T08:00:00.000000Z", "#team-payments", 0)]
        assert store.digest_row("payments")["due_at"] == "2026-11-30T09:00:00.000000Z"
        tick(store, mon10, at("2026-11-30T09:00"))  # the next Monday 10:00: from where the last one ended
        assert _queued(store)[1:] == [("2026-11-23T08:00:00.000000Z", "2026-11-30T09:00:00.000000Z", "#team-payments", 0)]
    finally:
        store.close()


def test_a_cron_edit_then_downtime_posts_the_overdue_digest_late_and_counts_the_missed(tmp_path: Path) -> None:
    from app.worker import tick

    mon, tue = _catalog_with_cron(tmp_path, "0 9 * * MON"), _catalog_with_cron(tmp_path, "0 9 * * TUE")
    path = tmp_path / "ladder.db"
    store = Store(path)
    tick(store, mon, at("2026-11-23T07:00"))
    tick(store, mon, at("2026-11-23T08:00"))  # Monday 09:00 in Berlin: posted
    tick(store, tue, at("2026-11-25T12:00"))  # Wednesday: moved to Tuesdays; due Tuesday 1 December
    assert store.digest_row("payments")["due_at"] == "2026-12-01T08:00:00.000000Z"
    store.close()
    digests._synced.clear()  # down from Thursday to Wednesday 2 December: a start with the same catalog
    store = Store(path)
    try:
        tick(store, tue, at("2026-12-02T12:00"))  # the unchanged schedule keeps the overdue row: posted late
        assert _queued(store)[1:] == [("2026-11-23T08:00:00.000000Z", "2026-12-01T08:00:00.000000Z", "#team-payments", 0)]
        assert store.digest_row("payments")["due_at"] == "2026-12-08T08:00:00.000000Z"
    finally:
        store.close()
    # Down across two Tuesdays after an edit: the latest period is posted, and it says one was missed.
    store = Store(tmp_path / "second.db")
    try:
        tick(store, mon, at("2026-11-23T07:00"))
        tick(store, mon, at("2026-11-23T08:00"))
        tick(store, tue, at("2026-11-25T12:00"))
        digests._synced.clear()
        tick(store, tue, at("2026-12-09T12:00"))
        assert _queued(store)[1:] == [("2026-12-01T08:00:00.000000Z", "2026-12-08T08:00:00.000000Z", "#team-payments", 1)]
    finally:
        store.close()
