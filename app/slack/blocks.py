"""Block Kit builders for every message and modal Ladder shows.

(Over 400 lines: one builder per message and modal, kept together because they share the action-id contract.)

Slack's limits (50 blocks a message, 3000-character sections, 24-character modal titles,
75-character labels) fail here, in our tests, rather than in Slack. Messages, rendered by the
worker whenever an incident changes, are plain dicts from `kit`, which checks each limit as
slack_sdk's models would (tests/reference_blocks.py builds them through the models to compare).
The forms a request opens are built (and checked) once and kept as JSON: the declare form once
per catalog (`DeclareForm`), the others once per shape (`_checked`); a request fills a fresh copy
with its own parts (a title, a pre-selected service, an incident, metadata), cut to Slack's
limits or refused past them as slack_sdk would. `_declare_view`, `_escalate_view` and the like
build the whole form through slack_sdk: the checked shapes, and the tests' reference.
Everything a user typed goes through `escape_mrkdwn` before it reaches mrkdwn.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    DatePickerElement,
    ExternalDataSelectElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.views import View

from app.catalog import Catalog, Service
from app.escalation import NextStep
from app.followups import DONE_ACTION as FOLLOWUP_DONE_ACTION
from app.followups import TEXT_MAX as FOLLOWUP_TEXT_MAX
from app.incidents import DESCRIPTION_MAX, TITLE_MAX, channel_name_for
from app.slack import kit
from app.store import iso, parse_iso
from app.text import escape_mrkdwn, incident_ref, mention, track_label, truncate
from app.tracks import MAIN, OWNED, TrackView

MAX_MESSAGE_BLOCKS = kit.MESSAGE_BLOCKS_MAX
STATIC_SERVICE_LIMIT = 100

# Action and callback ids: the contract between these builders and the listeners.
ACK = "incident_ack"
STILL_ON_IT = "incident_still_on_it"
TAKE_LEAD = "incident_take_lead"
POST_UPDATE = "incident_post_update"
NUDGE_ESCALATE = "nudge_escalate"
NUDGE_SNOOZE = "nudge_snooze"
NUDGE_DISMISS = "nudge_dismiss"
UPDATE_VIEW = "status_update"
ESCALATE = "incident_escalate"
SEVERITY = "incident_severity"
RESOLVE = "incident_resolve"
MITIGATE = "incident_mitigate"
ROLE_PICK = "incident_role"
ROLE_VIEW = "assign_role"
DECLARE_VIEW = "declare_incident"
RESOLVE_VIEW = "resolve_incident"
ESCALATE_VIEW = "escalate_incident"
SERVICE_ACTION = "service"
ADD_FOLLOWUP = "incident_add_followup"
FOLLOWUP_DONE = FOLLOWUP_DONE_ACTION  # the Done button on a follow-up's DMs (app.followups puts it there)
FOLLOWUP_VIEW = "add_followup"
FOLLOWUPS_SHOWN = 20  # on the summary; the rest are counted ("and 3 more")

STATUS_LABEL = {"triggered": ":red_circle: Triggered", "acknowledged": ":large_orange_circle: Acknowledged",
                "mitigated": ":large_yellow_circle: Mitigated", "resolved": ":large_green_circle: Resolved"}


def slack_date(moment_iso: str | None, fmt: str = "{date_short_pretty} {time}") -> str:
    """Slack renders this in each viewer's own time zone; the fallback is UTC."""
    moment = parse_iso(moment_iso)
    if moment is None:
        return "—"
    return f"<!date^{int(moment.timestamp())}^{fmt}|{moment.strftime('%Y-%m-%d %H:%M UTC')}>"


def _service_option(service: Service) -> Option:
    return Option(value=service.id, text=truncate(service.name, 75))


# -- modals -------------------------------------------------------------------------------------

class DeclareForm:
    """One catalog's declare form: built with slack_sdk's models once, so Slack's limits are checked
    then, and kept as JSON; `declare_modal` fills a fresh copy of it for each `/incident`."""

    def __init__(self, catalog: Catalog) -> None:
        self.json = json.dumps(_declare_view(catalog))
        self._options: dict[str, dict[str, Any]] = {}

    def option(self, service: Service) -> dict[str, Any]:
        """The service as the form offers it (its option in the menu, validated the first time)."""
        found = self._options.get(service.id)
        if found is None:
            found = self._options[service.id] = _service_option(service).to_dict()
        return found


