"""The topic feeds of `[[topics]]`: re-filing the stored articles when a definition changes, their entries.

The crawl files each new or changed article under the topics it matches (crawler/grouping.py).
A topic whose definition (its hash, kept in the publish marks `topics/marks.json` of the output
folder) differs from the last publish's is matched against every stored article again and
rebuilt. An article filed under an older definition that no longer matches stays in the store's
list but is left out of the feed (feeds/entries.py matches each entry it reads again).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from crawler.config import Config, SiteConfig, TopicConfig
from crawler.grouping import matching_topics
from crawler.store import ALL, TOPICS, Store, grouped

from .build import uri
from .pages import Outline

logger = logging.getLogger(__name__)

MARKS_FILE = ("topics", "marks.json")
"""The publish marks, under the output folder (no topic folder can be named so: a slug has no dot)."""
SCAN_PAGE = 500
"""Articles read at a time when re-filing."""


def read_marks(output: Path) -> dict[str, str]:
    """Topic slug → the hash of its definition at the last publish ({} when unknown or unreadable)."""
    try:
        marks = json.loads(output.joinpath(*MARKS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in marks.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(marks, dict) else {}


def marks_of(topics: Iterable[TopicConfig]) -> bytes:
    """The publish marks of these definitions, as the file holds them."""
    return (json.dumps({t.slug: t.digest for t in topics}, sort_keys=True) + "\n").encode("utf-8")


def refile(config: Config, store: Store) -> set[str]:
    """File every stored article under the changed topics it matches; the store keys of those topics."""
    marks = read_marks(config.site.output_dir)
    changed = [topic for topic in config.topics if marks.get(topic.slug) != topic.digest]
    if not changed:
        return set()
    filed = 0
    offset = 0
    while page := store.latest(ALL, SCAN_PAGE, offset):
        offset += len(page)
        for article in page:
            keys = matching_topics(changed, article)
            if keys:
                store.add_membership(article.article_id, keys)
                filed += 1
    logger.info("topics %s changed: %d stored articles filed under them",
                ", ".join(t.slug for t in changed), filed)
    return {grouped(TOPICS, topic.slug) for topic in changed}


def outlines(site: SiteConfig, topics: Iterable[TopicConfig]) -> list[Outline]:
    """The outlines of `topics/opml.xml`."""
    return [Outline(t.title, uri(site.url(f"{TOPICS}/{t.slug}/rss.xml")), uri(site.url(f"{TOPICS}/{t.slug}/")))
            for t in topics]
