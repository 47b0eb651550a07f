"""TOML file + FINEWS_* environment → validated, typed config (pydantic models); the only place that reads it.

Adding a key: one annotated field on its section model below. The types of this module carry the
check, the error message and the JSON Schema: `Range(low, high)` for a number, `Flag` for a boolean,
`Duration(low, high)` for seconds or `"30s"`/`"5m"`/`"2h"`, `CronExpression`, `Url(...)`, `Slug`,
`NonEmpty`, `FilePath` (resolved against the config file's folder), `SecretUrl` (masked by
`finews config check`).
Adding a section: a `Section` subclass, one field on `Config` with a default instance (or
`| None = None` when the section is optional), and a line in `_resolve_paths` if it has a path.
Adding a source kind: a `SourceConfig` subclass with `kind: Literal["..."]` and its own keys, added
to `AnySource`. Every key then has its `FINEWS_<SECTION>__<KEY>` override, its place in
`finews config schema` and in `finews config check`, with no further code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import string
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, PrivateAttr,
                      SerializationInfo, StringConstraints, ValidationError, model_validator)
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import PydanticCustomError, core_schema
from pydantic_settings import BaseSettings, EnvSettingsSource, InitSettingsSource, SettingsConfigDict, SettingsError
from pydantic_settings.sources import PydanticBaseSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

from .settings import USER_AGENT
from .text.slugs import RESERVED_SLUGS, SLUG_MAX_BYTES, SLUG_RE, is_slug
from .text.times import BEIJING

DEFAULT_CONFIG_NAME = "finews.toml"
SOURCE_KINDS = ("choice", "eastmoney", "fastnews")
SOURCE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")
PASSWORD_QUERY_RE = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)
ENV_PREFIX = "FINEWS_"
# The two variables of the first releases, each the same as a nested one.
LEGACY_ENV = {("store", "url"): "FINEWS_STORE_URL", ("site", "output_dir"): "FINEWS_OUTPUT_DIR"}


class ConfigError(Exception):
    """Config values that cannot be used: each problem names the file (or variable), the key and the reason."""

    def __init__(self, file: str, key: str, reason: str, more: tuple[tuple[str, str, str], ...] = ()):
        self.file, self.key, self.reason = file, key, reason
        self.problems = ((file, key, reason), *more)
        super().__init__("\n".join(f"{f}: {k}: {r}" for f, k, r in self.problems))


# -- value types ------------------------------------------------------------------------------


def _not_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return value


def _boolean(value: Any) -> Any:
    """true/false in a file; a variable's text ("true", "0", …) is left to pydantic."""
    if not isinstance(value, (bool, str)):
        raise ValueError(f"expected a boolean (true or false), got {value!r}")
    return value


@dataclass(frozen=True)
class Range:
    """A closed range for a number: checked after the type, named in the error, kept in the JSON Schema."""

    low: float
    high: float
    unit: str = ""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            _not_boolean, core_schema.no_info_after_validator_function(self.check, handler(source)))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        return {**handler(schema), "minimum": self.low, "maximum": self.high}

    def check(self, value: float) -> float:
        if not self.low <= value <= self.high:
            raise ValueError(f"must be between {self.low}{self.unit} and {self.high}{self.unit}, got {value}")
        return value


