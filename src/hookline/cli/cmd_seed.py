"""``hookline seed``: a demo application with event types, endpoints and messages, so
the dashboard, the attempt log and ``hookline listen`` have something to show.

Everything it makes has a fixed uid (event types a fixed name, messages a fixed event
id), so running it again finds what exists and makes only what is missing.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table
from rich.text import Text

from hookline.cli.client import Api, ApiError, Session, api_command
from hookline.cli.output import console, echo_json
from hookline.cli.root import main

APP_UID = "demo"
EVENT_TYPES = {
    "invoice.paid": "An invoice was paid in full.",
    "invoice.failed": "A payment attempt failed.",
    "user.created": "A user signed up.",
}
MESSAGES = [
    ("demo-invoice-1", "invoice.paid", {"invoice": "in_1", "amount": 4200, "currency": "eur"}),
    ("demo-invoice-2", "invoice.failed", {"invoice": "in_2", "reason": "card_declined"}),
    ("demo-user-1", "user.created", {"user": "u_1", "email": "ada@example.com"}),
]
DEFAULT_URL = "http://127.0.0.1:9000/webhooks"


def _ensure(api: Api, get_path: str, create_path: str, body: dict[str, Any]) -> tuple[Any, bool]:
    """The object at ``get_path``, created from ``body`` if it is missing; True if made."""
    try:
        return api.get(get_path), False
    except ApiError as exc:
        if exc.status != 404:
            raise
    return api.post(create_path, body), True


def _publish(
    api: Api, app_id: str, event_id: str, event_type: str, payload: Any
) -> tuple[Any, bool]:
    try:
        return api.get(f"/api/v1/app/{app_id}/msg/{event_id}"), False
    except ApiError as exc:
        if exc.status != 404:
            raise
    body = {"eventType": event_type, "eventId": event_id, "payload": payload}
    return api.post(f"/api/v1/app/{app_id}/msg", body), True


@main.command()
@click.option(
    "--endpoint-url",
    "urls",
    multiple=True,
    default=(DEFAULT_URL,),
    show_default=True,
    help="Where the demo endpoints point; repeat for more.",
)
@api_command
def seed(session: Session, urls: tuple[str, ...]) -> None:
    """Create a demo application, event types, endpoints and messages (idempotent)."""
    api = session.api
    made: list[tuple[str, str, str, bool]] = []
    for name, description in EVENT_TYPES.items():
        body = {"name": name, "description": description}
        et, new = _ensure(api, f"/api/v1/event-type/{name}", "/api/v1/event-type", body)
        made.append(("event type", et["name"], "", new))
    app, new = _ensure(
        api, f"/api/v1/app/{APP_UID}", "/api/v1/app", {"name": "Demo", "uid": APP_UID}
    )
    made.append(("application", app["id"], APP_UID, new))
    for index, url in enumerate(urls, start=1):
        uid = f"demo-endpoint-{index}"
        path = f"/api/v1/app/{app['id']}/endpoint"
        body = {"url": url, "uid": uid, "description": "hookline seed"}
        ep, new = _ensure(api, f"{path}/{uid}", path, body)
        made.append(("endpoint", ep["id"], f"{uid} -> {ep['url']}", new))
    for event_id, event_type, payload in MESSAGES:
        msg, new = _publish(api, app["id"], event_id, event_type, payload)
        made.append(("message", msg["id"], f"{event_id} ({event_type})", new))
    if session.as_json:
        echo_json([{"kind": k, "id": i, "about": a, "created": n} for k, i, a, n in made])
        return
    table = Table(title="hookline seed", title_justify="left")
    for heading in ("kind", "id", "about", "status"):
        widest = max(len(ident) for _, ident, _, _ in made) if heading == "id" else None
        table.add_column(heading, overflow="fold", min_width=widest)
    for kind, ident, about, new in made:
        table.add_row(*(Text(v) for v in (kind, ident, about, "created" if new else "exists")))
    console().print(table)
