"""TOML → validated, typed config objects; the only place that reads the config file."""

from __future__ import annotations

import os
import re
import string
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from .settings import USER_AGENT
from .text.slugs import RESERVED_SLUGS, is_slug
from .text.times import BEIJING

DEFAULT_CONFIG_NAME = "finews.toml"
SOURCE_KINDS = ("choice", "eastmoney", "fastnews")
SOURCE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh])\s*$")


class ConfigError(Exception):
    """A config value that cannot be used: names the file, the key and the reason."""

    def __init__(self, file: str, key: str, reason: str):
        self.file, self.key, self.reason = file, key, reason
        super().__init__(f"{file}: {key}: {reason}")


@dataclass(frozen=True)
class SiteConfig:
    title: str = "金融消息"
    description: str = "东方财富财经新闻，按媒体分类的全文订阅源"
    base_url: str = "http://127.0.0.1:8080/"
    output_dir: Path = Path("public")
    feed_size: int = 50
    language: str = "zh-CN"
    ttl: int = 5

    def url(self, path: str) -> str:
        """The absolute URL of a file under the output folder."""
        return self.base_url + path.lstrip("/")


@dataclass(frozen=True)
class StoreConfig:
    url: str = "sqlite:///data/finews.db"


@dataclass(frozen=True)
class JekyllConfig:
    posts_dir: Path
    category_url: str
    home_url: str


@dataclass(frozen=True)
class CrawlConfig:
    distributed: bool = False
    concurrency_per_domain: int = 2
    download_delay: float = 0.5
    autothrottle: bool = True
    download_timeout: float = 30.0
    retry_times: int = 3
    retry_backoff: float = 1.0
    retry_after_max: float = 60.0
    robotstxt_obey: bool = True
    user_agent: str = USER_AGENT
    max_page_bytes: int = 8 * 1024 * 1024


@dataclass(frozen=True)
class SchedulerConfig:
    crawl_timeout: float = 600.0
    shutdown_grace: float = 60.0
    misfire_grace: float = 300.0
    lock_ttl: float = 60.0
    publish_interval: float = 30.0
    housekeeping_cron: str = "30 4 * * *"
    keep_per_category: int = 2000


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str
    list_urls: tuple[str, ...]
    text_url: str | None = None
    share_url: str | None = None
    pages: int = 1
    category: str | None = None
    category_name: str | None = None
    cron: str | None = None
    every: float | None = None
    jekyll_category_url: str | None = None
    referer: str | None = None
    enabled: bool = True

    @property
    def interval(self) -> float:
        """The nominal seconds between two runs (for staleness checks)."""
        if self.every is not None:
            return self.every
        from apscheduler.triggers.cron import CronTrigger
        from datetime import datetime

        trigger = CronTrigger.from_crontab(self.cron, timezone=BEIJING)
        first = trigger.get_next_fire_time(None, datetime(2024, 1, 1, tzinfo=BEIJING))
        second = trigger.get_next_fire_time(first, first)
        return (second - first).total_seconds()


DEFAULT_REFERERS = {
    "choice": "http://choicewzp1.eastmoney.com/",
    "eastmoney": "https://finance.eastmoney.com/",
    "fastnews": "https://kuaixun.eastmoney.com/",
}


@dataclass(frozen=True)
class Config:
    path: Path | None
    base_dir: Path
    site: SiteConfig
    store: StoreConfig
    crawl: CrawlConfig
    scheduler: SchedulerConfig
    sources: tuple[SourceConfig, ...]
    jekyll: JekyllConfig | None = None
    category_slugs: dict[str, str] = field(default_factory=dict)

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)

    @property
    def fixed_categories(self) -> dict[str, str]:
        """Slug → display name of every category a source fixes."""
        return {s.category: s.category_name or s.category for s in self.sources if s.category}


