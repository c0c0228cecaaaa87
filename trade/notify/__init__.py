"""Notifications through apprise (Telegram, Discord, Slack, e-mail, webhooks): fills,
rejections, errors, breaker trips, reconnects and a daily summary; rate-limited per kind,
never blocking the caller, never carrying a secret. See docs/notifications.md.

* `Notifier` — the sender (callable as `LiveSession.on_notify`); `notifier_from_env`;
  `chain_listeners` to give a LiveRunner both the dashboard and `Notifier.on_state`.
* `NotifyingAdapter` — any ExchangeAdapter, its fills and rejections passed to a Notifier.
* `load_urls`, `read_url_file`, `redact_url`, `NotifyConfigError` — where URLs come from.
* `RateLimit`, `KindLimiter` — token buckets per kind on the injected Clock.
* `Scrubber` — the secret filter every message goes through.
"""

from trade.notify.adapter import EventSink, NotifyingAdapter
from trade.notify.config import (
    ENV_FILE,
    ENV_URLS,
    NotifyConfigError,
    load_urls,
    read_url_file,
    redact_url,
)
from trade.notify.notifier import (
    CATEGORY,
    Message,
    Notifier,
    chain_listeners,
    notifier_from_env,
)
from trade.notify.ratelimit import DEFAULT_LIMITS, KindLimiter, RateLimit
from trade.notify.scrub import Scrubber, url_secrets

__all__ = [
    "CATEGORY",
    "DEFAULT_LIMITS",
    "ENV_FILE",
    "ENV_URLS",
    "EventSink",
    "KindLimiter",
    "Message",
    "Notifier",
    "NotifyConfigError",
    "NotifyingAdapter",
    "RateLimit",
    "Scrubber",
    "chain_listeners",
    "load_urls",
    "notifier_from_env",
    "read_url_file",
    "redact_url",
    "url_secrets",
]
