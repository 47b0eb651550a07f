"""The securities an article links to: eastmoney's quote links, read before the cleaner makes them text.

eastmoney marks a mentioned security with a quote link to `quote.eastmoney.com/unify/r/<market>.<code>`,
on an `<a>` or a `<span href=…>`, usually with `data-code="<market>,<code>"`; older articles wrap a
link to `quote.eastmoney.com/sh600519.html` in `<span id="stock_<market>.<code>">`. The chart
links (`a.EmImageRemark`, an image) name no security and are skipped. Every value is checked
exactly: a market is a number eastmoney uses, a code has that market's shape, a name is short
plain text; anything else is not a security.
"""

from __future__ import annotations

import re

from lxml import etree

from .clean import _parse, strip_control_chars

QUOTE_URL_RE = re.compile(r"^https?://quote\.eastmoney\.com/unify/r/([0-9]{1,3})\.([0-9A-Za-z_]{1,12})$")
OLD_QUOTE_URL_RE = re.compile(r"^https?://quote\.eastmoney\.com/(?:sh|sz|hk|us)?[0-9A-Za-z_]{1,12}\.html$")
WRAPPER_ID_RE = re.compile(r"^(?:stock|bk)_([0-9]{1,3})\.([0-9A-Za-z_]{1,12})$")
DATA_CODE_RE = re.compile(r"^([0-9]{1,3}),([0-9A-Za-z_]{1,12})$")
MARKET_PREFIXES = {"1": "sh", "0": "sz", "116": "hk", "90": ""}
US_MARKETS = {"105", "106", "107"}
CODE_SHAPES = {
    "0": re.compile(r"^[0-9]{6}$"),
    "1": re.compile(r"^[0-9]{6}$"),
    "116": re.compile(r"^[0-9]{5}$"),
    "90": re.compile(r"^BK[0-9]{4}$"),
    **{market: re.compile(r"^[A-Z][A-Z0-9]{0,7}(?:_[A-Z0-9]{1,2})?$") for market in US_MARKETS},
}
OTHER_CODE_RE = re.compile(r"^[0-9A-Z]{1,12}$")
MARKET_RE = re.compile(r"^(?:0|[1-9][0-9]{0,2})$")
NAME_MAX = 32
LINKS = etree.XPath("//*[self::a or self::span][contains(@href, 'quote.eastmoney.com')]")
QUOTE_MARK = "quote.eastmoney.com"


def symbol(quote: str) -> str:
    """The readable symbol of `market.code`: sh600160, sz002752, hk06030, us-aapl, bk0473, m<market>-<code>."""
    market, code = quote.split(".", 1)
    if market in US_MARKETS:
        return "us-" + code.lower().replace("_", "-")
    prefix = MARKET_PREFIXES.get(market)
    return prefix + code.lower() if prefix is not None else f"m{market}-{code.lower()}"


def valid_quote(market: str, code: str) -> bool:
    """Whether `market.code` is a security eastmoney could mean (exact shapes, no lookalikes)."""
    if not MARKET_RE.match(market):
        return False
    return bool((CODE_SHAPES.get(market) or OTHER_CODE_RE).match(code))


def _name(element: etree._Element) -> str:
    return " ".join(strip_control_chars(element.text_content()).split())


def _quote_of(element: etree._Element) -> tuple[str, str] | None:
    """The (market, code) a quote link names; None when it names none or its marks disagree."""
    href = element.get("href", "").strip()
    match = QUOTE_URL_RE.match(href)
    if match:
        quote = match[1], match[2]
    elif OLD_QUOTE_URL_RE.match(href):
        parent = element.getparent()
        wrapper = WRAPPER_ID_RE.match(parent.get("id", "")) if parent is not None else None
        if wrapper is None:
            return None
        quote = wrapper[1], wrapper[2]
    else:
        return None
    data_code = element.get("data-code")
    if data_code is not None:
        given = DATA_CODE_RE.match(data_code.strip())
        if given is None or (given[1], given[2]) != quote:
            return None
    return quote


def securities_in(html: str) -> dict[str, str]:
    """`market.code` → name as linked, of every valid quote link in `html`, sorted; the first name wins."""
    if QUOTE_MARK not in html:
        return {}
    found: dict[str, str] = {}
    for element in LINKS(_parse(html)):
        if "EmImageRemark" in element.get("class", ""):
            continue
        quote = _quote_of(element)
        name = _name(element)
        if quote is None or not name or len(name) > NAME_MAX or not valid_quote(*quote):
            continue
        found.setdefault(f"{quote[0]}.{quote[1]}", name)
    return dict(sorted(found.items()))
