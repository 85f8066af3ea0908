"""The delivery side: from an alert in the outbox to a receiver, and what decides who gets it.

Owns routing (which sinks get which alert), quiet repeats, grouping and caps, the delivery
worker that claims outbox rows, sends and records what happened, webhook signing, and the sinks
themselves (`watcher.delivery.sinks`). It may import `watcher.config`, `watcher.store`,
`watcher.metrics`, `watcher.models` and `watcher.errors`; never the feeds side, the matching
core or the service.
"""
