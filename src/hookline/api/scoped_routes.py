"""What a credential scoped to one application may call: an allowlist, as data.

A consumer-portal token or session reaches only the routes listed here, each with the
capability it needs; any other route (creating apps, publishing, sources, event-type
writes, operational webhooks, a route added later and not listed) is refused. The object
a rule names in its path (the application, or a background task) must be the
credential's application, else 404, so a holder learns nothing of other applications.
Objects below the application (endpoints, messages, attempts) are then found by the
routes within that application, as for every caller."""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.routing import compile_path

from hookline.access import Capability

_APP = "/api/v1/app/{app_id}"
_EP = _APP + "/endpoint/{endpoint_id}"
_MSG = _APP + "/msg/{msg_id}"

VIEW = Capability.VIEW_BASE
MANAGE = Capability.MANAGE_ENDPOINT
ATTEMPTS = Capability.CREATE_ATTEMPTS

# (method, path template as the API's routes spell it, capability needed);
# None: any scoped credential (logging itself out).
RULES: tuple[tuple[str, str, Capability | None], ...] = (
    ("GET", _APP, VIEW),
    ("GET", _APP + "/endpoint", VIEW),
    ("POST", _APP + "/endpoint", MANAGE),
    ("GET", _EP, VIEW),
    ("PUT", _EP, MANAGE),
    ("PATCH", _EP, MANAGE),
    ("DELETE", _EP, MANAGE),
    ("GET", _EP + "/secret", Capability.VIEW_ENDPOINT_SECRET),
    ("POST", _EP + "/secret/rotate", Capability.MANAGE_ENDPOINT_SECRET),
    ("GET", _EP + "/headers", VIEW),
    ("PUT", _EP + "/headers", MANAGE),
    ("PATCH", _EP + "/headers", MANAGE),
    ("GET", _EP + "/stats", VIEW),
    ("GET", _EP + "/attempt-stats", VIEW),
    ("GET", _APP + "/stats/attempts", VIEW),
    ("GET", "/api/v1/stats/app/{app_id}/attempt", VIEW),
    ("GET", _APP + "/msg", VIEW),
    ("GET", _MSG, VIEW),
    ("GET", _EP + "/msg", VIEW),
    ("GET", _MSG + "/endpoint", VIEW),
    ("GET", _APP + "/attempt/msg/{msg_id}", VIEW),
    ("GET", _APP + "/attempt/endpoint/{endpoint_id}", VIEW),
    ("GET", _MSG + "/attempt/{attempt_id}", VIEW),
    ("GET", _MSG + "/raw", VIEW),
    ("GET", _APP + "/attempt/endpoint/{endpoint_id}/count", VIEW),
    ("GET", _MSG + "/attempt/{attempt_id}/headers", VIEW),
    ("POST", _MSG + "/endpoint/{endpoint_id}/resend", ATTEMPTS),
    ("POST", _EP + "/recover", ATTEMPTS),
    ("POST", _EP + "/replay-missing", ATTEMPTS),
    ("POST", _EP + "/bulk-replay", ATTEMPTS),
    ("POST", _EP + "/send-example", ATTEMPTS),
    # polling: reading, committing and seeking a consumer's own cursor
    ("GET", _APP + "/poller/{sink_id}", VIEW),
    ("GET", _APP + "/poller/{sink_id}/consumer/{consumer_id}", VIEW),
    ("POST", _APP + "/poller/{sink_id}/consumer/{consumer_id}/seek", VIEW),
    ("GET", _APP + "/events", VIEW),
    ("GET", "/api/v1/background-task/{task_id}", VIEW),
    ("GET", "/api/v1/event-type", VIEW),
    ("GET", "/api/v1/event-type/{event_type_name}", VIEW),
    ("GET", "/api/v1/environment/settings", VIEW),
    ("POST", "/api/v1/auth/logout", None),
    ("GET", "/api/v1/auth/whoami", None),
)

# An application-scoped key reaches every route under its application (publishing,
# endpoints, messages, attempts, whatever is added there later), and of the routes
# outside it only these (each checked, like the portal's, against its application).
APP_KEY_RULES: tuple[tuple[str, str, Capability | None], ...] = (
    ("GET", "/api/v1/background-task/{task_id}", None),
    ("GET", "/api/v1/event-type", None),
    ("GET", "/api/v1/event-type/{event_type_name}", None),
    ("GET", "/api/v1/environment/settings", None),
    ("POST", "/api/v1/auth/logout", None),
    ("GET", "/api/v1/auth/whoami", None),
)
# (``/api/v1/app/stats/count-active`` counts every application: it is not under one, even
# when an application's uid is ``stats``)
_UNDER_APP = re.compile(r"^/api/v1/app/(?!stats/count-active$)(?P<app_id>[^/]+)(?:/.*)?$")
# No key creates, reads or rotates keys, whatever its scope: a leaked key cannot mint a
# credential that outlives its own revocation. The admin token (or an operator) does.
_KEY_MANAGEMENT = re.compile(r"^/api/v1/(auth/api-token(?:/.*)?|app/[^/]+/integration(?:/.*)?)$")


@dataclass(frozen=True, slots=True)
class Rule:
    method: str
    template: str
    capability: Capability | None
    pattern: re.Pattern[str]

    @property
    def owner(self) -> str | None:
        """The path parameter naming the object that must belong to the credential's
        application: ``app_id`` or ``task_id``; None for catalogue reads and logout."""
        for name in ("app_id", "task_id"):
            if "{" + name + "}" in self.template:
                return name
        return None


@dataclass(frozen=True, slots=True)
class Match:
    rule: Rule
    params: dict[str, str]


def compile_rules(
    rules: tuple[tuple[str, str, Capability | None], ...] = RULES,
) -> tuple[Rule, ...]:
    # the same path syntax (and parameter regex) as the routes themselves
    return tuple(Rule(m, t, c, compile_path(t)[0]) for m, t, c in rules)


def match(rules: tuple[Rule, ...], method: str, path: str) -> Match | None:
    method = "GET" if method == "HEAD" else method
    for rule in rules:
        if rule.method != method:
            continue
        found = rule.pattern.match(path)
        if found is not None:
            return Match(rule, found.groupdict())
    return None


def manages_keys(path: str) -> bool:
    return _KEY_MANAGEMENT.match(path) is not None


def app_key_match(rules: tuple[Rule, ...], method: str, path: str) -> Match | None:
    """The rule an application-scoped key passes, if any: under ``/api/v1/app/{app_id}``
    any method (the application must be the key's), else ``rules``."""
    found = _UNDER_APP.match(path)
    if found is not None:
        rule = Rule(method, "/api/v1/app/{app_id}", None, _UNDER_APP)
        return Match(rule, found.groupdict())
    return match(rules, method, path)
