"""Verify a provider's webhook request, with or without the hookline server."""