def declare_modal(catalog: Catalog, *, title: str = "", service: Service | None = None, private_metadata: str = "") -> dict[str, Any]:
    """The declare form, pre-filled: the catalog's part is built once (`DeclareForm`), this only fills in the request's."""
    form = catalog.derived(DeclareForm)
    view: dict[str, Any] = json.loads(form.json)  # a copy of its own: nothing done to it reaches the next request's form
    element = {block["block_id"]: block["element"] for block in view["blocks"]}
    if title:
        element["title"]["initial_value"] = truncate(title, TITLE_MAX)
    if service is not None:
        element["service"]["initial_option"] = form.option(service)
    if private_metadata:
        if len(private_metadata) > View.private_metadata_max_length:  # as View would refuse it
            raise SlackObjectFormationError(f"private_metadata cannot exceed {View.private_metadata_max_length} characters")
        view["private_metadata"] = private_metadata
    return view


def _declare_view(catalog: Catalog, *, title: str = "", service: Service | None = None, private_metadata: str = "") -> dict[str, Any]:
    """The declare form through slack_sdk's models, every limit checked: once per catalog (and as the tests' reference)."""
    if len(catalog.services) > STATIC_SERVICE_LIMIT:
        service_element: Any = ExternalDataSelectElement(
            action_id=SERVICE_ACTION, placeholder="Type to search services", min_query_length=1,
            initial_option=_service_option(service) if service else None,
        )
    else:
        service_element = StaticSelectElement(
            action_id=SERVICE_ACTION, placeholder="Which business service is affected?",
            options=[_service_option(s) for s in sorted(catalog.services.values(), key=lambda s: s.name.lower())],
            initial_option=_service_option(service) if service else None,
        )
    severity_options = [
        Option(value=s.id, text=truncate(s.label, 75), description=truncate(s.description, 75) if s.description else None)
        for s in catalog.severities[:10]
    ]
    default_severity = catalog.default_severity()
    initial_severity = next((o for o in severity_options if o.value == default_severity.id), None)
    blocks = [
        InputBlock(
            block_id="title", label="Title",
            element=PlainTextInputElement(action_id="value", initial_value=truncate(title, TITLE_MAX) if title else None,
                                          placeholder="e.g. Bank transfers failing", max_length=TITLE_MAX + 50),
            hint=f"Short and specific; at most {TITLE_MAX} characters.",
        ),
        InputBlock(block_id="service", label="Affected service", element=service_element,
                   hint="Pick what you know is broken; Ladder pages the team that owns it."),
        InputBlock(block_id="severity", label="Severity",
                   element=RadioButtonsElement(action_id="value", options=severity_options, initial_option=initial_severity)),
        InputBlock(block_id="description", label="What is happening?", optional=True,
                   element=PlainTextInputElement(action_id="value", multiline=True, max_length=DESCRIPTION_MAX)),
        InputBlock(
            block_id="private", label="Visibility", optional=True,
            element=CheckboxesElement(action_id="value", options=[
                Option(value="private", text="Private incident",
                       description="Private channel; no announcement in the team channel")]),
        ),
    ]
    view = View(type="modal", callback_id=DECLARE_VIEW, title="Declare an incident", submit="Declare",
                close="Cancel", blocks=blocks, private_metadata=private_metadata)
    return view.to_dict()


_CHECKED: dict[Any, str] = {}  # what each kind (and shape) of form looks like before a request fills it in, as JSON


def _checked(key: Any, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A fresh copy of the view `build` makes with slack_sdk's models (every limit checked), built once per key."""
    found = _CHECKED.get(key)
    if found is None:
        found = _CHECKED[key] = json.dumps(build())
    copy: dict[str, Any] = json.loads(found)
    return copy


def _within(text: str, limit: int, what: str) -> str:
    """Text a request fills in that is not cut to fit: refused past Slack's limit, as slack_sdk's models refuse it."""
    if len(text) > limit:
        raise SlackObjectFormationError(f"{what} cannot exceed {limit} characters")
    return text


def message_modal(title: str, text: str) -> dict[str, Any]:
    """A modal that only says something; the title and the text are cut to Slack's limits."""
    view = _checked("message", lambda: _message_view("Title", "Text"))
    view["title"]["text"] = truncate(title, 24) or "Ladder"
    view["blocks"][0]["text"]["text"] = truncate(text, 3000) or " "
    return view


def _message_view(title: str, text: str) -> dict[str, Any]:
    return View(type="modal", title=truncate(title, 24), close="Close",
                blocks=[SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000)))]).to_dict()


def declared_modal(incident: dict[str, Any], catalog: Catalog, paged: list[str]) -> dict[str, Any]:
    ref = incident_ref(incident["number"])
    who = ", ".join(paged) if paged else "nobody (every level resolves to nobody right now)"
    lines = [
        f"*{ref} · {escape_mrkdwn(incident['title'])}* is declared.",
        f"Paging the *{escape_mrkdwn(incident['team_name'])}* on-call: {who}.",
        f"Its channel *#{incident_channel_hint(incident)}* is being created; you will be invited.",
    ]
    return message_modal(f"{ref} declared", "\n".join(lines))


