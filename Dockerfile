# syntax=docker/dockerfile:1
# One image for SQLite (a volume on /data) or PostgreSQL (DATABASE_URL):
#   docker run -p 8000:8000 -e JWT_SECRET_KEY=... -v appdata:/data IMAGE
ARG PYTHON_VERSION=3.13

FROM python:${PYTHON_VERSION}-slim AS builder
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first: this layer is rebuilt only when the lock file changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=/app/uv.lock \
    --mount=type=bind,source=pyproject.toml,target=/app/pyproject.toml \
    uv sync --frozen --no-dev --no-install-project
COPY . /app
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev \
 && /app/.venv/bin/python -m compileall -q /app/app /app/alembic

FROM python:${PYTHON_VERSION}-slim
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin app \
 && mkdir /data \
 && chown app:app /data
# The code stays owned by root: the service can write only to /data (the SQLite
# database and, unless ATTACHMENT_STORAGE=s3, the items' files in /data/attachments).
COPY --from=builder /app /app
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ENVIRONMENT=production \
    DATABASE_URL=sqlite:////data/app.db \
    JWT_SECRET_KEY_FILE=/data/.jwt-secret \
    ATTACHMENT_DIR=/data/attachments \
    FORWARDED_ALLOW_IPS=127.0.0.1
WORKDIR /app
USER app
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
# Migrates once, creates FIRST_ADMIN_* if set, then serves with WEB_CONCURRENCY
# workers (default: one per CPU); SIGTERM stops it gracefully.
CMD ["python", "-m", "app", "serve", "--host", "0.0.0.0", "--port", "8000"]
