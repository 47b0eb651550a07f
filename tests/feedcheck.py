"""Validity checks shared by the feed tests: RELAX NG for Atom, RSS 2.0 rules, JSON Feed 1.1, feedparser."""

from __future__ import annotations

import json
import re
from email.utils import parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
from lxml import etree

ATOM_NS = "http://www.w3.org/2005/Atom"
RNG = Path(__file__).parent / "data" / "validators" / "atom.rng"
RFC3339_ZONED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@lru_cache(maxsize=1)
def atom_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(RNG)))


def absolute(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parsed(data: bytes) -> feedparser.FeedParserDict:
    feed = feedparser.parse(data)
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


def check_atom(data: bytes) -> feedparser.FeedParserDict:
    assert not XML_FORBIDDEN.search(data.decode("utf-8"))
    doc = etree.fromstring(data)
    schema = atom_schema()
    assert schema.validate(doc), schema.error_log
    ns = {"a": ATOM_NS}
    for element in doc.xpath("//a:updated | //a:published", namespaces=ns):
        assert RFC3339_ZONED.match(element.text), element.text
        assert element.text.endswith("+08:00"), element.text
    for href in doc.xpath("//a:link/@href", namespaces=ns):
        assert absolute(href), href
    return parsed(data)


def check_rss(data: bytes) -> feedparser.FeedParserDict:
    assert not XML_FORBIDDEN.search(data.decode("utf-8"))
    doc = etree.fromstring(data)
    assert doc.tag == "rss" and doc.get("version") == "2.0"
    channel = doc.find("channel")
    for name in ("title", "link", "description"):
        assert channel.findtext(name), name
    self_link = channel.find("{%s}link" % ATOM_NS)
    assert self_link is not None and self_link.get("rel") == "self" and absolute(self_link.get("href"))
    for date in doc.xpath("//pubDate | //lastBuildDate"):
        assert parsedate_to_datetime(date.text).utcoffset() is not None
        assert date.text.endswith("+0800"), date.text
    for item in channel.findall("item"):
        guid = item.find("guid")
        assert guid is not None and guid.get("isPermaLink") == "false" and guid.text
        children = [child.tag for child in item]
        encoded = "{http://purl.org/rss/1.0/modules/content/}encoded"
        if encoded in children:
            assert "description" in children and children.index("description") < children.index(encoded)
        assert absolute(item.findtext("link"))
    return parsed(data)


def check_json_feed(data: bytes) -> dict:
    """JSON Feed 1.1's required fields (feedparser 6.0 reads no JSON Feed, so this is the check)."""
    feed = json.loads(data)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] and isinstance(feed["items"], list)
    assert absolute(feed["feed_url"]) and absolute(feed["home_page_url"])
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert "content_html" in item or "content_text" in item
        for key in ("date_published", "date_modified"):
            assert RFC3339_ZONED.match(item[key]) and item[key].endswith("+08:00")
        assert absolute(item["url"])
    return feed
