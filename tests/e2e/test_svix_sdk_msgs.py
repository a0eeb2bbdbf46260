"""The official svix SDK (2.9.1), unchanged, against a real server: scheduled sends (also
across a restart), where messages went, tag and attempt filters, expunge and precheck."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from svix.api import (
    ApplicationIn,
    BulkExpungeContentsIn,
    EndpointIn,
    MessageAttemptListAttemptedMessagesOptions,
    MessageAttemptListByEndpointOptions,
    MessageAttemptListByMsgOptions,
    MessageIn,
    MessageListOptions,
    MessagePrecheckIn,
    MessageStatus,
    StatusCodeClass,
    Svix,
    SvixOptions,
)

from hookline.testing import ThreadedReceiver

pytestmark = pytest.mark.e2e


def eventually(check, timeout: float = 30.0, interval: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(interval)
    return result


def sdk(server) -> Svix:  # type: ignore[no-untyped-def]
    return Svix(server.token, SvixOptions(server_url=server.base_url))


def close(client: Svix) -> None:
    client._httpx_client.close()  # 2.9.1 has no close(); see test_svix_sdk


def test_sdk_scheduled_send_waits_and_survives_a_restart(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server()
    client = sdk(server)
    with ThreadedReceiver() as rx:
        app = client.application.create(ApplicationIn(name="later"))
        client.endpoint.create(app.id, EndpointIn(url=rx.url("/later")))
        sent_at = time.time()
        deliver_at = datetime.now(UTC) + timedelta(seconds=3)
        msg = client.message.create(
            app.id, MessageIn(event_type="a.b", payload={"n": 1}, deliver_at=deliver_at)
        )
        assert msg.deliver_at is not None
        assert abs(msg.deliver_at.timestamp() - deliver_at.timestamp()) < 0.002
        assert client.message.get(app.id, msg.id).deliver_at == msg.deliver_at
        [queued] = client.message_attempt.list_attempted_destinations(app.id, msg.id).data
        assert queued.status == MessageStatus.PENDING and queued.next_attempt == msg.deliver_at
        close(client)
        server.kill()  # before it is due: the schedule must come back from the store
        assert rx.requests("/later") == []
        server = start_server(data_dir=server.data_dir)
        [request] = rx.wait_for(1, "/later", timeout=60)
        assert request.webhook_id == msg.id and request.json() == {"n": 1}
        # never before the time asked for; the restart may have made it later, not earlier
        assert request.received_wall >= deliver_at.timestamp() - 0.01
        assert request.received_wall - sent_at < 60
        time.sleep(0.5)
        assert len(rx.requests("/later")) == 1


def test_sdk_attempted_lists_filters_expunge_and_precheck(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server()
    client = sdk(server)
    try:
        with ThreadedReceiver() as rx:
            rx.script("/ok", default=200, body="thanks: card 4242")
            rx.script("/down", default=503, body="down")
            app = client.application.create(ApplicationIn(name="sdk msgs"))
            ok = client.endpoint.create(app.id, EndpointIn(url=rx.url("/ok")))
            down = client.endpoint.create(
                app.id, EndpointIn(url=rx.url("/down"), filter_types=["invoice.failed"])
            )
            precheck = client.message.precheck
            assert precheck(app.id, MessagePrecheckIn(event_type="user.signup")).active
            other = client.application.create(ApplicationIn(name="no endpoints"))
            assert not precheck(other.id, MessagePrecheckIn(event_type="user.signup")).active
            blue = client.message.create(
                app.id, MessageIn(event_type="user.signup", payload={"card": "4242"}, tags=["blue"])
            )
            red = client.message.create(
                app.id, MessageIn(event_type="invoice.failed", payload={"n": 2}, tags=["red"])
            )
            rx.wait_for(1, "/ok")
            rx.wait_for(1, "/down")

            def settled():  # type: ignore[no-untyped-def]
                page = client.message_attempt.list_attempted_messages(app.id, ok.id).data
                return len(page) == 2 and all(m.status == MessageStatus.SUCCESS for m in page)

            eventually(settled)
            listed = client.message_attempt.list_attempted_messages(
                app.id, ok.id, MessageAttemptListAttemptedMessagesOptions(tag="blue")
            ).data
            assert [m.id for m in listed] == [blue.id] and listed[0].next_attempt is None
            dests = client.message_attempt.list_attempted_destinations(app.id, red.id).data
            assert sorted(d.id for d in dests) == sorted([ok.id, down.id])
            assert {d.id: d.status for d in dests}[ok.id] == MessageStatus.SUCCESS

            tagged = client.message.list(app.id, MessageListOptions(tag="red")).data
            assert [m.id for m in tagged] == [red.id]
            five = client.message_attempt.list_by_msg(
                app.id,
                red.id,
                MessageAttemptListByMsgOptions(status_code_class=StatusCodeClass.CODE5XX),
            ).data
            assert five and {a.endpoint_id for a in five} == {down.id}
            with_msg = client.message_attempt.list_by_endpoint(
                app.id,
                ok.id,
                MessageAttemptListByEndpointOptions(with_msg=True, tag="blue", with_content=True),
            ).data
            assert [a.msg.id for a in with_msg if a.msg] == [blue.id]
            attempt = with_msg[0]
            assert attempt.response == "thanks: card 4242"

            client.message_attempt.expunge_content(app.id, blue.id, attempt.id)
            assert client.message_attempt.get(app.id, blue.id, attempt.id).response == ""
            client.message.expunge_content(app.id, blue.id)
            client.message.expunge_content(app.id, blue.id)
            assert client.message.get(app.id, blue.id).payload == {}
            out = client.message.bulk_expunge_content(
                app.id, BulkExpungeContentsIn(ids=[red.id, "msg_nope"])
            )
            assert {k: str(v.value) for k, v in out.results.items()} == {
                red.id: "expunged",
                "msg_nope": "not-found",
            }
            third = client.message.create(app.id, MessageIn(event_type="x.y", payload={"n": 3}))
            task = client.message.expunge_all_contents(app.id)
            assert task.task.value == "application.purge_content"

            def finished():  # type: ignore[no-untyped-def]
                got = client.background_task.get(task.id)
                return got if got.status.value == "finished" else None

            done = eventually(finished)
            assert done.data["messagesPurged"] == 1  # the other two were expunged already
            assert client.message.get(app.id, third.id).payload == {}
            ping = httpx.get(server.base_url + "/api/v1/health/ping", timeout=5)
            assert ping.status_code == 204
    finally:
        close(client)
