"""A cache of loaded rule sets, so that an unchanged set of rule files loads without
parsing, validating and resolving 10,000 rules again (every start, every replica, every
reload).

An entry is the pickled `RuleSet` that `load_rules` made, filed under the SHA-256 of
everything the load read: each rule, list and gazetteer file's name and bytes (or the text
it was given), the paths asked for, the code of the `watcher` package and its world
gazetteer files, and the Python version. Any change to any of them is another key, so a
stale entry is never found. An entry that is truncated, corrupt or not ours (its own
checksum, a magic header, the key inside it, the type of what it holds) is ignored and
rewritten. Only rule sets without errors are kept: a set with errors loads uncached, so
`watcher rules check` and the service report problems exactly as an uncached load does
(warnings are kept with the rules and given back as they were found).

Pickles run code when loaded, so entries are read only from a private folder: created
0700, owned by the running user, not writable by group or others, and each entry owned by
the running user and not writable by others. Anything else (or a folder that cannot be
created: a read-only file system) turns the cache off; loading then works as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import watcher

log = logging.getLogger(__name__)

MAGIC = b"watcher-rules-cache 1\n"
_DIGEST = 32  # bytes of a SHA-256
KEEP = 8  # entries kept; older ones are removed when a new one is written


@dataclass(frozen=True)
class RuleCache:
    """A folder of cached rule sets; `usable()` says whether it may be used at all."""

    folder: Path

    def usable(self) -> bool:
        """Create the folder (0700) if missing; True if it is private to this user."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = self.folder.lstat()
        except OSError as exc:
            log.info("rules cache off: cannot create %s (%s)", self.folder, exc)
            return False
        if not stat.S_ISDIR(info.st_mode) or not _private(info):
            log.warning("rules cache off: %s is not a private folder (it must be a folder "
                        "owned by this user and not writable by group or others)",
                        self.folder)
            return False
        return True

    def get(self, key: bytes) -> object | None:
        """The object filed under `key`, or None if absent, unsafe or damaged."""
        path = self._path(key)
        try:
            with path.open("rb") as f:
                if not _private(os.fstat(f.fileno())):
                    return None
                data = f.read()
        except OSError:
            return None
        head = len(MAGIC) + 2 * _DIGEST
        if len(data) < head or not data.startswith(MAGIC):
            return None
        stored_key = data[len(MAGIC):len(MAGIC) + _DIGEST]
        checksum = data[len(MAGIC) + _DIGEST:head]
        payload = data[head:]
        if stored_key != key or hashlib.sha256(payload).digest() != checksum:
            return None
        try:
            return pickle.loads(payload)  # our own private folder, checksummed
        except Exception:  # a damaged entry is only a miss
            return None

    def put(self, key: bytes, value: object) -> None:
        """File `value` under `key` (atomically); failures are only logged."""
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            blob = MAGIC + key + hashlib.sha256(payload).digest() + payload
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")  # mode 0600
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)
                os.replace(tmp, self._path(key))
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._prune()
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
            log.info("rules cache: cannot write an entry in %s (%s)", self.folder, exc)

    def _path(self, key: bytes) -> Path:
        return self.folder / f"{key.hex()}.rules"

    def _prune(self) -> None:
        entries = sorted(self.folder.glob("*.rules"), key=lambda p: p.stat().st_mtime_ns,
                         reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)


def _private(info: os.stat_result) -> bool:
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def input_key(paths: Sequence[Path], files: Iterable[Path],
              texts: Mapping[str, str]) -> bytes | None:
    """The SHA-256 of everything a load of these inputs reads, or None if a file cannot
    be read (the load then reports it, uncached)."""
    digest = hashlib.sha256()
    digest.update(code_digest())
    for part in (repr([str(p) for p in paths]), repr(list(texts))):
        _field(digest, part.encode())
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        _field(digest, str(path).encode("utf-8", "surrogateescape"))
        _field(digest, data)
    for name, text in texts.items():
        _field(digest, name.encode("utf-8", "surrogateescape"))
        _field(digest, text.encode("utf-8", "surrogatepass"))
    return digest.digest()


def _field(digest: hashlib._Hash, data: bytes) -> None:
    digest.update(len(data).to_bytes(8, "big"))
    digest.update(data)


@lru_cache(maxsize=1)
def code_digest() -> bytes:
    """The SHA-256 of the Python version and every file of the installed `watcher` package
    (its code and its world gazetteer data: names and sizes and modification times of
    the large data files, bytes of the rest)."""
    digest = hashlib.sha256()
    _field(digest, f"{sys.implementation.name} {sys.version} {MAGIC!r}".encode())
    root = Path(watcher.__file__).parent
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        _field(digest, str(path.relative_to(root)).encode())
        info = path.stat()
        if path.suffix in (".trie", ".places"):
            _field(digest, f"{info.st_size} {info.st_mtime_ns}".encode())
        else:
            _field(digest, path.read_bytes())
    return digest.digest()
