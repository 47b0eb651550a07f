"""WebSub against a real hub (Flask-WebSub's, run by the test) and a real subscriber receiving the feeds."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery
from flask import Flask, request
from flask_websub.hub import Hub, SQLite3HubStorage
from flask_websub.subscriber import SQLite3SubscriberStorage, SQLite3TempSubscriberStorage, Subscriber
from lxml import etree
from werkzeug.serving import make_server as make_wsgi_server

from crawler.config import load_config
from crawler.store import Article, hub_run, open_store
from crawler.text.times import BEIJING
from feeds.serve import make_server
from feeds.websub import Notifier, changed_feeds

from conftest import free_port
from crawlkit import run_finews, status_json
from feedcheck import ATOM_NS, check_atom, check_json_feed, check_rss

T0 = datetime(2022, 1, 7, 8, 0, tzinfo=BEIJING)
EMNEWS = {"emnews": "东财滚动新闻"}
QSZG = {"quanshangzhongguo": "券商中国新闻"}


def article(n: int, categories: dict[str, str], **fields: object) -> Article:
    article_id = f"{202201070000000000 + n}"
    values = dict(article_id=article_id, title=f"标题{n}", link=f"https://finance.eastmoney.com/a/{article_id}.html",
                  published=T0 + timedelta(minutes=n), categories=categories, media="券商中国",
                  html=f"<p>正文{n}</p>", summary=f"摘要{n}", content_hash=f"hash{n}")
    values.update(fields)
    return Article(**values)


class Server:
    """A WSGI app served by werkzeug on a free port in a thread."""

    def __init__(self, app: Flask):
        self.server = make_wsgi_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def hub(tmp_path) -> Iterator[tuple[str, list[str]]]:
    """Flask-WebSub's hub, its celery tasks run eagerly in the request; yields its URL and the topics pinged."""
    app = Flask("hub")
    app.config["PUBLISH_SUPPORTED"] = True
    celery = Celery("hub", broker="memory://")
    celery.conf.task_always_eager = True
    websub_hub = Hub(SQLite3HubStorage(str(tmp_path / "hub.db")), celery, REQUEST_TIMEOUT=10, MAX_ATTEMPTS=2)
    app.register_blueprint(websub_hub.build_blueprint(url_prefix="/hub"))
    pinged: list[str] = []

    @app.before_request
    def record() -> None:
        if request.form.get("hub.mode") == "publish":
            pinged.append(request.form["hub.url"])

    server = Server(app)
    yield f"{server.url}/hub", pinged
    server.close()


@pytest.fixture
def subscriber(tmp_path) -> Iterator[tuple[Flask, Subscriber, queue.Queue]]:
    """Flask-WebSub's subscriber; yields its app, the subscriber and a queue of (topic, body) received."""
    app = Flask("subscriber")
    websub = Subscriber(SQLite3SubscriberStorage(str(tmp_path / "sub.db")),
                        SQLite3TempSubscriberStorage(str(tmp_path / "sub-temp.db")), MAX_BODY_SIZE=16 * 1024 * 1024)
    app.register_blueprint(websub.build_blueprint(url_prefix="/callbacks"))
    received: queue.Queue[tuple[str, bytes]] = queue.Queue()
    websub.add_listener(lambda topic, callback_id, body: received.put((topic, body)))
    server = Server(app)
    app.config["SERVER_NAME"] = server.url.removeprefix("http://")
    yield app, websub, received
    server.close()


