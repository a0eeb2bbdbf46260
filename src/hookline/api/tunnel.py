"""The tunnel socket: ``hookline listen`` attaches here to receive a tunnel endpoint's
deliveries (``tunnel://``) and answer them; the session itself is the delivery layer's.

The credential is checked by ``auth.TokenGate`` before the upgrade, as for any route
under the application (the admin token, or a key scoped to this application: another
application's key is answered 404 and never reaches the socket). Anything else that
stops an attach (no such endpoint, not a tunnel endpoint) is an HTTP answer too, so a
client sees why in the handshake's response.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from starlette.responses import Response
from starlette.websockets import WebSocketState

from hookline.api.context import ApiContext
from hookline.api.errors import api_error_response, error_response, store_error_response
from hookline.errors import ApiError, StoreError
from hookline.models import is_tunnel

router = APIRouter(tags=["Endpoint"])
PATH = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/tunnel"


class _Socket:
    """A Starlette WebSocket as the text-frame channel a tunnel session speaks."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    async def send(self, frame: str) -> None:
        await self._ws.send_text(frame)

    async def receive(self) -> str:
        return await self._ws.receive_text()


@router.websocket(PATH)
async def tunnel(websocket: WebSocket, app_id: str, endpoint_id: str) -> None:
    ctx: ApiContext = websocket.app.state.context
    refusal = await _refusal(ctx, app_id, endpoint_id)
    if isinstance(refusal, Response):
        await websocket.send_denial_response(refusal)
        return
    assert ctx.tunnels is not None
    await websocket.accept()
    await ctx.tunnels.attach(refusal, _Socket(websocket))
    if websocket.application_state is WebSocketState.CONNECTED:
        if websocket.client_state is WebSocketState.CONNECTED:
            await websocket.close(1001)


async def _refusal(ctx: ApiContext, app_id: str, endpoint_id: str) -> Response | str:
    """The endpoint's id if a listener may attach to it, else the HTTP answer to give."""
    if ctx.tunnels is None:
        return error_response(404, "not_supported", "this server does not serve tunnels")
    try:
        app = await ctx.store.get_application(app_id)
        endpoint = await ctx.store.get_endpoint(app.id, endpoint_id)
    except ApiError as exc:
        return api_error_response(exc)
    except StoreError as exc:
        return store_error_response(exc)
    if not is_tunnel(endpoint.url):
        return error_response(
            409, "not_a_tunnel", "only an endpoint whose URL is tunnel:// can be attached to"
        )
    return endpoint.id
