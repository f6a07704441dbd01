"""Every message Ladder renders, built through slack_sdk's model objects: the reference the plain builders are held to.

These are the message builders as they were before `app/slack/blocks.py` built plain dicts
(`app/slack/kit.py`): slack_sdk validates every object it builds, so for any incident both must
give the same blocks, and refuse the same over-long parts (tests/unit/test_message_blocks.py).
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

from app.catalog import Catalog
from app.slack import blocks as ui
from app.text import escape_mrkdwn, incident_ref, truncate
from app.tracks import TrackView


def _model_dicts(built: list[Block]) -> list[dict[str, Any]]:
    if len(built) > ui.MAX_MESSAGE_BLOCKS:
        raise ValueError(f"a message holds at most {ui.MAX_MESSAGE_BLOCKS} blocks; built {len(built)}")
    return [b.to_dict() for b in built]


def summary_blocks(incident: dict[str, Any], catalog: Catalog, views: list[TrackView], pages: list[dict[str, Any]],
                   followups: list[dict[str, Any]] | None = None, today: str = "",
                   roles: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    ref = incident_ref(incident["number"])
    severity = catalog.severity(incident["severity"])
    severity_label = severity.label if severity else incident["severity"]
    fields = [
        MarkdownTextObject(text=f"*Status*\n{ui.STATUS_LABEL.get(incident['status'], incident['status'])}"),
        MarkdownTextObject(text=f"*Severity*\n{escape_mrkdwn(severity_label)}"),
        MarkdownTextObject(text=f"*Service*\n{escape_mrkdwn(incident['service_name'])}"),
        MarkdownTextObject(text=f"*Owning team*\n{escape_mrkdwn(incident['team_name'])}"),
        MarkdownTextObject(text=f"*Declared*\n<@{incident['declared_by']}> {ui.slack_date(incident['declared_at'])}"),
    ]
    if incident["acknowledged_by"]:
        fields.append(MarkdownTextObject(text=f"*Acknowledged*\n<@{incident['acknowledged_by']}> {ui.slack_date(incident['acknowledged_at'])}"))
    if incident.get("mitigated_by"):
        fields.append(MarkdownTextObject(text=f"*Mitigated*\n<@{incident['mitigated_by']}> {ui.slack_date(incident['mitigated_at'])}"))
    if incident.get("lead"):
        fields.append(MarkdownTextObject(text=f"*Lead*\n<@{incident['lead']}>"))
    built: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=truncate(f"{ref} · {incident['title']}", 150), emoji=False)),
        SectionBlock(fields=fields),
    ]
    if incident.get("drill"):
        built.insert(1, ContextBlock(elements=[MarkdownTextObject(text=(
            ":test_tube: *DRILL*: nothing is broken. Ladder is testing this service's escalation ladder with real pages; "
            "acknowledge as you would. It ends by itself and posts a drill report here."))]))
    if incident["description"]:
        built.append(SectionBlock(text=MarkdownTextObject(text=truncate(escape_mrkdwn(incident["description"]), 3000))))
    for line in (ui.roles_line(catalog, roles or []), ui.runbooks_line(catalog, incident)):
        if line:
            built.append(ContextBlock(elements=[MarkdownTextObject(text=line)]))
    if incident["status"] == "resolved" and incident["resolution_note"]:
        built.append(SectionBlock(text=MarkdownTextObject(text=truncate("*Resolution*\n" + escape_mrkdwn(incident["resolution_note"]), 3000))))
    if incident["status"] == "resolved":
        built.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"Resolved {ui.slack_date(incident['resolved_at'])} by <@{incident['resolved_by']}>.")]))
    for view in views[:20]:  # 50 blocks a message; 20 ladders is far beyond any real incident
        built.append(ContextBlock(elements=[MarkdownTextObject(text=truncate(ui.track_line(incident, view, pages), 3000))]))
    if followups:
        built.append(SectionBlock(text=MarkdownTextObject(text=ui.followups_text(followups, today))))
    if incident["status"] == "resolved":
        built.append(ActionsBlock(block_id=f"incident:{incident['id']}", elements=[
            ButtonElement(action_id=ui.ADD_FOLLOWUP, text="Add follow-up", value=str(incident["id"]))]))
    if incident["status"] != "resolved":
        value = str(incident["id"])
        elements: list[Any] = []
        if incident["status"] == "triggered":
            elements.append(ButtonElement(action_id=ui.ACK, text="Acknowledge", value=value, style="primary"))
        elements.append(ButtonElement(action_id=ui.ESCALATE, text="Escalate", value=value))
        elements.append(StaticSelectElement(
            action_id=ui.SEVERITY, placeholder="Change severity",
            options=[Option(value=f"{incident['id']}:{s.id}", text=truncate(s.label, 75)) for s in catalog.severities[:100]],
        ))
        elements.append(StaticSelectElement(
            action_id=ui.ROLE_PICK, placeholder="Assign a role…",
            options=[Option(value=f"{incident['id']}:{rid}", text=truncate(role.name, 75)) for rid, role in list(catalog.roles.items())[:100]],
        ))
        if incident["status"] != "mitigated":
            elements.append(ButtonElement(action_id=ui.MITIGATE, text="Mitigated", value=value))
        elements.append(ButtonElement(action_id=ui.RESOLVE, text="Resolve", value=value, style="danger"))
        elements.append(ButtonElement(action_id=ui.ADD_FOLLOWUP, text="Add follow-up", value=value))
        built.append(ActionsBlock(block_id=f"incident:{incident['id']}", elements=elements))
    return _model_dicts(built)



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
        *([":test_tube: *DRILL: nothing is broken; please acknowledge as you would.*"] if incident.get("drill") else []),
        f":rotating_light: *{ref} · {escape_mrkdwn(incident['title'])}*",
        f"{escape_mrkdwn(severity_label)} · {escape_mrkdwn(incident['service_name'])} · declared by <@{incident['declared_by']}>",
        f"{why} Channel: {channel}",
    ]
    runbooks = ui.runbooks_line(catalog, incident)
    if runbooks:
        lines.append(runbooks)
    built: list[Block] = [SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(lines), 3000)))]
    # An additive page on an acknowledged incident still wants its own acknowledgement.
    wanted = incident["status"] == "triggered" or awaits_own_acknowledgement
    if page["acknowledged_at"] and incident["status"] != "resolved":
        built.append(ContextBlock(elements=[MarkdownTextObject(
            text=f":white_check_mark: You acknowledged {ui.slack_date(page['acknowledged_at'], '{time}')}")]))
    elif wanted and not page["notify_only"] and incident["status"] != "resolved":
        built.append(ActionsBlock(block_id=f"page:{incident['id']}", elements=[
            ButtonElement(action_id=ui.ACK, text="Acknowledge", value=str(incident["id"]), style="primary")]))
    elif incident["status"] in ("acknowledged", "mitigated"):
        built.append(ContextBlock(elements=[MarkdownTextObject(
            text=f":white_check_mark: Acknowledged by <@{incident['acknowledged_by']}> {ui.slack_date(incident['acknowledged_at'], '{time}')}")]))
    elif incident["status"] == "resolved":
        built.append(ContextBlock(elements=[MarkdownTextObject(text=f":large_green_circle: Resolved by <@{incident['resolved_by']}>")]))
    return _model_dicts(built)



def channel_message_blocks(incident: dict[str, Any], text: str, actions: list[str], rule: str | None = None) -> list[dict[str, Any]]:
    """A message in the incident channel with the decision one click away (a nudge's buttons name its rule)."""
    value = str(incident["id"])
    ruled = f"{incident['id']}:{rule}" if rule else value
    buttons = {
        "escalate": ButtonElement(action_id=ui.ESCALATE, text="Escalate", value=value),
        "still_on_it": ButtonElement(action_id=ui.STILL_ON_IT, text="Still on it", value=value, style="primary"),
        "take_lead": ButtonElement(action_id=ui.TAKE_LEAD, text="I'll lead", value=value, style="primary"),
        "post_update": ButtonElement(action_id=ui.POST_UPDATE, text="Post an update", value=value, style="primary"),
        "rule_escalate": ButtonElement(action_id=ui.NUDGE_ESCALATE, text="Escalate now", value=ruled, style="danger"),
        "snooze_15": ButtonElement(action_id=f"{ui.NUDGE_SNOOZE}_15", text="Snooze 15m", value=f"{ruled}:15"),
        "snooze_60": ButtonElement(action_id=f"{ui.NUDGE_SNOOZE}_60", text="Snooze 1h", value=f"{ruled}:60"),
        "dismiss": ButtonElement(action_id=ui.NUDGE_DISMISS, text="Dismiss", value=ruled),
    }
    elements = [buttons[a] for a in actions if a in buttons]
    built: list[Block] = [SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000)))]
    if elements and incident["status"] != "resolved":
        built.append(ActionsBlock(block_id=f"message:{incident['id']}", elements=elements))
    return _model_dicts(built)



def resolution_blocks(incident: dict[str, Any]) -> list[dict[str, Any]]:
    text = f":large_green_circle: <@{incident['resolved_by']}> resolved {incident_ref(incident['number'])}."
    if incident["resolution_note"]:
        text += "\n>" + escape_mrkdwn(incident["resolution_note"]).replace("\n", "\n>")
    return _model_dicts([SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000)))])

