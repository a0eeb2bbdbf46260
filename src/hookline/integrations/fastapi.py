"""FastAPI and Starlette: a dependency that gives a route the verified event.

    webhook = WebhookDependency(Verifier("stripe", secret=...))
    install_error_handler(app)

    @app.post("/webhooks/stripe")
    async def hook(event: Annotated[VerifiedEvent, Depends(webhook)]) -> dict[str, str]:
        await handlers.adispatch(event)
        return {}

A dependency cannot choose a response body, only raise: a bad request raises
``WebhookRejected`` (an ``HTTPException``, 401). ``install_error_handler`` makes its body
``{"code": "invalid_signature", "detail": ...}``; without it FastAPI answers its own
``{"detail": ...}``, still 401.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from hookline.integrations.http import public_url, rejection
from hookline.receive import VerificationError, VerifiedEvent, Verifier


class WebhookRejected(HTTPException):
    """A request that did not verify: 401, with the reason in ``detail``."""

    def __init__(self, error: VerificationError) -> None:
        self.body = rejection(error)
        self.reason = error.reason
        super().__init__(status_code=401, detail=self.body["detail"])


class WebhookDependency:
    """``Depends(WebhookDependency(verifier))``: reads the raw body (``await
    request.body()``), verifies it and returns the ``VerifiedEvent``.

    The URL given to the verifier (Twilio signs it) is the request's as Starlette sees it;
    ``url="https://hooks.example.com"`` replaces its scheme and host, and
    ``trust_forwarded=True`` takes them from ``X-Forwarded-Proto``/``-Host``.
    """

    def __init__(
        self, verifier: Verifier, *, trust_forwarded: bool = False, url: str | None = None
    ) -> None:
        self.verifier = verifier
        self.trust_forwarded = trust_forwarded
        self.url = url

    async def __call__(self, request: Request) -> VerifiedEvent:
        body = await request.body()
        url = public_url(
            str(request.url), request.headers, trust_forwarded=self.trust_forwarded, base=self.url
        )
        try:
            return self.verifier.verify(body, request.headers, url=url, method=request.method)
        except VerificationError as exc:
            raise WebhookRejected(exc) from None


async def _rejected(request: Request, exc: Exception) -> Response:
    body = exc.body if isinstance(exc, WebhookRejected) else {"detail": str(exc)}
    return JSONResponse(body, status_code=401)


def install_error_handler(app: FastAPI) -> None:
    """Answer ``WebhookRejected`` with ``{"code": "invalid_signature", "detail": ...}``."""
    app.add_exception_handler(WebhookRejected, _rejected)
