# finews: the scheduler, the crawl workers and the `finews` command line in one slim image.
# Needs BuildKit (the default builder of Docker 23+ and of `docker compose build`).

# Build stage: wheels of finews and of every dependency; the compilers stay in this stage.
FROM python:3.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md scheduler.py ./
COPY crawler ./crawler
COPY feeds ./feeds
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Final stage: installed from those wheels alone (no index, nothing compiled), run unprivileged.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels finews
# /data/public exists in the image and belongs to finews, so a new named volume mounted
# there (the compose `public` volume) starts out owned by finews and writable. The link makes
# `docker compose exec scheduler finews status` (run in /data) read the mounted config.
RUN groupadd --gid 10001 finews \
 && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin finews \
 && mkdir -p /data/public /etc/finews \
 && ln -s /etc/finews/finews.toml /data/finews.toml \
 && chown -R 10001:10001 /data
COPY deploy/finews.toml /etc/finews/finews.toml
USER 10001:10001
WORKDIR /data
ENTRYPOINT ["finews"]
CMD ["run", "--config", "/etc/finews/finews.toml"]
