"""The store interface: one contract, implemented by SQLite (embedded) and Redis (shared).

`Store` is the four roles it plays, each an ABC of its own so a caller can say which it needs:
`Articles` (what the crawl stores and the feeds read), `PublishMarks` (what changed since the
last publish), `RunRecords` (each source's last run) and `Leases` (the scheduler's lock).
"""

from __future__ import annotations

import enum
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

ALL = "all"
"""The pseudo-category of every item: its feeds are `all/…`; always marked dirty with the others."""
PUBLISH_RUN = "@publish"
"""The run record of the last publish (never a source's name: those start with a letter or digit)."""
STOCKS, TOPICS = "stocks", "topics"
"""The groups of feeds that are not categories: an article is filed under `stocks/<symbol>` and
`topics/<slug>` like under a category slug (a slug has no `/`, so the keys never collide)."""


def grouped(group: str, name: str) -> str:
    """The store key of a feed in a group: `stocks/sh600160`, `topics/ev`."""
    return f"{group}/{name}"


def group_of(key: str) -> str | None:
    """The group of a store key (`stocks`, `topics`); None for a category slug."""
    return key.split("/", 1)[0] if "/" in key else None


def is_category(key: str) -> bool:
    """Whether a store key is a category slug (not a grouped feed's `stocks/…`, `topics/…`)."""
    return "/" not in key


def only_categories(categories: Mapping[str, str]) -> dict[str, str]:
    """An article's categories without its grouped feeds."""
    return {slug: name for slug, name in categories.items() if is_category(slug)}


def hub_run(hub: str) -> str:
    """The run record of a WebSub hub's notifications (like PUBLISH_RUN, never a source's name)."""
    return f"@websub:{hub}"


@dataclass
class Article:
    """A stored article: everything the feeds, the index and the Jekyll export need."""

    article_id: str
    title: str
    link: str
    published: datetime
    categories: dict[str, str]
    media: str | None = None
    info_code: str | None = None
    html: str = ""
    summary: str = ""
    content_raw: str = ""
    text_raw: str = ""
    digest: str = ""
    url_w: str = ""
    source: str = ""
    content_hash: str = ""
    """Of the title and the cleaned HTML: what decides unchanged or updated."""
    source_hash: str = ""
    """Of the source input the title and HTML were made from: the same one needs no cleaning."""
    securities: dict[str, str] = field(default_factory=dict)
    """`market.code` → name as linked, of every security the article links to (see text/securities)."""
    updated: datetime | None = None
    first_seen: datetime | None = None


class Outcome(enum.Enum):
    NEW = "new"
    UNCHANGED = "unchanged"
    UPDATED = "updated"


@dataclass(frozen=True)
class UpsertResult:
    outcome: Outcome
    added_categories: tuple[str, ...] = ()
    article: Article | None = None


@dataclass(frozen=True)
class CategorySummary:
    slug: str
    name: str
    count: int
    newest_published: datetime | None
    newest_title: str | None


@dataclass
class RunStatus:
    """The last run of one source, as `finews status` shows it."""

    source: str
    started: datetime
    finished: datetime | None = None
    outcome: str = "running"
    listed: int = 0
    new: int = 0
    unchanged: int = 0
    updated: int = 0
    dropped: int = 0
    errors: int = 0
    message: str = ""
    last_success: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LockInfo:
    owner: str
    expires: datetime


