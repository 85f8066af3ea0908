"""What the container image relies on, checked without a Docker daemon: the image's own
environment (read from the Dockerfile) turns the shipped config and rules into a valid
setup, the HEALTHCHECK command passes against a running watcher and fails without one, and
every file the image copies is let through .dockerignore."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.localsite import CONVOY, LocalSite, local_site, wait_for
from tests.test_ops import env, start, watcher, write_config


@pytest.fixture
def site() -> Iterator[LocalSite]:
    yield from local_site()


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments gone."""
    logical: list[str] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    return [(word.upper(), rest.strip()) for word, _, rest in
            (entry.strip().partition(" ") for entry in logical)]


def image_env(dockerfile: Path) -> dict[str, str]:
    """The ENV of the final stage (`KEY=value` pairs, shell-quoted)."""
    final = [i for i, (word, _) in enumerate(instructions(dockerfile)) if word == "FROM"][-1]
    values: dict[str, str] = {}
    for word, args in instructions(dockerfile)[final:]:
        if word == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                values[key] = value
    return values


def healthcheck(dockerfile: Path) -> list[str]:
    (args,) = [a for w, a in instructions(dockerfile) if w == "HEALTHCHECK"]
    command = json.loads(args[args.index("CMD") + 3:].strip())
    assert isinstance(command, list)
    return [str(part) for part in command]


def remapped(values: dict[str, str], repo_root: Path, data: Path) -> dict[str, str]:
    """The image's paths pointed at this checkout (/app) and a scratch volume (/data)."""
    return {k: v.replace("/app/", f"{repo_root}/").replace("/data/", f"{data}/")
            for k, v in values.items() if k.startswith("WATCHER_")}


def test_the_image_environment_makes_a_valid_setup(repo_root: Path, tmp_path: Path) -> None:
    values = image_env(repo_root / "Dockerfile")
    assert {"WATCHER_CONFIG", "WATCHER_RULES", "WATCHER_STATE"} <= values.keys()
    assert values["WATCHER_STATE"].startswith("/data/")
    result = watcher("config", "check", **remapped(values, repo_root, tmp_path))
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
    shown = watcher("config", "show", **remapped(values, repo_root, tmp_path))
    assert shown.returncode == 0, shown.stderr.decode()
    assert f"{tmp_path}/watcher.db" in shown.stdout.decode()


def test_the_image_copies_only_what_dockerignore_lets_through(repo_root: Path) -> None:
    allowed = {line.strip().lstrip("!").rstrip("/") for line in
               (repo_root / ".dockerignore").read_text().splitlines()
               if line.strip().startswith("!")}
    copied = {src.rstrip("/") for word, args in instructions(repo_root / "Dockerfile")
              if word == "COPY" and "--from" not in args for src in args.split()[:-1]}
    assert copied, "no COPY from the build context"
    assert copied <= allowed, f"copied but ignored: {copied - allowed}"
    for name in copied:
        assert (repo_root / name).exists(), name


def test_healthcheck_passes_on_a_running_watcher_and_fails_without(
        repo_root: Path, tmp_path: Path, site: LocalSite) -> None:
    command = healthcheck(repo_root / "Dockerfile")
    assert command[0] == "python"
    probe = [sys.executable, *command[1:]]
    listen = f"127.0.0.1:{free_port()}"
    nobody = subprocess.run(probe, env=env(WATCHER_HTTP__LISTEN=listen), capture_output=True,
                            timeout=30, check=False)
    assert nobody.returncode != 0

    config = write_config(tmp_path, site, hook=site.hook("hook"),
                          feeds=[{"id": "desk", "url": site.set_feed("d.xml", [("a1", *CONVOY)])}])
    proc = start("run", "--config", str(config), WATCHER_HTTP__LISTEN=listen)
    try:
        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(proc.communicate()[1].decode())
            return subprocess.run(probe, env=env(WATCHER_HTTP__LISTEN=listen),
                                  capture_output=True, timeout=30, check=False).returncode == 0
        wait_for(healthy, 30, "HEALTHCHECK passing")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