def parse_duration(value: Any) -> float:
    """`"30s"`, `"5m"`, `"2h"` or a number of seconds → seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("expected a duration such as \"30s\", \"5m\" or \"2h\"")
    if isinstance(value, (int, float)):
        return float(value)
    match = DURATION_RE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration such as \"30s\", \"5m\" or \"2h\"")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


@dataclass(frozen=True)
class Duration(Range):
    """Seconds, given as a number or as `"30s"`, `"5m"`, `"2h"`; range-checked in seconds."""

    unit: str = "s"

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(parse_duration, super().__get_pydantic_core_schema__(
            source, handler))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        return {"anyOf": [{"type": "number", "minimum": self.low, "maximum": self.high},
                          {"type": "string", "pattern": DURATION_RE.pattern}]}


def _check_cron(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value, timezone=BEIJING)
    except ValueError as exc:
        raise ValueError(f"bad cron expression {value!r}: {exc}") from None
    return value


CronExpression = Annotated[str, AfterValidator(_check_cron),
                           Field(description="five-field crontab, Beijing time", examples=["*/5 * * * *"])]


def _placeholders(value: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}


@dataclass(frozen=True)
class Url:
    """An absolute http(s) URL template: `required` placeholders must appear, `allowed` ones may.

    `relative` also accepts a scheme-relative (`//host/path`) or site-relative (`/path`) link.
    """

    required: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()
    relative: bool = False

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        return {**handler(schema), "pattern": "^(https?:)?/" if self.relative else "^https?://"}

    def check(self, value: str) -> str:
        try:
            fields = _placeholders(value)
        except ValueError as exc:
            raise ValueError(f"{value!r}: {exc}") from None
        unknown = fields - set(self.required) - set(self.allowed)
        if unknown:
            raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}} in {value!r}")
        missing = set(self.required) - fields
        if missing:
            raise ValueError(f"{value!r} must contain {{{sorted(missing)[0]}}}")
        parts = urlsplit(value.format(**{name: "x" for name in fields}))
        if self.relative and not parts.scheme and (parts.netloc or value.startswith("/")):
            return value
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an absolute http/https URL")
        return value


@dataclass(frozen=True)
class UrlList(Url):
    """One URL or a list of them (at least one), each checked as `Url`."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            lambda v: (v,) if isinstance(v, str) else tuple(v) if isinstance(v, list) else v,
            core_schema.no_info_after_validator_function(self.check_all, handler(source)))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        url = {"type": "string", "pattern": "^https?://"}
        return {"anyOf": [url, {"type": "array", "items": url, "minItems": 1}]}

    def check_all(self, values: tuple[str, ...]) -> tuple[str, ...]:
        if not values:
            raise ValueError("must name at least one URL")
        return tuple(self.check(value) for value in values)


def mask_url(url: str) -> str:
    """The URL with its password (in the authority or a `password=` query item) replaced by `***`."""
    netloc = urlsplit(url).netloc
    if "@" in netloc and ":" in netloc.rpartition("@")[0]:
        user, _, host = netloc.rpartition("@")
        url = url.replace(netloc, f"{user.partition(':')[0]}:***@{host}", 1)
    return PASSWORD_QUERY_RE.sub(r"\1***", url)


def _masked(value: str, info: SerializationInfo) -> str:
    return mask_url(value) if (info.context or {}).get("mask_secrets") else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _check_store_url(value: str) -> str:
    scheme = urlsplit(value).scheme
    if scheme == "sqlite":
        if not value.startswith("sqlite:///") or value == "sqlite:///":
            raise ValueError(f"{mask_url(value)!r}: use sqlite:///relative/path or sqlite:////absolute/path")
    elif scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"{mask_url(value)!r}: the store URL must start with sqlite:/// or redis://")
    return value


def _check_slug(value: str) -> str:
    if not is_slug(value):
        raise ValueError(f"{value!r} is not a slug ([a-z0-9-], at most {SLUG_MAX_BYTES} characters)")
    if value in RESERVED_SLUGS:
        raise ValueError(f"{value!r} is a name the output uses for itself")
    return value


Slug = Annotated[str, AfterValidator(_check_slug),
                 Field(json_schema_extra={"pattern": f"^{SLUG_RE.pattern}$", "maxLength": SLUG_MAX_BYTES,
                                          "not": {"enum": sorted(RESERVED_SLUGS)}})]
SourceName = Annotated[str, StringConstraints(pattern=SOURCE_NAME_RE.pattern)]
PATTERN_NAMES = {SOURCE_NAME_RE.pattern: "a name of letters, digits, '-', '_' and '.'"}
NonEmpty = Annotated[str, StringConstraints(min_length=1), AfterValidator(_not_blank)]
Flag = Annotated[bool, BeforeValidator(_boolean)]
FilePath = Annotated[Path, Field(description="relative paths resolve against the config file's folder")]
SecretUrl = Annotated[str, PlainSerializer(_masked, return_type=str)]
StoreUrl = Annotated[SecretUrl, AfterValidator(_check_store_url)]
BackLink = Annotated[str, Url(allowed=("category",), relative=True)]


# -- sections ---------------------------------------------------------------------------------


