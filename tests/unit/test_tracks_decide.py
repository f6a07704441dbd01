"""`tracks.decide` (and `state_of`, `view`), pure: hand-built track rows and the engine's events in, changes out."""

from __future__ import annotations

from datetime import datetime
from typing import Any


from app import escalation, tracks
from app.escalation import LevelSpec, NextStep, PolicySpec, ResolvedTarget, Snapshot, State, TargetSpec
from app.store import iso
from app.tracks import Entry, LadderChanges, PageRequest
from tests.unit.catalogs import ESCALATION_YAML, MONDAY, SATURDAY_NIGHT, at, catalog, snap

CATALOG = catalog(ESCALATION_YAML)
SCHEDULES = CATALOG.schedules
ALICE_VIA = "on call for primary (layer 1)"


def row(snapshot: Snapshot, key: str = "main", label: str = "Payments", *, round_: int = 0, requested_by: str | None = None,
        state: str = "active", level: int = 0, loop: int = 0, policy: str | None = None, due_at: datetime | None = None) -> dict[str, Any]:
    """A track row as the store returns it."""
    return {"id": 7, "incident_id": 1, "track": key, "label": label, "snapshot": snapshot.to_json(), "policy": policy or snapshot.root,
            "level": level, "loop": loop, "state": state, "paged_at": None, "due_at": iso(due_at) if due_at else None,
            "requested_by": requested_by, "reason": "", "round": round_, "created_at": iso(MONDAY), "version": 1}


def texts(changes: LadderChanges) -> list[tuple[str, str]]:
    return [(entry.kind, entry.text) for entry in changes.entries]


def steps(snapshot: Snapshot, track: dict[str, Any], base: datetime = MONDAY) -> list[LadderChanges]:
    """Every step of an unanswered ladder through `decide`, the way the worker runs it."""
    state, events = escalation.start(snapshot, base, SCHEDULES)
    changes = [tracks.decide(track, snapshot, state, events, "U0SAM", "declared")]
    while state.status in ("active", "waiting"):
        assert state.due_at is not None
        waited = snapshot.level(state.level, state.policy).escalate_after // 60
        state, events = escalation.advance(snapshot, state, state.due_at, SCHEDULES)
        changes.append(tracks.decide(track, snapshot, state, events, None, f"no acknowledgement within {waited}m"))
    return changes


# -- pages --------------------------------------------------------------------------------------------------


def test_declaration_pages_level_1_on_the_main_track() -> None:
    snapshot = snap("payments")
    state, events = escalation.start(snapshot, MONDAY, SCHEDULES)
    changes = tracks.decide(row(snapshot), snapshot, state, events, "U0SAM", "declared")
    page = PageRequest("main", 0, "payments", 0, 0, "alice@example.com", "person", ALICE_VIA, False, "U0SAM")
    assert changes.entries == [Entry("level_paged", "Paging level 1 (declared): alice@example.com.",
                                     {"track": "main", "policy": "payments", "level": 0, "loop": 0, "targets": ["alice@example.com"]},
                                     "U0SAM", (page,))]
    assert changes.pages == [page]
    assert (changes.state, changes.due_at, changes.paged, changes.position) == ("active", at(5), True, state)


def test_pages_carry_track_round_policy_level_loop_and_requester() -> None:
    snapshot = snap("critical")
    track = row(snapshot, "team:identity#1", "Identity", round_=2, requested_by="U0LEAD")
    state = State("critical", 0, 0, "active", at(5), paged_level=0)
    new_state, events = escalation.advance(snapshot, state, at(5), SCHEDULES)
    changes = tracks.decide(track, snapshot, new_state, events, "U0BOB", "no acknowledgement within 5m")
    assert changes.pages == [
        PageRequest("team:identity#1", 2, "critical", 1, 0, ref, "person", "named in the policy", False, "U0LEAD")
        for ref in ("dana@example.com", "judy@example.com")]
    # Without a requester on the track, the actor of this step is the requester.
    anonymous = tracks.decide(row(snapshot), snapshot, new_state, events, "U0BOB", "escalated by bob")
    assert {page.requested_by for page in anonymous.pages} == {"U0BOB"}
    assert {(page.track, page.round) for page in anonymous.pages} == {("main", 0)}