def incident_channel_hint(incident: dict[str, Any]) -> str:
    return incident["channel_name"] or channel_name_for(incident["number"], incident["title"])


_EXAMPLE = {"number": 1, "title": "x", "id": 1, "version": 1}  # the incident a form's checked shape is built for


def _for_incident(view: dict[str, Any], title: str, metadata: dict[str, Any], text: str) -> dict[str, Any]:
    """Fill in a form's incident: its title bar, its hidden metadata, the section that names it."""
    view["title"]["text"] = truncate(title, 24)
    view["private_metadata"] = _within(json.dumps(metadata), View.private_metadata_max_length, "private_metadata")
    view["blocks"][0]["text"]["text"] = _within(text, 3000, "text")
    return view


def _headline(incident: dict[str, Any]) -> str:
    return f"*{incident_ref(incident['number'])} · {escape_mrkdwn(incident['title'])}*"


UPDATE_TEXT = "\nPosted in the incident channel and kept on the timeline."
ESCALATE_TEXT = "\nEscalating adds people; whoever acknowledged keeps the incident."


def update_modal(incident: dict[str, Any]) -> dict[str, Any]:
    return _for_incident(_checked("update", lambda: _update_view(_EXAMPLE)), f"Update on {incident_ref(incident['number'])}",
                         {"incident_id": incident["id"]}, _headline(incident) + UPDATE_TEXT)


def resolve_modal(incident: dict[str, Any]) -> dict[str, Any]:
    return _for_incident(_checked("resolve", lambda: _resolve_view(_EXAMPLE)), f"Resolve {incident_ref(incident['number'])}",
                         {"incident_id": incident["id"]}, _headline(incident))


ROLE_TEXT = "\nThey get a DM with what the role does; the channel and the timeline say who has it."


def role_modal(incident: dict[str, Any], catalog: Catalog, role_id: str) -> dict[str, Any]:
    """Give a role: the person (a user picker) and the role, pre-selected with the one picked on the summary.

    Built through slack_sdk's models on each click (rare, and the roles are the catalog's), so every limit is checked.
    """
    options = [Option(value=rid, text=truncate(role.name, 75), description=truncate(role.description, 75))
               for rid, role in list(catalog.roles.items())[:100]]
    view = View(
        type="modal", callback_id=ROLE_VIEW, title=truncate(f"Role in {incident_ref(incident['number'])}", 24), submit="Assign",
        close="Cancel", private_metadata=json.dumps({"incident_id": incident["id"]}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=_headline(incident) + ROLE_TEXT)),
            InputBlock(block_id="role", label="Role", element=StaticSelectElement(
                action_id="value", options=options, initial_option=next((o for o in options if o.value == role_id), None))),
            InputBlock(block_id="person", label="Person", element=UserSelectElement(action_id="value", placeholder="Who takes it?")),
        ],
    )
    return view.to_dict()


def escalate_modal(incident: dict[str, Any], next_level: str | None, teams: list[tuple[str, str]]) -> dict[str, Any]:
    """Additive escalation: the main ladder's next level, another team through its policy, or a person."""
    shape = ("escalate", bool(next_level), bool(teams))
    view = _for_incident(_checked(shape, lambda: _escalate_view(_EXAMPLE, "x" if next_level else None, [("x", "x")] if teams else [])),
                         f"Escalate {incident_ref(incident['number'])}", {"incident_id": incident["id"], "version": incident["version"]},
                         _headline(incident) + ESCALATE_TEXT)
    element = {block["block_id"]: block["element"] for block in view["blocks"] if "element" in block}
    if next_level:  # the first choice, and the one chosen
        for option in (element["to"]["options"][0], element["to"]["initial_option"]):
            option["description"]["text"] = truncate(next_level, 75)
    if teams:
        model = element["team"]["options"][0]
        element["team"]["options"] = [{**model, "text": {**model["text"], "text": truncate(name, 75)}, "value": team_id}
                                      for team_id, name in teams[:100]]
    return view


FOLLOWUP_TEXT = "\nThe owner gets a DM now, and a reminder each day once it is overdue."