class Section(BaseModel):
    """A config table: unknown keys are errors, values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True)


class SiteConfig(Section):
    """`[site]`: what the published feeds say about themselves, and where they go."""

    title: NonEmpty = "金融消息"
    """The feeds' and the index page's title."""
    description: NonEmpty = "东方财富财经新闻，按媒体分类的全文订阅源"
    """The feeds' description."""
    base_url: Annotated[str, Url(), AfterValidator(lambda v: v if v.endswith("/") else v + "/")] = \
        "http://127.0.0.1:8080/"
    """Where output_dir is served; used in self links."""
    output_dir: FilePath = Path("public")
    """The folder the feeds and pages are written into."""
    feed_size: Annotated[int, Range(1, 1000)] = 50
    """Entries per feed, newest first."""
    language: NonEmpty = "zh-CN"
    """The feeds' language tag."""
    ttl: Annotated[int, Range(1, 1440, " min")] = 5
    """RSS <ttl>, in minutes."""
    archives: Flag = True
    """RFC 5005 archive documents per Beijing month beside each feed (<slug>/archive/<YYYY-MM>.atom|json)."""
    stock_feeds: Flag = True
    """Publish `stocks/<symbol>/…` for every security the articles link to."""

    def url(self, path: str) -> str:
        """The absolute URL of a file under the output folder."""
        return self.base_url + path.lstrip("/")


class TopicConfig(Section):
    """`[[topics]]`: a feed of the articles whose title or text holds any `include` keyword and no `exclude` one."""

    slug: Slug
    """Its folder: `topics/<slug>/`."""
    title: NonEmpty
    """The feed's name."""
    include: Annotated[tuple[NonEmpty, ...], Field(min_length=1)]
    """An article matches when its title or text contains any of these."""
    exclude: tuple[NonEmpty, ...] = ()
    """…and none of these."""
    categories: tuple[Slug, ...] = ()
    """When set, only articles in one of these categories."""

    def matches(self, title: str, text: str, categories: Iterable[str]) -> bool:
        if self.categories and not set(self.categories) & set(categories):
            return False
        return (any(word in title or word in text for word in self.include)
                and not any(word in title or word in text for word in self.exclude))

    @property
    def digest(self) -> str:
        """A hash of the definition: a changed one means the topic's feeds are rebuilt."""
        data = json.dumps([self.title, self.include, self.exclude, self.categories], ensure_ascii=False)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]


class StoreConfig(Section):
    """`[store]`: the SQLite file or the Redis server."""

    url: StoreUrl = "sqlite:///data/finews.db"
    """sqlite:///relative/path, sqlite:////absolute/path or redis://[:password@]host:port/db."""


class WebSubConfig(Section):
    """`[websub]`: the WebSub hubs every feed declares and every publish that changed feeds notifies."""

    hubs: Annotated[tuple[Annotated[str, Url()], ...], AfterValidator(lambda hubs: tuple(dict.fromkeys(hubs)))] = ()
    """Hub URLs (duplicates dropped, order kept); none: WebSub is off."""


class JekyllConfig(Section):
    """`[jekyll]` (optional): also write Jekyll posts."""

    posts_dir: FilePath = Path("_posts")
    """The folder Jekyll posts are written into."""
    category_url: Annotated[str, Url(required=("category",), relative=True)] = "/category/{category}.html"
    """A post's back link to its category page; a template with {category}."""
    home_url: Annotated[str, Url(relative=True)] = "/"
    """A post's back link to the site's home page."""


class CrawlConfig(Section):
    """`[crawl]`: how politely and how persistently to fetch."""

    distributed: Flag = False
    """true: `finews worker` processes crawl what the scheduler enqueues (needs a Redis store)."""
    concurrency_per_domain: Annotated[int, Range(1, 64)] = 2
    """Requests in flight per domain."""
    download_delay: Annotated[float, Range(0, 60, "s")] = 0.5
    """Seconds between two requests to one domain."""
    autothrottle: Flag = True
    """Let Scrapy's AutoThrottle slow down for slow servers."""
    download_timeout: Annotated[float, Duration(0.5, 600)] = 30.0
    """How long one request may take."""
    retry_times: Annotated[int, Range(0, 10)] = 3
    """Retries on 429/5xx, timeouts and lost connections."""
    retry_backoff: Annotated[float, Range(0, 300, "s")] = 1.0
    """The first retry's delay in seconds, doubling each time."""
    retry_after_max: Annotated[float, Duration(1, 3600)] = 60.0
    """The cap on a server's Retry-After."""
    robotstxt_obey: Flag = True
    """Obey the sources' robots.txt."""
    user_agent: NonEmpty = USER_AGENT
    max_page_bytes: Annotated[int, Range(1024, 1024 ** 3)] = 8 * 1024 * 1024
    """Responses larger than this are dropped."""


