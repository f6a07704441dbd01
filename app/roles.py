"""Roles in an incident: who leads, who keeps notes, who talks to customers; the one way any of them is given.

The catalog names the roles (`roles:`; the lead always exists, see `Catalog.roles`) and says what
the person in each should do. Giving a role is one transaction: the holder replaces the previous
one in `incident_roles` (and in `incidents.lead`, for the lead: `/incident lead`, "I'll lead" and
a policy's `lead_on_ack` all come here, so the two never disagree), the timeline says who gave it
to whom, the channel is told, the summary re-rendered, and the new holder gets a DM with the
role's instructions and a link to the incident channel.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app import outbox
from app.catalog import Catalog
from app.catalog.schema import DEFAULT_LEAD, LEAD, Role
from app.incidents import Outcome, channel_name_for, open_incident, say_and_refresh
from app.store import Store, Tx
from app.text import escape_mrkdwn, incident_ref, truncate

Row = dict[str, Any]


def known(catalog: Catalog | None) -> dict[str, Role]:
    """The roles that can be given, by id, the lead first (the built-in one when there is no catalog at hand)."""
    return catalog.roles if catalog is not None else {LEAD: DEFAULT_LEAD}


def listed(roles: dict[str, Role]) -> str:
    """`lead` (Incident lead), `scribe` (Scribe): what to type, and what it is called."""
    return ", ".join(f"`{rid}` ({escape_mrkdwn(role.name)})" for rid, role in roles.items())


def unknown_role(typed: str, roles: dict[str, Role]) -> str:
    return f"There is no role “{escape_mrkdwn(truncate(typed, 60))}” in the catalog. Roles: {listed(roles)}."


def _channel_link(incident: Row) -> str:
    if incident.get("channel_id"):
        return f"<#{incident['channel_id']}>"
    return f"#{incident.get('channel_name') or channel_name_for(incident['number'], incident['title'])}"


def _holder(tx: Tx, incident: Row, role_id: str) -> str | None:
    """Who holds the role now; the lead is the incident's own `lead` (older incidents set it with no role row)."""
    if role_id == LEAD:
        return incident["lead"]
    row = tx.role_holder(incident["id"], role_id)
    return row["user_id"] if row else None


def give(tx: Tx, incident: Row, role: Role, user_id: str, by: str, now: datetime, *, announce: bool = True,
         why: str = "") -> Outcome:
    """Give `role` to `user_id` inside the caller's transaction: the row, the lead, the timeline and the DM.

    With `announce` (the default) the incident gets a new version, a message in its channel and a
    summary refresh; without it the caller does those (an acknowledgement that makes its clicker
    the lead says both in one message).
    """
    ref = incident_ref(incident["number"])
    previous = _holder(tx, incident, role.id)
    name = escape_mrkdwn(role.name)
    if previous == user_id:
        already = f"<@{user_id}> already leads {ref}." if role.id == LEAD else f"<@{user_id}> is already the {name} of {ref}."
        return Outcome(incident, False, already)
    incident_id = incident["id"]
    tx.set_role(incident_id, role.id, user_id, by, now)
    if role.id == LEAD:
        tx.set_incident_fields(incident_id, lead=user_id)  # the version moves below (or with the caller's change)
        tx.touch_rule_timers(incident_id, now)  # "lead unassigned for" rules stop waiting
    took = user_id == by
    plain = f"{by} took the role {role.name}" if took else f"{by} made {user_id} the {role.name}"
    tx.add_timeline(incident_id, now, "role_assigned", plain + (f" (replacing {previous})" if previous else "") + (f"; {why}" if why else "") + ".",
                    actor=by, data={"role": role.id, "user": user_id, "previous": previous})
    version = incident["version"]
    if announce:
        incident = tx.bump_incident(incident_id, now)
        version = incident["version"]
        replacing = f" (replacing <@{previous}>)" if previous else ""
        if role.id == LEAD:
            said = f":crown: <@{by}> took the lead of {ref}." if took else f":crown: <@{by}> made <@{user_id}> the incident lead of {ref}{replacing}."
        else:
            said = (f":busts_in_silhouette: <@{by}> took the role *{name}* in {ref}." if took
                    else f":busts_in_silhouette: <@{by}> made <@{user_id}> the *{name}* of {ref}{replacing}.")
        say_and_refresh(tx, incident, now, f"role:{role.id}:{version}", said)
    given = "You took" if took else f"<@{by}> gave you"
    text = (f":busts_in_silhouette: {given} the role *{name}* in *{ref} · {escape_mrkdwn(incident['title'])}*."
            + (f" ({escape_mrkdwn(why)})" if why else "")
            + f"\n*What the {name} does:* {escape_mrkdwn(role.description)}\nIncident channel: {_channel_link(incident)}")
    tx.enqueue(outbox.direct_message(outbox.dm_key("role", incident_id, role.id, user_id, version), user_id,
                                     truncate(text, 3000), incident_id), now)
    message = f"<@{user_id}> leads {ref}." if role.id == LEAD else f"<@{user_id}> is the {name} of {ref}."
    return Outcome(incident, True, message, {"role": role.id, "user": user_id, "previous": previous})


def assign_role(store: Store, catalog: Catalog | None, incident_id: int, role_id: str, user_id: str, by: str,
                now: datetime) -> Outcome:
    """Give a role in an open incident (the one use case behind `/incident role`, the picker, `/incident lead`, "I'll lead")."""
    roles = known(catalog)
    role = roles.get(role_id)
    if role is None:
        return Outcome(None, False, unknown_role(role_id, roles))
    with store.transaction() as tx:
        incident, refusal = open_incident(tx, incident_id)
        if incident is None:
            return refusal  # type: ignore[return-value]
        if incident["status"] == "resolved":
            return Outcome(incident, False, f"{incident_ref(incident['number'])} is resolved; its roles stay as they were.")
        return give(tx, incident, role, user_id, by, now)


def lead_on_acknowledgement(tx: Tx, catalog: Catalog | None, incident: Row, user_id: str, now: datetime) -> bool:
    """The policy (as snapshotted) makes the first acknowledger the lead: do it, unless someone already leads.

    Called by `incidents.acknowledge` inside its transaction, before it bumps the version and says
    what happened; True when the acknowledger became the lead.
    """
    if incident["lead"]:
        return False
    return give(tx, incident, known(catalog)[LEAD], user_id, user_id, now, announce=False,
                why="the escalation policy makes the first acknowledger the lead").changed


def holders(store: Store, catalog: Catalog, incident: Row) -> str:
    """`/incident role` on its own: every role, who holds it, and how to give one (mrkdwn, for the asker only)."""
    held = {row["role"]: row["user_id"] for row in store.roles(incident["id"])}
    if incident["lead"]:
        held[LEAD] = incident["lead"]
    lines = [f"*Roles in {incident_ref(incident['number'])}*"]
    for rid, role in catalog.roles.items():
        who = f"<@{held[rid]}>" if rid in held else "nobody yet"
        lines.append(f"• *{escape_mrkdwn(role.name)}* (`{rid}`): {who}")
    lines += [f"• `{escape_mrkdwn(rid)}` (no longer in the catalog): <@{uid}>" for rid, uid in held.items() if rid not in catalog.roles]
    example = next((rid for rid in catalog.roles if rid != LEAD), LEAD)
    lines.append(f"Give one with `/incident role {example} @someone`, or *Assign a role…* on the pinned summary.")
    return truncate("\n".join(lines), 3000)