@pytest.fixture
def site(tmp_path, hub) -> Iterator[tuple[Path, str]]:
    """A config with the hub, and the output folder served at its base_url with the WebSub Link headers."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/"
    server = make_server(tmp_path / "public", "127.0.0.1", port, hubs=(hub[0],), base_url=base_url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = tmp_path / "finews.toml"
    config.write_text(f'[site]\noutput_dir = "public"\nbase_url = "{base_url}"\n[store]\nurl = "sqlite:///finews.db"\n'
                      f'[websub]\nhubs = ["{hub[0]}"]\n', encoding="utf-8")
    yield config, base_url
    server.shutdown()
    server.server_close()


def test_every_feed_declares_its_hubs_and_itself_in_all_three_formats(tmp_path):
    config_path = tmp_path / "finews.toml"
    config_path.write_text('[site]\noutput_dir = "public"\nbase_url = "https://finews.example.com/"\n'
                           '[store]\nurl = "sqlite:///finews.db"\n'
                           '[websub]\nhubs = ["https://hub.example/", "https://pubsubhubbub.example/hub"]\n',
                           encoding="utf-8")
    config = load_config(config_path, environ={})
    with open_store(config.store.url) as store:
        store.upsert(article(1, EMNEWS), T0)
    from feeds.publish import publish

    with open_store(config.store.url) as store:
        publish(config, store)
    folder = config.site.output_dir / "emnews"
    hubs = ["https://hub.example/", "https://pubsubhubbub.example/hub"]
    atom = etree.fromstring((folder / "atom.xml").read_bytes())
    assert atom.xpath("/a:feed/a:link[@rel='hub']/@href", namespaces={"a": ATOM_NS}) == hubs
    assert atom.xpath("/a:feed/a:link[@rel='self']/@href", namespaces={"a": ATOM_NS}) == [
        "https://finews.example.com/emnews/atom.xml"]
    check_atom((folder / "atom.xml").read_bytes())
    rss = etree.fromstring((folder / "rss.xml").read_bytes())
    links = [(link.get("rel"), link.get("href")) for link in rss.iterfind(f"channel/{{{ATOM_NS}}}link")]
    assert [href for rel, href in links if rel == "hub"] == hubs
    assert ("self", "https://finews.example.com/emnews/rss.xml") in links
    check_rss((folder / "rss.xml").read_bytes())
    feed = check_json_feed((folder / "feed.json").read_bytes())
    assert feed["hubs"] == [{"type": "WebSub", "url": hub} for hub in hubs]
    assert feed["feed_url"] == "https://finews.example.com/emnews/feed.json"
    for archive in config.site.output_dir.rglob("archive/*.atom"):
        assert not etree.fromstring(archive.read_bytes()).xpath("//a:link[@rel='hub']", namespaces={"a": ATOM_NS})


def test_a_publish_pushes_exactly_the_changed_feeds_through_a_real_hub_to_a_subscriber(site, hub, subscriber):
    config_path, base_url = site
    hub_url, pinged = hub
    app, websub, received = subscriber
    config = load_config(config_path, environ={})
    with open_store(config.store.url) as store:
        store.upsert(article(1, {**EMNEWS, **QSZG}), T0)
    run_finews("publish", "--config", str(config_path), check=True)
    topics = [f"{base_url}all/atom.xml", f"{base_url}emnews/atom.xml", f"{base_url}quanshangzhongguo/atom.xml"]
    with app.app_context():
        for topic in topics:
            websub.subscribe(topic_url=topic, hub_url=hub_url)
    pinged.clear()

    with open_store(config.store.url) as store:
        store.upsert(article(2, EMNEWS), T0)
    result = run_finews("publish", "--config", str(config_path), check=True)
    assert sorted(pinged) == sorted(f"{base_url}{slug}/{name}" for slug in ("all", "emnews")
                                    for name in ("rss.xml", "atom.xml", "feed.json")), result.stderr
    pushed = {}
    while not received.empty():
        topic, body = received.get_nowait()
        pushed[topic] = body
    assert sorted(pushed) == topics[:2]  # quanshangzhongguo did not change
    for topic, body in pushed.items():
        assert body == (config.site.output_dir / topic.removeprefix(base_url)).read_bytes()
        assert check_atom(body).entries[0].title == "标题2"
    status = status_json(config_path)
    assert status["hubs"] == [{"hub": hub_url, "outcome": "ok", "notified": 9 + 6, "failed": 0,
                               "last_success": status["hubs"][0]["last_success"], "message": ""}]


def test_a_hub_that_is_down_is_logged_and_counted_and_the_publish_succeeds(tmp_path):
    down = "http://127.0.0.1:9/hub"  # discard port: nothing listens
    config_path = tmp_path / "finews.toml"
    config_path.write_text(f'[site]\noutput_dir = "public"\n[store]\nurl = "sqlite:///finews.db"\n'
                           f'[websub]\nhubs = ["{down}"]\n', encoding="utf-8")
    config = load_config(config_path, environ={})
    with open_store(config.store.url) as store:
        store.upsert(article(1, EMNEWS), T0)
    result = run_finews("publish", "--config", str(config_path))
    assert result.returncode == 0 and (config.site.output_dir / "emnews" / "atom.xml").exists()
    assert f"hub {down} failed 3 times for" in result.stderr and "6 feed URLs not notified" in result.stderr
    assert "Traceback" not in result.stderr
    hub = status_json(config_path)["hubs"][0]
    assert (hub["hub"], hub["outcome"], hub["notified"], hub["failed"]) == (down, "failed", 0, 6)
    assert hub["last_success"] is None and hub["message"]
    text = run_finews("status", "--config", str(config_path)).stdout
    assert "WEBSUB HUB" in text and f"{down}  failed   0         6" in text


def test_notify_returns_at_once_and_close_gives_up_after_its_bound(tmp_path):
    """The queue is the publish path's only contact with a hub: a hub that never answers cannot hold it."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        config_path = tmp_path / "finews.toml"
        config_path.write_text(f'[store]\nurl = "sqlite:///finews.db"\n[websub]\nhubs = '
                               f'["http://127.0.0.1:{silent.getsockname()[1]}/"]\n', encoding="utf-8")
        notifier = Notifier(load_config(config_path, environ={}))
        notifier.notify(["https://finews.example.com/all/atom.xml"])
        assert notifier.thread.is_alive()
        assert notifier.close(timeout=0.1) is False


def test_only_subscription_feeds_count_as_changed_feeds_securities_and_topics_included(tmp_path):
    config_path = tmp_path / "finews.toml"
    config_path.write_text('[site]\noutput_dir = "public"\nbase_url = "https://finews.example.com/"\n',
                           encoding="utf-8")
    config = load_config(config_path, environ={})
    out = config.site.output_dir
    written = [out / "all" / "atom.xml", out / "emnews" / "feed.json", out / "all" / "archive" / "2022-01.atom",
               out / "index.html", out / "opml.xml", out / ".archive-state.json", out / "emnews" / "rss.xml",
               out / "stocks" / "sh600160" / "atom.xml", out / "stocks" / "index.html", out / "stocks" / "opml.xml",
               out / "topics" / "ev" / "rss.xml", out / "topics" / "ev" / "archive" / "2022-01.atom",
               out / "emnews" / "index.html"]
    assert changed_feeds(config, written) == ["https://finews.example.com/all/atom.xml",
                                              "https://finews.example.com/emnews/feed.json",
                                              "https://finews.example.com/emnews/rss.xml",
                                              "https://finews.example.com/stocks/sh600160/atom.xml",
                                              "https://finews.example.com/topics/ev/rss.xml"]
    assert hub_run("https://hub.example/") == "@websub:https://hub.example/"
