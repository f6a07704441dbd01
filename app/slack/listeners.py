"""Bolt listeners: `/incident`, the declare/resolve/escalate modals and the summary buttons.

(Over 400 lines: one short function per kind of request Slack sends, and the table that wires them.)

Each listener is a module-level function that takes the runtime first (bound by `register`) and
stays thin: parse what Slack sent into a request, ack within Slack's 3 seconds, call one use case,
wake the worker so the outbox goes out now, and answer the clicker. Listeners never read the store
or work out who is on call: the use cases and their queries do. A click that changes nothing
(already acknowledged, unknown incident) gets an ephemeral explanation, never an error.

A listener runs in the request's own thread and answers Slack at once (with
`process_before_response=True`); anything that calls Slack (opening a modal, an ephemeral reply)
it hands to `later`, which runs `follow_up` on Bolt's listener threads. Only requests that have
something to follow up pay for a thread: not Bolt's lazy listeners, which copy every request
(parsing its body again, deep-copying it and its context) whether there is anything to do or not.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app import additive, drills, followups, home, incidents, nudges, oncall_report, preflight, roles, routing
from app.catalog import Catalog
from app.slack import blocks, preflight_view, timeline_view
from app.store import STORAGE_ERRORS, database_busy, storage_problem
from app.text import escape_mrkdwn, incident_ref, mention, truncate

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


_ID = re.compile(r"[0-9]{1,19}")
SQLITE_MAX_INTEGER = 2**63 - 1


def _incident_id(raw: Any) -> int | None:
    """The incident a button value ("<id>" or "<id>:…") or a form's metadata names; None when it names none.

    ASCII digits within SQLite's integer range only: `int()` also reads "١" and chokes on "²", and an
    ID of 400 nines overflows SQLite (a 500, where the clicker should hear the incident is unknown).
    """
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not _ID.fullmatch(raw.split(":")[0]):
        return None
    value = int(raw.split(":")[0])
    return value if 0 < value <= SQLITE_MAX_INTEGER else None


def _dig(node: Any, *path: str) -> Any:
    """node[path[0]][path[1]]…, or None where a level is not an object: payload values are data, never trusted to be shaped."""
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Form:
    """A submitted modal, read defensively: each getter gives what the user chose or typed, or nothing.

    The shape Slack always sends (a user ID, the view's ID and `state.values`) is checked at the
    edge (`app.slack.app.malformed`); what is inside (a value that is a list, metadata that is not
    JSON) is treated as not given, so a broken or forged form gets a specific answer, not a 500.
    """

    user_id: str
    view_id: str
    values: dict[str, Any]
    metadata: dict[str, Any]

    @classmethod
    def of(cls, body: dict[str, Any], view: dict[str, Any]) -> "Form":
        values = _dig(view, "state", "values")
        return cls(_text(_dig(body, "user", "id")) or "", _text(view.get("id")) or "", values if isinstance(values, dict) else {},
                   _metadata(view))

    @property
    def incident_id(self) -> int | None:
        """The incident the form was opened for (Ladder writes it in the metadata); None if that is missing or broken."""
        return _incident_id(self.metadata.get("incident_id"))

    def text(self, block: str) -> str:
        return _text(_dig(self.values, block, "value", "value")) or ""

    def choice(self, block: str, action: str = "value") -> str | None:
        return _text(_dig(self.values, block, action, "selected_option", "value"))

    def user(self, block: str) -> str | None:
        return _text(_dig(self.values, block, "value", "selected_user"))

    def chosen(self, block: str) -> list[str]:
        options = _dig(self.values, block, "value", "selected_options")
        return [o["value"] for o in options if isinstance(_dig(o, "value"), str)] if isinstance(options, list) else []


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    """The JSON object Ladder put in the form's private_metadata; {} when what came back is not one."""
    raw = view.get("private_metadata")
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        metadata = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return metadata if isinstance(metadata, dict) else {}


FORM_WITHOUT_INCIDENT = ("This form does not say which incident it is for (it may come from an older Ladder, or it was altered). "
                         "Nothing changed: open it again from the incident's summary.")


def _say_ephemeral(respond: Callable[..., Any] | None, text: str) -> None:
    if respond is None:
        log.info("no response_url to answer with: %s", text)
        return
    respond(text=text, response_type="ephemeral", replace_original=False)


ACK_LOCK_WAIT_SECONDS = 1.5  # of Slack's 3 s for a view submission, how long a declaration may wait for the database


def later(runtime: "Runtime", context: BoltContext, body: dict[str, Any], **spec: Any) -> None:
    """What to do once Slack has its answer: `follow_up(spec)`, on Bolt's listener threads.

    Called after `ack()`: the answer is on its way while the follow-up waits on Slack. The spec
    holds what the follow-up needs, taken from the body as Ladder read it (re-reading the raw body
    would lose a slash command whose text says "payload", slack-platform.md §2).
    """
    spec.setdefault("response_url", _text(body.get("response_url")))
    if not spec["response_url"] and _dig(body, "container", "type") == "view" and _dig(body, "view", "type") == "home":
        spec["home_user"] = _text(_dig(body, "user", "id"))  # a click on the App Home: no response_url to answer on
    runtime.bolt.listener_runner.listener_executor.submit(_follow_up_logged, runtime, spec, context.client)


@dataclass(frozen=True)
class Click:
    """A button or menu choice: who clicked, on which incident, with what extra value (a severity, a rule...)."""

    incident_id: int
    user_id: str
    detail: tuple[Any, ...] = ()


# -- follow-ups: what runs after Slack has its answer ---------------------------------------------------------

def _follow_up_logged(runtime: "Runtime", spec: dict[str, Any], client: WebClient) -> None:
    try:
        follow_up(runtime, spec, client)
    except STORAGE_ERRORS as error:  # the database went away between the answer and the work: say so where they look
        log.error("follow-up %s could not reach the database: %s", spec.get("kind"), storage_problem(error))
        if spec.get("kind") != "reply" and spec.get("response_url"):
            _say_ephemeral(Respond(response_url=spec["response_url"]),
                           f":x: Ladder could not finish that: {storage_problem(error)}. Please try again in a moment.")
    except Exception:  # noqa: BLE001 - nobody else is there to hear it: Slack already has its answer
        log.exception("follow-up %s failed", spec.get("kind"))


def _dm_reply(client: WebClient, user_id: str) -> Callable[..., Any]:
    """The answer to a click on the App Home, which has no response_url (and no channel for an ephemeral message):
    a DM from Ladder, in its Messages tab. Only clicks that changed nothing or need explaining are answered."""
    def send(text: str, **_ephemeral: Any) -> None:
        client.chat_postMessage(channel=user_id, text=text)
    return send


def follow_up(runtime: "Runtime", spec: dict[str, Any], client: WebClient) -> None:
    reply: Callable[..., Any] | None = None
    if spec.get("response_url"):
        reply = Respond(response_url=spec["response_url"])
    elif spec.get("home_user"):
        reply = _dm_reply(client, spec["home_user"])
    kind = spec["kind"]
    if kind == "declare":
        _finish_declare(runtime, client, spec)
        return
    if kind == "reply":
        _say_ephemeral(reply, spec["text"])
        return
    if kind == "drill":
        _start_drill(runtime, client, spec, reply)
        return
    if kind == "drill_check":
        _finish_drill_check(runtime, client, spec.get("team"), reply)
        return
    view = spec.get("view")
    if not spec.get("trigger_id"):  # Slack always sends one; without it no form can open
        _say_ephemeral(reply, "Slack did not say where to open the form. Please try again.")
        return
    if kind == "declare_form":
        catalog = runtime.catalog
        title = plain_from_command_text(spec["text"])
        service = routing.route(catalog, title) if title else None
        view = blocks.declare_modal(catalog, title=title, service=service, private_metadata=json.dumps({"channel_id": spec.get("channel_id")}))
    try:
        client.views_open(trigger_id=spec["trigger_id"], view=view)
    except SlackApiError as exc:
        log.warning("views.open failed: %s", exc.response.get("error"))
        _say_ephemeral(reply, "Slack did not let Ladder open the form in time. Please try again.")


# -- /incident ----------------------------------------------------------------------------------------------

def incident_command(runtime: "Runtime", ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
    text = (command.get("text") or "").strip()
    words = text.split()
    verb = words[0].lower() if words else ""
    if text.lower() in HELP_WORDS:
        ack(text=blocks.HELP_TEXT)
    elif verb == "oncall":
        ack(text=_oncall_answer(runtime, " ".join(words[1:])))
    elif verb == "timeline":
        _timeline_answer(runtime, ack, command.get("channel_id") or "")
    elif verb in ("lead", "update", "escalate", "role"):
        _channel_command(runtime, ack, command, context, verb, words[1:])
    elif verb == "followup":
        _followup_command(runtime, ack, command, context, text[len(words[0]):])
    elif verb == "drill":
        _drill_command(runtime, ack, command, context, words[1:])
    else:
        ack()
        # Routing and building the form happen after the answer: under load, acks must not queue behind them.
        later(runtime, context, command, kind="declare_form", trigger_id=command.get("trigger_id"), text=text, channel_id=command.get("channel_id"))


def _channel_command(runtime: "Runtime", ack: Ack, command: dict[str, Any], context: BoltContext, verb: str, args: list[str]) -> None:
    """`/incident lead|update|escalate`, typed in an incident's channel."""
    incident = incidents.in_channel(runtime.store, command.get("channel_id") or "")
    if incident is None:
        ack(text="Run `/incident escalate` in an incident's channel, or use the Escalate button on its summary." if verb == "escalate"
            else f"Run `/incident {verb}` in an incident's channel.")
        return
    if verb in ("lead", "role"):
        _role_command(runtime, ack, command, incident, ["lead", *args] if verb == "lead" else args)
        return
    form = blocks.update_modal(incident) if verb == "update" else _escalate_form(runtime, incident)
    if isinstance(form, str):
        ack(text=form)
        return
    ack()
    later(runtime, context, command, kind="open", trigger_id=command.get("trigger_id"), view=form)


_FOLLOWUP_OWNER = re.compile(r"\s*<@([A-Z0-9]{1,30})(?:\|[^>]*)?>")
_FOLLOWUP_DATE = re.compile(r"\s*([0-9]{4}-[0-9]{1,2}-[0-9]{1,2})(?=\s|$)")


def followup_args(rest: str) -> tuple[str | None, str | None, str]:
    """`@owner 2026-12-01 what to do` as Slack sends it (mentions escaped): owner, due date, text; each may be missing."""
    owner = due = None
    if match := _FOLLOWUP_OWNER.match(rest):
        owner, rest = match.group(1), rest[match.end():]
    if match := _FOLLOWUP_DATE.match(rest):
        due, rest = match.group(1), rest[match.end():]
    return owner, due, plain_from_command_text(rest)


def _followup_command(runtime: "Runtime", ack: Ack, command: dict[str, Any], context: BoltContext, rest: str) -> None:
    """`/incident followup @owner 2026-12-01 text` in an incident channel: recorded at once when all three are there and
    valid; otherwise the form opens, pre-filled with what was given."""
    incident = incidents.in_channel(runtime.store, command.get("channel_id") or "")
    if incident is None:
        ack(text="Run `/incident followup @owner 2026-12-01 what to do` in an incident's channel, "
                 "or click *Add follow-up* on its summary.")
        return
    owner, due, text = followup_args(rest)
    if owner and due and text:
        request = followups.FollowupRequest(incident["id"], owner, due, text, command["user_id"])
        try:
            outcome = followups.add(runtime.store, runtime.catalog, request, runtime.clock())
        except incidents.InvalidInput:
            pass  # the form says what to fix, next to the field
        else:
            ack(text=outcome.message)
            if outcome.changed:
                runtime.worker.wake()
            return
    ack()
    valid_due = due if followups.parse_due(due) else None  # Slack refuses a form whose initial date is not one
    later(runtime, context, command, kind="open", trigger_id=command.get("trigger_id"),
          view=blocks.followup_modal(incident, owner, valid_due, text))


DRILL_USAGE = ("`/incident drill <service> [severity]` starts a live drill: the service's real ladder pages real people, every "
               "message marked DRILL, nobody told outside its channel. `/incident drill check [team]` checks every rung without paging.")


def drill_args(runtime: "Runtime", args: list[str]) -> tuple[str, str | None]:
    """`<service words> [severity]`: the last word is the severity when the catalog has one by that id."""
    words = plain_from_command_text(" ".join(args)).split()
    if len(words) > 1 and runtime.catalog.severity(words[-1].lower()) is not None:
        return " ".join(words[:-1]), words[-1].lower()
    return " ".join(words), None


def _drill_command(runtime: "Runtime", ack: Ack, command: dict[str, Any], context: BoltContext, args: list[str]) -> None:
    """`/incident drill` alone: how, and the latest drills; `/incident drill <service> [severity]`: start one (after the ack)."""
    if not args:
        ack(text=f"{DRILL_USAGE}\n*Latest drills*\n{drills.listing_text(drills.recent(runtime.store, 10), mrkdwn=True)}",
            response_type="ephemeral")
        return
    if args[0].lower() == "check":  # the preflight: `/incident drill check [team]`
        _drill_check(runtime, ack, command, context, " ".join(args[1:]))
        return
    service, severity = drill_args(runtime, args)
    ack(text=f":test_tube: Checking whether a drill of “{escape_mrkdwn(truncate(service, 80))}” may start…", response_type="ephemeral")
    later(runtime, context, command, kind="drill", service=service, severity=severity, user_id=command.get("user_id") or "")


def _drill_check(runtime: "Runtime", ack: Ack, command: dict[str, Any], context: BoltContext, team_text: str) -> None:
    """`/incident drill check [team]`: the preflight, to whoever asked only; its many Web API calls come after the ack."""
    team = None
    if team_text:
        team = _team_named(runtime.catalog, team_text)
        if team is None:
            ack(text=_unknown_team(runtime.catalog, team_text), response_type="ephemeral")
            return
    ack(text=preflight_view.CHECKING, response_type="ephemeral")
    later(runtime, context, command, kind="drill_check", team=team)


def _finish_drill_check(runtime: "Runtime", client: WebClient, team: str | None, reply: Callable[..., Any] | None) -> None:
    """Ask Slack about every rung (reading only: nothing is posted to anyone), then answer on the response_url."""
    catalog = runtime.catalog
    try:
        result = preflight.run(catalog, preflight.Workspace(client), runtime.clock(), team=team,
                               admin_channel=runtime.settings.admin_channel)
    except preflight.Unreachable as exc:
        _say_ephemeral(reply, f"Ladder could not reach Slack's Web API to check the ladders ({escape_mrkdwn(str(exc))}). Try again in a moment.")
        return
    if reply is None:
        log.info("no response_url to answer a drill check with: %s", preflight.summary(result))
        return
    for message in preflight_view.messages(result, catalog):
        reply(text=message.text, blocks=message.blocks, response_type="ephemeral", replace_original=False)


def _start_drill(runtime: "Runtime", client: WebClient, spec: dict[str, Any], reply: Callable[..., Any] | None) -> None:
    """Who the starter is to the catalog (their e-mail, looked up once and cached), then the use case; the answer to them only."""
    user_id = spec["user_id"]
    refs = runtime.store.refs_of_user(user_id)
    if not refs:
        try:
            email = ((client.users_info(user=user_id).get("user") or {}).get("profile") or {}).get("email")
        except SlackApiError as exc:
            log.warning("users.info failed for a drill's starter: %s", exc.response.get("error"))
            email = None
        if email:
            runtime.store.cache_user(email, user_id, runtime.clock())
            refs = [email]
    request = drills.DrillRequest(spec["service"], spec["severity"], user_id, tuple(refs))
    outcome = drills.start(runtime.store, runtime.catalog, request, runtime.clock())
    _say_ephemeral(reply, outcome.message)
    if outcome.changed:
        runtime.worker.wake()


def _timeline_answer(runtime: "Runtime", ack: Ack, channel_id: str) -> None:
    """`/incident timeline`, typed in an incident's channel: its whole timeline, to whoever asked only (ephemeral)."""
    found = incidents.timeline_in_channel(runtime.store, channel_id)
    if found is None:
        ack(text=timeline_view.OUTSIDE_AN_INCIDENT, response_type="ephemeral")
        return
    message = timeline_view.timeline_message(*found)
    ack(text=message.text, blocks=message.blocks, response_type="ephemeral")


def _mentioned_user(text: str) -> str | None:
    """The user the `<@U123|name>` or `<@U123>` mention `text` starts with (Slack escapes mentions in command text), else None."""
    named = _MENTION.match(text)
    return named.group(2) if named and named.group(1) == "@" and named.group(2) else None


def _role_command(runtime: "Runtime", ack: Ack, command: dict[str, Any], incident: dict[str, Any], args: list[str]) -> None:
    """`/incident role <role> @someone` (and `/incident lead [@someone]`, the lead's short form); `/incident role` lists them."""
    if not args:
        ack(text=roles.holders(runtime.store, runtime.catalog, incident))
        return
    role_id = args[0].lower()
    if role_id not in runtime.catalog.roles:
        ack(text=roles.unknown_role(plain_from_command_text(args[0]), runtime.catalog.roles))
        return
    if len(args) < 2:
        user = command["user_id"] if role_id == "lead" else None  # `/incident lead` alone: the typist takes the lead
    else:
        user = _mentioned_user(" ".join(args[1:]))  # a display name after the "|" may hold spaces
    if user is None:
        typed = f" (“{escape_mrkdwn(truncate(plain_from_command_text(' '.join(args[1:])), 60))}” is not a mention)" if len(args) > 1 else ""
        ack(text=f"Name the person with an @-mention{typed}: `/incident role {role_id} @someone`.")
        return
    outcome = roles.assign_role(runtime.store, runtime.catalog, incident["id"], role_id, user, command["user_id"], runtime.clock())
    ack(text=outcome.message)
    if outcome.changed:
        runtime.worker.wake()


def _team_named(catalog: Catalog, team_text: str) -> str | None:
    """The team a person typed, by id or name (`payments`, `#payments`, `Payments`), or None."""
    wanted = plain_from_command_text(team_text).lstrip("#").lower()
    return next((tid for tid, t in catalog.teams.items() if wanted in (tid.lower(), t.name.lower())), None)


def _unknown_team(catalog: Catalog, team_text: str) -> str:
    known = ", ".join(f"`{tid}`" for tid in sorted(catalog.teams))
    return f"No team called “{escape_mrkdwn(team_text)}” in the catalog. Teams: {known}."


def _oncall_answer(runtime: "Runtime", team_text: str) -> str:
    """`/incident oncall [team]`: the same report as `python -m app oncall`, as mrkdwn."""
    catalog = runtime.catalog
    team = None
    if team_text:
        team = _team_named(catalog, team_text)
        if team is None:
            return _unknown_team(catalog, team_text)
    report = oncall_report.build(catalog, runtime.clock(), team=team)
    return f"*On call now*\n{oncall_report.render_mrkdwn(report, catalog)}"


def service_options(runtime: "Runtime", ack: Ack, payload: dict[str, Any]) -> None:
    services = routing.search(runtime.catalog, _text(payload.get("value")) or "")
    ack(options=[{"text": {"type": "plain_text", "text": s.name[:75]}, "value": s.id} for s in services])


# -- declare --------------------------------------------------------------------------------------------------

def declare_request(form: Form) -> incidents.DeclareRequest:
    """The declaration in the form. Broken metadata only loses where it was declared: an incident is never refused for it."""
    return incidents.DeclareRequest(
        title=form.text("title"),
        service_id=form.choice("service", blocks.SERVICE_ACTION),
        severity_id=form.choice("severity"),
        declared_by=form.user_id,
        description=form.text("description"),
        private=bool(form.chosen("private")),
        declared_in=_text(form.metadata.get("channel_id")),
        view_id=form.view_id,
    )


def declare_submitted(runtime: "Runtime", ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    request = declare_request(Form.of(body, view))
    try:
        incidents.validate_declare(request, runtime.catalog)
    except incidents.InvalidInput as invalid:
        ack(response_action="errors", errors=invalid.errors)
        return
    # Recorded before Slack gets its answer: once the form closes, the incident exists (a crash after
    # the answer cannot lose it), and the result replaces the form without another Slack call. Like every
    # listener (`_bound`), it waits at most ACK_LOCK_WAIT_SECONDS for the database.
    result = _declare_result(runtime, request, busy_is_final=False)
    if result is not None:
        ack(response_action="update", view=result)
        return
    # Another process holds the database: answer Slack in time and keep trying (up to the busy timeout).
    ack(response_action="update", view=blocks.message_modal("Declaring…", (
        ":hourglass_flowing_sand: Declaring the incident and paging the on-call… You can close this: "
        "the incident's channel will appear in your sidebar.")))
    later(runtime, context, body, kind="declare", request=request.__dict__)


def _declare_result(runtime: "Runtime", request: incidents.DeclareRequest, busy_is_final: bool = True) -> dict[str, Any] | None:
    """Record the incident and wake the worker; the modal saying what happened (None: busy, try later)."""
    catalog = runtime.catalog
    try:
        outcome = incidents.declare(runtime.store, catalog, request, runtime.clock())
    except incidents.InvalidInput as invalid:  # the catalog changed between validation and commit
        return blocks.message_modal("Not declared", "\n".join(invalid.errors.values()))
    except STORAGE_ERRORS as error:  # one transaction: nothing was recorded, nothing will be paged
        if database_busy(error) and not busy_is_final:
            return None
        log.error("could not record a declaration: %s", error)
        return blocks.message_modal("Not declared", (
            f":x: Ladder could not record this incident: {storage_problem(error)}. *Nothing was paged.* "
            "Try again in a moment, and if it is urgent, reach the on-call directly (`/incident oncall`)."))
    runtime.worker.wake()
    assert outcome.incident is not None
    return blocks.declared_modal(outcome.incident, catalog, [mention(ref) for ref in outcome.data.get("paged", [])])


def _finish_declare(runtime: "Runtime", client: WebClient, spec: dict[str, Any]) -> None:
    """After the modal shows "Declaring…" (the database was busy): record the incident, then show the result."""
    request = incidents.DeclareRequest(**spec["request"])
    result = _declare_result(runtime, request)
    try:
        client.views_update(view_id=request.view_id, view=result)
    except SlackApiError as exc:  # the modal may have been closed; the incident stands regardless
        log.info("could not show the declare result: %s", exc.response.get("error"))


# -- buttons: one shape for all of them ---------------------------------------------------------------------

def _incident_click(body: dict[str, Any], action: dict[str, Any]) -> Click | None:
    incident_id = _incident_id(action.get("value"))
    return None if incident_id is None else Click(incident_id, body["user"]["id"])


def _severity_click(body: dict[str, Any], action: dict[str, Any]) -> Click | None:
    """The severity menu's options carry "<incident>:<severity>"."""
    value = _text(_dig(action, "selected_option", "value")) or ""
    incident_id, _, severity_id = value.partition(":")
    number = _incident_id(incident_id)
    return Click(number, body["user"]["id"], (severity_id,)) if number is not None and severity_id else None


_MINUTES = re.compile(r"[0-9]{1,4}")


def _rule_click(body: dict[str, Any], action: dict[str, Any]) -> Click | None:
    """Nudge buttons carry "<incident>:<rule>[:<minutes>]"."""
    parts = (_text(action.get("value")) or "").split(":")
    incident_id = _incident_id(parts[0])
    if len(parts) < 2 or incident_id is None or not parts[1]:
        return None
    minutes = int(parts[2]) if len(parts) > 2 and _MINUTES.fullmatch(parts[2]) else 0
    return Click(incident_id, body["user"]["id"], (parts[1], minutes))


UseCase = Callable[["Runtime", Click], incidents.Outcome]

# What each button does: (how to read the click, the use case, whether to always answer the clicker).
BUTTONS: dict[Any, tuple[Callable[[dict[str, Any], dict[str, Any]], Click | None], UseCase, bool]] = {
    blocks.ACK: (_incident_click, lambda rt, c: incidents.acknowledge(rt.store, c.incident_id, c.user_id, rt.clock(), rt.catalog), False),
    blocks.SEVERITY: (_severity_click, lambda rt, c: incidents.change_severity(
        rt.store, rt.catalog, c.incident_id, c.detail[0], c.user_id, rt.clock()), False),
    blocks.STILL_ON_IT: (_incident_click, lambda rt, c: incidents.still_on_it(rt.store, c.incident_id, c.user_id, rt.clock()), True),
    blocks.MITIGATE: (_incident_click, lambda rt, c: incidents.mitigate(rt.store, c.incident_id, c.user_id, rt.clock(), rt.catalog), False),
    blocks.TAKE_LEAD: (_incident_click, lambda rt, c: roles.assign_role(
        rt.store, rt.catalog, c.incident_id, "lead", c.user_id, c.user_id, rt.clock()), False),
    re.compile(f"^{blocks.NUDGE_SNOOZE}_(15|60)$"): (_rule_click, lambda rt, c: nudges.snooze(
        rt.store, c.incident_id, c.detail[0], c.detail[1], c.user_id, rt.clock()), True),
    blocks.FOLLOWUP_DONE: (_incident_click, lambda rt, c: followups.done(rt.store, c.incident_id, c.user_id, rt.clock()), True),  # the value is the follow-up's id
    blocks.NUDGE_DISMISS: (_rule_click, lambda rt, c: nudges.dismiss(rt.store, c.incident_id, c.detail[0], c.user_id, rt.clock()), True),
    blocks.NUDGE_ESCALATE: (_rule_click, lambda rt, c: nudges.escalate_now(
        rt.store, rt.catalog, c.incident_id, c.detail[0], c.user_id, rt.clock()), True),
}


def button_clicked(runtime: "Runtime", ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> None:
    """ack, read the click, run its use case, wake the worker, and tell the clicker what it did (ephemeral)."""
    ack()
    parse, use_case, always_reply = next(spec for matcher, spec in BUTTONS.items()
                                         if (matcher.match(action["action_id"]) if isinstance(matcher, re.Pattern)
                                             else matcher == action["action_id"]))
    click = parse(body, action)
    if click is None:
        later(runtime, context, body, kind="reply", text=UNKNOWN_INCIDENT)
        return
    try:
        outcome = use_case(runtime, click)
    except STORAGE_ERRORS as error:
        log.error("could not record a click: %s", error)
        later(runtime, context, body, kind="reply", text=f":x: Ladder could not record that: {storage_problem(error)}. Nothing changed; please try again.")
        return
    if outcome.changed:
        runtime.worker.wake()
    if always_reply or not outcome.changed or outcome.data.get("page_only"):
        # The use case says what stopped it (an unknown severity, a rule that never nudged); "not found" is said the button's way.
        later(runtime, context, body, kind="reply", text=UNKNOWN_INCIDENT if outcome.message == incidents.NOT_FOUND else outcome.message)


# -- buttons that open a form ---------------------------------------------------------------------------------

def _resolve_form(runtime: "Runtime", incident: dict[str, Any]) -> dict[str, Any] | str:
    if incident["status"] == "resolved":
        return f"{incident_ref(incident['number'])} is already resolved."
    return blocks.resolve_modal(incident)


def _escalate_form(runtime: "Runtime", incident: dict[str, Any]) -> dict[str, Any] | str:
    choices = additive.escalate_choices(runtime.store, runtime.catalog, incident, runtime.clock())
    if isinstance(choices, str):
        return choices
    return blocks.escalate_modal(incident, *choices)


def _update_form(runtime: "Runtime", incident: dict[str, Any]) -> dict[str, Any] | str:
    if incident["status"] == "resolved":
        return f"{incident_ref(incident['number'])} is resolved."
    return blocks.update_modal(incident)


FORMS: dict[str, Callable[["Runtime", dict[str, Any]], dict[str, Any] | str]] = {
    blocks.RESOLVE: _resolve_form, blocks.ESCALATE: _escalate_form, blocks.POST_UPDATE: _update_form,
    blocks.ADD_FOLLOWUP: lambda _runtime, incident: blocks.followup_modal(incident),  # open or resolved alike
}


def form_button_clicked(runtime: "Runtime", ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> None:
    """Resolve, Escalate, Post an update: open the form for that incident (or say why not)."""
    ack()
    incident_id = _incident_id(action.get("value"))
    incident = incidents.find(runtime.store, incident_id) if incident_id is not None else None
    if incident is None:
        later(runtime, context, body, kind="reply", text=UNKNOWN_INCIDENT)
        return
    view = FORMS[action["action_id"]](runtime, incident)
    if isinstance(view, str):
        later(runtime, context, body, kind="reply", text=view)
    else:
        later(runtime, context, body, kind="open", trigger_id=_text(body.get("trigger_id")), view=view)


# -- form submissions -----------------------------------------------------------------------------------------

def _close_or_say(runtime: "Runtime", ack: Ack, outcome: incidents.Outcome, title: str) -> None:
    """A form whose use case changed something closes and wakes the worker; otherwise it says why, in its place."""
    if outcome.changed:
        ack()
        runtime.worker.wake()
    else:
        ack(response_action="update", view=blocks.message_modal(title, outcome.message))


def resolve_submitted(runtime: "Runtime", ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    form = Form.of(body, view)
    note = form.text("note")
    if form.incident_id is None:
        ack(response_action="update", view=blocks.message_modal("Nothing to resolve", FORM_WITHOUT_INCIDENT))
        return
    try:
        incidents.validate_resolution(note)
    except incidents.InvalidInput as invalid:
        ack(response_action="errors", errors=invalid.errors)
        return
    _close_or_say(runtime, ack, incidents.resolve(runtime.store, form.incident_id, form.user_id, note, runtime.clock()),
                  "Nothing to resolve")


def escalate_request(form: Form) -> additive.EscalateRequest | dict[str, str]:
    """Whom the form asks to page and why, or the inline errors that say what to fix (all of them at once)."""
    choice = form.choice("to") or "next"
    team, person, reason = form.choice("team"), form.user("person"), form.text("reason")
    errors: dict[str, str] = {}
    if choice == "team" and not team:
        errors["team"] = "Pick the team to page."
    if choice == "person" and not person:
        errors["person"] = "Pick the person to page."
    try:
        additive.validate_reason(reason)
    except incidents.InvalidInput as invalid:
        errors.update(invalid.errors)
    if errors:
        return errors
    version = form.metadata.get("version")
    return additive.EscalateRequest({"team": f"team:{team}", "person": f"person:{person}"}.get(choice, "next"), form.user_id,
                                    reason, version if isinstance(version, int) and not isinstance(version, bool) else None)


def escalate_submitted(runtime: "Runtime", ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    form = Form.of(body, view)
    if form.incident_id is None:
        ack(response_action="update", view=blocks.message_modal("Not escalated", FORM_WITHOUT_INCIDENT))
        return
    request = escalate_request(form)
    if isinstance(request, dict):
        ack(response_action="errors", errors=request)
        return
    _close_or_say(runtime, ack, additive.escalate(runtime.store, runtime.catalog, form.incident_id, request, runtime.clock()),
                  "Not escalated")


def update_submitted(runtime: "Runtime", ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    form = Form.of(body, view)
    text = form.text("update")
    try:
        nudges.validate_update(text)
    except incidents.InvalidInput as invalid:
        ack(response_action="errors", errors=invalid.errors)
        return
    # Said on the field, so the update just written stays in the form to copy.
    if form.incident_id is None:
        ack(response_action="errors", errors={"update": FORM_WITHOUT_INCIDENT})
        return
    outcome = nudges.post_update(runtime.store, form.incident_id, form.user_id, text, runtime.clock())
    if outcome.changed:
        ack()
        runtime.worker.wake()
    else:
        ack(response_action="errors", errors={"update": f"{outcome.message} Nothing was posted."})


def followup_submitted(runtime: "Runtime", ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    """The follow-up form: inline errors on the owner, due or text field; recorded and closed otherwise."""
    form = Form.of(body, view)
    if form.incident_id is None:
        ack(response_action="update", view=blocks.message_modal("No follow-up added", FORM_WITHOUT_INCIDENT))
        return
    due = _text(_dig(form.values, "due", "value", "selected_date"))
    request = followups.FollowupRequest(form.incident_id, form.user("owner"), due, form.text("text"), form.user_id)
    try:
        outcome = followups.add(runtime.store, runtime.catalog, request, runtime.clock())
    except incidents.InvalidInput as invalid:
        ack(response_action="errors", errors=invalid.errors)
        return
    _close_or_say(runtime, ack, outcome, "No follow-up added")


def role_picked(runtime: "Runtime", ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> None:
    """The summary's "Assign a role…" menu ("<incident>:<role>"): open the small form that asks who takes it."""
    ack()
    incident_id, _, role_id = (_text(_dig(action, "selected_option", "value")) or "").partition(":")
    number = _incident_id(incident_id)
    incident = incidents.find(runtime.store, number) if number is not None else None
    if incident is None:
        later(runtime, context, body, kind="reply", text=UNKNOWN_INCIDENT)
    elif incident["status"] == "resolved":
        later(runtime, context, body, kind="reply", text=f"{incident_ref(incident['number'])} is resolved; its roles stay as they were.")
    elif role_id not in runtime.catalog.roles:
        later(runtime, context, body, kind="reply", text=roles.unknown_role(role_id, runtime.catalog.roles))
    else:
        later(runtime, context, body, kind="open", trigger_id=_text(body.get("trigger_id")),
              view=blocks.role_modal(incident, runtime.catalog, role_id))


def role_submitted(runtime: "Runtime", ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    """The role form: inline errors on the role or the person; otherwise the role is given and the form closes."""
    form = Form.of(body, view)
    if form.incident_id is None:
        ack(response_action="update", view=blocks.message_modal("No role given", FORM_WITHOUT_INCIDENT))
        return
    role_id, person = form.choice("role"), form.user("person")
    errors = {}
    if role_id not in runtime.catalog.roles:
        errors["role"] = "Pick a role." if not role_id else roles.unknown_role(role_id, runtime.catalog.roles)
    if not person:
        errors["person"] = "Pick the person who takes the role."
    if errors:
        ack(response_action="errors", errors=errors)
        return
    assert role_id is not None and person is not None
    _close_or_say(runtime, ack, roles.assign_role(runtime.store, runtime.catalog, form.incident_id, role_id, person, form.user_id,
                                                  runtime.clock()), "No role given")


def human_message(runtime: "Runtime", event: dict[str, Any]) -> None:
    """Any human message in an incident channel is an update, for "no update for" rules."""
    user, channel = _text(event.get("user")), _text(event.get("channel"))
    if event.get("bot_id") or event.get("subtype") not in (None, "thread_broadcast", "file_share") or not user or not channel:
        return
    nudges.record_human_message(runtime.store, channel, user, runtime.clock())


def home_opened(runtime: "Runtime", event: dict[str, Any]) -> None:
    """`app_home_opened` on the Home tab (Bolt acks events itself): remember who looked, queue their Home, wake the
    worker, which builds and publishes it. The Messages tab sends the same event with `tab: messages`: nothing to do."""
    user = _text(event.get("user"))
    if event.get("tab") != "home" or not user:
        return
    try:
        queued = home.opened(runtime.store, user, runtime.clock())
    except STORAGE_ERRORS as error:  # the Home stays as it was; the next open tries again
        log.error("could not record an App Home opening: %s", error)
        return
    if queued:
        runtime.worker.wake()


def on_error(error: Exception, body: dict[str, Any]) -> None:
    kind = body.get("type") or body.get("command") or "request"
    log.error("listener for %s failed: %s: %s", kind, type(error).__name__, error)


# -- wiring ---------------------------------------------------------------------------------------------------

def _bound(listener: Callable[..., Any], runtime: "Runtime") -> Callable[..., Any]:
    """The listener with the runtime as its first argument; Bolt sees (and injects) only the rest.

    A read or write that fails because the database is away (PostgreSQL restarting, a disk gone) is answered in
    words where the person is looking, never with a 500 (which Slack shows as a bare "dispatch_failed"); and no
    statement waits for the database longer than an answer to Slack can.
    """
    bound = functools.partial(listener, runtime)

    def guarded(**kwargs: Any) -> Any:
        try:
            with runtime.store.impatient(ACK_LOCK_WAIT_SECONDS):  # Slack waits 3 s for the answer, not the store's 30
                return bound(**kwargs)
        except STORAGE_ERRORS as error:
            _answer_storage_failure(runtime, error, kwargs)
            return None

    guarded.__wrapped__ = bound  # type: ignore[attr-defined]  # Bolt reads the argument names through it
    guarded.__name__ = listener.__name__  # Bolt names listeners by it in its logs
    return guarded


def _answer_storage_failure(runtime: "Runtime", error: Exception, kwargs: dict[str, Any]) -> None:
    """Tell the person that nothing was recorded because of the database, on whatever channel this request has."""
    problem = storage_problem(error)
    log.error("a request could not reach the database: %s (%s)", problem, type(error).__name__)
    text = (f":x: Ladder could not do that: {problem}. Nothing was recorded; please try again in a moment. "
            "If it is urgent, reach the on-call directly.")
    ack = kwargs.get("ack")
    body = kwargs.get("body") or {}
    if ack is None:  # an event: Bolt has acknowledged it already, and nobody waits for an answer
        return
    if "command" in kwargs:
        ack(text=text)
    elif "view" in kwargs:
        ack(response_action="update", view=blocks.message_modal("Not recorded", text))
    elif "action" in kwargs and "context" in kwargs:
        ack()
        later(runtime, kwargs["context"], body, kind="reply", text=text)
    elif "options" in kwargs or body.get("type") == "block_suggestion":
        ack(options=[])
    else:
        ack()


def prepare(catalog: Catalog) -> None:
    """What requests derive from a catalog, built before it is in force: routing's index and the declare form."""
    routing.index(catalog)
    blocks.declare_modal(catalog)


def clicked(runtime: "Runtime", ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> None:
    """Every button and menu Ladder shows: one that opens a form, or one that runs a use case."""
    if action["action_id"] in FORMS:
        form_button_clicked(runtime, ack, body, action, context)
    elif action["action_id"] == blocks.ROLE_PICK:
        role_picked(runtime, ack, body, action, context)
    else:
        button_clicked(runtime, ack, body, action, context)


def submitted(runtime: "Runtime", ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    """Every form Ladder opens, by its callback id."""
    callback = view["callback_id"]
    if callback == blocks.DECLARE_VIEW:
        declare_submitted(runtime, ack, body, view, context)
    else:
        SUBMISSIONS[callback](runtime, ack, body, view)


SUBMISSIONS: dict[str, Callable[["Runtime", Ack, dict[str, Any], dict[str, Any]], None]] = {
    blocks.RESOLVE_VIEW: resolve_submitted, blocks.ESCALATE_VIEW: escalate_submitted, blocks.UPDATE_VIEW: update_submitted,
    blocks.FOLLOWUP_VIEW: followup_submitted, blocks.ROLE_VIEW: role_submitted,
}


def _one_of(matchers: Iterable[str | re.Pattern[str]]) -> re.Pattern[str]:
    """One pattern for several action ids or callback ids (each given as text or as an anchored pattern)."""
    return re.compile("^(?:" + "|".join(m.pattern.lstrip("^").rstrip("$") if isinstance(m, re.Pattern) else re.escape(m)
                                        for m in matchers) + ")$")


def register(bolt: App, runtime: "Runtime") -> None:
    """Attach the listeners to the Bolt app, and have each catalog prepared for them before it is in force.

    One Bolt listener per kind of request, the most frequent first: Bolt tries each listener's
    matcher in turn (a call with its arguments built afresh), so a listener per button would cost
    a message event seventeen tries before its own.
    """
    runtime.catalog_watcher.prepare_with(prepare)
    bolt.options(blocks.SERVICE_ACTION)(_bound(service_options, runtime))
    bolt.event("message")(_bound(human_message, runtime))
    bolt.event("app_home_opened")(_bound(home_opened, runtime))
    bolt.action(_one_of([*BUTTONS, *FORMS, blocks.ROLE_PICK]))(_bound(clicked, runtime))
    bolt.command("/incident")(_bound(incident_command, runtime))
    bolt.view(_one_of([blocks.DECLARE_VIEW, *SUBMISSIONS]))(_bound(submitted, runtime))
    bolt.error(on_error)
