"""Nothing one bad row does stops the pages: a poison track, rule timer or outbox row is parked alone.

Each test breaks one row of one incident the way a bug or a hand-edited database could, then moves
the clock and checks, through what Slack received, that another incident is still paged on time and
that the broken one says on its timeline what went wrong.
"""

from __future__ import annotations

from tests.support import RULES_CATALOG, Clock, block_text, declare, start_engine


def _break(engine, sql: str, *args: object) -> None:
    with engine.runtime.store.transaction() as tx:
        tx.conn.execute(sql, args)


def test_a_track_that_cannot_be_read_is_parked_and_the_other_incidents_still_escalate_on_time(slack, tmp_path, clock: Clock) -> None:
    engine, close = start_engine(slack, tmp_path, clock)
    try:
        broken, _, _ = declare(engine, "bank transfers failing")
        healthy, _, _ = declare(engine, "transfers slow")
        engine.deliver()
        _break(engine, "UPDATE tracks SET snapshot = '{' WHERE incident_id = ?", broken["id"])
        engine.at(minutes=5)  # both ladders are due: the healthy one pages level 2 (dana) right now
        assert len(engine.dms("dana")) == 1
        assert engine.runtime.store.track(healthy["id"])["level"] == 1
        failed = [e for e in engine.timeline(broken["id"]) if e["kind"] == "step_failed"]
        assert len(failed) == 1 and "JSONDecodeError" in failed[0]["text"] and "tries again at 10:10 UTC" in failed[0]["text"]
        engine.at(minutes=4)  # parked: not retried every tick
        assert len([e for e in engine.timeline(broken["id"]) if e["kind"] == "step_failed"]) == 1
    finally:
        close()


def test_a_rule_timer_that_raises_is_switched_off_for_its_incident_and_the_others_fire(slack, tmp_path, clock: Clock) -> None:
    engine, close = start_engine(slack, tmp_path, clock, RULES_CATALOG)
    try:
        broken, _, _ = declare(engine, "bank transfers failing", severity="sev2")
        healthy, _, _ = declare(engine, "transfers slow", severity="sev2")
        engine.deliver()
        _break(engine, "UPDATE incidents SET severity_since = 'not a time' WHERE id = ?", broken["id"])
        engine.at(minutes=15, seconds=1)  # "no-lead" is due for both
        healthy_channel = slack.incident_channels()[1]["id"]
        assert any("Still no lead." in m["text"] for m in slack.messages_in(healthy_channel))
        failed = [e for e in engine.timeline(broken["id"]) if e["kind"] == "rule_failed"]
        assert failed and "ValueError" in failed[0]["text"]
        assert all(t["due_at"] is None for t in engine.runtime.store.rule_timers(broken["id"]) if t["rule_id"] == "no-lead")
    finally:
        close()


def test_an_outbox_row_no_handler_can_read_fails_alone_and_pages_still_go(slack, tmp_path, clock: Clock) -> None:
    engine, close = start_engine(slack, tmp_path, clock)
    try:
        first, _, _ = declare(engine, "bank transfers failing")
        _break(engine, "UPDATE outbox SET payload = 'not json' WHERE incident_id = ? AND kind = 'set_topic'", first["id"])
        engine.deliver()
        assert len(engine.dms("alice")) == 1  # the page went out
        rows = {r["kind"]: r for r in engine.runtime.store.outbox_rows(first["id"])}
        assert rows["set_topic"]["status"] == "failed" and "not readable JSON" in rows["set_topic"]["last_error"]
        assert rows["post_summary"]["status"] == "sent"
        assert "INC-1" in block_text(slack.messages_in(slack.incident_channels()[0]["id"])[0])
    finally:
        close()
