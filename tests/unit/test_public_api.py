"""The public surface is deliberate: ``__all__`` lists exactly what a user may import."""

from __future__ import annotations

import hookline
import hookline.signing


def test_all_names_exist_and_nothing_public_is_missing() -> None:
    for module in (hookline, hookline.signing):
        assert sorted(module.__all__) == sorted(set(module.__all__))
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_library_round_trip_without_a_server() -> None:
    secret = hookline.generate_secret()
    wh = hookline.Webhook(secret)
    signature = wh.sign("msg_1", 1_700_000_000, b'{"a":1}')
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": signature,
    }
    assert wh.verify(b'{"a":1}', headers, now=1_700_000_000) == b'{"a":1}'