def test_a_repeat_and_a_handoff_page_with_their_loop_and_policy() -> None:
    payments = snap("payments")
    repeat = tracks.decide(row(payments), payments, *escalation.advance(payments, State("payments", 1, 0, "active", at(15), 1), at(15), SCHEDULES),
                           None, "no acknowledgement within 10m")
    assert texts(repeat) == [("repeat", "End of the policy: starting again from level 1 (repeat 1 of 1)."),
                             ("level_paged", "Paging level 1 (no acknowledgement within 10m): alice@example.com.")]
    assert [(p.policy, p.level, p.loop) for p in repeat.pages] == [("payments", 0, 1)]
    assert repeat.entries[0].data == {"track": "main", "policy": "payments", "level": 0, "loop": 1}

    critical = snap("critical")
    handoff = tracks.decide(row(critical), critical, *escalation.advance(critical, State("critical", 1, 0, "active", at(10), 1), at(10), SCHEDULES),
                            None, "no acknowledgement within 5m")
    assert texts(handoff) == [("handoff", "Policy critical is exhausted: handing off to policy leadership."),
                              ("level_paged", "Paging level 1 of policy leadership (no acknowledgement within 5m): walter@example.com.")]
    assert [(p.policy, p.level, p.loop, p.target) for p in handoff.pages] == [("leadership", 0, 0, "walter@example.com")]
    assert handoff.entries[0].data == {"track": "main", "policy": "critical", "level": 1, "loop": 0}


# -- entries ------------------------------------------------------------------------------------------------


def test_a_skipped_level_gives_its_gap_then_the_skip_then_the_page() -> None:
    snapshot = snap("nights")
    state, events = escalation.start(snapshot, SATURDAY_NIGHT, SCHEDULES)
    changes = tracks.decide(row(snapshot), snapshot, state, events, None, "declared")
    assert texts(changes) == [
        ("gap", "Level 1: nobody is on call for office: layer 1 only covers Mon–Fri 09:00–17:00 UTC."),
        ("level_skipped", "Skipped level 1: it resolves to nobody right now."),
        ("level_paged", "Paging level 2 (declared): oscar@example.com."),
    ]
    assert [e.data["level"] for e in changes.entries] == [0, 0, 1]
    assert [page.target for page in changes.pages] == ["oscar@example.com"]
    assert (changes.state, changes.due_at) == ("active", at(10, SATURDAY_NIGHT))


def test_a_waiting_level_pages_nobody_and_keeps_its_timer() -> None:
    snapshot = snap("patient")
    state, events = escalation.start(snapshot, SATURDAY_NIGHT, SCHEDULES)
    changes = tracks.decide(row(snapshot), snapshot, state, events, None, "declared")
    assert texts(changes) == [
        ("gap", "Level 1: nobody is on call for office: layer 1 only covers Mon–Fri 09:00–17:00 UTC."),
        ("level_waiting", "Waiting on level 1: it resolves to nobody right now."),
    ]
    assert (changes.pages, changes.paged, changes.state, changes.due_at) == ([], False, "waiting", at(5, SATURDAY_NIGHT))


def test_a_notify_only_level_notifies() -> None:
    snapshot = snap("heads-up")
    new_state, events = escalation.advance(snapshot, State("heads-up", 0, 0, "active", at(5), 0), at(5), SCHEDULES)
    changes = tracks.decide(row(snapshot), snapshot, new_state, events, None, "no acknowledgement within 5m")
    assert texts(changes) == [("level_paged", "Notifying level 2 (no acknowledgement within 5m): quinn@example.com.")]
    assert [(p.target, p.notify_only) for p in changes.pages] == [("quinn@example.com", True)]
    assert changes.paged is True and changes.position.paged_level == 0


