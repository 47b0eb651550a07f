"""A local HTTP server imitating the eastmoney endpoints, with switchable failure modes."""

from __future__ import annotations

import bisect
import json
import math
import re
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .data import BEIJING, LIST_SHAPES, SampleArticle, load_bundled, plain_text
from .pages import (BLOCK_PAGE, SCRIPT_SNIPPET, TEMPLATES, dress_body, page_time, render_article,
                    render_share, split_pages)

CHOICE_ROUTES = LIST_SHAPES
LIST_ROUTES = (*CHOICE_ROUTES, "column", "fastnews")
JSON_ROUTES = (*LIST_ROUTES, "text")
ARTICLE_ROUTES = ("text", "share", "article")
ROUTES = (*LIST_ROUTES, "text", "share", "article", "robots")
_ANY = frozenset(ROUTES)
_BODIES = frozenset((*LIST_ROUTES, "text", "article", "share"))

FAULT_ROUTES: dict[str, frozenset[str]] = {
    "empty_list": frozenset(LIST_ROUTES),
    "null_data": frozenset((*LIST_ROUTES, "text")),
    "empty_body": _ANY,
    "block": _ANY,
    "soft_block": _ANY,
    "rate_limit": _ANY,
    "unavailable": _ANY,
    "drop": _ANY,
    "slow": _ANY,
    "jsonp": frozenset(JSON_ROUTES),
    "trailing_semicolon": frozenset(JSON_ROUTES),
    "no_body": frozenset({"article"}),
    "empty_text": frozenset({"text"}),
    "gbk": frozenset({"article", "share"}),
    "control_chars": _BODIES,
    "script": _BODIES,
    "bad_time": frozenset((*LIST_ROUTES, "article")),
    "missing_time": frozenset((*LIST_ROUTES, "article")),
    "foreign_prefix": frozenset(LIST_ROUTES),
    "missing_fields": frozenset(LIST_ROUTES),
    "huge": frozenset({"text", "article", "share"}),
    "deep_json": frozenset(JSON_ROUTES),
}
FAULTS = tuple(FAULT_ROUTES)
ENTRY_FAULTS = frozenset({"bad_time", "missing_time", "control_chars", "script"})

JSONP_CALLBACK = "jQuery1123_456"
HUGE_BYTES = 2_000_000
DEEP_JSON_LEVELS = 100_000
PAGED_ARTICLE_PAGES = 3
CONTROL_CHARS = ("\x01", "\x08", "\x1b")
_CALLBACK_RE = re.compile(r"^[\w$.]+$")
_ARTICLE_PATH_RE = re.compile(r"^/a/(\d{18})(?:_(\d+))?\.html$")
# Per list shape: (time key, title keys, body keys) of an entry.
_ENTRY_KEYS = {
    "records": ("showtime", ("title",), ("digest",)),
    "nodeList": ("showtime", ("title", "simtitle"), ("simdigest",)),
    "record": ("datetime", ("title",), ()),
    "column": ("showTime", ("title",), ("summary",)),
    "fastnews": ("showTime", ("title",), ("summary",)),
}
_ID_KEYS = ("id", "infoCode", "infocode", "code", "url", "uniqueUrl")
FOREIGN_TITLE = "关于召开2022年第一次临时股东大会的通知"


class _Server(ThreadingHTTPServer):
    # Several crawls open their connections at once: with the default backlog of 5 the kernel
    # drops the surplus SYNs, and each of those connections waits a 1 s retransmission.
    request_queue_size = 128
    block_on_close = False


@dataclass(frozen=True, slots=True)
class Hit:
    """One request served: when it arrived (monotonic), its route key, path and status (0: dropped)."""

    t: float
    route: str
    path: str
    status: int


@dataclass
class _Fault:
    route: str
    fault: str
    times: int | None
    article_id: str | None
    params: dict[str, Any]


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Views:
    """Everything the handlers read, rebuilt (and swapped whole) after each data edit."""

    lists: dict[str, list[SampleArticle]]
    distinct: list[SampleArticle]
    by_id: dict[str, SampleArticle]
    texts: dict[str, tuple[str, str]]
    sorted_feed: list[tuple[int, SampleArticle]]


