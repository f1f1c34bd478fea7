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

COPY pyproject.toml uv.lock README.md ./
# The locked versions of what the services need (no CLI or supervisor extra, no dev group):
# the same versions `make install` tests, and an image with nothing the services do not run.
RUN pip install 'uv>=0.5' \
    && uv export --frozen --no-default-groups --no-emit-project --format requirements-txt \
        --output-file /tmp/requirements.txt \
    && pip install --requirement /tmp/requirements.txt \
    && pip uninstall --yes uv \
    && rm /tmp/requirements.txt
COPY shared ./shared
COPY services ./services
RUN pip install --no-deps .

USER taskq
ENV TASKQ_DB_PATH=/data/tasks.db
EXPOSE 8080 8081
CMD ["taskq-api"]
