"""Hostile HTTP clients: oversized or endless headers, silent and half-sent connections, slow
bodies and connection floods are cut off by the server, while ordinary traffic keeps working.

Raw sockets on 127.0.0.1 against a real ``hookline serve`` process.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = pytest.mark.e2e

HEADER_TIMEOUT = 1.5
KEEPALIVE_TIMEOUT = 0.3
BODY_TIMEOUT = 1.0
# A timed-out connection must be closed within this multiple of its timeout.
SLACK = 4.0
MAX_CONNECTIONS = 20
MIB = 1024 * 1024
STREAMED = 32 * MIB
CHUNK = 256 * 1024
ANSWER_TIMEOUT = 5.0

LIMITED = {
    "HOOKLINE_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    "HOOKLINE_KEEPALIVE_TIMEOUT": str(KEEPALIVE_TIMEOUT),
    "HOOKLINE_BODY_TIMEOUT": str(BODY_TIMEOUT),
}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.body)
        return data


class StillOpen(AssertionError):
    pass


def read_response(sock: socket.socket, timeout: float) -> Response | None:
    """The next response, or None if the server closed the connection without one.

    Raises ``StillOpen`` if neither happens within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
    except ConnectionResetError:
        return None
    except TimeoutError:
        raise StillOpen(f"no response and not closed after {timeout:.1f}s") from None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    sock.settimeout(timeout)
    with contextlib.suppress(ConnectionResetError):
        while len(body) < length and (chunk := sock.recv(65536)):
            body += chunk
    return Response(int(lines[0].split()[1]), headers, body)


def request(server_token: str, path: str = "/api/v1/health", extra: Iterable[str] = ()) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {server_token}"]
    lines += extra
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def trickle_until_closed(sock: socket.socket, data: bytes, timeout: float) -> tuple[float, bytes]:
    """Send ``data`` one byte every 50 ms until the server closes; (seconds taken, bytes read)."""
    started = time.monotonic()
    received = b""
    sock.settimeout(0.05)
    for byte in data:
        if time.monotonic() - started > timeout:
            break
        try:
            sock.sendall(bytes([byte]))
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionError:
            return time.monotonic() - started, received
        if not chunk:
            return time.monotonic() - started, received
        received += chunk
    raise StillOpen(f"still open after {timeout:.1f}s of trickled bytes")


@pytest.fixture(scope="module")
def server(start_module_server):
    return start_module_server(None, LIMITED)


def connect(server) -> socket.socket:
    port = urlsplit(server.base_url).port
    return socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT)


@pytest.fixture(scope="module")
def capped_server(start_module_server):
    """Default header timeout (long enough that only the byte cap can stop a big header)."""
    return start_module_server(None, {"HOOKLINE_MAX_CONNECTIONS": str(MAX_CONNECTIONS)})


def test_oversized_header_is_refused_without_buffering(capped_server):
    pid = capped_server.proc.pid
    before = rss_bytes(pid)
    grown = sent = 0
    with connect(capped_server) as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        chunk = b"a" * CHUNK
        with contextlib.suppress(ConnectionError):
            while sent < STREAMED:
                sock.sendall(chunk)
                sent += len(chunk)
                grown = max(grown, rss_bytes(pid) - before)
        response = read_response(sock, ANSWER_TIMEOUT)
    assert grown < STREAMED // 4, f"server RSS grew by {grown / MIB:.1f} MiB"
    # Refused long before the end: what got through is the cap plus the socket buffers.
    assert sent <= STREAMED // 2, f"{sent / MIB:.0f} MiB of one header accepted"
    if response is not None:
        assert response.status == 431
        assert response.json()["code"] == "headers_too_large"
        assert response.headers["connection"] == "close"


def test_too_many_headers_get_431(server):
    with connect(server) as sock:
        sock.sendall(request(server.token, extra=[f"X-Filler-{i}: {i}" for i in range(150)]))
        response = read_response(sock, ANSWER_TIMEOUT)
    assert response is not None, "closed without an answer"
    assert response.status == 431, response
    assert response.json()["code"] == "headers_too_large"


