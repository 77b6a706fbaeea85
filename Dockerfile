# One image for every role: `planexe serve` (the default), `planexe worker`,
# `planexe db upgrade`. See docs/scaling.md.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PLANEXE_DATA_DIR=/data \
    PLANEXE_RUNS_DIR=/data/runs

# tini as PID 1: forwards signals and reaps the Luigi task processes that a
# killed pipeline leaves to it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The locked dependencies first (exact versions, hashes checked; a layer that changes
# only with the lock), then the project without resolving anything.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY planexe ./planexe
COPY planexe_api ./planexe_api
# A plain install (the migrations are package data); the source is removed so nothing
# can depend on it. Byte-compiled by pip, since the runtime user cannot write to
# site-packages and every plan starts a new Python.
RUN pip install --no-deps . \
    && pip check \
    && rm -rf /app/planexe /app/planexe_api

RUN useradd --create-home --uid 10001 planexe \
    && mkdir -p /data \
    && chown planexe:planexe /data
USER planexe

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["sh", "-c", "exec planexe serve --host 0.0.0.0 --port ${PORT:-8000}"]