class SchedulerConfig(Section):
    """`[scheduler]`: timeouts, the lock lease and housekeeping of `finews run`."""

    crawl_timeout: Annotated[float, Duration(1, 86400)] = 600.0
    """A crawl running longer is stopped and recorded as failed."""
    shutdown_grace: Annotated[float, Duration(1, 3600)] = 60.0
    """On SIGTERM, how long a running crawl may finish."""
    misfire_grace: Annotated[float, Duration(1, 86400)] = 300.0
    """How late a missed run may still start."""
    lock_ttl: Annotated[float, Duration(1, 3600)] = 60.0
    """The lease of the scheduler lock in the store."""
    publish_interval: Annotated[float, Duration(1, 3600)] = 30.0
    """Distributed mode: how often the scheduler publishes."""
    housekeeping_cron: CronExpression = "30 4 * * *"
    """When the daily pruning runs (Beijing time)."""
    keep_per_category: Annotated[int, Range(1, 1_000_000)] = 2000
    """Housekeeping keeps this many newest items per category."""


class MetricsConfig(Section):
    """`[metrics]`: the Prometheus endpoint of `finews run` and `finews worker`; off while `port` is unset."""

    port: Annotated[int, Range(1, 65535)] | None = None
    """The TCP port of /metrics."""
    host: NonEmpty = "127.0.0.1"
    """The address /metrics listens on; "0.0.0.0" to be scraped from other hosts."""


class CategoriesConfig(Section):
    """`[categories]`: fixed slugs for media names (several names may share one on purpose)."""

    slugs: dict[str, Slug] = {}
    """Media name = slug; names given the same slug share one category."""


def _keyed(key: str, reason: str) -> PydanticCustomError:
    """An error of a cross-key rule, reported under `key` (relative to the model that raises it)."""
    return PydanticCustomError("config", "{reason}", {"key": key, "reason": reason})


DEFAULT_EVERY = 300.0