def test_large_but_legal_headers_and_body_pass(server):
    # 90 headers, 45 KiB in all: under both default caps (100 headers, 64 KiB).
    filler = [f"X-Filler-{i}: {'v' * 500}" for i in range(90)]
    with connect(server) as sock:
        sock.sendall(request(server.token, extra=filler))
        response = read_response(sock, ANSWER_TIMEOUT)
    assert response is not None and response.status == 204, response

    with httpx.Client(base_url=server.base_url + "/api/v1", headers=server.auth) as client:
        app = client.post("/app", json={"name": "big"})
        assert app.status_code == 201, app.text
        app_id = app.json()["id"]
        body = {"eventType": "big.payload", "payload": {"blob": "x" * (512 * 1024)}}
        published = client.post(f"/app/{app_id}/msg", json=body)
        assert published.status_code == 202, published.text

    # 45 KiB of headers, then the last of them and a 512 KiB body in one write: the server
    # reads past the header budget and must pass the rest to the body.
    body = json.dumps({"eventType": "big.payload", "payload": {"blob": "y" * (512 * 1024)}})
    head = [
        f"POST /api/v1/app/{app_id}/msg HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {server.token}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    with connect(server) as sock:
        sock.sendall(("\r\n".join(head + filler) + "\r\n").encode())
        time.sleep(0.2)  # read by the server, so the next read overflows what is left
        sock.sendall(("X-Last: 1\r\n\r\n" + body).encode())
        response = read_response(sock, ANSWER_TIMEOUT)
    assert response is not None and response.status == 202, response


def test_silent_connection_is_closed_after_the_header_timeout(server):
    with connect(server) as sock:
        started = time.monotonic()
        response = read_response(sock, HEADER_TIMEOUT * SLACK)
        elapsed = time.monotonic() - started
    assert response is None, "a connection that sent nothing got a response"
    assert elapsed >= HEADER_TIMEOUT * 0.5, f"closed after {elapsed:.2f}s, before the timeout"


@pytest.mark.parametrize(
    ("answered_first", "sent", "trickled"),
    [
        (False, b"GET /api/v1/hea", b""),
        (False, b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Slow: " + b"a" * 200),
        (True, b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Slow: " + b"a" * 200),
    ],
    ids=["half-sent-request-line", "trickled-headers", "trickled-after-a-response"],
)
def test_half_sent_request_is_cut_off(server, answered_first, sent, trickled):
    with connect(server) as sock:
        if answered_first:
            sock.sendall(request(server.token))
            response = read_response(sock, ANSWER_TIMEOUT)
            assert response is not None and response.status == 204, response
        sock.sendall(sent)
        if trickled:
            elapsed, received = trickle_until_closed(sock, trickled, HEADER_TIMEOUT * SLACK)
        else:
            started = time.monotonic()
            response = read_response(sock, HEADER_TIMEOUT * SLACK)
            elapsed = time.monotonic() - started
            received = b"" if response is None else f"HTTP/1.1 {response.status}".encode()
    assert elapsed >= HEADER_TIMEOUT * 0.5, f"closed after {elapsed:.2f}s, before the timeout"
    assert not received or received.startswith(b"HTTP/1.1 408"), received[:200]


def test_keep_alive_is_reused_then_idle_connection_closed(server):
    with connect(server) as sock:
        for _ in range(3):
            sock.sendall(request(server.token))
            response = read_response(sock, ANSWER_TIMEOUT)
            assert response is not None and response.status == 204, response
            time.sleep(KEEPALIVE_TIMEOUT / 3)
        started = time.monotonic()
        response = read_response(sock, KEEPALIVE_TIMEOUT * SLACK)
        elapsed = time.monotonic() - started
    assert response is None, response
    # Well before the header timeout, which would close an idle connection too.
    assert elapsed < HEADER_TIMEOUT, f"idle keep-alive connection closed after {elapsed:.2f}s"


def test_connection_limit_answers_503_at_once(capped_server):
    server = capped_server
    held = [connect(server) for _ in range(MAX_CONNECTIONS - 1)]
    try:
        # The last one is answered, so the silent ones before it have all been accepted.
        held.append(connect(server))
        held[-1].sendall(request(server.token))
        response = read_response(held[-1], ANSWER_TIMEOUT)
        assert response is not None and response.status == 204, response

        with connect(server) as quiet:  # sends nothing
            response = read_response(quiet, ANSWER_TIMEOUT)
        assert response is not None, "closed without an answer"
        assert response.status == 503, response
        assert response.json()["code"] == "server_busy"
        assert response.headers["connection"] == "close"
        assert int(response.headers["retry-after"]) >= 1

        with connect(server) as eager:  # headers of a large publish, and no body yet
            head = "POST /api/v1/app/app_x/msg HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            eager.sendall(f"{head}Content-Length: 1000000\r\n\r\n".encode())
            response = read_response(eager, ANSWER_TIMEOUT)
        assert response is not None and response.status == 503, response
    finally:
        for sock in held:
            sock.close()

    deadline = time.monotonic() + ANSWER_TIMEOUT
    while True:
        answer = httpx.get(server.base_url + "/api/v1/health", headers=server.auth)
        if answer.status_code == 204 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert answer.status_code == 204, answer.text


@pytest.fixture(scope="module")
def app_id(server) -> str:
    with httpx.Client(base_url=server.base_url + "/api/v1", headers=server.auth) as client:
        created = client.post("/app", json={"name": "slow-bodies"})
    assert created.status_code == 201, created.text
    app_id: str = created.json()["id"]
    return app_id


BLOB = b'{"eventType": "slow.body", "payload": {"blob": "' + b"a" * 400


def publish_head(server, app_id: str, framing: str, path: str = "") -> bytes:
    lines = [
        f"POST {path or f'/api/v1/app/{app_id}/msg'} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {server.token}",
        "Content-Type: application/json",
        framing,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(data: bytes) -> bytes:
    """One byte per chunk: every chunk completes, the body never does."""
    return b"".join(b"1\r\n" + bytes([byte]) + b"\r\n" for byte in data)


SLOW_BODIES = pytest.mark.parametrize(
    ("framing", "body"),
    [("Content-Length: 1000000", BLOB), ("Transfer-Encoding: chunked", chunked(BLOB))],
    ids=["content-length", "chunked"],
)


@SLOW_BODIES
def test_trickled_body_is_cut_off(server, app_id, framing, body):
    with connect(server) as sock:
        sock.sendall(publish_head(server, app_id, framing))
        elapsed, received = trickle_until_closed(sock, body, BODY_TIMEOUT * SLACK)
    assert elapsed >= BODY_TIMEOUT * 0.5, f"closed after {elapsed:.2f}s, before the timeout"
    assert not received or received.startswith(b"HTTP/1.1 408"), received[:200]


@SLOW_BODIES
def test_stalled_body_gets_408(server, app_id, framing, body):
    with connect(server) as sock:
        sock.sendall(publish_head(server, app_id, framing) + body[:40])
        started = time.monotonic()
        response = read_response(sock, BODY_TIMEOUT * SLACK)
        elapsed = time.monotonic() - started
    assert response is not None, "closed without an answer"
    assert response.status == 408, response
    assert response.json()["code"] == "request_timeout"
    assert response.headers["connection"] == "close"
    assert elapsed >= BODY_TIMEOUT * 0.5, f"answered after {elapsed:.2f}s, before the timeout"


def test_body_sent_promptly_in_pieces_is_served(server, app_id):
    body = json.dumps({"eventType": "big.payload", "payload": {"blob": "z" * (512 * 1024)}})
    third = len(body) // 3
    pieces = [body[:third], body[third : 2 * third], body[2 * third :]]
    with connect(server) as sock:
        for _ in range(2):  # and again on the same connection: each request has its own time
            sock.sendall(publish_head(server, app_id, f"Content-Length: {len(body)}"))
            for piece in pieces:  # done within 0.3 of the body timeout
                time.sleep(BODY_TIMEOUT * 0.1)
                sock.sendall(piece.encode())
            response = read_response(sock, ANSWER_TIMEOUT)
            assert response is not None and response.status == 202, response


@contextlib.contextmanager
def store_locked(server) -> Iterator[sqlite3.Connection]:
    """The store's write lock held by another process's connection: writes wait on it."""
    holder = sqlite3.connect(server.data_dir / "hookline.db", isolation_level=None, timeout=5)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield holder
    finally:
        holder.close()


def assert_no_answer(sock: socket.socket, seconds: float) -> None:
    sock.settimeout(seconds)
    with pytest.raises(TimeoutError):
        early = sock.recv(65536)
        pytest.fail(f"answered or closed while the store was locked: {early[:200]!r}")


def test_slow_handler_after_a_complete_body_is_not_cut_off(server, app_id):
    """A publish that waits on the store for longer than the body timeout is answered once
    the store frees up, not cut off."""
    body = json.dumps({"eventType": "slow.handler", "payload": {"n": 1}}).encode()
    with store_locked(server) as holder, connect(server) as sock:
        sock.sendall(publish_head(server, app_id, f"Content-Length: {len(body)}") + body)
        assert_no_answer(sock, BODY_TIMEOUT * 2.5)  # the handler is waiting on the store
        holder.execute("ROLLBACK")
        response = read_response(sock, ANSWER_TIMEOUT * 2)
    assert response is not None and response.status == 202, response


def test_body_held_back_by_a_busy_server_is_not_cut_off(server, app_id):
    """An idempotent publish reserves its key in the store before reading its body; while
    the store is busy the server stops reading past 64 KiB, and that wait is not the
    client's."""
    body = json.dumps({"eventType": "held.back", "payload": {"blob": "h" * (512 * 1024)}})
    head = publish_head(server, app_id, f"Content-Length: {len(body)}\r\nIdempotency-Key: held-1")
    with store_locked(server) as holder, connect(server) as sock:
        sender = threading.Thread(target=sock.sendall, args=(head + body.encode(),))
        sender.start()
        assert_no_answer(sock, BODY_TIMEOUT * 2.5)
        holder.execute("ROLLBACK")
        response = read_response(sock, ANSWER_TIMEOUT * 2)
        sender.join(ANSWER_TIMEOUT)
    assert response is not None and response.status == 202, response


def test_body_awaiting_100_continue_is_not_cut_off(server, app_id):
    """A client that asks ``Expect: 100-continue`` sends its body only once told to; until the
    app asks for the body (here after reserving its key in a busy store: a publish keeps
    its key in its own transaction, so this creates an application), the time is not the
    client's."""
    body = json.dumps({"name": "expect-continue"}).encode()
    framing = f"Content-Length: {len(body)}\r\nIdempotency-Key: continue-1\r\nExpect: 100-continue"
    with store_locked(server) as holder, connect(server) as sock:
        sock.sendall(publish_head(server, app_id, framing, path="/api/v1/app"))
        assert_no_answer(sock, BODY_TIMEOUT * 2.5)
        holder.execute("ROLLBACK")
        interim = read_response(sock, ANSWER_TIMEOUT * 2)
        assert interim is not None and interim.status == 100, interim
        sock.sendall(body)
        response = read_response(sock, ANSWER_TIMEOUT)
    assert response is not None and response.status == 201, response
