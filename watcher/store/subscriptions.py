"""WebSub subscriptions as the store keeps them: one row per feed, shared by every replica,
so that any replica can answer a hub's verification or check a push's signature.

    subscribing ─▶ active ─▶ (renewed: still active) ─▶ unsubscribing ─▶ (row deleted)
         └▶ denied | failed ─▶ subscribing again after `websub.retry`

`token` names the subscription in its callback URL (`…/websub/<token>`); `secret` is the
HMAC key the hub signs pushes with. Both are random, made once by the replica that first
subscribes (`add_subscription` keeps the first), and kept across renewals.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Literal

SubscriptionState = Literal["subscribing", "active", "unsubscribing", "denied", "failed"]


@dataclass
class Subscription:
    feed_id: str
    hub: str
    topic: str
    token: str
    secret: str
    state: SubscriptionState = "subscribing"
    lease_seconds: int | None = None  # as the hub granted it
    expires_at: datetime | None = None
    requested_at: datetime | None = None  # the last (un)subscribe request sent to the hub
    verified_at: datetime | None = None
    last_push_at: datetime | None = None
    last_error: str | None = None


SUBSCRIPTION_COLUMNS = tuple(f.name for f in fields(Subscription))
TIME_COLUMNS = frozenset({"expires_at", "requested_at", "verified_at", "last_push_at"})
