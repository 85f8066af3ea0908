"""HMAC-SHA256 signatures on webhook deliveries, so a receiver can tell they come from us.

    X-Watcher-Timestamp: 1764072000                  (Unix seconds when it was sent)
    X-Watcher-Signature: v1=<hex HMAC-SHA256 of "<timestamp>." + body, keyed by the secret>

The timestamp is inside what is signed, so a receiver that refuses old timestamps also
refuses replays of a captured request. `verify_signature` is the receiver's side, used by
the tests exactly as docs/delivery.md tells receivers to do it.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Watcher-Timestamp"
SIGNATURE_HEADER = "X-Watcher-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE = 300.0


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=<hex>` over `<timestamp>.<body>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def signature_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify_signature(secret: str, timestamp: str, signatures: str, body: bytes, now: float,
                     tolerance: float = DEFAULT_TOLERANCE) -> bool:
    """True if one of the comma-separated `v1=` values signs `body` at `timestamp`, and the
    timestamp is within `tolerance` seconds of `now`. Several values let a sender rotate
    secrets."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    expected = signature(secret, int(timestamp), body)
    return any(hmac.compare_digest(expected, value.strip())
               for value in signatures.split(",") if value.strip().startswith(f"{SCHEME}="))
