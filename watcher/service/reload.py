"""Hot reload of the rules: watch the rule folders, recompile on change, keep what works.

    reloader = RuleReloader(config.rule_paths(), feed_tags, on_load=install)
    reloader.reload()                      # first load (sync); also on SIGHUP
    await reloader.watch(stop)             # until `stop` is set

A change under a configured rule path (a file saved, added, removed or renamed) is seen by
watchfiles (inotify on Linux; set WATCHFILES_FORCE_POLLING=true where file events do not
arrive, as on some network or bind mounts) and applied after a short debounce, so a burst
of saves loads once. Each reload reads every rule file afresh:

- a file whose current version has errors keeps its LAST GOOD version running (the last
  version that loaded without errors in this process); the errors are logged and kept in
  `status.problems`, and the file is named in `status.stale_files` (with the time of the
  first load that found it broken in `status.stale_since`);
- a file that never loaded cleanly contributes whatever of it still loads (load_rules
  drops only the broken rules), as at start-up;
- a removed file is gone: its rules stop.

Compiling runs in a worker thread, so thousands of rules do not stall polls or deliveries;
the new matcher is handed to `on_load` only when complete (the pipeline swaps one reference).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import watchfiles

from watcher.config.settings import Config
from watcher.errors import Problem
from watcher.matching.matcher import Matcher, compile_rules
from watcher.rules.load import RuleCache, RuleSet, load_rules, rule_files
from watcher.yamlfile import MAX_YAML_BYTES

log = logging.getLogger("watcher.reload")

RULE_SUFFIXES = (".yaml", ".yml")
DEBOUNCE_MS = 300  # a save often arrives as several events; wait for them to settle


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RulesStatus:
    """What the running rules are, for `watcher status` (through the store's `replicas`
    table), `/readyz` and metrics."""

    loaded_at: datetime | None = None  # when the running matcher was built
    checked_at: datetime | None = None  # when the rule files were last read
    rules: int = 0  # enabled rules running
    files: int = 0  # rule files read
    problems: tuple[Problem, ...] = ()  # of the files as they are now on disk
    stale_files: tuple[str, ...] = ()  # running their last good version instead
    stale_since: Mapping[str, datetime] = field(default_factory=dict)  # of each stale file
    reloads: int = 0  # successful loads since start, the first included

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for p in self.problems if p.severity != "error")

    @property
    def ok(self) -> bool:
        """Rules are running and every file is in its current version without errors."""
        return self.loaded_at is not None and self.errors == 0

    def to_dict(self) -> dict[str, object]:
        def stamp(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None
        return {"ok": self.ok, "loaded_at": stamp(self.loaded_at),
                "checked_at": stamp(self.checked_at), "rules": self.rules,
                "files": self.files, "errors": self.errors, "warnings": self.warnings,
                "problems": [str(p) for p in self.problems],
                "stale_files": list(self.stale_files),
                "stale_since": {name: stamp(t) for name, t in self.stale_since.items()},
                "reloads": self.reloads}


@dataclass
class RuleReloader:
    """Loads the rules of `paths`, remembers each file's last good text, and hands every
    newly compiled matcher to `on_load`."""

    paths: Sequence[Path]
    feed_tags: Mapping[str, Sequence[str]] = field(default_factory=dict)
    on_load: Callable[[Matcher, RulesStatus], None] | None = None
    cache: RuleCache | None = None  # of loaded rule sets (rules/cache.py)
    clock: Callable[[], datetime] = utcnow
    status: RulesStatus = field(default_factory=RulesStatus)
    matcher: Matcher | None = None
    _good: dict[str, str] = field(default_factory=dict)
    _lock: asyncio.Lock | None = None
    _pending: set[asyncio.Task[RulesStatus]] = field(default_factory=set)
    # Set after every reload in the loop (the service then writes its status to the store).
    reloaded: asyncio.Event = field(default_factory=asyncio.Event)

    def request_reload(self) -> None:
        """Reload soon, in the running loop (for a signal handler such as SIGHUP's)."""
        log.info("rules: reload requested")
        task = asyncio.get_running_loop().create_task(self.reload_async())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def reload(self) -> RulesStatus:
        """Read, load and compile now; log problems; return the new status."""
        now = self.clock()
        ruleset, current, stale, files = self._load()
        matcher = compile_rules(ruleset, feed_tags=self.feed_tags)
        for problem in current:
            level = logging.ERROR if problem.severity == "error" else logging.WARNING
            log.log(level, "rules: %s", problem, extra={"file": problem.path})
        for name in stale:
            log.error("rules: %s has errors; its last good version keeps running", name,
                      extra={"file": name})
        self.matcher = matcher
        # A file stays stale from the first load that found it broken until one that does not.
        since = {name: self.status.stale_since.get(name, now) for name in stale}
        self.status = RulesStatus(loaded_at=now, checked_at=now, rules=len(matcher.rules),
                                  files=files, problems=tuple(current),
                                  stale_files=tuple(stale), stale_since=since,
                                  reloads=self.status.reloads + 1)
        log.info("rules loaded: %d rules from %d files, %d errors, %d warnings",
                 self.status.rules, files, self.status.errors, self.status.warnings)
        if self.on_load is not None:
            self.on_load(matcher, self.status)
        return self.status

    async def reload_async(self) -> RulesStatus:
        """`reload` in a worker thread, one at a time; a failure leaves the running rules
        as they are."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                return await asyncio.to_thread(self.reload)
            except Exception:
                log.exception("rules: reload failed; the running rules stay as they were")
                return self.status
            finally:
                self.reloaded.set()

    def _load(self) -> tuple[RuleSet, list[Problem], list[str], int]:
        problems: list[Problem] = []
        files = rule_files(self.paths, problems)
        texts: dict[str, str] = {}
        unreadable: list[Path] = []
        for path in files:
            text = _read_text(path)
            if text is None:
                unreadable.append(path)
            else:
                texts[str(path)] = text
        ruleset = load_rules(unreadable, texts, self.cache)
        current = problems + ruleset.problems
        broken = {p.path for p in current if p.severity == "error"}
        fallback = {name: self._good[name] for name in broken
                    if name in self._good and texts.get(name) != self._good[name]}
        if fallback:
            kept = [p for p in unreadable if str(p) not in fallback]
            ruleset = load_rules(kept, {**texts, **fallback})
        for name, text in texts.items():
            if name not in broken:
                self._good[name] = text
        present = {str(p) for p in files}
        for name in [n for n in self._good if n not in present]:
            del self._good[name]
        return ruleset, current, sorted(fallback), len(files)

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload whenever a rule file under `paths` changes, until `stop` is set."""
        roots = _watch_roots(self.paths)
        if not roots:
            log.warning("rules: no rule folder exists to watch; reload with SIGHUP")
            await stop.wait()
            return
        wanted = [p.resolve() for p in self.paths]
        log.info("rules: watching %s for changes", ", ".join(map(str, roots)))
        async for changes in watchfiles.awatch(
                *roots, watch_filter=lambda _, path: _is_rule_file(Path(path), wanted),
                debounce=DEBOUNCE_MS, stop_event=stop, ignore_permission_denied=True):
            log.info("rules: %d files changed; reloading", len(changes))
            await self.reload_async()


def rule_reloader(config: Config) -> RuleReloader:
    """A reloader of the configured rule paths; feed tags come from the configured feeds."""
    folder = config.rules_cache_folder()
    return RuleReloader(config.rule_paths(), {f.id: list(f.tags) for f in config.feeds},
                        cache=RuleCache(folder) if folder else None)


def _read_text(path: Path) -> str | None:
    """The text of a rule file, or None when load_rules should read it (and report why it
    cannot: unreadable, too large, not UTF-8)."""
    try:
        raw = path.read_bytes()
        return raw.decode("utf-8-sig") if len(raw) <= MAX_YAML_BYTES else None
    except (OSError, UnicodeDecodeError):
        return None


def _watch_roots(paths: Sequence[Path]) -> list[Path]:
    """Folders to watch: each rule folder, and the folder of each rule file (editors save
    by writing a new file and renaming it over the old one)."""
    roots: list[Path] = []
    for path in paths:
        root = path if path.is_dir() else path.parent
        if root.is_dir():
            root = root.resolve()
            if not any(root.is_relative_to(r) for r in roots):
                roots = [r for r in roots if not r.is_relative_to(root)] + [root]
    return roots


def _is_rule_file(path: Path, wanted: Sequence[Path]) -> bool:
    """A rule file under a configured path (hidden ones are not loaded, so not watched), or
    the `..data` link a Kubernetes ConfigMap volume swaps to update its files at once."""
    for root in wanted:
        if path == root:
            return True
        if path.is_relative_to(root):
            parts = path.relative_to(root).parts
            if parts[0].startswith(".."):
                return True
            return path.suffix in RULE_SUFFIXES and not any(p.startswith(".") for p in parts)
    return False
