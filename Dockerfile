# One image for every taskq service; compose.yaml picks the command
# (taskq-migrate, taskq-api, taskq-consumer).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# a non-root user that owns /data, so a fresh named volume mounted there is writable
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin taskq \
    && mkdir /data \
    && chown taskq:taskq /data

COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install .

USER taskq
ENV TASKQ_DB_PATH=/data/tasks.db
EXPOSE 8080 8081
CMD ["taskq-api"]