def test_main_and_additive_tracks_name_their_levels() -> None:
    snapshot = snap("critical")
    main = [text for c in steps(snapshot, row(snapshot)) for _, text in texts(c)]
    team = [text for c in steps(snapshot, row(snapshot, "team:identity#1", "Identity")) for _, text in texts(c)]
    assert main == [
        "Paging level 1 (declared): mallory@example.com.",
        "Paging level 2 (no acknowledgement within 5m): dana@example.com, judy@example.com.",
        "Policy critical is exhausted: handing off to policy leadership.",
        "Paging level 1 of policy leadership (no acknowledgement within 5m): walter@example.com.",
        "The ladder is exhausted for the incident: nobody acknowledged; it stays with level 1 of policy leadership.",
    ]
    assert team == [
        "Paging Identity: level 1 (declared): mallory@example.com.",
        "Paging Identity: level 2 (no acknowledgement within 5m): dana@example.com, judy@example.com.",
        "Policy critical is exhausted: handing off to policy leadership.",
        "Paging Identity: level 1 of policy leadership (no acknowledgement within 5m): walter@example.com.",
        "The ladder is exhausted for Identity: nobody acknowledged; it stays with Identity: level 1 of policy leadership.",
    ]


def test_exhausted_names_the_last_level_that_paged() -> None:
    payments = steps(snap("payments"), row(snap("payments")))[-1]
    assert texts(payments)[-1] == ("exhausted", "The ladder is exhausted for the incident: nobody acknowledged; it stays with level 2.")
    assert (payments.state, payments.due_at, payments.paged) == ("exhausted", None, False)
    # heads-up ends on a notify-only level (4): the ladder stays with dana's level 3.
    heads_up = steps(snap("heads-up"), row(snap("heads-up")))[-1]
    assert texts(heads_up) == [("exhausted", "The ladder is exhausted for the incident: nobody acknowledged; it stays with level 3.")]
    assert heads_up.entries[0].data == {"track": "main", "policy": "heads-up", "level": 2, "loop": 0}


def test_exhausted_without_any_page_says_nobody_could_be_paged() -> None:
    snapshot = snap("office-only")
    state, events = escalation.start(snapshot, SATURDAY_NIGHT, SCHEDULES)
    main = tracks.decide(row(snapshot), snapshot, state, events, None, "declared")
    assert [kind for kind, _ in texts(main)] == ["gap", "level_skipped", "exhausted"]
    assert texts(main)[-1] == ("exhausted", "Nobody could be paged for the incident: no level that pages (rather than only notifies) reaches anyone right now.")
    team = tracks.decide(row(snapshot, "team:office#1", "Office"), snapshot, state, events, None, "escalated by sam")
    assert texts(team)[-1] == ("exhausted", "Nobody could be paged for Office: no level that pages (rather than only notifies) reaches anyone right now.")
    assert (main.state, main.due_at, main.paged, main.pages) == ("exhausted", None, False, [])


def test_entry_text_is_plain_words_even_with_angle_brackets_in_targets_and_labels() -> None:
    level_1 = LevelSpec((TargetSpec("user", "U0ABC"), TargetSpec("user", "x<y>@example.com"), TargetSpec("schedule", "<gone>")), 300)
    level_2 = LevelSpec((TargetSpec("user_group", "S0OPS"),), 300, notify_only=True)
    level_3 = LevelSpec((TargetSpec("schedule", "<!channel>"),), 60)
    snapshot = Snapshot("p<1>", {"p<1>": PolicySpec("p<1>", (level_1, level_2, level_3))})
    for key, label in (("main", "R&D <night> team"), ("team:rd#1", "R&D <night> team"), ("person:U0DANA#1", "U0DANA")):
        all_text = " | ".join(text for changes in steps(snapshot, row(snapshot, key, label)) for _, text in texts(changes))
        assert "<@" not in all_text and "&lt;" not in all_text and "&gt;" not in all_text and "&amp;" not in all_text, all_text
        for plain in ("U0ABC", "x<y>@example.com", "schedule <gone> no longer exists", "S0OPS", "schedule <!channel> no longer exists"):
            assert plain in all_text
        if key != "main":
            assert f"exhausted for {label}: nobody acknowledged; it stays with {label}: level 1." in all_text


