# syntax=docker/dockerfile:1
# watcher: polls feeds, matches rules, delivers alerts. See README "Deployment".
#
# Stage 1 builds a virtual environment from wheels (every compiled dependency ships
# manylinux wheels) and compiles watcher's own C extension (matching's hot loops,
# watcher/text/_speedups.c: the one thing the compiler is there for); stage 2 copies only
# that environment onto a clean slim base: no compiler, no pip cache, no source tree.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# Any gcc builds the extension: the distribution's own, unpinned (DL3008).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/watcher
COPY pyproject.toml setup.py README.md ./
COPY watcher ./watcher
# The extension is optional for pip (watcher runs without it, slower): here it must build.
RUN /opt/watcher/bin/pip install --no-cache-dir . \
    && /opt/watcher/bin/python -c "import watcher.text._speedups" \
    && /opt/watcher/bin/pip uninstall --yes pip setuptools wheel

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="watcher" \
      org.opencontainers.image.description="Alerts from news in conflict regions"
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin watcher \
    && mkdir -p /data \
    && chown watcher:watcher /data
COPY --from=build /opt/watcher /opt/watcher
COPY rules /app/rules
COPY config /app/config
# Every setting can be overridden with WATCHER_… variables (README, Configuration); these
# point the shipped config at the mounts. State and the alert archive live on /data. The
# ops port listens beyond loopback, so the desk (docs/desk.md) is off until it has
# desk.tokens or desk.users_file: then set WATCHER_DESK__ENABLED=true.
ENV PATH=/opt/watcher/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WATCHER_CONFIG=/app/config/watcher.yaml \
    WATCHER_RULES=/app/rules \
    WATCHER_STATE=/data/watcher.db \
    WATCHER_ALERTS_FILE=/data/alerts.jsonl \
    WATCHER_HTTP__LISTEN=0.0.0.0:9090 \
    WATCHER_DESK__ENABLED=false
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 9090
# /healthz on the port WATCHER_HTTP__LISTEN names (python's urllib: no curl in the image).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ['WATCHER_HTTP__LISTEN'].rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["watcher", "run"]
