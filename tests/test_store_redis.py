"""What only the Redis store has: scripts that declare their keys, one client factory with timeouts."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import redis
from scrapy.settings import Settings
from scrapy_redis.connection import get_redis_from_settings

from crawler.config import load_config
from crawler.distributed import connect, worker_settings
from crawler.store import ALL, StoreUnavailable
from crawler.store.redis import RedisStore

from test_store_contract import CRAWL, EMNEWS, QSZG, SZB, article


def script_calls(url: str, work) -> list[tuple[list[str], list[list[str]]]]:
    """Run `work`, watching the server: each script call's KEYS and the commands the script sent."""
    monitor_client = redis.Redis.from_url(url, decode_responses=True)
    lines: list[dict] = []
    started = threading.Event()

    def watch() -> None:
        with monitor_client.monitor() as monitor:
            started.set()
            while True:
                command = monitor.next_command()
                if command["command"].startswith("ECHO done-watching"):
                    return
                lines.append(command)

    thread = threading.Thread(target=watch)
    thread.start()
    started.wait()
    work()
    redis.Redis.from_url(url).echo("done-watching")
    thread.join(timeout=30)
    calls: list[tuple[list[str], list[list[str]]]] = []
    for line in lines:
        words = line["command"].split(" ")  # names, counts and keys hold no spaces; later arguments may
        if words[0].upper() in ("EVALSHA", "EVAL"):
            calls.append((words[3:3 + int(words[2])], []))
        elif line["client_type"] == "lua":
            calls[-1][1].append(words)
    return calls


def test_every_key_a_script_touches_is_one_of_its_keys(own_redis):
    def work() -> None:
        with RedisStore(own_redis.url) as store:
            for i in range(6):
                store.upsert(article(f"20211221222150411{i}", minutes=i, categories={**SZB, **(EMNEWS if i % 2 else {})}),
                             CRAWL)
            store.upsert(article("202112212221504110", title="改过的标题", minutes=0), CRAWL + timedelta(hours=1))
            store.add_membership("202112212221504111", QSZG, media="券商中国")
            store.mark_dirty(["emnews", "szb"])
            store.clear_dirty(store.dirty_categories())
            settled = store.changes(0, 10)[-2][0]
            store.prune("emnews", 0, settled=settled)
            store.prune("emnews", 1)
            store.prune(ALL, 1, settled=settled)
            store.prune(ALL, 2)
            assert store.acquire_lock("scheduler", "me", 30)
            store.release_lock("scheduler", "me")

    calls = script_calls(own_redis.url, work)
    touched = {command[1] for _, commands in calls for command in commands}
    assert len(calls) >= 14 and {"finews:changes", "finews:names", "finews:cat:emnews"} <= touched
    for keys, commands in calls:
        for command in commands:
            assert command[1] in keys, f"{command[:2]} is not among the script's KEYS {keys}"


def contents(client: redis.Redis) -> dict[str, object]:
    """Every finews key's value (a dump's bytes follow a hash table's internal order, so not those)."""
    read = {"hash": client.hgetall, "zset": lambda key: client.zrange(key, 0, -1, withscores=True),
            "string": client.get}
    return {key: read[client.type(key)](key) for key in client.keys("finews:*")}


def test_a_prune_whose_items_changed_after_it_read_them_writes_nothing(own_redis):
    with RedisStore(own_redis.url) as store:
        for i in range(3):
            store.upsert(article(f"20211221222150412{i}", minutes=i), CRAWL)
        keys, args = store._prune_plan(ALL, 1, 0, None)
        store.add_membership("202112212221504120", EMNEWS)  # one of the two oldest gains a category not in KEYS
        before = contents(store.redis)
        assert store._prune(keys=keys, args=args) == -1
        assert contents(store.redis) == before
        assert store.prune(ALL, 1) == 2 and store.count("emnews") == 0 and store.count(ALL) == 1


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
