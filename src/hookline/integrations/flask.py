"""Flask: a view decorator that gives the view the verified event.

@app.post("/webhooks/github")
@verify_webhook(Verifier("github", secret=...))
def hook(event: VerifiedEvent) -> tuple[str, int]:
    handlers.dispatch(event)
    return "", 204
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app, jsonify, request
from flask.typing import ResponseReturnValue

from hookline.integrations.http import public_url, rejection
from hookline.receive import VerificationError, Verifier


def verify_webhook(
    verifier: Verifier, *, trust_forwarded: bool = False, url: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., ResponseReturnValue]]:
    """Verify the raw body (``request.get_data()``, never the parsed form) and call the
    view with the ``VerifiedEvent`` first, then the URL's arguments; answer 401
    ``{"code": "invalid_signature", "detail": ...}`` instead if it does not verify.

    Nothing before the view may read ``request.form``, which consumes the body. ``url``
    and ``trust_forwarded``: the URL Twilio signed, as in ``http.public_url``.
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., ResponseReturnValue]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            body = request.get_data(cache=True, parse_form_data=False)
            headers = dict(request.headers.items())
            seen = public_url(request.url, headers, trust_forwarded=trust_forwarded, base=url)
            try:
                event = verifier.verify(body, headers, url=seen, method=request.method)
            except VerificationError as exc:
                return jsonify(rejection(exc)), 401
            result: ResponseReturnValue = current_app.ensure_sync(view)(event, *args, **kwargs)
            return result

        return wrapper

    return decorate