def followup_modal(incident: dict[str, Any], owner: str | None = None, due_on: str | None = None, text: str = "") -> dict[str, Any]:
    """Add a follow-up: who owns it, when it is due, what to do; pre-filled with what `/incident followup` was given."""
    view = _for_incident(_checked("followup", lambda: _followup_view(_EXAMPLE)), f"Follow-up {incident_ref(incident['number'])}",
                         {"incident_id": incident["id"]}, _headline(incident) + FOLLOWUP_TEXT)
    element = {block["block_id"]: block["element"] for block in view["blocks"] if "element" in block}
    if owner:
        element["owner"]["initial_user"] = owner
    if due_on:
        element["due"]["initial_date"] = due_on
    if text:
        element["text"]["initial_value"] = truncate(text, FOLLOWUP_TEXT_MAX)
    return view


def _followup_view(incident: dict[str, Any]) -> dict[str, Any]:
    ref = incident_ref(incident["number"])
    view = View(
        type="modal", callback_id=FOLLOWUP_VIEW, title=truncate(f"Follow-up {ref}", 24), submit="Add", close="Cancel",
        private_metadata=json.dumps({"incident_id": incident["id"]}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=_headline(incident) + FOLLOWUP_TEXT)),
            InputBlock(block_id="owner", label="Owner", element=UserSelectElement(action_id="value", placeholder="Who will do it?")),
            InputBlock(block_id="due", label="Due", element=DatePickerElement(action_id="value", placeholder="Pick a date")),
            InputBlock(block_id="text", label="What should be done?", element=PlainTextInputElement(
                action_id="value", max_length=FOLLOWUP_TEXT_MAX, placeholder="e.g. Alert on payout queue depth")),
        ],
    )
    return view.to_dict()


def _update_view(incident: dict[str, Any]) -> dict[str, Any]:
    ref = incident_ref(incident["number"])
    view = View(
        type="modal", callback_id=UPDATE_VIEW, title=truncate(f"Update on {ref}", 24), submit="Post", close="Cancel",
        private_metadata=json.dumps({"incident_id": incident["id"]}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=_headline(incident) + UPDATE_TEXT)),
            InputBlock(block_id="update", label="What is the status?", element=PlainTextInputElement(
                action_id="value", multiline=True, min_length=3, max_length=2900,
                placeholder="What we know, what we are doing, when the next update comes")),
        ],
    )
    return view.to_dict()


def _resolve_view(incident: dict[str, Any]) -> dict[str, Any]:
    ref = incident_ref(incident["number"])
    view = View(
        type="modal", callback_id=RESOLVE_VIEW, title=truncate(f"Resolve {ref}", 24), submit="Resolve", close="Cancel",
        private_metadata=json.dumps({"incident_id": incident["id"]}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=_headline(incident))),
            InputBlock(block_id="note", label="Resolution note", optional=True,
                       element=PlainTextInputElement(action_id="value", multiline=True, max_length=2900,
                                                     placeholder="What fixed it? Posted to the incident channel.")),
        ],
    )
    return view.to_dict()


def _escalate_view(incident: dict[str, Any], next_level: str | None, teams: list[tuple[str, str]]) -> dict[str, Any]:
    ref = incident_ref(incident["number"])
    choices = []
    if next_level:
        choices.append(Option(value="next", text="The next level now", description=truncate(next_level, 75)))
    if teams:
        choices.append(Option(value="team", text="Another team", description="Pages their on-call through their policy"))
    choices.append(Option(value="person", text="A person", description="Pages them directly"))
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=_headline(incident) + ESCALATE_TEXT)),
        InputBlock(block_id="to", label="Page", element=RadioButtonsElement(action_id="value", options=choices, initial_option=choices[0])),
    ]
    if teams:
        blocks.append(InputBlock(block_id="team", label="Team", optional=True, hint="When paging another team.",
                                 element=StaticSelectElement(action_id="value", placeholder="Pick a team",
                                                             options=[Option(value=tid, text=truncate(name, 75)) for tid, name in teams[:100]])))
    blocks += [
        InputBlock(block_id="person", label="Person", optional=True, hint="When paging a person.",
                   element=UserSelectElement(action_id="value", placeholder="Pick a person")),
        InputBlock(block_id="reason", label="Reason", optional=True,
                   element=PlainTextInputElement(action_id="value", max_length=500, placeholder="e.g. Need someone with ledger access")),
    ]
    view = View(type="modal", callback_id=ESCALATE_VIEW, title=truncate(f"Escalate {ref}", 24), submit="Page now", close="Cancel",
                private_metadata=json.dumps({"incident_id": incident["id"], "version": incident["version"]}), blocks=blocks)
    return view.to_dict()


# -- messages -----------------------------------------------------------------------------------

