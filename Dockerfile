# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY watcher ./watcher
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin watcher \
    && mkdir -p /data && chown watcher:watcher /data
COPY --from=build /install /usr/local
COPY rules /app/rules
COPY config /app/config
# Config and rules can be replaced by mounts; state and the alert archive live on /data.
ENV WATCHER_CONFIG=/app/config/watcher.yaml \
    WATCHER_RULES=/app/rules \
    WATCHER_STATE=/data/watcher.db \
    WATCHER_ALERTS_FILE=/data/alerts.jsonl \
    PYTHONUNBUFFERED=1
WORKDIR /app
USER watcher
VOLUME ["/data"]
CMD ["watcher", "run"]