class SourceConfig(Section):
    """`[[sources]]`: the keys every kind has; each kind's model adds its own."""

    name: SourceName
    """The source's name in logs, `finews status` and `crawl --source`."""
    kind: str
    list_urls: Annotated[tuple[str, ...], UrlList(), Field(alias="list_url")]
    """The list endpoint: one URL or a list of them."""
    category: Slug | None = None
    """File everything under this one category slug instead of one per media outlet."""
    category_name: NonEmpty | None = None
    """The display name of `category`."""
    cron: CronExpression | None = None
    """When to crawl: a crontab line in Beijing time (or give `every`)."""
    every: Annotated[float, Duration(1, 7 * 86400)] | None = None
    """When to crawl: every so long (default 5m; or give `cron`)."""
    jekyll_category_url: BackLink | None = None
    """The back link of this source's fixed category in exported Jekyll posts."""
    referer: Annotated[str, Url()]
    enabled: Flag = True
    """false: kept in the config, never crawled unless named with `crawl --source`."""

    @model_validator(mode="before")
    @classmethod
    def _default_schedule(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("cron") is None and data.get("every") is None:
            return {**data, "every": DEFAULT_EVERY}
        return data

    @model_validator(mode="after")
    def _rules(self) -> SourceConfig:
        if self.cron is not None and self.every is not None:
            raise _keyed("every", "give either cron or every, not both")
        if self.category_name is not None and self.category is None:
            raise _keyed("category_name", "needs category")
        return self

    @property
    def interval(self) -> float:
        """The nominal seconds between two runs (for staleness checks)."""
        if self.every is not None:
            return self.every
        from apscheduler.triggers.cron import CronTrigger

        trigger = CronTrigger.from_crontab(self.cron, timezone=BEIJING)
        first = trigger.get_next_fire_time(None, datetime(2024, 1, 1, tzinfo=BEIJING))
        second = trigger.get_next_fire_time(first, first)
        return (second - first).total_seconds()


class ChoiceSource(SourceConfig):
    """`kind = "choice"`: the Choice share-page lists and the text endpoint."""

    kind: Literal["choice"]
    text_url: Annotated[str, Url(required=("info_code",))]
    """The article text endpoint, a template with {info_code}."""
    share_url: Annotated[str, Url(required=("info_code",))]
    """The article's public link, a template with {info_code}."""
    referer: Annotated[str, Url()] = "http://choicewzp1.eastmoney.com/"
    """The Referer header sent with this source's requests."""


class EastmoneySource(SourceConfig):
    """`kind = "eastmoney"`: the column list API (`{page}` in `list_url`) and the article pages."""

    kind: Literal["eastmoney"]
    list_urls: Annotated[tuple[str, ...], UrlList(allowed=("page",)), Field(alias="list_url")]
    """The column list API: one URL or a list; {page} is the page number."""
    pages: Annotated[int, Range(1, 100)] = 1
    """List pages to read each crawl."""
    referer: Annotated[str, Url()] = "https://finance.eastmoney.com/"
    """The Referer header sent with this source's requests."""


class FastnewsSource(SourceConfig):
    """`kind = "fastnews"`: the 7x24 list, every item filed under one fixed category."""

    kind: Literal["fastnews"]
    pages: Annotated[int, Range(1, 100)] = 1
    """List pages to read each crawl."""
    category: Slug
    """The category every item is filed under."""
    referer: Annotated[str, Url()] = "https://kuaixun.eastmoney.com/"
    """The Referer header sent with this source's requests."""


AnySource = Annotated[ChoiceSource | EastmoneySource | FastnewsSource, Field(discriminator="kind")]


class Config(BaseSettings):
    """The whole config: defaults < the TOML file < `FINEWS_<SECTION>__<KEY>` environment variables."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", env_ignore_empty=True,
                                      extra="forbid", frozen=True, populate_by_name=True)

    site: SiteConfig = SiteConfig()
    store: StoreConfig = StoreConfig()
    crawl: CrawlConfig = CrawlConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    websub: WebSubConfig = WebSubConfig()
    jekyll: JekyllConfig | None = None
    sources: tuple[AnySource, ...] = ()
    categories: CategoriesConfig = CategoriesConfig()
    metrics: MetricsConfig = MetricsConfig()
    topics: tuple[TopicConfig, ...] = ()

    _path: Path | None = PrivateAttr(None)
    _base_dir: Path = PrivateAttr(Path("."))

    @model_validator(mode="after")
    def _rules(self) -> Config:
        names = [s.name for s in self.sources]
        for name in names:
            if names.count(name) > 1:
                raise _keyed(f"sources.{name}", "two sources have this name")
        slugs = [t.slug for t in self.topics]
        for slug in slugs:
            if slugs.count(slug) > 1:
                raise _keyed(f"topics.{slug}", "two topics have this slug")
        if self.crawl.distributed and not self.store.url.startswith(("redis", "unix")):
            raise _keyed("crawl.distributed", "distributed crawling needs a Redis store.url")
        return self

    @property
    def path(self) -> Path | None:
        """The config file read, or None for the built-in defaults."""
        return self._path

    @property
    def base_dir(self) -> Path:
        """The folder relative paths resolved against."""
        return self._base_dir

    @property
    def category_slugs(self) -> dict[str, str]:
        return self.categories.slugs

    @property
    def enabled_sources(self) -> list[SourceConfig]:
        return [s for s in self.sources if s.enabled]

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)

    @property
    def fixed_categories(self) -> dict[str, str]:
        """Slug → display name of every category a source fixes."""
        return {s.category: s.category_name or s.category for s in self.sources if s.category}

    def effective(self) -> dict[str, Any]:
        """The config as a TOML document would hold it, secrets masked."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, context={"mask_secrets": True})


class _SchemaGenerator(GenerateJsonSchema):
    """JSON Schema that draft-4 validators such as Taplo's read too: a one-value Literal also as `enum`."""

    schema_dialect = "http://json-schema.org/draft-07/schema#"

    def literal_schema(self, schema: core_schema.LiteralSchema) -> dict[str, Any]:
        result = super().literal_schema(schema)
        return {**result, "enum": [result["const"]]} if "const" in result else result


def config_schema() -> dict[str, Any]:
    """The JSON Schema of a finews.toml."""
    schema = Config.model_json_schema(by_alias=True, schema_generator=_SchemaGenerator)
    return {"$schema": _SchemaGenerator.schema_dialect, **schema, "title": "finews.toml"}


# -- loading ----------------------------------------------------------------------------------


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class _LegacyEnvironment(PydanticBaseSettingsSource):
    """`FINEWS_STORE_URL` and `FINEWS_OUTPUT_DIR`, below their nested spellings."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        super().__init__(settings_cls)
        self.values: dict[str, Any] = {}
        for (section, key), name in LEGACY_ENV.items():
            if environ.get(name):
                self.values.setdefault(section, {})[key] = environ[name]

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, True

    def __call__(self) -> dict[str, Any]:
        return self.values


def env_variable(loc: tuple[str | int, ...], environ: Mapping[str, str]) -> str | None:
    """The environment variable that supplied the value at `loc`, if one did."""
    present = {name.upper(): name for name, value in environ.items() if value}
    names = [str(part) for part in loc]
    if int in map(type, loc):
        names = names[:[type(part) for part in loc].index(int)]
    for end in range(len(names), 0, -1):
        name = (ENV_PREFIX + "__".join(names[:end])).upper()
        if name in present:
            return present[name]
    legacy = LEGACY_ENV.get(tuple(loc[:2]))  # type: ignore[arg-type]
    return legacy if legacy is not None and environ.get(legacy) else None


def overriding_variables(environ: Mapping[str, str]) -> list[str]:
    """The FINEWS_* variables in `environ` that set a config key."""
    tops = [(ENV_PREFIX + field.alias if field.alias else ENV_PREFIX + name).upper()
            for name, field in Config.model_fields.items()]
    return sorted(name for name, value in environ.items() if value and (
        name in LEGACY_ENV.values() or any(name.upper() == top or name.upper().startswith(top + "__") for top in tops)))


def _type_name(value: Any) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "…")
    names = {int: "an integer", float: "a number", bool: "a boolean", list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


EXPECTED = {"int": "an integer", "float": "a number", "bool": "a boolean", "string": "a string",
            "list": "a list", "tuple": "a list", "dict": "a table", "model": "a table", "model_attributes": "a table"}


def _reason(error: dict[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", error["msg"]))
    if kind == "config":
        return ctx["reason"]
    if kind == "union_tag_invalid":
        return f"{ctx['tag']!r} is not one of {', '.join(SOURCE_KINDS)}"
    if kind == "union_tag_not_found":
        return f"missing (one of {', '.join(SOURCE_KINDS)})"
    if kind == "string_pattern_mismatch":
        return f"{error['input']!r} is not {PATTERN_NAMES.get(ctx['pattern'], 'matching ' + ctx['pattern'])}"
    if kind == "int_from_float":
        return f"expected an integer, got {error['input']!r}"
    if kind.endswith(("_type", "_parsing")):
        expected = EXPECTED.get(kind.rsplit("_", 1)[0])
        if expected:
            return f"expected {expected}, got {_type_name(error['input'])}"
    return error["msg"]


def _key(loc: tuple[str | int, ...], error: dict[str, Any], sources: list[Any]) -> str:
    """`sources.<name>.key` for a source with a usable name, else `sources[2].key`; the kind tag dropped."""
    parts: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            source = sources[part] if loc[:i] == ("sources",) and part < len(sources) else None
            name = source.get("name") if isinstance(source, dict) else None
            if isinstance(name, str) and SOURCE_NAME_RE.match(name):
                parts[-1] = f"sources.{name}"
            else:
                parts[-1] += f"[{part}]"
        elif not (i > 0 and isinstance(loc[i - 1], int) and part in SOURCE_KINDS):
            parts.append(part)
    if error["type"] == "config":
        parts.append(error["ctx"]["key"])
    elif error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        parts.append("kind")
    return ".".join(parts) or "-"


def parse_config(data: dict[str, Any], *, file: str, base_dir: Path,
                 path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Validate a parsed TOML document, with the environment's overrides, into a Config."""
    environ = os.environ if environ is None else environ
    layers: tuple[PydanticBaseSettingsSource, ...] = (
        _Environment(Config, environ), _LegacyEnvironment(Config, environ), InitSettingsSource(Config, data))
    try:
        config = Config(_build_sources=(layers, {}))
    except SettingsError as exc:  # a variable holding a table or list as JSON that is not JSON
        field = re.search(r'field "([^"]+)"', str(exc))
        name = (ENV_PREFIX + (field[1] if field else "")).upper()
        names = [n for n in environ if n.upper() == name or n.upper().startswith(name + "__")]
        raise ConfigError(", ".join(names) or name, field[1] if field else "-",
                          f"not valid JSON: {exc.__cause__ or exc}") from None
    except ValidationError as exc:
        raise _config_error(exc, file, environ, layers) from None
    config = _resolve_paths(config, lambda loc: Path.cwd() if env_variable(loc, environ) else base_dir)
    config._path, config._base_dir = path, base_dir
    return config


def _config_error(exc: ValidationError, file: str, environ: Mapping[str, str],
                  layers: tuple[PydanticBaseSettingsSource, ...]) -> ConfigError:
    sources = next((layer()["sources"] for layer in layers if "sources" in layer()), [])
    problems = []
    for error in exc.errors():
        loc = error["loc"]
        where = (*loc, *error["ctx"]["key"].split(".")) if error["type"] == "config" else loc
        problems.append((env_variable(where, environ) or file,
                         _key(loc, error, sources if isinstance(sources, list) else []), _reason(error)))
    return ConfigError(*problems[0], more=tuple(problems[1:]))


def _resolve(base: Path, value: Path) -> Path:
    path = value.expanduser()
    return path if path.is_absolute() else base / path


def resolve_store_url(url: str, base: Path) -> str:
    """Make a relative `sqlite:///path` absolute against the config folder."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:" and not path.startswith("/"):
            return "sqlite:///" + str((base / path).resolve())
    return url


def _resolve_paths(config: Config, base: Callable[[tuple[str, ...]], Path]) -> Config:
    """Relative paths made absolute: a value from a file against its folder, from a variable against the cwd."""
    update: dict[str, Any] = {
        "site": config.site.model_copy(update={
            "output_dir": _resolve(base(("site", "output_dir")), config.site.output_dir)}),
        "store": config.store.model_copy(update={
            "url": resolve_store_url(config.store.url, base(("store", "url")))}),
    }
    if config.jekyll is not None:
        update["jekyll"] = config.jekyll.model_copy(update={
            "posts_dir": _resolve(base(("jekyll", "posts_dir")), config.jekyll.posts_dir)})
    return config.model_copy(update=update)


def default_config_text() -> str:
    """The config shipped with the package (the real eastmoney endpoints)."""
    return resources.files("crawler").joinpath("default.toml").read_text(encoding="utf-8")


def read_toml(path: Path, file: str) -> dict[str, Any]:
    """A config file's TOML document; unreadable, non-UTF-8 or invalid TOML is a ConfigError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(file, "-", f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(file, "-", f"not UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}): TOML files are "
                                     "UTF-8; convert it, e.g. `iconv -f GBK -t UTF-8`") from None
    return _parse_toml(text, file)


def _parse_toml(text: str, file: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "-", f"not valid TOML: {exc}") from None


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load `path`, else `finews.toml` in the working folder, else the built-in defaults."""
    if path is None and Path(DEFAULT_CONFIG_NAME).is_file():
        path = DEFAULT_CONFIG_NAME
    if path is None:
        file = "<built-in defaults>"
        return parse_config(_parse_toml(default_config_text(), file), file=file, base_dir=Path.cwd(),
                            environ=environ)
    config_path = Path(path).resolve()
    return parse_config(read_toml(config_path, str(path)), file=str(path), base_dir=config_path.parent,
                        path=config_path, environ=environ)
