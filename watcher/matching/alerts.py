"""Alerts from matches: one `Alert` per rule that fired, exactly the DESIGN.md contract.

Pure: the detection time is passed in. `alert_id` depends only on the rule id and the article
key, so re-matching the same article (after a restart, a reload, a re-published entry)
gives the same id, and receivers can drop repeats.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from watcher.models import Alert, Article, ArticleMatch, ArticleRef

ALERT_ID_LENGTH = 32


def alert_id(rule_id: str, article_key: str) -> str:
    """Stable id of the alert of one rule on one article (hex sha256, truncated)."""
    digest = hashlib.sha256(f"{rule_id}\x1f{article_key}".encode())
    return digest.hexdigest()[:ALERT_ID_LENGTH]


def article_ref(article: Article) -> ArticleRef:
    return ArticleRef(key=article.key, url=article.url, title=article.title,
                      summary=article.summary, source=article.source,
                      published=article.published, language=article.language)


def build_alerts(article: Article, found: ArticleMatch, now: datetime) -> list[Alert]:
    """One alert per rule hit, in the order the rules were loaded."""
    if not found.hits:
        return []
    ref = article_ref(article)
    return [Alert(alert_id=alert_id(hit.rule.id, article.key), rule=hit.rule, article=ref,
                  matched=list(hit.matched), places=list(found.places),
                  groups=list(found.groups), detected_at=now)
            for hit in found.hits]
