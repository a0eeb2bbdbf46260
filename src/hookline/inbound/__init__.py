"""The inbound role: providers' webhooks in (``/in/{token}``), verified, stored before
the answer, then routed as messages of the source's application."""
