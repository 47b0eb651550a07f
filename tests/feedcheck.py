"""Validity checks shared by the feed tests: Atom (RFC 4287 RELAX NG), RSS 2.0, JSON Feed 1.1, feedparser.

Each check raises AssertionError naming what is wrong, and returns the parsed feed: feedparser's
result for RSS and Atom; for JSON Feed the decoded object (feedparser 6.0 does not read JSON Feed).
"""

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
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
RNG = Path(__file__).parent / "data" / "validators" / "atom.rng"
RFC3339_ZONED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
ZONE = "+08:00"


@lru_cache(maxsize=1)
def atom_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(RNG)))


def absolute(url: str | None) -> bool:
    """An absolute http(s) URL."""
    parts = urlsplit(url or "")
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def absolute_iri(value: str | None) -> bool:
    """An absolute IRI (an Atom id): a scheme and something after it, no spaces."""
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", value or ""))


def well_formed(data: bytes) -> etree._Element:
    """Parse as XML 1.0 (UTF-8 with a declaration), refusing characters XML forbids."""
    assert data.startswith(b"<?xml "), data[:60]
    text = data.decode("utf-8")
    found = XML_FORBIDDEN.search(text)
    assert found is None, f"XML-forbidden character {found.group()!r}"
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))


def parsed(data: bytes) -> feedparser.FeedParserDict:
    """feedparser's reading of the document; it must not find it malformed (bozo)."""
    feed = feedparser.parse(data)
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


def check_atom(data: bytes) -> feedparser.FeedParserDict:
    """RFC 4287: RELAX NG valid, every date zoned (+08:00), every URI absolute; feedparser reads it."""
    doc = well_formed(data)
    schema = atom_schema()
    assert schema.validate(doc), schema.error_log
    ns = {"a": ATOM_NS}
    for element in doc.xpath("//a:updated | //a:published", namespaces=ns):
        assert RFC3339_ZONED.match(element.text), f"date without a zone: {element.text}"
        assert element.text.endswith(ZONE), f"not Beijing time: {element.text}"
    for iri in doc.xpath("//a:id/text()", namespaces=ns):
        assert absolute_iri(iri), f"id is not an absolute IRI: {iri}"
    for url in doc.xpath("//a:link/@href | //a:uri/text() | //a:icon/text() | //a:logo/text() "
                         "| //a:generator/@uri | //a:content/@src | //a:category/@scheme", namespaces=ns):
        assert absolute(url), f"relative URI: {url}"
    self_links = doc.xpath("/a:feed/a:link[@rel='self']/@href", namespaces=ns)
    assert len(self_links) == 1, self_links
    ids = doc.xpath("/a:feed/a:entry/a:id/text()", namespaces=ns)
    assert len(ids) == len(set(ids)), "duplicate entry ids"
    return parsed(data)


def check_rss(data: bytes) -> feedparser.FeedParserDict:
    """RSS 2.0 as the W3C validator wants it; feedparser reads it."""
    doc = well_formed(data)
    assert doc.tag == "rss" and doc.get("version") == "2.0", doc.tag
    channel = doc.find("channel")
    assert channel is not None
    for name in ("title", "link", "description"):
        assert channel.findtext(name), f"channel has no {name}"
    assert absolute(channel.findtext("link"))
    self_links = [link for link in channel.findall(f"{{{ATOM_NS}}}link") if link.get("rel") == "self"]
    assert len(self_links) == 1 and absolute(self_links[0].get("href")), "channel needs one atom:link rel=self"
    for date in doc.xpath("//pubDate | //lastBuildDate"):
        assert parsedate_to_datetime(date.text).utcoffset() is not None, date.text
        assert date.text.endswith("+0800"), f"not Beijing time: {date.text}"
    guids = []
    for item in channel.findall("item"):
        assert item.findtext("title") or item.findtext("description"), "item without title or description"
        guid = item.find("guid")
        assert guid is not None and guid.text, "item without guid"
        assert guid.get("isPermaLink") == "false" or absolute(guid.text), guid.text
        guids.append(guid.text)
        children = [child.tag for child in item]
        if CONTENT_ENCODED in children:
            assert "description" in children, "content:encoded without description"
            assert children.index("description") < children.index(CONTENT_ENCODED), "description after content:encoded"
        assert absolute(item.findtext("link")), item.findtext("link")
        assert item.find("pubDate") is not None, "item without pubDate"
    assert len(guids) == len(set(guids)), "duplicate guids"
    return parsed(data)


def check_json_feed(data: bytes) -> dict:
    """Every field JSON Feed 1.1 requires, with the types it gives; dates RFC 3339 in +08:00."""
    feed = json.loads(data.decode("utf-8"))
    assert isinstance(feed, dict)
    assert feed.get("version") == JSON_FEED_VERSION, feed.get("version")
    assert isinstance(feed.get("title"), str) and feed["title"], "feed without title"
    assert isinstance(feed.get("items"), list), "feed without items"
    for key in ("home_page_url", "feed_url"):
        if key in feed:
            assert absolute(feed[key]), f"{key} is not absolute: {feed[key]}"
    ids = []
    for item in feed["items"]:
        assert isinstance(item.get("id"), str) and item["id"], "item without id"
        ids.append(item["id"])
        assert isinstance(item.get("content_html"), str) or isinstance(item.get("content_text"), str), \
            "item without content_html or content_text"
        for key in ("date_published", "date_modified"):
            if key in item:
                assert RFC3339_ZONED.match(item[key]), f"{key} is not RFC 3339: {item[key]}"
                assert item[key].endswith(ZONE), f"not Beijing time: {item[key]}"
        if "url" in item:
            assert absolute(item["url"]), item["url"]
        for author in item.get("authors", []) + feed.get("authors", []):
            assert isinstance(author, dict) and {"name", "url", "avatar"} & set(author), author
        assert all(isinstance(tag, str) for tag in item.get("tags", [])), item.get("tags")
    assert len(ids) == len(set(ids)), "duplicate item ids"
    return feed
