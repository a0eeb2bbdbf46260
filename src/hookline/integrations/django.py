"""Django: a view decorator that gives the view the verified event.

    @verify_webhook(Verifier("shopify", secret=settings.SHOPIFY_SECRET))
    def hook(request: HttpRequest, event: VerifiedEvent) -> HttpResponse:
        handlers.dispatch(event)
        return HttpResponse(status=204)

The view is CSRF-exempt (a provider sends no CSRF token; the signature is the check).
Async views are decorated the same way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from hookline.integrations.http import public_url, rejection
from hookline.receive import VerificationError, VerifiedEvent, Verifier

View = Callable[..., Any]  # returns an HttpResponse, or (async views) awaits to one


def _verified(
    verifier: Verifier, request: HttpRequest, trust_forwarded: bool, url: str | None
) -> VerifiedEvent | HttpResponse:
    """The event, or the 401 to answer instead."""
    headers = dict(request.headers.items())
    seen = public_url(
        request.build_absolute_uri(), headers, trust_forwarded=trust_forwarded, base=url
    )
    try:
        return verifier.verify(request.body, headers, url=seen, method=request.method or "POST")
    except VerificationError as exc:
        return JsonResponse(rejection(exc), status=401)


def verify_webhook(
    verifier: Verifier, *, trust_forwarded: bool = False, url: str | None = None
) -> Callable[[View], View]:
    """Verify ``request.body`` (the raw bytes) and call ``view(request, event, ...)``;
    answer 401 ``{"code": "invalid_signature", "detail": ...}`` if it does not verify.

    The URL Twilio signed is ``request.build_absolute_uri()`` (so Django's
    ``ALLOWED_HOSTS`` applies), with ``url`` and ``trust_forwarded`` as in
    ``http.public_url``.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            event = _verified(verifier, request, trust_forwarded, url)
            if isinstance(event, HttpResponse):
                return event
            return view(request, event, *args, **kwargs)

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            event = _verified(verifier, request, trust_forwarded, url)
            if isinstance(event, HttpResponse):
                return event
            return await view(request, event, *args, **kwargs)

        chosen = async_wrapper if inspect.iscoroutinefunction(view) else wrapper
        exempt: View = csrf_exempt(chosen)
        return exempt

    return decorate
