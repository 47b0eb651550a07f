# finews: the scheduler, workers and `finews` command line in one slim image.
FROM python:3.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md scrapy.cfg scheduler.py ./
COPY crawler ./crawler
COPY feeds ./feeds
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
 && useradd --uid 10001 --create-home --home-dir /home/finews finews \
 && mkdir -p /data/public /etc/finews && chown -R finews:finews /data
COPY deploy/finews.toml /etc/finews/finews.toml
USER finews
WORKDIR /data
VOLUME ["/data"]
ENTRYPOINT ["finews"]
CMD ["run", "--config", "/etc/finews/finews.toml"]
