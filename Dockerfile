# The assistant as a container: slim Python, the catalogs compiled, running as a non-root user.
#   docker build -t studentbot .
#   docker run --env-file .env -v studentbot-data:/app/data studentbot          # polling, SQLite
# compose.yaml runs two of these behind Caddy in webhook mode with PostgreSQL and Redis.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 studentbot \
    && useradd --system --uid 10001 --gid studentbot --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin studentbot

WORKDIR /app
COPY pyproject.toml README.md babel.cfg ./
COPY bot/ bot/
COPY handlers/ handlers/
COPY knowledge/ knowledge/
COPY locales/ locales/
COPY scripts/i18n.py scripts/i18n.py

# Editable, so the code finds locales/ and knowledge/ beside it; the catalogs compiled here,
# the data folder (SQLite, local files) the only place the user may write.
RUN pip install --no-cache-dir -e . \
    && python scripts/i18n.py compile \
    && mkdir -p /app/data \
    && chown studentbot:studentbot /app/data

USER 10001:10001
VOLUME ["/app/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["studentbot"]
CMD ["run"]
