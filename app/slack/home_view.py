"""A person's App Home as a Block Kit view, from `app.home.HomeData` (pure: no store, no Slack).

Within Slack's limits for a Home tab (100 blocks, 3,000 characters a section; `kit` checks each block as it is
built): every list is cut to what fits and says "and N more" rather than being refused, so 300 open incidents or
500 pages make the same bounded view as three. Everything a person typed (titles, follow-ups) is escaped; times are
`<!date>` tokens that Slack shows in the viewer's own zone.

The incident buttons are the summary's own (same action ids and values), so the listeners that handle a click on
a summary handle a click on the Home: the answer to a click that changed nothing comes by DM (a Home has no
response_url), and the Home itself is published again when the incident changes.
"""

from __future__ import annotations

from typing import Any

from app.home import HomeData, ScheduleNow, TeamNow
from app.slack import kit
from app.slack.blocks import ACK, ESCALATE, RESOLVE, STATUS_LABEL, slack_date
from app.store import iso
from app.text import escape_mrkdwn, incident_ref, mention, truncate

VIEW_BLOCKS_MAX = 100  # a modal or a Home tab (a message holds 50)
TEAMS_SHOWN = 8
INCIDENTS_SHOWN = 10  # two blocks each: the incident, its buttons
PAGES_SHOWN = 15
FOLLOWUPS_SHOWN = 15

NOT_IN_CATALOG = (
    "Ladder's catalog does not name you in any team's on-call schedule or escalation policy, so there is no on-call "
    "to show you here. If you should be paged, ask whoever keeps the catalog to add you (by e-mail or Slack ID).\n"
    "You can still declare an incident from any channel with `/incident what is broken`, and anything that pages you "
    "or that you act on will show here.")


def home_view(data: HomeData) -> dict[str, Any]:
    """The Home tab for `data.user_id`, as of `data.now` (a `views.publish` view)."""
    blocks: list[dict[str, Any]] = [
        kit.header("Ladder"),
        kit.context(f"As of {slack_date(iso(data.now))}. Open this tab again to see who is on call now; "
                    "it is updated by itself when one of your incidents changes."),
    ]
    blocks += _on_call(data) if data.known else [kit.section(NOT_IN_CATALOG)]
    blocks += [{"type": "divider"}, *_incidents(data)]
    blocks += [{"type": "divider"}, kit.header("Your pages, last 7 days"), _pages(data)]
    blocks += [{"type": "divider"}, kit.header("Your open follow-ups"), _followups(data)]
    if len(blocks) > VIEW_BLOCKS_MAX:
        raise ValueError(f"a Home tab holds at most {VIEW_BLOCKS_MAX} blocks; built {len(blocks)}")
    return {"type": "home", "callback_id": "ladder_home", "blocks": blocks}


def listing(title: str, lines: list[str], total: int, empty: str, limit: int = kit.SECTION_TEXT_MAX) -> str:
    """`title` and as many of `lines` as fit in one section, then "…and N more" for the rest of `total`."""
    text = title
    for index, line in enumerate(lines):
        after = total - index - 1
        tail = f"\n…and {after} more" if after else ""
        if len(text) + 1 + len(line) + len(tail) > limit:
            return text + f"\n…and {after + 1} more"
        text += "\n" + line
    if total > len(lines):
        text += f"\n…and {total - len(lines)} more"
    return text if lines else f"{title}\n{empty}".strip()


# -- sections -------------------------------------------------------------------------------------------------

def _on_call(data: HomeData) -> list[dict[str, Any]]:
    blocks = [kit.header("On call now in your teams")]
    for team in data.teams[:TEAMS_SHOWN]:
        blocks.append(kit.section(_team_text(team)))
    if len(data.teams) > TEAMS_SHOWN:
        blocks.append(kit.context(f"…and {len(data.teams) - TEAMS_SHOWN} more teams (`/incident oncall <team>`)."))
    return blocks


