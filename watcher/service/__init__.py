"""The running service: `watcher run` and `watcher once` around the pipeline.

Owns the run loop and burst pass (`runner`), the scheduler that decides when feeds are polled
and claims them from a shared store (`scheduler`), hot reload of rules (`reload`), the
heartbeat that replicas write (`heartbeat`), the HTTP endpoint for health and metrics
(`httpapi`) and logging (`logs`). It sits above everything but the command line and may import
any part of watcher except `watcher.cli`.
"""