def _person(page: dict[str, Any]) -> str:
    status = {"failed": " (page failed)", "pending": " (sending…)", "cancelled": " (not sent)",
              "merged": " (already paged)"}.get(page["status"], "")
    who = f"<@{page['user_id']}>" if page["user_id"] else escape_mrkdwn(page["target"])
    if page["acknowledged_at"]:
        status = " :white_check_mark:"
    return who + status


def _what_next(step: NextStep | None) -> str:
    """The ladder's next step, named: "escalates to level 2 (@bob) at 10:07"."""
    if step is None:
        return "nothing more is scheduled"
    at = slack_date(iso(step.at), "{time}")
    if step.kind == "level":
        who = ", ".join(mention(t.ref) for t in step.targets) or "nobody on call now"
        return f"escalates to level {step.level + 1} ({who}) at {at}"
    if step.kind == "repeat":
        return f"starts again from level 1 at {at}"
    if step.kind == "handoff":
        return f"hands off to policy {step.policy} at {at}"
    return f"the last level: exhausted at {at} if nobody acknowledges"


def track_line(incident: dict[str, Any], view: TrackView, pages: list[dict[str, Any]]) -> str:
    """Where one ladder stands, for the summary: who was paged when, who acknowledged, what comes next."""
    track = view.row
    mine = [p for p in pages if p["track"] == track["track"]]
    head = ""
    if track["track"] != MAIN:
        by = ""
        if track["requested_by"]:
            why = f": {escape_mrkdwn(track['reason'])}" if track["reason"] else ""
            by = f" (escalated by <@{track['requested_by']}>{why})"
        head = f":arrow_double_up: *{track_label(track)}*{by}: "
    if track["paged_at"] is None:
        if track["state"] == "waiting" and incident["status"] != "resolved":
            return head + f"Level {track['level'] + 1}: nobody on call at this level right now; {_what_next(view.next)}."
        return head + "nobody could be paged: every level resolves to nobody right now."
    position = (track["round"], track["policy"], track["level"], track["loop"])
    current = [p for p in mine if (p["round"], p["policy"], p["level"], p["loop"]) == position]
    of_policy = "" if track["policy"] == view.root else f" of policy {track['policy']}"
    verb = "notified" if view.notify_only else "paged"
    line = (f"{head}Level {track['level'] + 1} of {view.levels}{of_policy}: {', '.join(_person(p) for p in current) or '—'} "
            f"{verb} {slack_date(track['paged_at'], '{time}')}")
    state = track["state"]
    if incident["status"] == "resolved":
        return line + "."
    if track["track"] == MAIN and incident["status"] in OWNED:
        line += f" — acknowledged by <@{incident['acknowledged_by']}> {slack_date(incident['acknowledged_at'], '{time}')}"
        if state == "acked":
            line += f"; the ladder re-arms at {slack_date(track['due_at'], '{time}')} if still open"
        elif state == "rearming":
            line += f"; re-arming at {slack_date(track['due_at'], '{time}')} unless someone is still on it"
        return line + "."
    acked = [p for p in mine if p["acknowledged_at"] and p["user_id"]]
    if track["track"] != MAIN and acked:
        return line + f" — acknowledged by <@{acked[0]['user_id']}> {slack_date(acked[0]['acknowledged_at'], '{time}')}."
    if state == "active":
        return line + f" — {_what_next(view.next)}."
    if state == "waiting":
        return line + f" — nobody on call at this level; {_what_next(view.next)}."
    if state == "exhausted":
        return line + " — exhausted: nobody acknowledged."
    return line + "."


def followups_text(followups: list[dict[str, Any]], today: str) -> str:
    """The incident's follow-ups for the summary, one line each (owner, due date, done or overdue); cut to fit one
    section with "and N more" rather than refused. `today` (YYYY-MM-DD, in the owning team's zone) decides overdue."""
    lines = []
    for followup in followups:
        if followup["done_at"]:
            state = f" :white_check_mark: done by <@{followup['done_by']}>"
        elif today and followup["due_on"] < today:
            state = " :warning: *overdue*"
        else:
            state = ""
        lines.append(f"• <@{followup['owner']}>, due {followup['due_on']}{state}: {escape_mrkdwn(followup['text'])}")
    text = "*Follow-ups*"
    for index, line in enumerate(lines):
        after = len(lines) - index - 1
        tail = f"\n…and {after} more" if after else ""  # always fits after what was added: stopping at the next line adds it
        if index >= FOLLOWUPS_SHOWN or len(text) + 1 + len(line) + len(tail) > kit.SECTION_TEXT_MAX:
            return text + f"\n…and {after + 1} more"
        text += "\n" + line
    return text


RUNBOOKS_BUDGET = 1500  # characters of links a message gives runbooks; those past it are counted, never cut in half


