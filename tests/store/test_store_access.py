"""The store contract for sessions and portal credentials: found by hash while unexpired,
a one-time link redeemed once, a grant's rows expired together, expired rows purged."""

from __future__ import annotations

import asyncio

from test_store_contract import NOW

from hookline.access import token_hash
from hookline.models import AccessKind, AccessToken
from hookline.store.base import Store

HOUR_MS = 3600 * 1000


def token(
    name: str,
    kind: AccessKind,
    *,
    app_id: str | None = "app_a",
    grant_id: str | None = "grant_1",
    label: str | None = None,
    expires_at: int = NOW + HOUR_MS,
) -> AccessToken:
    return AccessToken(
        id=f"tok_{name}",
        kind=kind,
        token_hash=token_hash(name),
        app_id=app_id,
        capabilities=["ViewBase", "ManageEndpoint"],
        read_only=True,
        created_at=NOW,
        expires_at=expires_at,
        grant_id=grant_id,
        label=label,
    )


async def test_a_token_is_found_by_hash_and_kind_while_it_is_unexpired(store: Store) -> None:
    await store.create_access_tokens(
        [token("link", AccessKind.PORTAL_LINK), token("api", AccessKind.PORTAL_TOKEN)]
    )
    found = await store.find_access_token(token_hash("api"), AccessKind.PORTAL_TOKEN, NOW)
    assert found is not None
    assert (found.app_id, found.capabilities, found.read_only, found.grant_id) == (
        "app_a",
        ["ViewBase", "ManageEndpoint"],
        True,
        "grant_1",
    )
    # the wrong kind, an unknown hash, or the moment it expires: nothing
    assert await store.find_access_token(token_hash("api"), AccessKind.SESSION, NOW) is None
    assert await store.find_access_token(token_hash("x"), AccessKind.PORTAL_TOKEN, NOW) is None
    expiry = NOW + HOUR_MS
    assert await store.find_access_token(token_hash("api"), AccessKind.PORTAL_TOKEN, expiry) is None


async def test_a_link_is_redeemed_once_even_by_concurrent_callers(store: Store) -> None:
    await store.create_access_tokens([token("link", AccessKind.PORTAL_LINK)])
    results = await asyncio.gather(
        *(
            store.redeem_access_token(token_hash("link"), AccessKind.PORTAL_LINK, NOW + n)
            for n in range(5)
        )
    )
    won = [r for r in results if r is not None]
    assert len(won) == 1 and won[0].used_at is not None
    assert await store.redeem_access_token(token_hash("link"), AccessKind.PORTAL_LINK, NOW) is None


async def test_an_expired_link_cannot_be_redeemed(store: Store) -> None:
    await store.create_access_tokens([token("link", AccessKind.PORTAL_LINK, expires_at=NOW)])
    assert await store.redeem_access_token(token_hash("link"), AccessKind.PORTAL_LINK, NOW) is None


async def test_expiring_an_app_reaches_its_rows_or_only_the_named_sessions(store: Store) -> None:
    await store.create_access_tokens(
        [
            token("a1", AccessKind.PORTAL_TOKEN, label="user_1"),
            token("a2", AccessKind.SESSION, label="user_2"),
            token("b1", AccessKind.PORTAL_TOKEN, app_id="app_b", grant_id="grant_2"),
            token("op", AccessKind.SESSION, app_id=None, grant_id=None),
        ]
    )
    assert await store.expire_access_tokens("app_a", NOW, ["user_2"]) == 1
    assert await store.find_access_token(token_hash("a2"), AccessKind.SESSION, NOW) is None
    assert await store.find_access_token(token_hash("a1"), AccessKind.PORTAL_TOKEN, NOW)

    assert await store.expire_access_tokens("app_a", NOW) == 1
    assert await store.find_access_token(token_hash("a1"), AccessKind.PORTAL_TOKEN, NOW) is None
    # another application's token and the operator's session are untouched
    assert await store.find_access_token(token_hash("b1"), AccessKind.PORTAL_TOKEN, NOW)
    assert await store.find_access_token(token_hash("op"), AccessKind.SESSION, NOW)


async def test_deleted_and_purged_rows_are_gone(store: Store) -> None:
    await store.create_access_tokens(
        [
            token("s", AccessKind.SESSION),
            *(token(f"old{n}", AccessKind.SESSION, expires_at=NOW - n) for n in range(3)),
        ]
    )
    await store.delete_access_token(token_hash("s"))
    assert await store.find_access_token(token_hash("s"), AccessKind.SESSION, NOW - 10) is None
    assert await store.find_access_token(token_hash("old0"), AccessKind.SESSION, NOW - 10)
    assert [await store.purge_access_tokens(NOW, limit=2) for _ in range(3)] == [2, 1, 0]
    assert await store.find_access_token(token_hash("old0"), AccessKind.SESSION, NOW - 10) is None
