"""`finews serve` over real HTTP: media types, validators and 304s, gzip, nothing outside the folder."""

from __future__ import annotations

import gzip
import http.client
import signal
import socket
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from crawler.text.times import BEIJING
from feeds.serve import ARCHIVE_MAX_AGE, MAX_AGE, make_server, max_age

from crawlkit import ROOT, finews_env

FILES = {
    "index.html": ("text/html; charset=utf-8", "<!DOCTYPE html><title>金融消息</title>" + "新闻" * 400),
    "opml.xml": ("text/x-opml; charset=utf-8", "<opml version=\"2.0\"/>"),
    "all/rss.xml": ("application/rss+xml; charset=utf-8", "<rss version=\"2.0\">" + "条目" * 400 + "</rss>"),
    "all/atom.xml": ("application/atom+xml; charset=utf-8", "<feed/>"),
    "all/feed.json": ("application/feed+json; charset=utf-8", "{}"),
}


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "public"
    for name, (_, body) in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(body, encoding="utf-8")
    (tmp_path / "secret.txt").write_text("outside", encoding="utf-8")
    (root / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (root / ".hidden").write_text("dotfile", encoding="utf-8")
    server = make_server(root, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def get(port: int, path: str, **headers: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def test_each_file_is_served_with_its_media_type_and_validators(served):
    for name, (media_type, body) in FILES.items():
        response = get(served, "/" + name)
        assert response.status == 200, name
        assert response.getheader("Content-Type") == media_type
        assert response.body == body.encode("utf-8")
        assert response.getheader("ETag") and response.getheader("Last-Modified")
        assert response.getheader("Cache-Control") == "public, max-age=60"
    assert get(served, "/").body == FILES["index.html"][1].encode("utf-8")


def test_if_none_match_and_if_modified_since_give_304(served):
    first = get(served, "/all/rss.xml")
    by_etag = get(served, "/all/rss.xml", **{"If-None-Match": first.getheader("ETag")})
    assert by_etag.status == 304 and by_etag.body == b""
    by_date = get(served, "/all/rss.xml", **{"If-Modified-Since": first.getheader("Last-Modified")})
    assert by_date.status == 304
    stale = get(served, "/all/rss.xml", **{"If-None-Match": '"other"'})
    assert stale.status == 200


def test_gzip_when_the_client_accepts_it(served):
    response = get(served, "/all/rss.xml", **{"Accept-Encoding": "gzip, deflate"})
    assert response.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(response.body) == FILES["all/rss.xml"][1].encode("utf-8")
    assert response.getheader("Vary") == "Accept-Encoding"
    assert get(served, "/all/rss.xml", **{"If-None-Match": response.getheader("ETag"),
                                         "Accept-Encoding": "gzip"}).status == 304
    assert get(served, "/all/rss.xml").getheader("Content-Encoding") is None


@pytest.mark.parametrize("path", ["/missing.xml", "/../secret.txt", "/%2e%2e/secret.txt", "/all%2Frss.xml",
                                  "/all/..%2F..%2Fsecret.txt", "/leak.txt", "/.hidden", "/all/", "/all"])
def test_nothing_missing_or_outside_the_folder_is_served(served, path):
    response = get(served, path)
    assert response.status == 404
    assert b"outside" not in response.body and b"dotfile" not in response.body


def test_the_serve_command_serves_the_output_folder_until_sigterm(tmp_path):
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "index.html").write_text("<p>hi</p>", encoding="utf-8")
    (tmp_path / "finews.toml").write_text('[site]\noutput_dir = "public"\n[store]\nurl = "sqlite:///x.db"\n',
                                          encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "scheduler", "serve", "--port", "0", "--config",
                             str(tmp_path / "finews.toml")], cwd=ROOT, env=finews_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        assert get(port, "/index.html").body == b"<p>hi</p>"
    finally:
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_an_idle_connection_is_closed_after_the_idle_timeout(tmp_path):
    server = make_server(tmp_path / "public", "127.0.0.1", 0, idle_timeout=0.2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(server.server_address[:2], timeout=60) as silent:
            assert silent.recv(1) == b""
        with socket.create_connection(server.server_address[:2], timeout=60) as slow:
            slow.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n")
            assert slow.recv(1) == b""
    finally:
        server.shutdown()
        server.server_close()


def test_archives_are_served_as_feeds_settled_months_cached_for_a_week_the_current_one_for_a_minute(tmp_path):
    root = tmp_path / "public"
    current = datetime.now(BEIJING).strftime("%Y-%m")
    for month in ("2021-12", current):
        (root / "all" / "archive").mkdir(parents=True, exist_ok=True)
        (root / "all" / "archive" / f"{month}.atom").write_text("<feed/>", encoding="utf-8")
        (root / "all" / "archive" / f"{month}.json").write_text("{}", encoding="utf-8")
    server = make_server(root, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        for month, cache in (("2021-12", "public, max-age=604800"), (current, "public, max-age=60")):
            atom = get(port, f"/all/archive/{month}.atom")
            assert atom.getheader("Content-Type") == "application/atom+xml; charset=utf-8"
            assert atom.getheader("Cache-Control") == cache
            assert get(port, f"/all/archive/{month}.json").getheader("Content-Type") == \
                "application/feed+json; charset=utf-8"
            again = get(port, f"/all/archive/{month}.atom", **{"If-None-Match": atom.getheader("ETag")})
            assert again.status == 304 and again.getheader("Cache-Control") == cache
    finally:
        server.shutdown()
        server.server_close()


def test_a_month_is_cached_long_once_a_whole_month_has_passed_since_it_ended_in_beijing():
    november = Path("all/archive/2021-11.atom")
    assert max_age(november, datetime(2021, 12, 31, 15, 59, tzinfo=timezone.utc)) == MAX_AGE
    assert max_age(november, datetime(2021, 12, 31, 16, 0, tzinfo=timezone.utc)) == ARCHIVE_MAX_AGE
    december = Path("all/archive/2021-12.atom")
    assert max_age(december, datetime(2022, 1, 15, tzinfo=timezone.utc)) == MAX_AGE
    assert max_age(december, datetime(2022, 1, 31, 16, 0, tzinfo=timezone.utc)) == ARCHIVE_MAX_AGE
    assert max_age(Path("all/archive/2022-02.atom"), datetime(2022, 1, 31, 16, 0, tzinfo=timezone.utc)) == MAX_AGE
    assert max_age(Path("all/atom.xml"), datetime(2030, 1, 1, tzinfo=timezone.utc)) == MAX_AGE
    assert max_age(Path("notes/2022-01.atom"), datetime(2030, 1, 1, tzinfo=timezone.utc)) == MAX_AGE


def test_with_hubs_the_feeds_carry_the_websub_link_header_and_other_files_do_not(tmp_path):
    root = tmp_path / "public"
    (root / "emnews").mkdir(parents=True)
    for name in ("atom.xml", "rss.xml", "feed.json", "index.html"):
        (root / "emnews" / name).write_text("x", encoding="utf-8")
    server = make_server(root, "127.0.0.1", 0, hubs=("https://hub.example/", "https://other.example/hub"),
                         base_url="https://finews.example.com/")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        for name in ("atom.xml", "rss.xml", "feed.json"):
            assert get(port, f"/emnews/{name}").getheader("Link") == (
                '<https://hub.example/>; rel="hub", <https://other.example/hub>; rel="hub", '
                f'<https://finews.example.com/emnews/{name}>; rel="self"')
        assert get(port, "/emnews/index.html").getheader("Link") is None
    finally:
        server.shutdown()
        server.server_close()