def _newest_first(articles: list[SampleArticle]) -> list[SampleArticle]:
    return sorted(articles, key=lambda a: (a.time, a.article_id), reverse=True)


def real_sort(article: SampleArticle) -> int:
    """The fast-news sort key: publish time in microseconds, last id digits as the fraction."""
    try:
        seconds = int(article.published.replace(tzinfo=BEIJING).timestamp())
    except ValueError:
        seconds = 0
    return seconds * 1_000_000 + int(article.article_id[-6:])


def _build_views(articles: list[SampleArticle], overrides: dict[str, tuple[str | None, str | None]]) -> _Views:
    lists: dict[str, list[SampleArticle]] = {shape: [] for shape in LIST_SHAPES}
    grouped: dict[str, list[SampleArticle]] = {}
    for article in articles:
        lists.setdefault(article.list, []).append(article)
        grouped.setdefault(article.article_id, []).append(article)
    by_id: dict[str, SampleArticle] = {}
    texts: dict[str, tuple[str, str]] = {}
    for article_id, group in grouped.items():
        rolling = next((a for a in group if a.list == "records"), None)
        other = next((a for a in group if a.list != "records"), None)
        primary = rolling or group[0]
        if primary.media is None and other is not None and other.media:
            primary = replace(primary, media=other.media)
        by_id[article_id] = primary
        content = (rolling or other or primary).html
        text = (other or rolling or primary).html
        override = overrides.get(article_id, (None, None))
        texts[article_id] = (content if override[0] is None else override[0],
                             text if override[1] is None else override[1])
    distinct = _newest_first(list(by_id.values()))
    feed = sorted(((real_sort(a), a) for a in distinct), key=lambda pair: pair[0], reverse=True)
    return _Views(lists={shape: _newest_first(items) for shape, items in lists.items()},
                  distinct=distinct, by_id=by_id, texts=texts, sorted_feed=feed)


def with_controls(value: str) -> str:
    """`value` with U+0001, U+0008 and U+001B inserted."""
    middle = len(value) // 2
    return value[:1] + CONTROL_CHARS[0] + value[1:middle] + CONTROL_CHARS[1] + value[middle:] + CONTROL_CHARS[2]


def with_controls_html(html: str) -> str:
    """An HTML fragment with the control characters inside its first text run."""
    if "<" not in html:
        return with_controls(html)
    match = re.search(r">([^<>]{2,})<", html)
    if not match:
        return "".join(CONTROL_CHARS) + html
    start, end = match.span(1)
    return html[:start] + CONTROL_CHARS[0] + CONTROL_CHARS[1] + html[start:end] + CONTROL_CHARS[2] + html[end:]


def with_script(html: str) -> str:
    """An HTML fragment with a script, an `onerror=` image and a `javascript:` link inserted."""
    end = html.find("</p>")
    if end < 0:
        return html + SCRIPT_SNIPPET
    return html[:end + 4] + "<p>" + SCRIPT_SNIPPET + "</p>" + html[end + 4:]


