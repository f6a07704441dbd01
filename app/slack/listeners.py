"""Bolt listeners: `/incident`, the declare/resolve/escalate modals and the summary buttons.

Listeners stay thin: parse what Slack sent, ack within Slack's 3 seconds, call a use case, wake
the worker so the outbox goes out now, and answer the clicker. A click that changes nothing
(already acknowledged, unknown incident) gets an ephemeral explanation, never an error.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from typing import TYPE_CHECKING, Any, Callable

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app import incidents, nudges, oncall_report, routing
from app.escalation import level_count, plan_level
from app.slack import blocks
from app.store import database_busy, storage_problem
from app.text import escape_mrkdwn

if TYPE_CHECKING:
    from app.runtime import Runtime

log = logging.getLogger(__name__)

HELP_WORDS = {"help", "-h", "--help", "?", "usage"}
UNKNOWN_INCIDENT = "This button belongs to an incident Ladder does not know (it may come from another Ladder install)."

_MENTION = re.compile(r"<([@#!])([^>|]*)(?:\|([^>]*))?>")
_LINK = re.compile(r"<(https?://[^>|]+)(?:\|([^>]*))?>")


def plain_from_command_text(text: str) -> str:
    """Undo Slack's escaping of command text so a pre-filled title reads as the user typed it."""
    def mention(match: re.Match[str]) -> str:
        sigil, ident, label = match.groups()
        if sigil == "!":
            return "@" + (label or ident.split("^")[0])
        return ("@" if sigil == "@" else "#") + (label or ident)

    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _MENTION.sub(mention, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def _incident_id(raw: Any) -> int | None:
    try:
        return int(str(raw).split(":")[0])
    except (TypeError, ValueError):
        return None


def _state_value(values: dict[str, Any], block: str, action: str, key: str) -> Any:
    return ((values.get(block) or {}).get(action) or {}).get(key)


def _say_ephemeral(respond: Respond | None, text: str) -> None:
    if respond is None:
        log.info("no response_url to answer with: %s", text)
        return
    respond(text=text, response_type="ephemeral", replace_original=False)


FOLLOW_UP = "ladder_follow_up"
ACK_LOCK_WAIT_SECONDS = 1.5  # of Slack's 3 s for a view submission, how long a declaration may wait for the database


def later(context: BoltContext, body: dict[str, Any], **spec: Any) -> None:
    """What to do once Slack has its answer: Bolt runs `follow_up` after the HTTP response is sent.

    The spec travels in the context, which Bolt deep-copies for lazy listeners; the request body it
    re-parses would lose a slash command whose text says "payload" (slack-platform.md §2).
    """
    spec.setdefault("response_url", body.get("response_url"))
    context[FOLLOW_UP] = spec


def register(bolt: App, runtime: "Runtime") -> None:
    """Attach every listener to the Bolt app, closing over the runtime's store and catalog.

    Listeners are split Bolt's "lazy" way: the ack function runs in the request's own thread and
    answers Slack at once (with `process_before_response=True`), and anything that calls Slack
    (opening a modal, an ephemeral reply) runs afterwards in `follow_up`.
    """

    def person(ref: str) -> str:
        return ref if "@" in ref else f"<@{ref}>"

    def oncall_answer(team_text: str) -> str:
        """`/incident oncall [team]`: the same report as `python -m app oncall`, as mrkdwn."""
        catalog = runtime.catalog
        team = None
        if team_text:
            wanted = plain_from_command_text(team_text).lstrip("#").lower()
            team = next((tid for tid, t in catalog.teams.items() if wanted in (tid.lower(), t.name.lower())), None)
            if team is None:
                known = ", ".join(f"`{tid}`" for tid in sorted(catalog.teams))
                return f"No team called “{escape_mrkdwn(team_text)}” in the catalog. Teams: {known}."
        report = oncall_report.build(catalog, runtime.clock(), team=team)
        return f"*On call now*\n{oncall_report.render_mrkdwn(report, catalog)}"

    def follow_up(context: BoltContext, client: WebClient) -> None:
        spec = context.get(FOLLOW_UP)
        if not spec:
            return
        reply = Respond(response_url=spec["response_url"]) if spec.get("response_url") else None
        kind = spec["kind"]
        if kind == "declare":
            finish_declare(client, spec)
            return
        if kind == "reply":
            _say_ephemeral(reply, spec["text"])
            return
        view = spec.get("view")
        if kind == "declare_form":
            catalog = runtime.catalog
            title = plain_from_command_text(spec["text"])
            service = routing.route(catalog, title) if title else None
            view = blocks.declare_modal(catalog, title=title, service=service,
                                        private_metadata=json.dumps({"channel_id": spec.get("channel_id")}))
        try:
            client.views_open(trigger_id=spec["trigger_id"], view=view)
        except SlackApiError as exc:
            log.warning("views.open failed: %s", exc.response.get("error"))
            _say_ephemeral(reply, "Slack did not let Ladder open the form in time. Please try again.")

    def with_follow_up(register_as: Callable[..., Any], ack_function: Callable[..., None]) -> None:
        register_as(ack=ack_function, lazy=[follow_up])

    # -- /incident --------------------------------------------------------------------------------
    def incident_command(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        text = (command.get("text") or "").strip()
        if text.lower() in HELP_WORDS:
            ack(text=blocks.HELP_TEXT)
            return
        words = text.split()
        if words and words[0].lower() == "oncall":
            ack(text=oncall_answer(" ".join(words[1:])))
            return
        if words and words[0].lower() in ("lead", "update"):
            incident = runtime.store.incident_by_channel(command.get("channel_id") or "")
            if incident is None:
                ack(text=f"Run `/incident {words[0].lower()}` in an incident's channel.")
                return
            if words[0].lower() == "lead":
                mention = _MENTION.match(words[1]) if len(words) > 1 else None
                lead = mention.group(2) if mention and mention.group(1) == "@" else command["user_id"]
                outcome = nudges.assign_lead(runtime.store, incident["id"], lead, command["user_id"], runtime.clock())
                ack(text=outcome.message)
                if outcome.changed:
                    runtime.worker.wake()
                return
            ack()
            later(context, command, kind="open", trigger_id=command["trigger_id"], view=blocks.update_modal(incident))
            return
        if words and words[0].lower() == "escalate":
            incident = runtime.store.incident_by_channel(command.get("channel_id") or "")
            if incident is None:
                ack(text="Run `/incident escalate` in an incident's channel, or use the Escalate button on its summary.")
                return
            form = escalate_form(incident)
            if isinstance(form, str):
                ack(text=form)
                return
            ack()
            later(context, command, kind="open", trigger_id=command["trigger_id"], view=form)
            return
        ack()
        # Routing and building the form happen after the answer: under load, acks must not queue behind them.
        later(context, command, kind="declare_form", trigger_id=command["trigger_id"], text=text, channel_id=command.get("channel_id"))

    with_follow_up(bolt.command("/incident"), incident_command)

    @bolt.options(blocks.SERVICE_ACTION)
    def service_options(ack: Ack, payload: dict[str, Any]) -> None:
        services = routing.search(runtime.catalog, payload.get("value") or "")
        ack(options=[{"text": {"type": "plain_text", "text": s.name[:75]}, "value": s.id} for s in services])

    # -- declare ------------------------------------------------------------------------------------
    def declare_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
        values = view["state"]["values"]
        metadata = json.loads(view.get("private_metadata") or "{}")
        severity = _state_value(values, "severity", "value", "selected_option")
        service = _state_value(values, "service", blocks.SERVICE_ACTION, "selected_option")
        fields = dict(
            title=_state_value(values, "title", "value", "value") or "",
            service_id=service["value"] if service else None,
            severity_id=severity["value"] if severity else None,
            declared_by=body["user"]["id"],
            description=_state_value(values, "description", "value", "value") or "",
            private=bool(_state_value(values, "private", "value", "selected_options")),
            declared_in=metadata.get("channel_id"),
            view_id=view["id"],
        )
        request = incidents.DeclareRequest(**fields)
        try:
            incidents.validate_declare(request, runtime.catalog)
        except incidents.InvalidInput as invalid:
            ack(response_action="errors", errors=invalid.errors)
            return
        # Recorded before Slack gets its answer: once the form closes, the incident exists (a crash after
        # the answer cannot lose it), and the result replaces the form without another Slack call.
        with runtime.store.impatient(ACK_LOCK_WAIT_SECONDS):
            result = declare_result(request, busy_is_final=False)
        if result is not None:
            ack(response_action="update", view=result)
            return
        # Another process holds the database: answer Slack in time and keep trying (up to the busy timeout).
        ack(response_action="update", view=blocks.message_modal("Declaring…", (
            ":hourglass_flowing_sand: Declaring the incident and paging the on-call… You can close this: "
            "the incident's channel will appear in your sidebar.")))
        later(context, body, kind="declare", request=fields)

    def declare_result(request: incidents.DeclareRequest, busy_is_final: bool = True) -> dict[str, Any] | None:
        """Record the incident and wake the worker; the modal saying what happened (None: busy, try later)."""
        catalog = runtime.catalog
        try:
            outcome = incidents.declare(runtime.store, catalog, request, runtime.clock())
        except incidents.InvalidInput as invalid:  # the catalog changed between validation and commit
            return blocks.message_modal("Not declared", "\n".join(invalid.errors.values()))
        except sqlite3.Error as error:  # one transaction: nothing was recorded, nothing will be paged
            if database_busy(error) and not busy_is_final:
                return None
            log.error("could not record a declaration: %s", error)
            return blocks.message_modal("Not declared", (
                f":x: Ladder could not record this incident: {storage_problem(error)}. *Nothing was paged.* "
                "Try again in a moment, and if it is urgent, reach the on-call directly (`/incident oncall`)."))
        runtime.worker.wake()
        incident = outcome.incident
        assert incident is not None
        paged = [person(p["target"]) for p in runtime.store.pages(incident["id"]) if p["level"] >= 0]
        return blocks.declared_modal(incident, catalog, paged)

    def finish_declare(client: WebClient, spec: dict[str, Any]) -> None:
        """After the modal shows "Declaring…" (the database was busy): record the incident, then show the result."""
        request = incidents.DeclareRequest(**spec["request"])
        result = declare_result(request)
        try:
            client.views_update(view_id=request.view_id, view=result)
        except SlackApiError as exc:  # the modal may have been closed; the incident stands regardless
            log.info("could not show the declare result: %s", exc.response.get("error"))

    with_follow_up(bolt.view(blocks.DECLARE_VIEW), declare_submitted)

    # -- buttons: one shape for all of them ---------------------------------------------------------------
    def button(action_id: Any, use_case: Callable[[Any, str], incidents.Outcome],
               parse: Callable[[dict[str, Any]], Any] | None = None, always_reply: bool = False) -> None:
        """ack, find what was clicked, run the use case, wake the worker, and tell the clicker what it did (ephemeral)."""
        def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> None:
            ack()
            target = parse(action) if parse else _incident_id(action.get("value"))
            if target is None:
                later(context, body, kind="reply", text=UNKNOWN_INCIDENT)
                return
            try:
                outcome = use_case(target, body["user"]["id"])
            except sqlite3.Error as error:
                log.error("could not record a click: %s", error)
                later(context, body, kind="reply", text=f":x: Ladder could not record that: {storage_problem(error)}. Nothing changed; please try again.")
                return
            if outcome.changed:
                runtime.worker.wake()
            if always_reply or not outcome.changed or outcome.data.get("page_only"):
                later(context, body, kind="reply", text=outcome.message if outcome.incident else UNKNOWN_INCIDENT)

        with_follow_up(bolt.action(action_id), listener)

    def severity_choice(action: dict[str, Any]) -> tuple[int, str] | None:
        value = (action.get("selected_option") or {}).get("value") or ""
        incident_id, _, severity_id = value.partition(":")
        return (int(incident_id), severity_id) if incident_id.isdigit() and severity_id else None

    def rule_choice(action: dict[str, Any]) -> tuple[int, str, int] | None:
        """Nudge buttons carry "<incident>:<rule>[:<minutes>]"."""
        parts = str(action.get("value") or "").split(":")
        if len(parts) < 2 or not parts[0].isdigit() or not parts[1]:
            return None
        return int(parts[0]), parts[1], int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 0

    now = runtime.clock
    store = runtime.store
    button(blocks.ACK, lambda iid, user: incidents.acknowledge(store, iid, user, now()))
    button(blocks.SEVERITY, lambda c, user: incidents.change_severity(store, runtime.catalog, c[0], c[1], user, now()), severity_choice)
    button(blocks.STILL_ON_IT, lambda iid, user: incidents.still_on_it(store, iid, user, now()), always_reply=True)
    button(blocks.TAKE_LEAD, lambda iid, user: nudges.assign_lead(store, iid, user, user, now()))
    button(re.compile(f"^{blocks.NUDGE_SNOOZE}_(15|60)$"), lambda c, user: nudges.snooze(store, c[0], c[1], c[2], user, now()),
           rule_choice, always_reply=True)
    button(blocks.NUDGE_DISMISS, lambda c, user: nudges.dismiss(store, c[0], c[1], user, now()), rule_choice, always_reply=True)
    button(blocks.NUDGE_ESCALATE, lambda c, user: nudges.escalate_now(store, runtime.catalog, c[0], c[1], user, now()),
           rule_choice, always_reply=True)

    def open_modal_for(action_name: str, build: Callable[[dict[str, Any]], dict[str, Any] | str]) -> Callable[..., None]:
        def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> None:
            ack()
            incident_id = _incident_id(action.get("value"))
            incident = runtime.store.incident(incident_id) if incident_id is not None else None
            if incident is None:
                later(context, body, kind="reply", text=UNKNOWN_INCIDENT)
                return
            view = build(incident)
            if isinstance(view, str):
                later(context, body, kind="reply", text=view)
                return
            later(context, body, kind="open", trigger_id=body["trigger_id"], view=view)

        listener.__name__ = f"{action_name}_clicked"
        return listener

    def resolve_form(incident: dict[str, Any]) -> dict[str, Any] | str:
        if incident["status"] == "resolved":
            return f"{incidents.incident_ref(incident['number'])} is already resolved."
        return blocks.resolve_modal(incident)

    def escalate_form(incident: dict[str, Any]) -> dict[str, Any] | str:
        ref = incidents.incident_ref(incident["number"])
        if incident["status"] == "resolved":
            return f"{ref} is resolved; there is nobody left to escalate to."
        catalog = runtime.catalog
        main = runtime.store.track(incident["id"])
        next_level = None
        if main is not None:
            snapshot = json.loads(main["snapshot"])
            start = main["level"] + 1
            if start < level_count(snapshot, main["policy"]):
                plan = plan_level(snapshot, start, runtime.clock(), catalog.schedules, main["policy"])
                who = ", ".join(t.ref for t in plan.targets) or "nobody on call now"
                next_level = f"Level {start + 1} of {main['policy']}: {who}"
        teams = [(tid, t.name) for tid, t in sorted(catalog.teams.items(), key=lambda kv: kv[1].name.lower()) if tid != incident["team_id"]]
        return blocks.escalate_modal(incident, next_level, teams)

    with_follow_up(bolt.action(blocks.RESOLVE), open_modal_for("resolve", resolve_form))
    with_follow_up(bolt.action(blocks.ESCALATE), open_modal_for("escalate", escalate_form))

    @bolt.view(blocks.RESOLVE_VIEW)
    def resolve_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        incident_id = json.loads(view.get("private_metadata") or "{}").get("incident_id")
        note = _state_value(view["state"]["values"], "note", "value", "value") or ""
        outcome = incidents.resolve(runtime.store, int(incident_id), body["user"]["id"], note, runtime.clock())
        if outcome.changed:
            ack()
            runtime.worker.wake()
        else:
            ack(response_action="update", view=blocks.message_modal("Nothing to resolve", outcome.message))

    @bolt.view(blocks.ESCALATE_VIEW)
    def escalate_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        metadata = json.loads(view.get("private_metadata") or "{}")
        values = view["state"]["values"]
        choice = (_state_value(values, "to", "value", "selected_option") or {}).get("value") or "next"
        team = (_state_value(values, "team", "value", "selected_option") or {}).get("value")
        person = _state_value(values, "person", "value", "selected_user")
        if choice == "team" and not team:
            ack(response_action="errors", errors={"team": "Pick the team to page."})
            return
        if choice == "person" and not person:
            ack(response_action="errors", errors={"person": "Pick the person to page."})
            return
        to = {"team": f"team:{team}", "person": f"person:{person}"}.get(choice, "next")
        request = incidents.EscalateRequest(to, body["user"]["id"], _state_value(values, "reason", "value", "value") or "",
                                            metadata.get("version"))
        outcome = incidents.escalate(runtime.store, runtime.catalog, int(metadata["incident_id"]), request, runtime.clock())
        if outcome.changed:
            ack()
            runtime.worker.wake()
        else:
            ack(response_action="update", view=blocks.message_modal("Not escalated", outcome.message))

    def update_form(incident: dict[str, Any]) -> dict[str, Any] | str:
        if incident["status"] == "resolved":
            return f"{incidents.incident_ref(incident['number'])} is resolved."
        return blocks.update_modal(incident)

    with_follow_up(bolt.action(blocks.POST_UPDATE), open_modal_for("update", update_form))

    @bolt.view(blocks.UPDATE_VIEW)
    def update_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        text = _state_value(view["state"]["values"], "update", "value", "value") or ""
        if len(text.strip()) < 3:
            ack(response_action="errors", errors={"update": "Write a sentence or two: what you know, what you are doing."})
            return
        incident_id = json.loads(view.get("private_metadata") or "{}").get("incident_id")
        outcome = nudges.post_update(runtime.store, int(incident_id), body["user"]["id"], text, runtime.clock())
        ack()
        if outcome.changed:
            runtime.worker.wake()

    @bolt.event("message")
    def human_message(event: dict[str, Any]) -> None:
        """Any human message in an incident channel is an update, for "no update for" rules."""
        if event.get("bot_id") or event.get("subtype") not in (None, "thread_broadcast", "file_share") or not event.get("user"):
            return
        nudges.record_human_message(runtime.store, event.get("channel") or "", event["user"], runtime.clock())

    @bolt.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        kind = body.get("type") or body.get("command") or "request"
        log.error("listener for %s failed: %s: %s", kind, type(error).__name__, error)
