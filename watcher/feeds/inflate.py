"""Content-Encoding undone step by step, so a compression bomb never inflates past the cap.

httpx inflates each network chunk whole: one 64 kB chunk of a gzip bomb becomes some 64 MB
before the caller can count a byte. Here the raw body is inflated with zlib's `max_length`:
no step yields more than `STEP` bytes, and the reader stops the moment its total passes the
cap, so memory stays within the cap plus a few steps whatever the ratio.

gzip (several members too), x-gzip and deflate (zlib-wrapped, or raw as some servers send
it) are decoded, in the order the header lists them; `ACCEPT_ENCODING` asks for no others. A
body in any other encoding (br, zstd, compress) is refused rather than passed on as garbage.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable, Iterator

from watcher.errors import FetchError

ACCEPT_ENCODING = "gzip, deflate"
STEP = 64 * 1024
_GZIP_WBITS = zlib.MAX_WBITS | 16

Layer = Callable[[bytes], Iterator[bytes]]


class _Inflater:
    """One zlib stream (gzip or deflate), inflated at most `STEP` bytes at a time."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._first = True
        self._stream = zlib.decompressobj(_GZIP_WBITS if gzip else zlib.MAX_WBITS)

    def __call__(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._stream.decompress(data, STEP)
            except zlib.error as exc:
                if self._first and not self._gzip:  # deflate sent without its zlib header
                    self._first = False
                    self._stream = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise FetchError(f"cannot decode the body: {exc}") from None
            self._first = False
            data = self._stream.unconsumed_tail
            if self._stream.eof and self._gzip and self._stream.unused_data.strip(b"\0"):
                data = self._stream.unused_data  # the next member of a multi-member gzip
                self._stream = zlib.decompressobj(_GZIP_WBITS)
            if out:
                yield out
            if not data and len(out) < STEP:
                return


def content_layers(header: str | None) -> list[Layer]:
    """The decoders for a Content-Encoding header, in the order they are to be applied."""
    layers: list[Layer] = []
    for name in reversed([p.strip().lower() for p in (header or "").split(",") if p.strip()]):
        if name in ("gzip", "x-gzip"):
            layers.append(_Inflater(gzip=True))
        elif name == "deflate":
            layers.append(_Inflater(gzip=False))
        elif name != "identity":
            raise FetchError(f"unsupported Content-Encoding {name!r} (asked for {ACCEPT_ENCODING})")
    return layers


def _through(layers: list[Layer], data: bytes) -> Iterator[bytes]:
    if not layers:
        yield data
        return
    for piece in layers[0](data):
        yield from _through(layers[1:], piece)


async def decoded_chunks(raw: AsyncIterator[bytes], header: str | None
                         ) -> AsyncIterator[bytes]:
    """The decoded body, piece by piece, none larger than a raw chunk or `STEP` bytes."""
    layers = content_layers(header)
    async for chunk in raw:
        for piece in _through(layers, chunk):
            yield piece