def link(url: str, title: str) -> str:
    """Slack's `<url|title>`, made safe: nothing in either can close the link early or open a mention (`<!channel>`)."""
    return f"<{escape_mrkdwn(url).replace('|', '%7C')}|{escape_mrkdwn(title).replace('|', '¦')}>"


def runbooks_line(catalog: Catalog, incident: dict[str, Any]) -> str | None:
    """The incident's service's runbook links (from the catalog in force), or None when it lists none."""
    service = catalog.services.get(incident.get("service_id") or "")
    if service is None or not service.runbooks:
        return None
    links: list[str] = []
    for runbook in service.runbooks:
        made = link(runbook.url, runbook.title)
        if sum(len(x) + 3 for x in links) + len(made) > RUNBOOKS_BUDGET:
            break
        links.append(made)
    more = len(service.runbooks) - len(links)
    return ":book: *Runbooks:* " + " · ".join(links) + (f" (and {more} more in the catalog)" if more else "")


def roles_line(catalog: Catalog, held: list[dict[str, Any]]) -> str | None:
    """Who holds each role but the lead (the Lead field shows that one), the catalog's order; None with no other role."""
    holders = {row["role"]: row["user_id"] for row in held if row["role"] != "lead"}
    parts = [f"*{escape_mrkdwn(role.name)}:* " + (f"<@{holders[rid]}>" if rid in holders else "nobody yet")
             for rid, role in catalog.roles.items() if rid != "lead"]
    parts += [f"*{escape_mrkdwn(rid)}:* <@{uid}>" for rid, uid in holders.items() if rid not in catalog.roles]
    return truncate(":busts_in_silhouette: " + " · ".join(parts), kit.SECTION_TEXT_MAX) if parts else None


