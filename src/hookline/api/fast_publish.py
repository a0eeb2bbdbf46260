"""The publish hot path as plain ASGI, in front of FastAPI's router.

Publishing is the one call whose rate users size us by, and FastAPI's routing,
dependency solving and response re-validation cost more than the publish itself. This
serves ``POST /api/v1/app/{app}/msg`` with the same model, the same business function
(``messages.publish_message``) and the same error bodies; anything unusual (an odd
query string, another content type) falls through to the FastAPI route, which stays
the documented one.
"""

from __future__ import annotations

import json
import re

from pydantic import ValidationError
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hookline.api.context import ApiContext
from hookline.api.errors import api_error_response, store_error_response, validation_response
from hookline.api.messages import publish_message
from hookline.api.metrics_route import ROUTE_KEY
from hookline.api.schemas import MessageIn
from hookline.api.strict_json import decode_json
from hookline.errors import ApiError, StoreError

ROUTE = "/api/v1/app/{app_id}/msg"  # the FastAPI route this serves, as its template
_PATH = re.compile(r"^/api/v1/app/([a-zA-Z0-9\-_.]{1,256})/msg$")
_QUERIES = {b"": True, b"with_content=true": True, b"with_content=false": False}


class FastPublish:
    def __init__(self, app: ASGIApp, context: ApiContext) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _PATH.match(scope["path"]) if scope["type"] == "http" else None
        with_content = _QUERIES.get(scope.get("query_string", b"").lower())
        if match is None or scope["method"] != "POST" or with_content is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if not headers.get(b"content-type", b"").startswith(b"application/json"):
            await self.app(scope, receive, send)
            return
        scope[ROUTE_KEY] = ROUTE  # for the request metrics: no router ran
        response = await self._publish(match.group(1), scope, receive, with_content)
        await response(scope, receive, send)

    async def _publish(
        self, app_ref: str, scope: Scope, receive: Receive, with_content: bool
    ) -> Response:
        try:
            raw = await _read_body(receive)
            body = MessageIn.model_validate(decode_json(raw))
            out = await publish_message(self.context, app_ref, body, with_content, scope)
        except ApiError as exc:
            return api_error_response(exc)
        except json.JSONDecodeError:
            return validation_response([{"type": "json_invalid"}])
        except ValidationError as exc:
            errors = [dict(e, loc=("body", *e["loc"])) for e in exc.errors()]
            return validation_response(errors)
        except StoreError as exc:
            return store_error_response(exc)
        except ClientDisconnect:
            return Response(status_code=400)
        if isinstance(out, Response):  # a repeated Idempotency-Key
            return out
        return Response(
            out.model_dump_json(by_alias=True), status_code=202, media_type="application/json"
        )


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
