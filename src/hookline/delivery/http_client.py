"""The delivery HTTP client: a keep-alive connection pool with the SSRF guard at connect time.

A new connection resolves its host through ``GuardedResolver`` (which drops every refused
address) and connects to one of the checked addresses itself, so DNS rebinding between
the check and the connect is impossible. An address literal, in whatever numeric disguise
(``127.1``, ``2130706433``, ``[::ffff:127.0.0.1]``), is judged by ``AddressPolicy`` and
never resolved. Redirects are not followed, no cookies are kept, and bodies are not
decompressed: the client does none of these things at all.

What a URL needs per request (the request line, ``Host``, basic auth from its userinfo, the
pool key and the guard's verdict on a literal host) is parsed once and cached.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver
from yarl import URL

from hookline.addresses import AddressPolicy, literal_addresses
from hookline.delivery.http_protocol import HttpConnection, Response, SendError
from hookline.delivery.ssrf import BlockedAddress, GuardedResolver
from hookline.models import ErrorKind

_DEFAULT_PORTS = {"http": 80, "https": 443}
_DNS_TTL = 30.0  # seconds a guarded resolution is reused for new connections
_MAX_TARGETS = 10_000


@dataclass(slots=True, frozen=True)
class Target:
    """One endpoint URL, parsed for sending."""

    key: tuple[str, str, int]  # scheme, host, port: connections are pooled by it
    host: str  # without brackets; what is resolved, and the TLS server name
    port: int
    tls: bool
    head: bytes  # request line, Host, Authorization and Accept
    has_auth: bool  # the URL carries credentials: they make the Authorization header
    addresses: tuple[str, ...] | None  # a literal host's address; None: resolve the name
    refused: bool  # the guard refuses the literal host outright


def parse_target(url: str, policy: AddressPolicy) -> Target:
    """ValueError for a URL hookline cannot send to; the message quotes the URL."""
    parsed = URL(url)
    scheme = parsed.scheme.lower()
    host = parsed.raw_host
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError(f"not an http or https URL with a host: {url}")
    port = parsed.explicit_port or _DEFAULT_PORTS[scheme]
    target = parsed.raw_path_qs or "/"
    lines = [f"POST {target} HTTP/1.1", f"host: {parsed.host_port_subcomponent}"]
    if parsed.raw_user is not None:
        credentials = f"{parsed.user or ''}:{parsed.password or ''}"
        try:
            raw = credentials.encode("latin-1")
        except UnicodeEncodeError:
            raw = credentials.encode("utf-8")
        lines.append("authorization: Basic " + base64.b64encode(raw).decode("ascii"))
    lines.append("accept: */*")
    head = ("\r\n".join(lines) + "\r\n").encode("ascii")
    addresses, refused = _judge_literal(host, policy)
    has_auth = parsed.raw_user is not None
    tls = scheme == "https"
    return Target((scheme, host, port), host, port, tls, head, has_auth, addresses, refused)


def _judge_literal(host: str, policy: AddressPolicy) -> tuple[tuple[str, ...] | None, bool]:
    """An IP literal is connected to as written once the guard allows it; any other
    numeric-looking host (``127.1``, ``0x7f.1``) is refused when the guard is on, since
    resolvers differ on those spellings; ``localhost`` and names are resolved."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        ip = None
    if ip is not None:
        address = host if ip.version == 6 else str(ip)
        return (address,), not policy.allows_ip(ip)
    if not policy.enabled:
        return None, False
    numeric = host.replace(".", "").isdigit() or host.lower().startswith("0x")
    if numeric and not literal_addresses(host):
        return None, True
    return None, policy.refuses_literal(host)