def huge(html: str) -> str:
    """`html` repeated to about 2 MB of UTF-8."""
    return html * (HUGE_BYTES // max(len(html.encode("utf-8")), 1) + 1)


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value not in (None, "") else default
    except ValueError:
        number = default
    return min(max(number, low), high)


class SampleSite:
    """The sample site: eastmoney-shaped endpoints over the sample articles, on 127.0.0.1."""

    def __init__(self, articles: list[SampleArticle] | None = None, *, latency_ms: float = 0.0,
                 port: int = 0):
        self._articles = list(load_bundled() if articles is None else articles)
        self.latency_ms = latency_ms
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._faults: list[_Fault] = []
        self._raw: dict[str, list[dict]] = {route: [] for route in LIST_ROUTES}
        self._text_overrides: dict[str, tuple[str | None, str | None]] = {}
        self._counts: dict[str, int] = {}
        self._arrivals: dict[str, int] = {}
        self._hooks: list[tuple[str, int, Callable[[], object]]] = []
        self.hits: list[Hit] = []
        self._views = _build_views(self._articles, self._text_overrides)
        self._templates = {a.article_id: TEMPLATES[i % len(TEMPLATES)]
                           for i, a in enumerate(reversed(self._views.distinct))}
        longest = max(self._views.distinct, key=lambda a: len(self._views.texts[a.article_id][0]), default=None)
        self.paged_article_id: str | None = longest.article_id if longest else None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._in_flight = 0
        self._peak = 0
        self.base_url = ""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> "SampleSite":
        self._stopping.clear()
        handler = type("SampleSiteHandler", (_Handler,), {"site": self})
        server = _Server(("127.0.0.1", self._port), handler)
        self._server = server
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="samplesite", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: wakes slow responses, closes open connections, frees the port."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> "SampleSite":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    # -- what is served ------------------------------------------------------------------------

    @property
    def articles(self) -> list[SampleArticle]:
        """The served records (one per article and list), with edits applied."""
        return list(self._articles)

    def article_ids(self) -> list[str]:
        """Every distinct article id, newest first."""
        return [a.article_id for a in self._views.distinct]

    def template_of(self, article_id: str) -> str:
        """Which article page template (`current` / `old`) the id is served in."""
        return self._templates[article_id]

    def page_count(self, article_id: str) -> int:
        """How many pages the article page is split into."""
        if article_id != self.paged_article_id:
            return 1
        return len(split_pages(dress_body(self._views.texts[article_id][0]), PAGED_ARTICLE_PAGES))

    def texts(self, article_id: str) -> tuple[str, str]:
        """The (content, text) the text endpoint serves for the id."""
        return self._views.texts[article_id]

    # -- counting ------------------------------------------------------------------------------

    def count(self, route: str) -> int:
        with self._lock:
            return self._counts.get(route, 0)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()
            self.hits.clear()
            self._peak = self._in_flight

    def _record(self, arrived: float, route: str, path: str, status: int) -> None:
        with self._lock:
            self._counts[route] = self._counts.get(route, 0) + 1
            self.hits.append(Hit(arrived, route, path, status))

    # -- faults and edits ----------------------------------------------------------------------

    def set_fault(self, route: str, fault: str, *, times: int | None = None, article_id: str | None = None,
                  **params: Any) -> None:
        """Make `route` answer with `fault` for `times` requests (None: until cleared)."""
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r} (one of {', '.join(ROUTES)})")
        if fault not in FAULT_ROUTES:
            raise ValueError(f"unknown fault {fault!r} (one of {', '.join(FAULTS)})")
        if route not in FAULT_ROUTES[fault]:
            raise ValueError(f"fault {fault!r} does not apply to route {route!r}")
        if article_id is not None and route in LIST_ROUTES and fault not in ENTRY_FAULTS:
            raise ValueError(f"fault {fault!r} on a list cannot target one article")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        if fault == "slow" and "delay" not in params:
            raise ValueError("the slow fault needs delay=<seconds>")
        with self._lock:
            self._faults = [f for f in self._faults
                            if (f.route, f.fault, f.article_id) != (route, fault, article_id)]
            self._faults.append(_Fault(route, fault, times, article_id, dict(params)))

    def on_request(self, route: str, nth: int, action: Callable[[], object]) -> None:
        """Call `action()` when the `nth` request of `route` (counted from now) arrives, before answering it.

        A test makes something happen mid-crawl this way, at a known point, without sleeping.
        """
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r} (one of {', '.join(ROUTES)})")
        with self._lock:
            self._hooks.append((route, self._arrivals.get(route, 0) + nth, action))

    def _arrived(self, route: str) -> list[Callable[[], object]]:
        """Count one arrival on `route`; the hooks due now."""
        with self._lock:
            self._arrivals[route] = n = self._arrivals.get(route, 0) + 1
            due = [hook for hook in self._hooks if hook[:2] == (route, n)]
            self._hooks = [hook for hook in self._hooks if hook not in due]
        return [action for _, _, action in due]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_faults(self, route: str, target: str | None) -> list[_Fault]:
        """The faults that apply to one request; each use counts against its `times`."""
        taken = []
        with self._lock:
            for fault in self._faults:
                if fault.route != route:
                    continue
                if fault.article_id is not None and route in ARTICLE_ROUTES and fault.article_id != target:
                    continue
                taken.append(fault)
                if fault.times is not None:
                    fault.times -= 1
            self._faults = [f for f in self._faults if f.times is None or f.times > 0]
        return taken

    def edit_title(self, article_id: str, title: str) -> None:
        """Serve the same lists again with this article's title changed (everywhere)."""
        with self._lock:
            if article_id not in self._views.by_id:
                raise KeyError(article_id)
            self._articles = [replace(a, title=title) if a.article_id == article_id else a
                              for a in self._articles]
            self._views = _build_views(self._articles, self._text_overrides)

    def set_text(self, article_id: str, content: str | None = None, text: str | None = None) -> None:
        """Change what the text endpoint (and the article page, via content) serves for an article."""
        with self._lock:
            if article_id not in self._views.by_id:
                raise KeyError(article_id)
            old = self._text_overrides.get(article_id, (None, None))
            self._text_overrides[article_id] = (old[0] if content is None else content,
                                                old[1] if text is None else text)
            self._views = _build_views(self._articles, self._text_overrides)

    def add_entry(self, route: str, entry: dict) -> None:
        """Put a raw entry at the top of a list route (column: page 1; fastnews: the first page)."""
        if route not in LIST_ROUTES:
            raise ValueError(f"{route!r} is not a list route ({', '.join(LIST_ROUTES)})")
        with self._lock:
            self._raw[route].insert(0, dict(entry))

    # -- config --------------------------------------------------------------------------------

    def config_toml(self, *, output_dir: str, store_url: str, kinds: tuple[str, ...] = ("choice",),
                    jekyll: bool | str = False, share_url: str | None = None, **extra: Any) -> str:
        """A finews config whose sources point at this site; `extra` overrides [site]/[crawl]/[scheduler] keys.

        `jekyll` adds the [jekyll] table of samples/README.md (a string is its posts_dir);
        `share_url` replaces the Choice share-link template (e.g. the original finews.zning.xyz one).
        """
        from ..config import CrawlConfig, SchedulerConfig, SiteConfig

        unknown = set(kinds) - {"choice", "eastmoney", "fastnews"}
        if unknown:
            raise ValueError(f"unknown source kinds {sorted(unknown)}")
        tables: dict[str, dict[str, Any]] = {
            "site": {"output_dir": str(output_dir), "base_url": "http://127.0.0.1:8080/"},
            "store": {"url": store_url},
            "crawl": {"robotstxt_obey": False, "download_delay": 0, "autothrottle": False,
                      "download_timeout": "5s", "retry_times": 1},
            "scheduler": {},
        }
        owners = {name: table for table, cls in (("site", SiteConfig), ("crawl", CrawlConfig),
                                                 ("scheduler", SchedulerConfig))
                  for name in cls.model_fields}
        for key, value in extra.items():
            if key not in owners:
                raise ValueError(f"{key!r} is not a [site], [crawl] or [scheduler] key")
            tables[owners[key]][key] = value
        lines = []
        for table in ("site", "store", "crawl", "scheduler"):
            if tables[table]:
                lines.append(f"[{table}]")
                lines += [f"{key} = {_toml(value)}" for key, value in tables[table].items()]
                lines.append("")
        if jekyll:
            lines += ["[jekyll]", f"posts_dir = {_toml(jekyll if isinstance(jekyll, str) else '_posts')}",
                      'category_url = "//finews.withounder.com/category/{category}.html"',
                      'home_url = "//finews.withounder.com/"', ""]
        for source in self._sources(kinds, share_url):
            lines.append("[[sources]]")
            lines += [f"{key} = {_toml(value)}" for key, value in source.items()]
            lines.append("")
        return "\n".join(lines)

    def _sources(self, kinds: tuple[str, ...], share_url: str | None) -> list[dict[str, Any]]:
        base = self.base_url
        sources: list[dict[str, Any]] = []
        total = len(self._views.distinct)
        if "choice" in kinds:
            common = {"text_url": f"{base}/NewsData/GetNewsText.do?id={{info_code}}",
                      "share_url": share_url or f"{base}/html_News/NewsShare.html?infoCode={{info_code}}",
                      "every": "5m"}
            sources.append({"name": "choice-rolling", "kind": "choice", "list_url": f"{base}/web/webapi?type=102",
                            **common, "category": "emnews", "category_name": "东财滚动新闻",
                            "jekyll_category_url": "//finews.withounder.com/emnews/"})
            sources.append({"name": "choice-media", "kind": "choice", "list_url": f"{base}/web/webapi?type=45",
                            **common})
            sources.append({"name": "choice-market", "kind": "choice",
                            "list_url": f"{base}/web/webapi?marketType=37", **common})
        if "eastmoney" in kinds:
            sources.append({"name": "eastmoney-columns", "kind": "eastmoney",
                            "list_url": f"{base}/api/getNewsByColumns?column=350&page_index={{page}}&page_size=20",
                            "pages": max(1, math.ceil(total / 20)), "every": "5m"})
        if "fastnews" in kinds:
            sources.append({"name": "fastnews", "kind": "fastnews",
                            "list_url": f"{base}/comm/web/getFastNewsList?client=web&biz=web_724&fastColumn=102&pageSize=50",
                            "pages": max(1, math.ceil(total / 50)), "category": "kuaixun",
                            "category_name": "7x24快讯", "every": "5m"})
        return sources

    # -- serving -------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """How many requests are being answered right now."""
        with self._lock:
            return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        """The most requests answered at once since the counts were last reset."""
        with self._lock:
            return self._peak

    def _handle(self, handler: "_Handler", method: str) -> None:
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
        try:
            self._serve(handler, method)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _serve(self, handler: "_Handler", method: str) -> None:
        arrived = time.monotonic()
        split = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        if split.path == "/_control" or split.path.startswith("/_control/"):
            handler.send(self._control(handler, method, split.path))
            return
        route, target = _route_of(method, split.path, query)
        for action in self._arrived(route):
            action()
        faults = self._take_faults(route, target) if route in ROUTES else []
        names = {f.fault for f in faults}
        delay = self.latency_ms / 1000 + sum(float(f.params["delay"]) for f in faults if f.fault == "slow")
        if delay > 0 and self._stopping.wait(delay):
            handler.close_connection = True
            return
        if "drop" in names:
            self._record(arrived, route, handler.path, 0)
            handler.close_connection = True
            return
        reply = self._reply(route, target, split.path, query, faults)
        self._record(arrived, route, handler.path, reply.status)
        handler.send(reply)

    def _control(self, handler: "_Handler", method: str, path: str) -> _Reply:
        if method == "GET" and path == "/_control/counts":
            return _json_reply(self.counts())
        if method != "POST" or path != "/_control":
            return _json_reply({"error": "not found"}, 404)
        try:
            length = int(handler.headers.get("Content-Length") or 0)
            body = json.loads(handler.rfile.read(length) or b"{}")
            action = body.pop("action", None)
            if action == "set_fault":
                body.update(body.pop("params", None) or {})
                self.set_fault(**body)
            elif action in ("clear_faults", "reset_counts", "edit_title", "add_entry", "set_text"):
                getattr(self, action)(**body)
            else:
                raise ValueError(f"unknown action {action!r}")
        except (ValueError, TypeError, KeyError) as exc:
            return _json_reply({"ok": False, "error": str(exc)}, 400)
        return _json_reply({"ok": True})

    def _reply(self, route: str, target: str | None, path: str, query: dict[str, str],
               faults: list[_Fault]) -> _Reply:
        by_name = {f.fault: f for f in faults}
        if "block" in by_name:
            return _Reply(403, BLOCK_PAGE.encode(), "text/html")
        if "soft_block" in by_name:
            return _Reply(200, BLOCK_PAGE.encode(), "text/html")
        for name, status in (("rate_limit", 429), ("unavailable", 503)):
            if name in by_name:
                retry = str(by_name[name].params.get("retry_after", 1))
                return _Reply(status, f"{status} {'Too Many Requests' if status == 429 else 'Service Unavailable'}"
                              .encode(), "text/plain", {"Retry-After": retry})
        if "empty_body" in by_name:
            return _Reply(200, b"", "text/html" if route in ("article", "share") else "application/json")
        if "deep_json" in by_name:
            return _Reply(200, b"[" * DEEP_JSON_LEVELS + b"]" * DEEP_JSON_LEVELS, "application/json")
        views = self._views
        if route in CHOICE_ROUTES:
            payload: Any = self._choice_list(views, route, query, faults)
        elif route == "column":
            payload = self._column(views, query, faults)
        elif route == "fastnews":
            payload = self._fastnews(views, query, faults)
        elif route == "text":
            if target not in views.texts:
                return _json_reply({"error": "not found", "id": query.get("id", "")}, 404)
            payload = self._text(views, target, by_name)
        elif route in ("article", "share") and target in views.by_id:
            return self._page(views, route, target, path, by_name)
        else:
            return _Reply(404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html")
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        callback = query.get("callback", "") if route == "column" else ""
        if not _CALLBACK_RE.match(callback):
            callback = ""
        if "jsonp" in by_name:
            callback = callback or JSONP_CALLBACK
        if callback:
            text = f"{callback}({text})"
        if "trailing_semicolon" in by_name:
            text += ";"
        kind = "application/javascript" if callback else "application/json"
        return _Reply(200, text.encode("utf-8"), f"{kind}; charset=utf-8")

    # -- route bodies --------------------------------------------------------------------------

    def _raw_entries(self, route: str) -> list[dict]:
        with self._lock:
            return [dict(entry) for entry in self._raw[route]]

    def _bad_entries(self, route: str, views: _Views, faults: list[_Fault]) -> list[dict]:
        """The extra bad entries (foreign prefix, missing fields) the faults ask for."""
        names = {f.fault for f in faults}
        if not views.distinct or not names & {"foreign_prefix", "missing_fields"}:
            return []
        newest = views.distinct[0]
        rows = []
        if "foreign_prefix" in names:
            digits = newest.article_id[:8] + "0000000001"
            foreign = replace(newest, article_id="AN" + digits if route in ("column", "fastnews") else digits,
                              info_code="AN" + digits, title=FOREIGN_TITLE, media=newest.media or "东方财富网")
            rows.append(self._entry(route, foreign, views))
        if "missing_fields" in names:
            entry = self._entry(route, newest, views)
            _, title_keys, _ = _ENTRY_KEYS[route]
            for key in (*title_keys, *_ID_KEYS):
                entry.pop(key, None)
            rows.append(entry)
        return rows

    def _entry(self, route: str, article: SampleArticle, views: _Views) -> dict:
        a = article
        if route == "records":
            return {"id": a.article_id, "infoCode": a.info_code, "title": a.title,
                    "digest": f"【{a.title}】{a.digest}", "url_w": a.url_w, "showtime": a.time}
        if route == "nodeList":
            excerpt = plain_text(self._content(views, a))[:80]
            return {"infocode": a.info_code, "title": a.title, "showtime": a.time, "from": a.media,
                    "simtitle": a.title, "simdigest": f"【{a.title}】{excerpt}…"}
        if route == "record":
            return {"infoCode": a.info_code, "title": a.title, "datetime": a.time, "medianame": a.media}
        if route == "column":
            link = self.url(f"/a/{a.article_id}.html")
            return {"code": a.article_id, "title": a.title,
                    "summary": a.digest or plain_text(self._content(views, a))[:200],
                    "showTime": a.time, "mediaName": a.media or "东方财富网", "url": link, "uniqueUrl": link,
                    "image": ""}
        return {"code": a.article_id, "title": a.title,
                "summary": f"【{a.title}】{a.digest or plain_text(self._content(views, a))}",
                "showTime": a.time, "realSort": str(real_sort(a)), "stockList": [], "image": []}

    @staticmethod
    def _content(views: _Views, article: SampleArticle) -> str:
        content, text = views.texts.get(article.article_id, (article.html, article.html))
        return content or text

    def _rows(self, route: str, raw: list[dict], articles: list[SampleArticle], views: _Views,
              faults: list[_Fault]) -> list[dict]:
        """Bad entries first, then the raw ones, then the articles' entries (entry faults applied)."""
        mods = _Mods([f for f in faults if f.fault in ENTRY_FAULTS])
        rows = self._bad_entries(route, views, faults) + raw
        rows += [mods.apply(route, a.article_id, self._entry(route, a, views)) for a in articles]
        return rows

    def _choice_list(self, views: _Views, shape: str, query: dict[str, str], faults: list[_Fault]) -> dict:
        names = {f.fault for f in faults}
        if "null_data" in names:
            return {shape: None}
        if "empty_list" in names:
            return {shape: []}
        articles = views.lists.get(shape, [])
        count = _int(query.get("count"), 1_000_000, 0, 1_000_000)
        return {shape: self._rows(shape, self._raw_entries(shape), articles[:count], views, faults)[:count]}

    def _column(self, views: _Views, query: dict[str, str], faults: list[_Fault]) -> dict:
        reply: dict[str, Any] = {"code": "1", "message": "success", "data": None}
        names = {f.fault for f in faults}
        if "null_data" in names:
            return reply
        page_index = _int(query.get("page_index"), 1, 1, 1_000_000)
        page_size = _int(query.get("page_size"), 20, 1, 200)
        raw = self._raw_entries("column")
        total = len(raw) + len(views.distinct)
        start, end = (page_index - 1) * page_size, page_index * page_size
        if start >= total:
            return reply
        rows: list[dict] = []
        if "empty_list" not in names:
            articles = views.distinct[max(start - len(raw), 0):max(end - len(raw), 0)]
            rows = self._rows("column", raw[start:end], articles, views, faults)
        reply["data"] = {"page_index": page_index, "page_size": page_size, "total_hits": total, "list": rows}
        return reply

    def _fastnews(self, views: _Views, query: dict[str, str], faults: list[_Fault]) -> dict:
        reply: dict[str, Any] = {"req_trace": query.get("req_trace", ""), "code": "1", "message": "success",
                                 "data": None}
        names = {f.fault for f in faults}
        if "sortEnd" not in query or "req_trace" not in query or "null_data" in names:
            return reply
        size = _int(query.get("pageSize"), 50, 1, 200)
        feed = views.sorted_feed
        start = 0
        if query["sortEnd"]:
            cursor = _int(query["sortEnd"], 0, 0, 10 ** 20)
            start = bisect.bisect_right(feed, -cursor, key=lambda pair: -pair[0])
        page = [] if "empty_list" in names else feed[start:start + size]
        raw = [] if query["sortEnd"] or "empty_list" in names else self._raw_entries("fastnews")
        rows = self._rows("fastnews", raw, [a for _, a in page], views, faults)
        reply["data"] = {"sortEnd": str(page[-1][0]) if page else "", "index": 1, "total": len(feed),
                         "size": size, "fastNewsList": rows}
        return reply

    def _text(self, views: _Views, article_id: str, by_name: dict[str, _Fault]) -> dict:
        content, text = views.texts[article_id]
        if "null_data" in by_name:
            return {"content": None, "text": None}
        if "empty_text" in by_name:
            return {"content": "", "text": ""}
        if "huge" in by_name:
            content, text = huge(content), huge(text)
        if "control_chars" in by_name:
            content, text = with_controls_html(content), with_controls_html(text)
        if "script" in by_name:
            content, text = with_script(content), with_script(text)
        return {"content": content, "text": text}

    def _page(self, views: _Views, route: str, article_id: str, path: str, by_name: dict[str, _Fault]) -> _Reply:
        article = views.by_id[article_id]
        content = self._content(views, article)
        title = article.title
        if "huge" in by_name:
            content = huge(content)
        if "control_chars" in by_name:
            title, content = with_controls(title), with_controls_html(content)
        if "script" in by_name:
            content = with_script(content)
        charset = "gbk" if "gbk" in by_name else "utf-8"
        media = article.media or "东方财富网"
        if route == "share":
            html = render_share(title=title, time=article.time, media=media, body=content, charset=charset)
        else:
            match = _ARTICLE_PATH_RE.match(path)
            page_no = int(match[2] or 1) if match else 1
            parts = split_pages(dress_body(content), PAGED_ARTICLE_PAGES if article_id == self.paged_article_id
                                else 1)
            if not 1 <= page_no <= len(parts):
                return _Reply(404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html")
            time_text: str | None = page_time(article.time)
            if "bad_time" in by_name:
                time_text = "not a time"
            if "missing_time" in by_name:
                time_text = None
            html = render_article(self._templates[article_id], article_id=article_id, title=title,
                                  time_text=time_text, media=media, summary=article.digest,
                                  body=parts[page_no - 1], page_no=page_no, page_count=len(parts),
                                  with_body="no_body" not in by_name, charset=charset)
        if charset == "gbk":
            header = by_name["gbk"].params.get("header", True)
            return _Reply(200, html.encode("gbk", errors="xmlcharrefreplace"),
                          "text/html; charset=gbk" if header else "text/html")
        return _Reply(200, html.encode("utf-8"), "text/html; charset=utf-8")


@dataclass
class _Mods:
    """The entry-level faults of one list request (each for every entry or one article)."""

    faults: list[_Fault]

    def apply(self, route: str, article_id: str, entry: dict) -> dict:
        names = {f.fault for f in self.faults if f.article_id in (None, article_id)}
        if not names:
            return entry
        time_key, title_keys, body_keys = _ENTRY_KEYS[route]
        if "bad_time" in names:
            entry[time_key] = "not a time"
        if "missing_time" in names:
            entry.pop(time_key, None)
        if "control_chars" in names:
            for key in (*title_keys, *body_keys):
                entry[key] = with_controls(entry[key])
        if "script" in names:
            for key in body_keys:
                entry[key] = entry[key] + SCRIPT_SNIPPET
        return entry


def _json_reply(payload: Any, status: int = 200) -> _Reply:
    return _Reply(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")


def _route_of(method: str, path: str, query: dict[str, str]) -> tuple[str, str | None]:
    """The route key of a request and the article it targets (for per-article routes)."""
    if method != "GET":
        return "other", None
    if path == "/web/webapi":
        if query.get("type") == "102":
            return "records", None
        if query.get("type") == "45":
            return "nodeList", None
        if query.get("marketType") in ("37", "38", "39"):
            return "record", None
        return "other", None
    if path == "/NewsData/GetNewsText.do":
        return "text", _strip_nw(query.get("id", ""))
    if path == "/html_News/NewsShare.html":
        return "share", _strip_nw(query.get("infoCode", ""))
    if path == "/api/getNewsByColumns":
        return "column", None
    if path == "/comm/web/getFastNewsList":
        return "fastnews", None
    if path == "/robots.txt":
        return "robots", None
    match = _ARTICLE_PATH_RE.match(path)
    if match:
        return "article", match[1]
    return "other", None


def _strip_nw(code: str) -> str:
    code = code.strip()
    return code[2:] if code[:2].upper() == "NW" else code


def _toml(value: Any) -> str:
    """One TOML value (strings as JSON-escaped basic strings, which TOML accepts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "openresty"
    sys_version = ""
    timeout = 60
    # Headers and body go out in two writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK (40 ms on Linux) on every kept-alive connection. Servers such as
    # the sources' openresty send with TCP_NODELAY.
    disable_nagle_algorithm = True
    site: SampleSite

    def setup(self) -> None:
        super().setup()
        with self.site._lock:
            self.site._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.site._lock:
                self.site._connections.discard(self.connection)

    def do_GET(self) -> None:
        self.site._handle(self, "GET")

    def do_POST(self) -> None:
        self.site._handle(self, "POST")

    def send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the site's record is `hits`."""