def _team_text(team: TeamNow) -> str:
    lines = [_schedule_line(s) for s in team.schedules]
    return listing(f"*{escape_mrkdwn(team.name)}*", lines, len(lines), "_Its policies page people directly: no schedule._")


def _schedule_line(schedule: ScheduleNow) -> str:
    name = f"`{escape_mrkdwn(truncate(schedule.schedule_id, 80))}`"
    until = f" until {slack_date(iso(schedule.until))}" if schedule.until else ""
    if schedule.mine_now:
        return f"• {name}: *you*{until}"
    who = mention(schedule.on_call) if schedule.on_call else f"_nobody_ ({escape_mrkdwn(truncate(schedule.reason, 200))})"
    mine = f" · your next shift: {slack_date(iso(schedule.my_next))}" if schedule.my_next else ""
    return f"• {name}: {who}{until}{mine}"


def _incidents(data: HomeData) -> list[dict[str, Any]]:
    total = len(data.incidents)
    blocks = [kit.header(f"Open incidents ({total})" if total else "Open incidents")]
    if not total:
        blocks.append(kit.context("No open incident in your teams or involving you."))
    for incident in data.incidents[:INCIDENTS_SHOWN]:
        blocks.append(kit.section(_incident_text(data, incident)))
        blocks.append(_incident_buttons(incident))
    if total > INCIDENTS_SHOWN:
        blocks.append(kit.context(f"…and {total - INCIDENTS_SHOWN} more open incidents, less severe or older."))
    return blocks


def _incident_text(data: HomeData, incident: dict[str, Any]) -> str:
    label = data.severity_labels.get(incident["severity"], incident["severity"])
    channel = f" · <#{incident['channel_id']}>" if incident["channel_id"] else ""
    who = f" · acknowledged by <@{incident['acknowledged_by']}>" if incident["acknowledged_by"] else ""
    lines = [
        f"*{incident_ref(incident['number'])} · {escape_mrkdwn(truncate(incident['title'], 200))}*",
        f"{STATUS_LABEL.get(incident['status'], escape_mrkdwn(incident['status']))} · {escape_mrkdwn(label)} · "
        f"{escape_mrkdwn(incident['service_name'])} · {escape_mrkdwn(incident['team_name'])}",
        f"Declared {slack_date(incident['declared_at'])} by <@{incident['declared_by']}>{who}{channel}",
    ]
    return truncate("\n".join(lines), kit.SECTION_TEXT_MAX)


def _incident_buttons(incident: dict[str, Any]) -> dict[str, Any]:
    value = str(incident["id"])
    elements = []
    if incident["status"] == "triggered":
        elements.append(kit.button(ACK, "Acknowledge", value, "primary"))
    elements.append(kit.button(ESCALATE, "Escalate", value))
    elements.append(kit.button(RESOLVE, "Resolve", value, "danger"))
    return kit.actions(f"home:{incident['id']}", elements)


def _pages(data: HomeData) -> dict[str, Any]:
    lines = []
    for page in data.pages[:PAGES_SHOWN]:
        state = "acknowledged" if page["acknowledged_at"] else ("for your information" if page["notify_only"] else page["status"])
        lines.append(f"• {slack_date(page['created_at'])} {incident_ref(page['number'])} · "
                     f"{escape_mrkdwn(truncate(page['title'], 120))} ({escape_mrkdwn(state)}; incident {page['incident_status']})")
    return kit.section(listing("", lines, max(data.pages_total, len(lines)), "_Nobody paged you in the last 7 days._").strip())


def _followups(data: HomeData) -> dict[str, Any]:
    today = data.now.date().isoformat()
    lines = []
    for followup in data.followups[:FOLLOWUPS_SHOWN]:
        overdue = " :warning: *overdue*" if followup["due_on"] < today else ""
        lines.append(f"• Due {followup['due_on']}{overdue} · {incident_ref(followup['number'])}: "
                     f"{escape_mrkdwn(truncate(followup['text'], 300))}")
    return kit.section(listing("", lines, max(data.followups_total, len(lines)), "_No follow-ups waiting on you._").strip())
