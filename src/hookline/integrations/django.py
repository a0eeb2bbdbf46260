"""Django: a view decorator that gives the view the verified event.

    @verify_webhook(Verifier("shopify", secret=settings.SHOPIFY_SECRET))
    def hook(request: HttpRequest, event: VerifiedEvent) -> HttpResponse:
        handlers.dispatch(event)
        return HttpResponse(status=204)

The view is CSRF-exempt (a provider sends no CSRF token; the signature is the check).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from hookline.integrations.http import public_url, rejection
from hookline.receive import VerificationError, Verifier

View = Callable[..., HttpResponse]


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
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            headers = dict(request.headers.items())
            seen = public_url(
                request.build_absolute_uri(), headers, trust_forwarded=trust_forwarded, base=url
            )
            try:
                event = verifier.verify(
                    request.body, headers, url=seen, method=request.method or "POST"
                )
            except VerificationError as exc:
                return JsonResponse(rejection(exc), status=401)
            return view(request, event, *args, **kwargs)

        exempt: View = csrf_exempt(wrapper)
        return exempt

    return decorate