class Articles(ABC):
    """The articles: stored by the crawl in one atomic step each, read by the feeds and the index."""

    @abstractmethod
    def upsert(self, article: Article, crawled_at: datetime) -> UpsertResult:
        """Decide new / unchanged / updated and write, in one atomic step.

        New: stored with `first_seen = crawled_at` and `updated = published`.
        Unchanged (same `content_hash`): categories are unioned and empty `media`, `digest`,
        `url_w`, `info_code` filled in, `source_hash` replaced; `updated` is kept. A filled `media`
        changes the article's entry (its author) in every feed it is in. Updated
        (another hash): title, content and hashes replaced, categories unioned, `updated = crawled_at`; `published`,
        `first_seen` and the id never change. Every category whose feed changes (and `all`)
        is marked dirty.
        """

    @abstractmethod
    def add_membership(self, article_id: str, categories: Mapping[str, str], *, media: str | None = None,
                       digest: str = "", url_w: str = "", source_hash: str | None = None) -> tuple[str, ...] | None:
        """Add categories (and fill empty fields) of a stored article; the added slugs, or None when unknown.

        With `source_hash`, only when the stored article was built from that same source input
        (its `source_hash`); otherwise None, and nothing is written.
        """

    @abstractmethod
    def known_titles(self, article_ids: Iterable[str]) -> dict[str, str]:
        """The stored title of each of these ids that is stored (pruned ids included)."""

    @abstractmethod
    def known_categories(self, article_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        """The category slugs of each of these ids that is stored (one round trip for a batch)."""

    @abstractmethod
    def get(self, article_id: str) -> Article | None: ...

    @abstractmethod
    def latest(self, category: str, limit: int, offset: int = 0) -> list[Article]:
        """Newest first by published (ties: larger article id first); `ALL` for every item."""

    @abstractmethod
    def latest_changes(self, category: str, limit: int, offset: int = 0) -> list[tuple[str, int | None]]:
        """The ids of `latest`'s articles, in its order, each with its change number (see `changes`; None when the
        store kept none), without reading the articles: while an article's change number stays, so does its entry."""

    @abstractmethod
    def get_many(self, article_ids: Iterable[str]) -> dict[str, Article]:
        """The stored articles of these ids, by id (one round trip for a batch; ids not stored are left out)."""

    @abstractmethod
    def oldest(self, category: str, limit: int, offset: int = 0) -> list[Article]:
        """Oldest first: the reverse order of `latest` (for archive pages)."""

    @abstractmethod
    def count(self, category: str) -> int: ...

    @abstractmethod
    def categories(self) -> list[CategorySummary]:
        """Every category that holds items, by slug (not `ALL`); grouped feeds (`stocks/…`) included."""

    @abstractmethod
    def prune(self, category: str, keep: int, settled: int | None = None) -> int:
        """Drop all but the newest `keep` items of a category; ids stay known. Returns the number dropped.

        With `settled`, an item whose change number is above it is kept: the archives have not
        recorded that change yet.
        """

class PublishMarks(ABC):
    """Which categories changed since they were last published."""

    @abstractmethod
    def dirty_categories(self) -> dict[str, int]:
        """Category → change counter, for every category changed since it was last published."""

    @abstractmethod
    def clear_dirty(self, seen: Mapping[str, int]) -> None:
        """Forget the dirty marks in `seen` whose counter did not move since (publish done)."""

    @abstractmethod
    def mark_dirty(self, categories: Iterable[str]) -> None: ...

    @abstractmethod
    def changes(self, after: int, limit: int) -> list[tuple[int, Article]]:
        """The stored articles whose feed entry changed after change number `after`, oldest change first.

        An article's change number is the dirty-sequence value of its last change that marked
        categories dirty (new, updated, or in a new category); the archives ask what to rewrite.
        """


class RunRecords(ABC):
    """Each source's last run, as `finews status` shows it."""

    @abstractmethod
    def record_run(self, status: RunStatus) -> None:
        """Save a source's run status; `last_success` carries over from earlier runs unless set."""

    @abstractmethod
    def runs(self) -> dict[str, RunStatus]: ...


class Leases(ABC):
    """Named locks with a lease: one scheduler per store."""

    @abstractmethod
    def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew a lease; True when `owner` holds it afterwards."""

    @abstractmethod
    def release_lock(self, name: str, owner: str) -> None: ...

    @abstractmethod
    def lock_info(self, name: str) -> LockInfo | None: ...


class StoreUnavailable(Exception):
    """The store cannot be used: unreachable, timed out, full, read-only, or locked past its deadline."""

    def __init__(self, store: str, cause: str):
        self.store, self.cause = store, cause
        super().__init__(f"store {store} unavailable: {cause}")


STORE_UNAVAILABLE = "store_unavailable"
"""The reason a crawl stopped, and its runs failed, when the store failed."""
EXIT_STORE_UNAVAILABLE = 3
"""The exit code of a command that stopped because the store failed (2: a config error; 1: every source failed)."""

_F = TypeVar("_F", bound=Callable[..., Any])


def _fail_fast(method: _F, *, always_tried: bool) -> _F:
    """`method` raising StoreUnavailable for the backend errors that mean one, and at once after one."""

    @functools.wraps(method)
    def call(self: "Store", *args: Any, **kwargs: Any) -> Any:
        if self.failure is not None and not always_tried:
            raise self.failure
        try:
            return method(self, *args, **kwargs)
        except StoreUnavailable:
            raise
        except Exception as exc:
            failure = self.unavailable(exc)
            if failure is None:
                raise
            self.failure = failure
            raise failure from exc

    return call  # type: ignore[return-value]


class Store(Articles, PublishMarks, RunRecords, Leases):
    """What every part of finews asks of the store; see tests/test_store_contract.py.

    A backend error that means the store cannot be used comes out of every role method as
    `StoreUnavailable`; after one, the handle raises it again at once, without waiting on the
    backend (a crawl stops promptly instead of paying a timeout per item), except `record_run`,
    which is always tried: it is what reports the failure. To try the store again, open a new handle.
    """

    name: str
    """The store as log lines name it (its URL, without a password)."""
    failure: StoreUnavailable | None = None

    @abstractmethod
    def unavailable(self, exc: Exception) -> StoreUnavailable | None:
        """The StoreUnavailable a backend error means; None when it means a bug (raised as it is)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for role in (Articles, PublishMarks, RunRecords, Leases):
            for name in role.__abstractmethods__:
                if name in cls.__dict__:
                    setattr(cls, name, _fail_fast(cls.__dict__[name], always_tried=name == "record_run"))

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