def test_timer_keeps_the_tracks_own_state_and_due() -> None:
    # An additive escalation on an acknowledged incident: the ladder moves to level 2, its clock does not restart.
    snapshot = snap("payments")
    acked_due = at(40)
    state = State("payments", 0, 0, "stopped", acked_due, paged_level=0)
    new_state, events = escalation.escalate_now(snapshot, state, at(3), SCHEDULES)
    changes = tracks.decide(row(snapshot, state="acked", due_at=acked_due), snapshot, new_state, events, "U0BOB", "escalated by bob",
                            timer=("acked", acked_due))
    assert (changes.state, changes.due_at) == ("acked", acked_due)
    assert changes.position == State("payments", 1, 0, "active", at(13), paged_level=1)
    assert changes.paged is True and [p.target for p in changes.pages] == ["dana@example.com"]
    without = tracks.decide(row(snapshot), snapshot, new_state, events, "U0BOB", "escalated by bob")
    assert (without.state, without.due_at) == ("active", at(13))


# -- state_of and view ----------------------------------------------------------------------------------------


def test_state_of_reads_a_track_row() -> None:
    snapshot = snap("payments")
    for stored, status in (("active", "active"), ("waiting", "waiting"), ("exhausted", "exhausted"),
                           ("acked", "stopped"), ("rearming", "stopped"), ("stopped", "stopped")):
        track = row(snapshot, state=stored, level=1, loop=1, due_at=at(20))
        last_paged = {"policy": "payments", "loop": 0, "level": 1}  # paged in the first pass; this is the second
        assert tracks.state_of(track, last_paged) == State("payments", 1, 1, status, at(20), paged_level=1, paged_in=("payments", 0))
    assert tracks.state_of(row(snapshot), None).due_at is None


def test_view_of_a_track() -> None:
    snapshot = snap("heads-up")
    main = tracks.view(row(snapshot, level=1, due_at=at(7)), CATALOG)
    assert (main.levels, main.root, main.notify_only, main.awaits_own_acknowledgement) == (4, "heads-up", True, False)
    assert main.next == NextStep("level", at(7), "heads-up", 2, [ResolvedTarget("dana@example.com", "person", "named in the policy")])
    team = tracks.view(row(snapshot, "team:x#1", "X", due_at=at(5)), CATALOG)
    assert (team.notify_only, team.awaits_own_acknowledgement) == (False, True)
    assert tracks.view(row(snapshot, "team:x#1", "X", state="acked"), CATALOG).awaits_own_acknowledgement is False
    assert tracks.view(row(snapshot, state="exhausted", level=2), CATALOG).next is None


def test_a_ladder_exhausted_on_a_handed_to_policy_that_paged_nobody_stays_with_the_last_level_paged() -> None:
    # a pages two levels, then hands off to b, whose one level reaches nobody. The ladder stays with a's
    # level 2 (it used to pair a's level index with policy b, which has no level 2, and the summary's
    # `view` of that track raised IndexError).
    one = LevelSpec((TargetSpec("user", "u1@example.com"),), 60)
    two = LevelSpec((TargetSpec("user", "u2@example.com"),), 60)
    nobody = LevelSpec((TargetSpec("schedule", "gone"),), 60)
    snapshot = Snapshot("a", {"a": PolicySpec("a", (one, two), then="b"), "b": PolicySpec("b", (nobody,))})
    last = steps(snapshot, row(snapshot))[-1]
    exhausted = texts(last)[-1][1]
    position = last.position
    assert exhausted == "The ladder is exhausted for the incident: nobody acknowledged; it stays with level 2."
    assert (position.policy, position.level) == ("a", 1)
    tracks.view(row(snapshot, state="exhausted", policy=position.policy, level=position.level), CATALOG)
