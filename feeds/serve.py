"""`finews serve`: the output folder over HTTP, with feed media types, 304s and gzip.

Caching: everything may be cached for a minute, except the RFC 5005 archive documents of settled
Beijing months (`<slug>/archive/<YYYY-MM>.atom|json` before last month), which may be cached for
a week: they change only when an old article is edited. Last month's document may still take
the entries that lagged behind in the subscription document, so it keeps the minute. With WebSub hubs, the feeds
carry the `Link: <hub>; rel="hub", <self>; rel="self"` header the hubs look for (WebSub 4).
"""

from __future__ import annotations

import email.utils
import gzip
import logging
import os
import re
import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from functools import partial
from http import HTTPStatus
from io import BytesIO
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from crawler.text.times import BEIJING

logger = logging.getLogger(__name__)

MEDIA_TYPES = {
    "rss.xml": "application/rss+xml; charset=utf-8",
    "atom.xml": "application/atom+xml; charset=utf-8",
    "feed.json": "application/feed+json; charset=utf-8",
    "opml.xml": "text/x-opml; charset=utf-8",
}
EXTENSION_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
ARCHIVE_TYPES = {".atom": MEDIA_TYPES["atom.xml"], ".json": MEDIA_TYPES["feed.json"]}
ARCHIVE_NAME = re.compile(r"^(\d{4}-\d{2})\.(atom|json)$")
COMPRESSIBLE = ("text/", "application/rss+xml", "application/atom+xml", "application/feed+json",
                "application/xml", "application/json")
MAX_AGE = 60
IDLE_TIMEOUT = 30.0
"""Seconds a connection may stay silent (before or between requests) before the server closes it."""
ARCHIVE_MAX_AGE = 7 * 24 * 3600
"""For the archive document of a month that ended before last month."""


def archive_month(path: Path) -> str | None:
    """The month of an archive document (`<slug>/archive/<YYYY-MM>.atom|json`), else None."""
    match = ARCHIVE_NAME.match(path.name)
    return match[1] if match and path.parent.name == "archive" else None


def media_type(path: Path) -> str:
    if path.name in MEDIA_TYPES:
        return MEDIA_TYPES[path.name]
    if archive_month(path):
        return ARCHIVE_TYPES[path.suffix]
    return EXTENSION_TYPES.get(path.suffix, "application/octet-stream")


def max_age(path: Path, now: datetime | None = None) -> int:
    """Seconds the file may be cached: long for the archive of a month that ended before last month, else a minute.

    Last month's document may still take its lagging entries (see `feeds.archive`), so it keeps
    the feeds' minute until a whole month has passed since it ended.
    """
    month = archive_month(path)
    today = (now or datetime.now(BEIJING)).astimezone(BEIJING)
    last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    return ARCHIVE_MAX_AGE if month is not None and month < last_month else MAX_AGE


class GzipCache:
    """Compressed bodies keyed by file identity (path, size, mtime), least recently used dropped."""

    def __init__(self, size: int = 256):
        self.size = size
        self.items: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, path: Path, stat: os.stat_result) -> bytes:
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        body = gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
        with self.lock:
            self.items[key] = body
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return body


class FeedRequestHandler(SimpleHTTPRequestHandler):
    """Serves only regular files inside `directory`; never a listing, never outside it."""

    server_version = "finews"
    gzip_cache = GzipCache()
    def __init__(self, *args: Any, idle_timeout: float = IDLE_TIMEOUT, hubs: tuple[str, ...] = (),
                 base_url: str = "", **kwargs: Any):
        self.timeout = idle_timeout
        self.hubs, self.base_url = hubs, base_url
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: object) -> None:
        logger.info("%s %s", self.address_string(), format % args)

    def resolve(self) -> Path | None:
        """The file the request names, or None when it is missing or not ours to serve."""
        raw_path = urlsplit(self.path).path
        if "%2f" in raw_path.lower() or "%5c" in raw_path.lower() or "\\" in raw_path or "\x00" in unquote(raw_path):
            return None
        path = unquote(raw_path)
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") or p.startswith(".") for p in parts):
            return None
        root = Path(self.directory).resolve()
        target = root.joinpath(*parts) if parts else root
        if path.endswith("/") or target == root:
            target = target / "index.html"
        try:
            real = target.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if real != target or not real.is_relative_to(root) or not real.is_file():
            return None
        return real

    def send_head(self):  # type: ignore[override]
        path = self.resolve()
        if path is None:
            self.send_error(HTTPStatus.NOT_FOUND, "Not found")
            return None
        stat = path.stat()
        ctype = media_type(path)
        accepts_gzip = "gzip" in self.headers.get("Accept-Encoding", "").lower()
        use_gzip = accepts_gzip and ctype.startswith(COMPRESSIBLE) and stat.st_size > 256
        etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}{"-gz" if use_gzip else ""}"'
        last_modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
        headers = self.headers_for(path, etag, last_modified, ctype)
        if self.not_modified(etag, stat.st_mtime):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_headers(headers)
            self.end_headers()
            return None
        body = self.gzip_cache.get(path, stat) if use_gzip else path.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_headers(headers)
        if use_gzip:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return BytesIO(body)

    def headers_for(self, path: Path, etag: str, last_modified: str, ctype: str) -> list[tuple[str, str]]:
        """The headers of a 200 and of a 304 alike."""
        headers = [("Content-Type", ctype), ("ETag", etag), ("Last-Modified", last_modified),
                   ("Cache-Control", f"public, max-age={max_age(path)}"), ("Vary", "Accept-Encoding")]
        if self.hubs and path.name in MEDIA_TYPES and path.name != "opml.xml":
            own = self.base_url + path.relative_to(Path(self.directory).resolve()).as_posix()
            headers.append(("Link", ", ".join([*(f'<{hub}>; rel="hub"' for hub in self.hubs), f'<{own}>; rel="self"'])))
        return headers

    def send_headers(self, headers: list[tuple[str, str]]) -> None:
        for name, value in headers:
            self.send_header(name, value)

    def not_modified(self, etag: str, mtime: float) -> bool:
        """RFC 9110: If-None-Match wins over If-Modified-Since."""
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
            return "*" in tags or etag in tags
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_modified_since:
            try:
                since = email.utils.parsedate_to_datetime(if_modified_since)
            except (TypeError, ValueError):
                return False
            return since is not None and int(mtime) <= since.timestamp()
        return False

    def list_directory(self, path):  # type: ignore[override]
        self.send_error(HTTPStatus.NOT_FOUND, "Not found")
        return None


def make_server(root: Path, host: str = "127.0.0.1", port: int = 8080, idle_timeout: float = IDLE_TIMEOUT, *,
                hubs: tuple[str, ...] = (), base_url: str = "") -> ThreadingHTTPServer:
    """A threading HTTP server for `root` (port 0 picks a free one; see `server.server_port`).

    A connection silent for `idle_timeout` seconds is closed, so idle clients cannot hold threads.
    With `hubs`, the feeds are served with WebSub Link headers naming them and the feed's URL
    under `base_url` (the site's, as in the feeds' self links).
    """
    root.mkdir(parents=True, exist_ok=True)
    handler = partial(FeedRequestHandler, directory=str(root), idle_timeout=idle_timeout, hubs=tuple(hubs),
                      base_url=base_url)
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def server_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"

