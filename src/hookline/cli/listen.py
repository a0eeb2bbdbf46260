"""``hookline listen``: a local receiver that prints each webhook and checks its signature.

For trying hookline out and for developing a receiver: point an endpoint at it, publish,
and watch what arrives. The tunnel that forwards to localhost from the outside comes later.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable

import click
from aiohttp import web

from hookline.cli.root import main, use_uvloop
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
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9000, show_default=True, type=int)
@click.option("--secret", default=None, help="The endpoint's whsec_/whpk_ key, to verify.")
@click.option("--status", default=200, show_default=True, type=int, help="Status to answer.")
def listen(host: str, port: int, secret: str | None, status: int) -> None:
    """Receive webhooks locally: print each one and verify its signature."""
    webhook = None
    if secret:
        try:
            webhook = Webhook(secret)
        except InvalidSecret as exc:
            raise click.BadParameter(str(exc), param_hint="--secret") from None
    use_uvloop()
    asyncio.run(serve(host, port, webhook, status))