def summary_blocks(incident: dict[str, Any], catalog: Catalog, views: list[TrackView], pages: list[dict[str, Any]],
                   followups: list[dict[str, Any]] | None = None, today: str = "",
                   roles: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The pinned summary; `followups` are the incident's, `today` the date in its team's zone (for "overdue"), `roles` its
    `incident_roles` rows."""
    ref = incident_ref(incident["number"])
    severity = catalog.severity(incident["severity"])
    severity_label = severity.label if severity else incident["severity"]
    fields = [
        f"*Status*\n{STATUS_LABEL.get(incident['status'], incident['status'])}",
        f"*Severity*\n{escape_mrkdwn(severity_label)}",
        f"*Service*\n{escape_mrkdwn(incident['service_name'])}",
        f"*Owning team*\n{escape_mrkdwn(incident['team_name'])}",
        f"*Declared*\n<@{incident['declared_by']}> {slack_date(incident['declared_at'])}",
    ]
    if incident["acknowledged_by"]:
        fields.append(f"*Acknowledged*\n<@{incident['acknowledged_by']}> {slack_date(incident['acknowledged_at'])}")
    if incident.get("mitigated_by"):
        fields.append(f"*Mitigated*\n<@{incident['mitigated_by']}> {slack_date(incident['mitigated_at'])}")
    if incident.get("lead"):
        fields.append(f"*Lead*\n<@{incident['lead']}>")
    built = [kit.header(truncate(f"{ref} · {incident['title']}", kit.HEADER_TEXT_MAX)), kit.fields_section(fields)]
    if incident.get("drill"):
        built.insert(1, kit.context(DRILL_SUMMARY))
    if incident["description"]:
        built.append(kit.section(truncate(escape_mrkdwn(incident["description"]), kit.SECTION_TEXT_MAX)))
    built += [kit.context(line) for line in (roles_line(catalog, roles or []), runbooks_line(catalog, incident)) if line]
    if incident["status"] == "resolved" and incident["resolution_note"]:
        built.append(kit.section(truncate("*Resolution*\n" + escape_mrkdwn(incident["resolution_note"]), kit.SECTION_TEXT_MAX)))
    if incident["status"] == "resolved":
        built.append(kit.context(f"Resolved {slack_date(incident['resolved_at'])} by <@{incident['resolved_by']}>."))
    for view in views[:20]:  # 50 blocks a message; 20 ladders is far beyond any real incident
        built.append(kit.context(truncate(track_line(incident, view, pages), kit.SECTION_TEXT_MAX)))
    if followups:
        built.append(kit.section(followups_text(followups, today)))
    if incident["status"] == "resolved":  # follow-ups are mostly agreed after the incident
        built.append(kit.actions(f"incident:{incident['id']}", [kit.button(ADD_FOLLOWUP, "Add follow-up", str(incident["id"]))]))
    if incident["status"] != "resolved":
        value = str(incident["id"])
        elements = []
        if incident["status"] == "triggered":
            elements.append(kit.button(ACK, "Acknowledge", value, "primary"))
        elements.append(kit.button(ESCALATE, "Escalate", value))
        elements.append(kit.static_select(SEVERITY, "Change severity", [
            kit.option(f"{incident['id']}:{s.id}", truncate(s.label, kit.OPTION_TEXT_MAX)) for s in catalog.severities[:kit.OPTIONS_MAX]]))
        elements.append(kit.static_select(ROLE_PICK, "Assign a role…", [
            kit.option(f"{incident['id']}:{rid}", truncate(role.name, kit.OPTION_TEXT_MAX))
            for rid, role in list(catalog.roles.items())[:kit.OPTIONS_MAX]]))
        if incident["status"] != "mitigated":
            elements.append(kit.button(MITIGATE, "Mitigated", value))
        elements.append(kit.button(RESOLVE, "Resolve", value, "danger"))
        elements.append(kit.button(ADD_FOLLOWUP, "Add follow-up", value))
        built.append(kit.actions(f"incident:{incident['id']}", elements))
    return kit.message(built)


def summary_text(incident: dict[str, Any]) -> str:
    return drill_marked(incident, f"{incident_ref(incident['number'])} · {escape_mrkdwn(incident['title'])} ({incident['status']})")


DRILL_PAGE = ":test_tube: *DRILL: nothing is broken; please acknowledge as you would.*"
DRILL_SUMMARY = (":test_tube: *DRILL*: nothing is broken. Ladder is testing this service's escalation ladder with real pages; "
                 "acknowledge as you would. It ends by itself and posts a drill report here.")


def drill_marked(incident: dict[str, Any], text: str) -> str:
    """A drill's messages say so first (notification text, channel posts); a real incident's are unchanged."""
    return f":test_tube: DRILL · {text}" if incident.get("drill") else text


def page_blocks(incident: dict[str, Any], catalog: Catalog, page: dict[str, Any], awaits_own_acknowledgement: bool = False) -> list[dict[str, Any]]:
    ref = incident_ref(incident["number"])
    severity = catalog.severity(incident["severity"])
    severity_label = severity.label if severity else incident["severity"]
    channel = f"<#{incident['channel_id']}>" if incident["channel_id"] else "its channel is being created"
    if page["level"] < 0:
        why = f"You are told as a {escape_mrkdwn(page['via'])}: for your information, nothing to do."
    elif page["notify_only"]:
        why = f"You are told for your information (notify only), level {page['level'] + 1}."
    else:
        why = f"You are paged: {escape_mrkdwn(page['via'])}, level {page['level'] + 1}."
    lines = [
        *([DRILL_PAGE] if incident.get("drill") else []),
        f":rotating_light: *{ref} · {escape_mrkdwn(incident['title'])}*",
        f"{escape_mrkdwn(severity_label)} · {escape_mrkdwn(incident['service_name'])} · declared by <@{incident['declared_by']}>",
        f"{why} Channel: {channel}",
        *filter(None, [runbooks_line(catalog, incident)]),  # on the first screen of whoever is woken at 03:00
    ]
    built = [kit.section(truncate("\n".join(lines), kit.SECTION_TEXT_MAX))]
    # An additive page on an acknowledged incident still wants its own acknowledgement.
    wanted = incident["status"] == "triggered" or awaits_own_acknowledgement
    if page["acknowledged_at"] and incident["status"] != "resolved":
        built.append(kit.context(f":white_check_mark: You acknowledged {slack_date(page['acknowledged_at'], '{time}')}"))
    elif wanted and not page["notify_only"] and incident["status"] != "resolved":
        built.append(kit.actions(f"page:{incident['id']}", [kit.button(ACK, "Acknowledge", str(incident["id"]), "primary")]))
    elif incident["status"] in OWNED:
        built.append(kit.context(
            f":white_check_mark: Acknowledged by <@{incident['acknowledged_by']}> {slack_date(incident['acknowledged_at'], '{time}')}"))
    elif incident["status"] == "resolved":
        built.append(kit.context(f":large_green_circle: Resolved by <@{incident['resolved_by']}>"))
    return kit.message(built)


def page_text(incident: dict[str, Any]) -> str:
    return drill_marked(incident, f"Paged: {incident_ref(incident['number'])} · {escape_mrkdwn(incident['title'])}")


def announcement_text(incident: dict[str, Any], catalog: Catalog) -> str:
    severity = catalog.severity(incident["severity"])
    label = severity.label if severity else incident["severity"]
    return (f":rotating_light: {incident_ref(incident['number'])} · {escape_mrkdwn(incident['title'])} — "
            f"{escape_mrkdwn(label)}, {escape_mrkdwn(incident['service_name'])}. Join <#{incident['channel_id']}>.")


def topic_text(incident: dict[str, Any], catalog: Catalog) -> str:
    severity = catalog.severity(incident["severity"])
    label = severity.label if severity else incident["severity"]
    return truncate(f"{incident_ref(incident['number'])} · {label} · {incident['service_name']} · {incident['title']}", 250)


# A channel message's buttons by name: (action id, label, style); their value is the incident (and the rule, for a nudge's).
CHANNEL_BUTTONS: dict[str, tuple[str, str, str | None]] = {
    "escalate": (ESCALATE, "Escalate", None),
    "still_on_it": (STILL_ON_IT, "Still on it", "primary"),
    "take_lead": (TAKE_LEAD, "I'll lead", "primary"),
    "post_update": (POST_UPDATE, "Post an update", "primary"),
    "rule_escalate": (NUDGE_ESCALATE, "Escalate now", "danger"),
    "snooze_15": (f"{NUDGE_SNOOZE}_15", "Snooze 15m", None),
    "snooze_60": (f"{NUDGE_SNOOZE}_60", "Snooze 1h", None),
    "dismiss": (NUDGE_DISMISS, "Dismiss", None),
}


def channel_message_blocks(incident: dict[str, Any], text: str, actions: list[str], rule: str | None = None) -> list[dict[str, Any]]:
    """A message in the incident channel with the decision one click away (a nudge's buttons name its rule)."""
    value = str(incident["id"])
    ruled = f"{incident['id']}:{rule}" if rule else value
    values = {"rule_escalate": ruled, "snooze_15": f"{ruled}:15", "snooze_60": f"{ruled}:60", "dismiss": ruled}
    built = [kit.section(truncate(text, kit.SECTION_TEXT_MAX))]
    if incident["status"] == "resolved":  # a post about a resolved incident offers nothing to click
        return kit.message(built)
    elements = [kit.button(CHANNEL_BUTTONS[a][0], CHANNEL_BUTTONS[a][1], values.get(a, value), CHANNEL_BUTTONS[a][2])
                for a in actions if a in CHANNEL_BUTTONS]
    if elements:
        built.append(kit.actions(f"message:{incident['id']}", elements))
    return kit.message(built)


def direct_message_blocks(text: str, buttons: list[list[Any]]) -> list[dict[str, Any]]:
    """A DM that is not a page: its text, and its buttons (`[action_id, label, value, style]` each, as the outbox keeps them)."""
    built = [kit.section(truncate(text, kit.SECTION_TEXT_MAX))]
    if buttons:
        built.append(kit.actions("dm", [kit.button(action_id, label, value, style) for action_id, label, value, style in buttons]))
    return kit.message(built)


def resolution_blocks(incident: dict[str, Any]) -> list[dict[str, Any]]:
    text = f":large_green_circle: <@{incident['resolved_by']}> resolved {incident_ref(incident['number'])}."
    if incident["resolution_note"]:
        text += "\n>" + escape_mrkdwn(incident["resolution_note"]).replace("\n", "\n>")
    return kit.message([kit.section(truncate(text, kit.SECTION_TEXT_MAX))])


HELP_TEXT = (
    "*Ladder: declare and escalate incidents*\n"
    "• `/incident` — open the declare form.\n"
    "• `/incident <what is broken>` — the same, pre-filled: e.g. `/incident bank transfers failing`.\n"
    "• `/incident oncall [team]` — who is on call now, for every schedule or for one team.\n"
    "• `/incident escalate` — in an incident channel: page the next level, another team or a person.\n"
    "• `/incident lead [@someone]` — in an incident channel: take the lead, or hand it to someone.\n"
    "• `/incident role [<role> @someone]` — in an incident channel: give a role (scribe, comms…), or list who holds which.\n"
    "• `/incident update` — in an incident channel: post a status update.\n"
    "• `/incident timeline` — in an incident channel: its whole timeline (lateness, skipped levels, failed pages), only to you.\n"
    "• `/incident followup @owner 2026-12-01 what to do` — in an incident channel: add a follow-up (or open its form).\n"
    "• `/incident drill <service> [severity]` — a live drill of a service's real ladder, marked DRILL; `/incident drill` lists them.\n"
    "• `/incident drill check [team]` — check every rung (people, DMs, user groups, channels, schedule gaps) without paging anyone; only to you.\n"
    "• `/incident help` — this message.\n"
    "In an incident channel, the pinned summary has buttons to *Acknowledge*, *Escalate*, *Change severity* and *Resolve*."
)

