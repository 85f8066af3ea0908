"""Peak memory while refusing a compression bomb: watcher's fetch vs. httpx's own decoding.

    .venv/bin/python bench/inflate.py [--inflated-mb 2048] [--cap-mb 10]

A local HTTP server (a thread) serves a gzip body of `--inflated-mb` megabytes of zeros
(about a thousandth of that on the wire). Each side runs in a fresh process and reads the
body with the same cap (`--cap-mb`), stopping as soon as the decoded total passes it:
- baseline: httpx's `aiter_bytes()` (each network chunk inflated whole, then counted);
- watcher: `fetch_feed` (watcher/feeds/inflate.py: at most 64 kB inflated per step).
Printed: the process's peak RSS above its RSS before the fetch, in MB, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import json
import resource
import subprocess
import sys
import tempfile
import threading
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_bomb(inflated_mb: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    return b"".join([*(packer.compress(block) for _ in range(inflated_mb)), packer.flush()])


def serve(body: bytes) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client stops reading at the cap
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def child(mode: str, url: str, cap: int) -> dict[str, object]:
    import httpx

    from watcher.config.settings import FetchSettings
    from watcher.feeds.fetch import fetch_feed, make_client

    settings = FetchSettings.model_validate({"allow_addresses": ["127.0.0.1/32"],
                                             "max_bytes": cap, "timeout": 120})
    before = peak_rss_mb()
    if mode == "httpx":
        async with httpx.AsyncClient() as client, client.stream("GET", url) as response:
            seen = 0
            async for chunk in response.aiter_bytes():
                seen += len(chunk)
                if seen > cap:
                    break
        outcome = f"stopped after {seen} bytes"
    else:
        async with make_client(settings) as client:
            result = await fetch_feed(client, "bomb", url, etag=None, last_modified=None,
                                      settings=settings, base_dir=Path("."))
        outcome = str(result.error)
    return {"peak_mb": peak_rss_mb() - before, "outcome": outcome}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inflated-mb", type=int, default=2048)
    parser.add_argument("--cap-mb", type=int, default=10)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "URL", "CAP"))
    args = parser.parse_args()
    if args.child:
        mode, url, cap = args.child
        print(json.dumps(asyncio.run(child(mode, url, int(cap)))))
        return
    body = make_bomb(args.inflated_mb)
    httpd = serve(body)
    url = f"http://127.0.0.1:{httpd.server_address[1]}/bomb"
    cap = args.cap_mb << 20
    print(f"gzip body of {len(body) / 1e6:.1f} MB inflating to {args.inflated_mb} MB; "
          f"cap {args.cap_mb} MB")
    figures: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory():
        for mode in ("httpx", "watcher"):
            out = subprocess.run([sys.executable, __file__, "--child", mode, url, str(cap)],
                                 capture_output=True, text=True, check=True, cwd=ROOT)
            figures[mode] = json.loads(out.stdout)
            print(f"{mode:8} peak RSS +{figures[mode]['peak_mb']:7.1f} MB  "
                  f"({figures[mode]['outcome']})")
    httpd.shutdown()
    peaks = {mode: float(str(f["peak_mb"])) for mode, f in figures.items()}
    ratio = peaks["httpx"] / max(peaks["watcher"], 0.1)
    print(f"baseline/watcher peak ratio: {ratio:.1f}x")


if __name__ == "__main__":
    main()
