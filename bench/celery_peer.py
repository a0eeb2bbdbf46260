"""The peer baseline: Celery with a Redis broker, one signed POST per task.

Each task signs the body like hookline does (Standard Webhooks ``v1``) and POSTs it
through a keep-alive ``requests.Session``, one per worker process, thread or greenlet
(a thread-local, created on first use), so the peer does not pay a TCP connect per
task. Tasks are acknowledged after they ran (``task_acks_late``), as a delivery system
that must not lose a webhook would run it. Results are ignored (no result backend).
The broker URL comes from ``BENCH_CELERY_BROKER``.

    python -m bench.celery_peer enqueue --url URL --count N   # queue N tasks, then exit
    python -m celery -A bench.celery_peer worker -c 4 -P prefork --prefetch-multiplier 4
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import threading
import time

import requests
from celery import Celery

app = Celery("hookline_bench_peer", broker=os.environ.get("BENCH_CELERY_BROKER", "redis://"))
app.conf.update(
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_acks_late=True,
)

_local = threading.local()  # per thread; per greenlet under gevent's monkey-patching


def session() -> requests.Session:
    """This process's (thread's, greenlet's) keep-alive session, made on first use, so a
    prefork child never inherits a parent's connections."""
    current: requests.Session | None = getattr(_local, "session", None)
    if current is None or getattr(_local, "pid", None) != os.getpid():
        current = requests.Session()
        _local.session, _local.pid = current, os.getpid()
    return current


@app.task(name="deliver")  # type: ignore[untyped-decorator]
def deliver(url: str, msg_id: str, body: str, key_b64: str) -> int:
    data = body.encode()
    timestamp = int(time.time())
    content = f"{msg_id}.{timestamp}.".encode() + data
    digest = hmac.new(base64.b64decode(key_b64), content, hashlib.sha256).digest()
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }
    response = session().post(url, data=data, headers=headers, timeout=15)
    return response.status_code


def enqueue(url: str, count: int) -> None:
    from bench.harness import payload_bytes

    key = base64.b64encode(os.urandom(24)).decode()
    with app.producer_or_acquire() as producer:
        for i in range(count):
            deliver.apply_async(
                (url, f"msg_peer{i:016d}", payload_bytes(i).decode(), key), producer=producer
            )
    print(f"queued {count}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    queue = sub.add_parser("enqueue")
    queue.add_argument("--url", required=True)
    queue.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    if args.command == "enqueue":
        enqueue(args.url, args.count)


if __name__ == "__main__":
    main()
