"""What only the Redis store has: one client factory, with timeouts, for every client finews makes."""

from __future__ import annotations

import pytest
import redis
from scrapy.settings import Settings
from scrapy_redis.connection import get_redis_from_settings

from crawler.config import load_config
from crawler.distributed import connect, worker_settings
from crawler.store import StoreUnavailable
from crawler.store.redis import RedisStore


def test_a_stopped_redis_times_out_every_finews_client_instead_of_hanging(own_redis, tmp_path):
    """The store's, distributed mode's and scrapy-redis' own clients all come from the one factory."""
    config_path = tmp_path / "finews.toml"
    config_path.write_text(f'[store]\nurl = "{own_redis.url}"\n\n[crawl]\ndistributed = true\n', encoding="utf-8")
    config = load_config(config_path, environ={})
    store, shared = RedisStore(own_redis.url), connect(config)
    frontier = get_redis_from_settings(Settings(worker_settings(config)))
    for client in (store.redis, shared, frontier):
        client.ping()
    own_redis.pause()
    try:
        with pytest.raises(StoreUnavailable, match="TimeoutError"):
            store.known_titles(["202112212221504115"])
        for client in (shared, frontier):
            with pytest.raises(redis.TimeoutError):
                client.ping()
    finally:
        own_redis.resume()