def parse_duration(value: Any) -> float:
    """`"30s"`, `"5m"`, `"2h"` or a number of seconds → seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as \"30s\", \"5m\" or \"2h\"")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = DURATION_RE.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration such as \"30s\", \"5m\" or \"2h\"")
        seconds = float(match[1]) * {"s": 1, "m": 60, "h": 3600}[match[2]]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


class _Reader:
    """Reads one TOML table, checking each key's type and reporting unknown keys."""

    def __init__(self, file: str, prefix: str, table: Any):
        if not isinstance(table, dict):
            raise ConfigError(file, prefix, f"expected a table, got {type(table).__name__}")
        self.file, self.prefix, self.table = file, prefix, table
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, reason: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), reason)

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        self.used.add(name)
        if name not in self.table:
            return default
        value = self.table[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(name, f"expected {_kind_names(kinds)}, got a boolean")
        if not isinstance(value, kinds):
            raise self.error(name, f"expected {_kind_names(kinds)}, got {type(value).__name__}")
        return value

    def convert(self, name: str, default: Any, convert: Callable[[Any], Any]) -> Any:
        self.used.add(name)
        if name not in self.table:
            return default
        try:
            return convert(self.table[name])
        except (TypeError, ValueError) as exc:
            raise self.error(name, str(exc)) from None

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise self.error(unknown[0], "unknown key")


def _kind_names(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
             list: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _check_url(value: str, *, schemes: tuple[str, ...] = ("http", "https"),
               placeholders: tuple[str, ...] = (), allowed: tuple[str, ...] = (),
               scheme_relative: bool = False) -> str:
    fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    unknown = fields - set(placeholders) - set(allowed)
    if unknown:
        raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}} in {value!r}")
    missing = set(placeholders) - fields
    if missing:
        raise ValueError(f"{value!r} must contain {{{sorted(missing)[0]}}}")
    probe = value.format(**{name: "x" for name in fields})
    parts = urlsplit(probe)
    if scheme_relative and probe.startswith("//") and parts.netloc:
        return value
    if parts.scheme not in schemes or not parts.netloc:
        raise ValueError(f"{value!r} is not an absolute {'/'.join(schemes)} URL")
    return value


def _check_cron(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value, timezone=BEIJING)
    except ValueError as exc:
        raise ValueError(f"bad cron expression {value!r}: {exc}") from None
    return value


def _resolve(base: Path, value: str | Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path)


