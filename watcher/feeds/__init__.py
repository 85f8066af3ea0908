"""The feeds side: from a feed's URL to plain-text `Article`s.

Owns fetching (the guarded httpx client, conditional GET, size and time caps, the address
guard), parsing feed bytes with feedparser, HTML to text, canonical article URLs, the articles
that `watcher match` reads, and feed health as pure functions of a feed's stored state. It may
import `watcher.config`, `watcher.models`, `watcher.errors` and the standard and third-party
libraries it wraps; never the matching core, the delivery side, the store or the service.
"""