class HttpClient:
    """Pooled keep-alive connections per (scheme, host, port); LIFO, so the warmest is
    reused and surplus ones age out after ``idle_timeout``."""

    def __init__(
        self,
        policy: AddressPolicy,
        resolver: AbstractResolver | None,
        *,
        connect_timeout: float,
        max_body: int,
        ssl_context: ssl.SSLContext | None = None,
        idle_timeout: float = 15.0,
        max_idle_per_host: int = 256,
    ) -> None:
        self._policy = policy
        self._guard = GuardedResolver(policy, resolver)
        self._connect_timeout = connect_timeout
        self._max_body = max_body
        self._ssl = ssl_context or ssl.create_default_context()
        self._idle_timeout = idle_timeout
        self._max_idle = max_idle_per_host
        self._idle: dict[tuple[str, str, int], list[HttpConnection]] = {}
        self._dns: dict[tuple[str, int], tuple[float, list[tuple[int, str]]]] = {}
        self._targets: dict[str, Target] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    def target(self, url: str) -> Target:
        found = self._targets.get(url)
        if found is None:
            if len(self._targets) >= _MAX_TARGETS:
                self._targets.clear()
            found = self._targets[url] = parse_target(url, self._policy)
        return found

    async def post(self, target: Target, data: bytes, timeout: float) -> Response:
        """Send ``data`` (the whole request) and read the answer within ``timeout`` seconds
        in all. A reused connection that the server closed before answering anything is
        replaced once: the receiver did not answer that request, and ``webhook-id`` lets it
        drop a copy it did see."""
        deadline = asyncio.get_running_loop().time() + timeout
        conn = self._take(target.key)
        if conn is None:
            conn = await self._connect(target, deadline)
        try:
            try:
                response = await conn.request(data, deadline)
            except SendError as exc:
                if not exc.replayable:
                    raise
                conn = await self._connect(target, deadline)
                response = await conn.request(data, deadline)
        except BaseException:
            conn.close()  # a timeout or failure mid-exchange: the connection is spent
            raise
        self._give_back(target.key, conn)
        return response

    async def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        await self._guard.close()

    # --- pool ----------------------------------------------------------------------------

    def _take(self, key: tuple[str, str, int]) -> HttpConnection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        oldest = time.monotonic() - self._idle_timeout
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.idle_since > oldest:
                return conn
            conn.close()
        return None

    def _give_back(self, key: tuple[str, str, int], conn: HttpConnection) -> None:
        if self._closed or not conn.reusable():
            conn.close()
            return
        idle = self._idle.setdefault(key, [])
        if len(idle) >= self._max_idle:
            conn.close()
            return
        idle.append(conn)
        if self._sweeper is None:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(self._idle_timeout, self._sweep)

    def _sweep(self) -> None:
        """Close connections idle past the timeout, so a quiet host holds no sockets."""
        self._sweeper = None
        oldest = time.monotonic() - self._idle_timeout
        for key, idle in list(self._idle.items()):
            keep = [c for c in idle if not c.closed and c.idle_since > oldest]
            for conn in idle:
                if conn not in keep:
                    conn.close()
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]
        if self._idle and not self._closed:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(self._idle_timeout / 2, self._sweep)

    # --- connecting ----------------------------------------------------------------------

    async def _connect(self, target: Target, deadline: float) -> HttpConnection:
        """Resolving and connecting share the connect timeout, within the request's."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(min(self._connect_timeout, deadline - loop.time())):
                if target.addresses is not None:
                    candidates: Sequence[str] = target.addresses
                else:
                    candidates = [host for _, host in await self._resolve(target)]
                return await self._open(target, candidates)
        except TimeoutError:
            raise SendError(ErrorKind.TIMEOUT, "timed out") from None

    async def _open(self, target: Target, addresses: Sequence[str]) -> HttpConnection:
        """Connect to the first checked address that answers, as aiohttp does."""
        loop = asyncio.get_running_loop()
        last: OSError | None = None
        for address in addresses:
            try:
                _, conn = await loop.create_connection(
                    lambda: HttpConnection(self._max_body),
                    address,
                    target.port,
                    ssl=self._ssl if target.tls else None,
                    server_hostname=target.host if target.tls else None,
                )
                return conn
            except ssl.SSLError as exc:
                raise SendError(ErrorKind.TLS, str(exc)) from None
            except OSError as exc:
                last = exc
        assert last is not None
        kind = ErrorKind.CONNECTION_REFUSED
        if not isinstance(last, ConnectionRefusedError):
            kind = ErrorKind.CONNECTION_ERROR
        where = f"{target.host}:{target.port}"
        raise SendError(kind, f"cannot connect to {where}: {last}") from None

    async def _resolve(self, target: Target) -> list[tuple[int, str]]:
        """The guard's allowed addresses for a name, cached briefly: each new connection
        still goes to an address the guard has allowed."""
        key = (target.host, target.port)
        now = time.monotonic()
        cached = self._dns.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            results = await self._guard.resolve(target.host, target.port, socket.AF_UNSPEC)
        except BlockedAddress as exc:
            raise SendError(ErrorKind.BLOCKED, str(exc)) from None
        except socket.gaierror as exc:
            raise SendError(ErrorKind.DNS, f"cannot resolve {target.host}: {exc}") from None
        except OSError as exc:
            raise SendError(ErrorKind.CONNECTION_ERROR, str(exc)) from None
        found = [(int(r["family"]), r["host"]) for r in results]
        if len(self._dns) >= _MAX_TARGETS:
            self._dns.clear()
        self._dns[key] = (now + _DNS_TTL, found)
        return found