def resolve_store_url(url: str, base: Path) -> str:
    """Make a relative `sqlite:///path` absolute against the config folder."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:" and not path.startswith("/"):
            return "sqlite:///" + str((base / path).resolve())
    return url


def _check_store_url(value: str) -> str:
    scheme = urlsplit(value).scheme
    if scheme == "sqlite":
        if not value.startswith("sqlite:///") or value == "sqlite:///":
            raise ValueError(f"{value!r}: use sqlite:///relative/path or sqlite:////absolute/path")
    elif scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"{value!r}: the store URL must start with sqlite:/// or redis://")
    return value


def _read_site(file: str, data: Any, base: Path) -> SiteConfig:
    r = _Reader(file, "site", data)
    default = SiteConfig()
    base_url = r.convert("base_url", default.base_url,
                         lambda v: _check_url(_need_str(v), schemes=("http", "https")))
    if not base_url.endswith("/"):
        base_url += "/"
    feed_size = r.get("feed_size", int, default.feed_size)
    if not 1 <= feed_size <= 1000:
        raise r.error("feed_size", "must be between 1 and 1000")
    ttl = r.get("ttl", int, default.ttl)
    if ttl < 1:
        raise r.error("ttl", "must be at least 1 (minutes)")
    site = SiteConfig(
        title=_nonempty(r, "title", default.title),
        description=_nonempty(r, "description", default.description),
        base_url=base_url,
        output_dir=_resolve(base, r.get("output_dir", str, str(default.output_dir))),
        feed_size=feed_size,
        language=_nonempty(r, "language", default.language),
        ttl=ttl,
    )
    r.finish()
    return site


def _need_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _nonempty(r: _Reader, name: str, default: str) -> str:
    value = r.get(name, str, default)
    if not value.strip():
        raise r.error(name, "must not be empty")
    return value


def _read_store(file: str, data: Any, base: Path) -> StoreConfig:
    r = _Reader(file, "store", data)
    url = r.convert("url", StoreConfig.url, lambda v: _check_store_url(_need_str(v)))
    r.finish()
    return StoreConfig(url=resolve_store_url(url, base))


def _read_jekyll(file: str, data: Any, base: Path) -> JekyllConfig:
    r = _Reader(file, "jekyll", data)
    posts_dir = r.get("posts_dir", str, "_posts")
    category_url = r.convert(
        "category_url", "/category/{category}.html",
        lambda v: _check_link_template(_need_str(v), ("category",)))
    home_url = r.convert("home_url", "/", lambda v: _check_link_template(_need_str(v), ()))
    r.finish()
    return JekyllConfig(posts_dir=_resolve(base, posts_dir), category_url=category_url,
                        home_url=home_url)


def _check_link_template(value: str, placeholders: tuple[str, ...]) -> str:
    """A back link: absolute, scheme-relative (`//host/`) or site-relative (`/path`)."""
    if value.startswith("/") and not value.startswith("//"):
        fields = {n for _, n, _, _ in string.Formatter().parse(value) if n is not None}
        if fields - set(placeholders):
            raise ValueError(f"unknown placeholder {{{sorted(fields - set(placeholders))[0]}}}")
        return value
    return _check_url(value, allowed=placeholders, scheme_relative=True)


def _read_crawl(file: str, data: Any) -> CrawlConfig:
    r = _Reader(file, "crawl", data)
    d = CrawlConfig()
    crawl = CrawlConfig(
        distributed=r.get("distributed", bool, d.distributed),
        concurrency_per_domain=_positive_int(r, "concurrency_per_domain", d.concurrency_per_domain),
        download_delay=_non_negative(r, "download_delay", d.download_delay),
        autothrottle=r.get("autothrottle", bool, d.autothrottle),
        download_timeout=r.convert("download_timeout", d.download_timeout, parse_duration),
        retry_times=_non_negative_int(r, "retry_times", d.retry_times),
        retry_backoff=_non_negative(r, "retry_backoff", d.retry_backoff),
        retry_after_max=r.convert("retry_after_max", d.retry_after_max, parse_duration),
        robotstxt_obey=r.get("robotstxt_obey", bool, d.robotstxt_obey),
        user_agent=_nonempty(r, "user_agent", d.user_agent),
        max_page_bytes=_positive_int(r, "max_page_bytes", d.max_page_bytes),
    )
    r.finish()
    return crawl


def _positive_int(r: _Reader, name: str, default: int) -> int:
    value = r.get(name, int, default)
    if value < 1:
        raise r.error(name, "must be at least 1")
    return value


def _non_negative_int(r: _Reader, name: str, default: int) -> int:
    value = r.get(name, int, default)
    if value < 0:
        raise r.error(name, "must not be negative")
    return value


def _non_negative(r: _Reader, name: str, default: float) -> float:
    value = float(r.get(name, (int, float), default))
    if value < 0:
        raise r.error(name, "must not be negative")
    return value


def _read_scheduler(file: str, data: Any) -> SchedulerConfig:
    r = _Reader(file, "scheduler", data)
    d = SchedulerConfig()
    scheduler = SchedulerConfig(
        crawl_timeout=r.convert("crawl_timeout", d.crawl_timeout, parse_duration),
        shutdown_grace=r.convert("shutdown_grace", d.shutdown_grace, parse_duration),
        misfire_grace=r.convert("misfire_grace", d.misfire_grace, parse_duration),
        lock_ttl=r.convert("lock_ttl", d.lock_ttl, parse_duration),
        publish_interval=r.convert("publish_interval", d.publish_interval, parse_duration),
        housekeeping_cron=r.convert("housekeeping_cron", d.housekeeping_cron,
                                    lambda v: _check_cron(_need_str(v))),
        keep_per_category=_positive_int(r, "keep_per_category", d.keep_per_category),
    )
    r.finish()
    return scheduler


def _read_source(file: str, index: int, data: Any) -> SourceConfig:
    r = _Reader(file, f"sources[{index}]", data)
    name = r.get("name", str)
    if name is None:
        raise r.error("name", "missing")
    if not SOURCE_NAME_RE.match(name):
        raise r.error("name", f"{name!r} may only use letters, digits, '-', '_' and '.'")
    r.prefix = f"sources.{name}"
    kind = r.get("kind", str)
    if kind not in SOURCE_KINDS:
        raise r.error("kind", f"{kind!r} is not one of {', '.join(SOURCE_KINDS)}")

    raw_lists = r.get("list_url", (str, list))
    if raw_lists is None:
        raise r.error("list_url", "missing")
    lists = [raw_lists] if isinstance(raw_lists, str) else raw_lists
    if not lists:
        raise r.error("list_url", "must name at least one URL")
    placeholders = ("page",) if kind == "eastmoney" else ()
    for url in lists:
        try:
            _check_url(_need_str(url), allowed=placeholders)
        except (TypeError, ValueError) as exc:
            raise r.error("list_url", str(exc)) from None

    text_url = share_url = None
    if kind == "choice":
        text_url = r.convert("text_url", None,
                             lambda v: _check_url(_need_str(v), placeholders=("info_code",)))
        share_url = r.convert("share_url", None,
                              lambda v: _check_url(_need_str(v), placeholders=("info_code",)))
        if text_url is None:
            raise r.error("text_url", "missing (a choice source needs it)")
        if share_url is None:
            raise r.error("share_url", "missing (a choice source needs it)")

    pages = 1
    if kind in ("eastmoney", "fastnews"):
        pages = _positive_int(r, "pages", 1)

    category = r.get("category", str)
    if category is not None and not is_slug(category):
        raise r.error("category", f"{category!r} is not a slug ([a-z0-9-], at most 64 characters)")
    if category in RESERVED_SLUGS:
        raise r.error("category", f"{category!r} is a name the output uses for itself")
    category_name = r.get("category_name", str)
    if category_name is not None and category is None:
        raise r.error("category_name", "needs category")
    if kind == "fastnews" and category is None:
        raise r.error("category", "missing (a fastnews source files everything in one category)")

    cron = r.convert("cron", None, lambda v: _check_cron(_need_str(v)))
    every = r.convert("every", None, parse_duration)
    if cron is not None and every is not None:
        raise r.error("every", "give either cron or every, not both")
    if cron is None and every is None:
        every = 300.0

    source = SourceConfig(
        name=name,
        kind=kind,
        list_urls=tuple(lists),
        text_url=text_url,
        share_url=share_url,
        pages=pages,
        category=category,
        category_name=category_name,
        cron=cron,
        every=every,
        jekyll_category_url=r.convert(
            "jekyll_category_url", None,
            lambda v: _check_link_template(_need_str(v), ("category",))),
        referer=r.convert("referer", DEFAULT_REFERERS[kind], lambda v: _check_url(_need_str(v))),
        enabled=r.get("enabled", bool, True),
    )
    r.finish()
    return source


def _read_categories(file: str, data: Any) -> dict[str, str]:
    r = _Reader(file, "categories", data)
    slugs = r.get("slugs", dict, {})
    r.finish()
    for media, slug in slugs.items():
        if not isinstance(slug, str) or not is_slug(slug):
            raise ConfigError(file, f"categories.slugs.{media}", f"{slug!r} is not a slug ([a-z0-9-], at most 64 characters)")
        if slug in RESERVED_SLUGS:
            raise ConfigError(file, f"categories.slugs.{media}", f"{slug!r} is a name the output uses for itself")
    return dict(slugs)


def parse_config(data: dict[str, Any], *, file: str, base_dir: Path,
                 path: Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """Validate a parsed TOML document into a Config (env overrides applied)."""
    environ = os.environ if environ is None else environ
    top = _Reader(file, "", data)
    site = _read_site(file, top.get("site", dict, {}), base_dir)
    store = _read_store(file, top.get("store", dict, {}), base_dir)
    crawl = _read_crawl(file, top.get("crawl", dict, {}))
    scheduler = _read_scheduler(file, top.get("scheduler", dict, {}))
    jekyll_data = top.get("jekyll", dict)
    jekyll = _read_jekyll(file, jekyll_data, base_dir) if jekyll_data is not None else None
    sources_data = top.get("sources", list, [])
    sources = tuple(_read_source(file, i, s) for i, s in enumerate(sources_data))
    names = [s.name for s in sources]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(file, f"sources.{name}", "two sources have this name")
    slugs = _read_categories(file, top.get("categories", dict, {}))
    top.finish()

    if environ.get("FINEWS_STORE_URL"):
        try:
            url = _check_store_url(environ["FINEWS_STORE_URL"])
        except ValueError as exc:
            raise ConfigError("FINEWS_STORE_URL", "store.url", str(exc)) from None
        store = StoreConfig(url=resolve_store_url(url, Path.cwd()))
    if environ.get("FINEWS_OUTPUT_DIR"):
        site = replace(site, output_dir=_resolve(Path.cwd(), environ["FINEWS_OUTPUT_DIR"]))
    if crawl.distributed and not store.url.startswith(("redis", "unix")):
        raise ConfigError(file, "crawl.distributed", "distributed crawling needs a Redis store.url")
    return Config(path=path, base_dir=base_dir, site=site, store=store, crawl=crawl,
                  scheduler=scheduler, sources=sources, jekyll=jekyll, category_slugs=slugs)


def default_config_text() -> str:
    """The config shipped with the package (the real eastmoney endpoints)."""
    return resources.files("crawler").joinpath("default.toml").read_text(encoding="utf-8")


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """Load `path`, else `finews.toml` in the working folder, else the built-in defaults."""
    if path is None and Path(DEFAULT_CONFIG_NAME).is_file():
        path = DEFAULT_CONFIG_NAME
    if path is None:
        text, file, base = default_config_text(), "<built-in defaults>", Path.cwd()
        config_path = None
    else:
        config_path = Path(path).resolve()
        file = str(path)
        try:
            text = config_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(file, "-", f"cannot read: {exc.strerror or exc}") from None
        base = config_path.parent
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "-", f"not valid TOML: {exc}") from None
    return parse_config(data, file=file, base_dir=base, path=config_path, environ=environ)
