"""The dashboard and the consumer portal: server-rendered pages over the store's verbs.

Pages read through ``hookline.store.base``; every change a page makes goes through the
REST API (the browser calls it with the session cookie and its CSRF token), so the API
stays the one place where writes are checked."""

from hookline.ui.config import Branding, UiConfig
from hookline.ui.mount import mount_ui

__all__ = ["Branding", "UiConfig", "mount_ui"]
