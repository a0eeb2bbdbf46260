"""``hookline listen``: webhooks to localhost, through the user's own hookline server.

With a TARGET URL it attaches to a tunnel endpoint (``tunnel://``) over a WebSocket and
forwards every delivery to TARGET (``tunnel_client``); without one it is a local receiver
that prints each webhook it gets on ``--port`` and checks its signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Awaitable, Callable

import aiohttp
import click
from aiohttp import web

from hookline.cli import profiles
from hookline.cli.root import main, use_uvloop
from hookline.cli.tunnel_client import Api, Attachment, Listener, ListenError, attach, default_name
from hookline.errors import SignatureError
from hookline.signing import InvalidSecret, Webhook


def _describe(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body.decode("utf-8", errors="replace")


def make_handler(
    webhook: Webhook | None, status: int
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        verdict = "not verified (pass --secret)"
        if webhook is not None:
            try:
                webhook.verify(body, request.headers)
                verdict = "signature OK"
            except SignatureError as exc:
                verdict = f"signature INVALID: {exc}"
        click.echo(
            f"{request.method} {request.path_qs}  webhook-id={request.headers.get('webhook-id')}"
            f"  {verdict}\n{_describe(body)}\n"
        )
        return web.Response(status=status, text="")

    return handle


async def serve(host: str, port: int, webhook: Webhook | None, status: int) -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", make_handler(webhook, status))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    click.echo(f"listening on http://{host}:{port}/ (answering {status}); Ctrl-C stops")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


@main.command()
@click.argument("target", required=False)
@click.option("--app", default=None, help="Attach in this application (id or uid).")
@click.option("--endpoint", default=None, help="Attach to this tunnel endpoint (ep_... or uid).")
@click.option("--source", default=None, help="Attach in this inbound source's application.")
@click.option("--events", default=None, help="Event types to receive: a.b,c.* (default all).")
@click.option("--name", default=None, help="Names the endpoint and source made: listen-NAME.")
@click.option("--profile", default=None, help="Login profile (HOOKLINE_URL/TOKEN override).")
@click.option("--verbose", is_flag=True, help="Print headers and bodies too.")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds the target may take.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Local receiver only.")
@click.option("--port", default=9000, show_default=True, type=int, help="Local receiver only.")
@click.option("--secret", default=None, help="The endpoint's whsec_/whpk_ key, to verify.")
@click.option("--status", default=200, show_default=True, type=int, help="Local receiver only.")
def listen(
    target: str | None,
    app: str | None,
    endpoint: str | None,
    source: str | None,
    events: str | None,
    name: str | None,
    profile: str | None,
    verbose: bool,
    timeout: float,
    host: str,
    port: int,
    secret: str | None,
    status: int,
) -> None:
    """Forward webhooks to TARGET (http://localhost:3000/hook) through your hookline
    server; without TARGET, receive them on --port and print each one."""
    webhook = None
    if secret:
        try:
            webhook = Webhook(secret)
        except InvalidSecret as exc:
            raise click.BadParameter(str(exc), param_hint="--secret") from None
    use_uvloop()
    if target is None:
        asyncio.run(serve(host, port, webhook, status))
        return
    if not target.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="TARGET")
    if endpoint is not None and app is None and source is None:
        raise click.UsageError("--endpoint needs --app or --source (its application)")
    try:
        found = profiles.resolve(profile)
    except profiles.ProfileError as exc:
        raise click.ClickException(str(exc)) from None
    wanted = [e.strip() for e in (events or "").split(",") if e.strip()]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            _tunnel(found, target, app, endpoint, source, wanted, name, secret, verbose, timeout)
        )


async def _tunnel(
    found: profiles.Profile,
    target: str,
    app: str | None,
    endpoint: str | None,
    source: str | None,
    events: list[str],
    name: str | None,
    secret: str | None,
    verbose: bool,
    timeout: float,
) -> None:
    async with aiohttp.ClientSession() as http:
        api = Api(http, found.url, found.token)
        try:
            where = await attach(api, app, endpoint, source, events, name or default_name())
        except aiohttp.ClientError as exc:
            raise ListenError(f"cannot reach {found.url}: {exc}") from None
        _announce(found.url, where)
        ws_url = (
            found.url.replace("http", "ws", 1)
            + f"/api/v1/app/{where.app_id}/endpoint/{where.endpoint_id}/tunnel"
        )
        listener = Listener(
            http,
            ws_url,
            found.token,
            target,
            secret=secret or where.secret,
            verbose=verbose,
            timeout=timeout,
        )
        await listener.run()


def _announce(base_url: str, where: Attachment) -> None:
    click.echo(f"application: {where.app_id}")
    click.echo(f"endpoint:    {where.endpoint_id} (tunnel://)")
    if where.secret:
        click.echo(f"secret:      {where.secret}")
    if where.ingest_url:
        click.echo(f"ingest URL:  {where.ingest_url}")
    else:
        click.echo(f"publish to:  {base_url}/api/v1/app/{where.app_id}/msg")
