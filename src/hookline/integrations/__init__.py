"""Receiving webhooks in web frameworks, and idempotency stores on databases.

Each module imports its framework and is imported only by the application that uses it:
``fastapi`` (a dependency), ``flask`` and ``django`` (view decorators), ``sqlalchemy`` and
``django_store`` (``IdempotencyStore`` tables for ``hookline.receive.WebhookHandlers``).
Kept out of ``hookline.receive``, which stays free of frameworks and I/O.
"""
