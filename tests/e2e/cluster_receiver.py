"""A receiver that records when each request was open, and the checks run on that record.

The cluster test asks questions of timing that :class:`hookline.testing.Receiver` does not
keep: when each request's answer went out, not only when it arrived. A request counts as
open from the moment its handler runs until just before its answer is written, a span
inside the sender's own (it sent before we saw it, and hears back after we answer), so
overlaps seen here are overlaps that really happened; holding each request a few
milliseconds makes them likely enough to show. The checks are plain functions, so a unit
test can feed them a sequence that breaks the rule and watch them catch it.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from aiohttp import web
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

LOOPBACK_HOST = "127.0.0.1"
SAMPLES_PER_PATH = 5  # requests per path kept whole, for signature checks


@dataclass(frozen=True, slots=True)
class Hit:
    """One request: where, which message, when it was open, and what it was answered."""

    path: str
    msg_id: str
    start: float
    end: float
    status: int


@dataclass(frozen=True, slots=True)
class Sample:
    """A request whose signature was checked on arrival (the check refuses old timestamps,
    so it cannot wait for the end of a long run): None, or why it failed."""

    path: str
    msg_id: str
    error: str | None


@dataclass(slots=True)
class PathRule:
    """How a path answers: after ``hold`` seconds, 200; if ``flaky``, 500 the first time
    it sees a message whose payload says ``"fail": true``."""

    hold: float = 0.0
    flaky: bool = False


@dataclass
class TimingReceiver:
    """An HTTP server on 127.0.0.1 recording a :class:`Hit` per request."""

    rules: Mapping[str, PathRule]
    secrets: dict[str, str] = field(default_factory=dict)  # path -> signing secret
    hits: list[Hit] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    _failed_once: set[tuple[str, str]] = field(default_factory=set)
    _sampled: Counter[str] = field(default_factory=Counter)
    _runner: web.AppRunner | None = None
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://{LOOPBACK_HOST}:{self.port}{path}"

    async def __aenter__(self) -> TimingReceiver:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, LOOPBACK_HOST, 0, backlog=1024).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        start = time.monotonic()
        body = await request.read()
        msg_id = request.headers.get("webhook-id", "")
        rule = self.rules.get(request.path, PathRule())
        status = 200
        if rule.flaky and json.loads(body).get("fail"):
            key = (request.path, msg_id)
            if key not in self._failed_once:
                self._failed_once.add(key)
                status = 500
        secret = self.secrets.get(request.path)
        if secret is not None and self._sampled[request.path] < SAMPLES_PER_PATH:
            self._sampled[request.path] += 1
            self.samples.append(Sample(request.path, msg_id, _verify(secret, request, body)))
        if rule.hold > 0:
            await asyncio.sleep(rule.hold)
        self.hits.append(Hit(request.path, msg_id, start, time.monotonic(), status))
        return web.Response(status=status)


def _verify(secret: str, request: web.Request, body: bytes) -> str | None:
    """Checked by an independent implementation of Standard Webhooks."""
    try:
        StandardWebhook(secret).verify(body, dict(request.headers))
    except WebhookVerificationError as exc:
        return str(exc)
    return None


# --- checks: pure functions of the record ---------------------------------------------


def max_open(hits: Iterable[Hit]) -> int:
    """The most requests open at one moment (an answer at the instant another arrives
    does not overlap it)."""
    events = sorted([(h.start, 1) for h in hits] + [(h.end, -1) for h in hits])
    peak = current = 0
    for _, step in events:  # at equal times -1 sorts first
        current += step
        peak = max(peak, current)
    return peak


def rate_excess(
    starts: Sequence[float], rate: float, windows: Sequence[float], slack_s: float
) -> list[tuple[float, int, float]]:
    """Windows where arrivals beat a token bucket of ``rate`` a second holding one
    second's worth: within ``w`` seconds it hands out at most ``rate * (w + 1)``, plus
    ``slack_s`` seconds' worth for requests granted just before a window but arriving
    inside it. For each window length that was beaten: (w, most arrivals, allowed)."""
    times = sorted(starts)
    found: list[tuple[float, int, float]] = []
    for w in windows:
        allowed = rate * (w + 1 + slack_s)
        most = max(
            (bisect.bisect_left(times, t + w, lo=i) - i for i, t in enumerate(times)), default=0
        )
        if most > allowed:
            found.append((w, most, allowed))
    return found


def first_arrival_order(hits: Iterable[Hit]) -> list[str]:
    """Message ids in the order each first arrived."""
    seen: set[str] = set()
    order: list[str] = []
    for hit in sorted(hits, key=lambda h: h.start):
        if hit.msg_id not in seen:
            seen.add(hit.msg_id)
            order.append(hit.msg_id)
    return order


def out_of_order(order: Sequence[str], expected: Sequence[str]) -> list[tuple[int, str, str]]:
    """Where ``order`` departs from ``expected``: (position, got, wanted), at most 5."""
    wrong = [(i, g, w) for i, (g, w) in enumerate(zip(order, expected, strict=False)) if g != w]
    if len(order) != len(expected):
        wrong.append((min(len(order), len(expected)), f"{len(order)} ids", f"{len(expected)}"))
    return wrong[:5]


@dataclass(frozen=True, slots=True)
class DeliveryCount:
    """What arrived against what was expected, per (path, message)."""

    missing: list[tuple[str, str]]  # expected, never answered 2xx
    unexpected: list[tuple[str, str]]  # arrived, but the message does not match the path
    duplicates: int  # 2xx answers beyond the first per (path, message)


def count_deliveries(hits: Iterable[Hit], expected: Iterable[tuple[str, str]]) -> DeliveryCount:
    """``expected``: every (path, message id) that must be answered 2xx at least once."""
    expected = set(expected)
    ok: Counter[tuple[str, str]] = Counter()
    seen: set[tuple[str, str]] = set()
    for hit in hits:
        seen.add((hit.path, hit.msg_id))
        if hit.status < 300:
            ok[(hit.path, hit.msg_id)] += 1
    missing = sorted(k for k in expected if ok[k] == 0)
    unexpected = sorted(k for k in seen if k not in expected)
    duplicates = sum(n - 1 for n in ok.values() if n > 1)
    return DeliveryCount(missing, unexpected, duplicates)


def duplicated(hits: Iterable[Hit]) -> list[Hit]:
    """The first 2xx request of every (path, message) answered 2xx more than once."""
    first: dict[tuple[str, str], Hit] = {}
    repeated: set[tuple[str, str]] = set()
    for hit in sorted(hits, key=lambda h: h.start):
        if hit.status < 300:
            key = (hit.path, hit.msg_id)
            if key in first:
                repeated.add(key)
            else:
                first[key] = hit
    return [first[key] for key in sorted(repeated)]


def outside(hits: Iterable[Hit], spans: Iterable[tuple[float, float]]) -> list[Hit]:
    """The hits that started in none of ``spans`` (inclusive)."""
    spans = list(spans)
    return [h for h in hits if not any(lo <= h.start <= hi for lo, hi in spans)]


def by_path(hits: Iterable[Hit]) -> dict[str, list[Hit]]:
    out: defaultdict[str, list[Hit]] = defaultdict(list)
    for hit in hits:
        out[hit.path].append(hit)
    return dict(out)
