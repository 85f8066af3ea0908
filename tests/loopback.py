"""A threaded HTTP server on loopback with a listen backlog sized for load tests."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer(ThreadingHTTPServer):
    """`ThreadingHTTPServer` on 127.0.0.1, an ephemeral port, daemon threads, a deep backlog.

    socketserver listens with a backlog of 5. When many polls open connections at once (three
    replicas at 25 polls/s, a scale bench), a burst overflows it: the kernel drops the SYN and
    resends it a second later, past a 1 s connect timeout, and the watcher backs the feed off as
    if the site were down. The test then sees the harness, not the watcher.
    """

    request_queue_size = 1024
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
