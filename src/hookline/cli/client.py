"""The CLI's HTTP client: one server, one token, and errors a person can read.

The CLI talks to hookline over HTTP only, as any remote user's tool would, so it works
against a server on another machine and never imports the server's code. Every expected
failure (the server's ``{"code", "detail"}``, a refused connection, a bad token) becomes
one ``error: ...`` line and a non-zero exit, never a traceback; the token appears in none.
"""

from __future__ import annotations

import functools
import json
import logging
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import click
import httpx

from hookline.cli import profiles

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
LOGIN_HINT = "run `hookline login` (or set HOOKLINE_URL and HOOKLINE_TOKEN)"


class CliError(click.ClickException):
    """Shown as ``error: <message>`` on stderr, exit status 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class ApiError(CliError):
    """The server answered with an error: its status and ``code`` are kept for callers."""

    def __init__(self, message: str, status: int, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def describe(body: object) -> str:
    """The server's error body as one line: ``code: detail`` (422 details by place)."""
    if not isinstance(body, dict) or "code" not in body:
        return str(body)
    detail = body.get("detail")
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
            else:
                parts.append(str(item))
        detail = "; ".join(parts)
    return f"{body['code']}: {detail}"


@functools.cache
def _tls() -> ssl.SSLContext:
    """Made on first use and kept: loading the CA bundle is most of a client's start-up."""
    return httpx.create_ssl_context()


class Api:
    """A thin authenticated client; ``request`` returns the decoded JSON (None for 204)."""

    def __init__(self, url: str, token: str) -> None:
        # httpx logs each request at INFO, the CLI's default level: only --log-level debug
        # should show them (the output is the command's, not a request log)
        level = logging.getLogger().getEffectiveLevel()
        logging.getLogger("httpx").setLevel(level if level <= logging.DEBUG else logging.WARNING)
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "hookline-cli"},
            timeout=TIMEOUT,
            verify=_tls(),
        )

    def __repr__(self) -> str:  # never the token
        return f"Api(url={self.url!r})"

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        query = {k: v for k, v in (params or {}).items() if v not in (None, (), [])}
        try:
            resp = self._http.request(method, path, json=json_body, params=query)
        except httpx.ConnectError:
            raise CliError(
                f"cannot connect to {self.url}: is hookline running there? ({LOGIN_HINT})"
            ) from None
        except httpx.TimeoutException:
            raise CliError(f"{self.url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise CliError(f"{self.url}: {type(exc).__name__}") from None
        if resp.status_code == 204 or not resp.content:
            if resp.is_success:
                return None
        try:
            body = resp.json()
        except ValueError:
            body = resp.text[:200]
        if resp.is_success:
            return body
        code = body.get("code") if isinstance(body, dict) else None
        text = describe(body) if code else f"HTTP {resp.status_code}"
        if resp.status_code == 401:
            text += f" ({LOGIN_HINT})"
        raise ApiError(text, resp.status_code, code)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.request("POST", path, json_body={} if body is None else body, params=params)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json_body=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json_body=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


@dataclass
class Session:
    """What an API command gets: the client (made on first use) and the output mode."""

    profile: str | None
    as_json: bool
    _api: Api | None = field(default=None, repr=False)

    @property
    def api(self) -> Api:
        if self._api is None:
            try:
                found = profiles.resolve(self.profile)
            except profiles.ProfileError as exc:
                raise CliError(str(exc)) from None
            self._api = Api(found.url, found.token)
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


def api_command(func: Callable[..., None]) -> Callable[..., None]:
    """Adds ``--profile`` and ``--json`` and passes a ``Session`` as the first argument."""

    @click.option("--profile", default=None, help="Login profile [env HOOKLINE_PROFILE].")
    @click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")
    @functools.wraps(func)
    def wrapper(*args: Any, profile: str | None, as_json: bool, **kwargs: Any) -> None:
        session = Session(profile, as_json)
        try:
            func(session, *args, **kwargs)
        finally:
            session.close()

    return wrapper


def parse_json(text: str, what: str) -> Any:
    """``text`` is JSON, ``@path`` a file of JSON, ``-`` standard input."""
    raw = read_arg(text, what)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise CliError(f"{what} is not valid JSON: {exc}") from None


def read_arg(text: str, what: str) -> str:
    if text == "-":
        return sys.stdin.read()
    if text.startswith("@"):
        try:
            with open(text[1:], encoding="utf-8") as f:
                return f.read()
        except OSError as exc:
            raise CliError(f"cannot read {what} from {text[1:]}: {exc.strerror}") from None
    return text


def drop_none(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None and v != ()}


def list_options(func: Callable[..., None]) -> Callable[..., None]:
    """``--limit`` and ``--iterator``, as the API's list routes take them."""
    func = click.option("--iterator", default=None, help="Where the previous page ended.")(func)
    return click.option(
        "--limit", default=None, type=click.IntRange(1, 250), help="Items per page."
    )(func)


def complete_app(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of application ids and uids, from the server (silent on failure)."""
    try:
        found = profiles.resolve(ctx.params.get("profile"))
        api = Api(found.url, found.token)
        try:
            page = api.get("/api/v1/app", limit=250)
        finally:
            api.close()
    except (CliError, profiles.ProfileError, httpx.HTTPError):
        return []
    names = [a["id"] for a in page.get("data", [])]
    names += [a["uid"] for a in page.get("data", []) if a.get("uid")]
    return [n for n in names if n.startswith(incomplete)]


def app_argument(func: Callable[..., None]) -> Callable[..., None]:
    return click.argument("app_id", shell_complete=complete_app)(func)
