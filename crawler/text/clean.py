"""Article HTML made clean and safe for feeds: eastmoney boilerplate out, URLs absolute, nh3 allow-list.

`clean_html` runs three passes (again until the result stays the same, see `clean_html`):
1. lxml: structural removals (the stock chart, hidden elements, ads, promos, editor and disclaimer
   lines, scripts), inline stock links unwrapped to their text, every href/src made absolute or dropped;
2. nh3: the allow-list sanitizer (the security boundary: tags, attributes, URL schemes);
3. lxml again: the `　　` indentation out, empty elements and the blanks between blocks pruned,
   fixed `<img>` attributes, serialized.
The result is deterministic and idempotent (`clean_html(clean_html(x, base), base) == clean_html(x, base)`).
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import nh3
from lxml import etree
from lxml import html as lxml_html
from lxml.cssselect import CSSSelector
from w3lib.url import safe_url_string

# What XML 1.0 forbids: C0 controls but tab/LF/CR, U+FFFE/U+FFFF, unpaired surrogates.
XML_FORBIDDEN = "\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff"
XML_FORBIDDEN_RE = re.compile(f"[{XML_FORBIDDEN}]")
# Those, and DEL and the C1 controls, which XML discourages and news text only has as mojibake.
CONTROL_RE = re.compile(f"[{XML_FORBIDDEN}\x7f-\x9f]")
CHAR_REFERENCE_RE = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));?")

REMOVE_TAGS = (
    "script", "style", "noscript", "template", "title", "meta", "link", "base", "iframe", "frame",
    "frameset", "object", "embed", "applet", "svg", "math", "canvas", "video", "audio", "input",
    "button", "select", "textarea",
)
REMOVE = CSSSelector(", ".join([
    "[hidden]",
    "div.ad_context3",             # ad slots (a script inside)
    "a.toplink",                   # the "东方财富Choice数据…" promo above the body
    "img.em_handle_adv_close",     # the app banner (its acttg.eastmoney.com link goes too)
    "p.res-edit",                  # （责任编辑：DF078）, old template
    "a.EmImageRemark",             # the K-line chart of the EM_StockImg block
]))
HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
AD_HOSTS = {"acttg.eastmoney.com"}
EDITOR_RE = re.compile(r"[（(]?\s*责任编辑\s*[:：]")
DISCLAIMER_RE = re.compile(r"郑重声明\s*[:：]")
DISCLAIMER_TEXT = "东方财富发布此内容旨在传播更多信息"
UNWRAP = CSSSelector(", ".join([
    'span[id^="stock_"]', 'span[id^="quote_"]', 'span[id^="bk_"]', 'span[id^="bkquote_"]',
    'span[id^="Info."]', "span.em_stock_key_common", "a.keytip", "a.infokey",
]))
STOCK_CHART_START, STOCK_CHART_END = "EM_StockImg_Start", "EM_StockImg_End"

ALLOWED_TAGS = {
    "p", "br", "strong", "b", "em", "i", "u", "a", "img", "h1", "h2", "h3", "h4", "h5", "h6",
    "ul", "ol", "li", "blockquote", "table", "thead", "tbody", "tr", "th", "td", "figure",
    "figcaption", "span", "sub", "sup", "pre", "code", "hr",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
# Set by the third pass (nh3 would drop them, and its own `set_tag_attribute_values` orders them
# differently from run to run), with the attributes in this order.
IMG_FIXED = {"referrerpolicy": "no-referrer", "loading": "lazy"}
IMG_ORDER = ("src", "alt", "width", "height", *IMG_FIXED)
# Every link is to a third party: no opener, no referrer (as the images), and no endorsement of
# it by the pages that republish the article (search engines index the exported posts).
LINK_REL = "noopener noreferrer nofollow"
NH3_OPTIONS = {
    "tags": ALLOWED_TAGS,
    "clean_content_tags": set(REMOVE_TAGS),
    "attributes": ALLOWED_ATTRIBUTES,
    "url_schemes": {"http", "https"},
    "link_rel": LINK_REL,
    "strip_comments": True,
}
# Elements that mean nothing without text (or an image, a rule, a table) inside.
PRUNABLE = {"p", "span", "strong", "b", "em", "i", "u", "a", "sub", "sup", "h1", "h2", "h3", "h4", "h5",
            "h6", "blockquote", "li", "ul", "ol", "figure", "figcaption", "code", "pre"}
CONTENT_XPATH = ".//img | .//hr | .//table"
INDENT = "\u3000\u3000"
LEADING_SPACE_RE = re.compile("^[\u3000 \t\n\r\f]+")
LEADING_STOPS = {"img", "br", "hr", "table"}
BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "blockquote", "pre", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "figure",
    "figcaption", "center", "section", "article", "header", "footer", "aside", "nav", "main", "address",
}
MAX_ROUNDS = 4
SENTENCE_ENDS = "。！？；"
CLOSERS = "”’」』）》】\"')"


def strip_control_chars(text: str) -> str:
    """`text` without the characters XML 1.0 forbids (and the C1 controls it discourages)."""
    return CONTROL_RE.sub("", text)


def _forbidden_reference(match: re.Match[str]) -> str:
    code = int(match[1], 16) if match[1] else int(match[2])
    return "" if code <= 0x10FFFF and XML_FORBIDDEN_RE.match(chr(code)) else match[0]


def _parse(html: str) -> lxml_html.HtmlElement:
    """The fragment under a bare `<div>` (a whole document gives its body's content).

    References to XML-forbidden characters (`&#1;`) go first: lxml refuses to hold them (and
    leaves the C1 ones to the parser, which reads `&#150;` as the en dash HTML says it is).
    """
    html = CHAR_REFERENCE_RE.sub(_forbidden_reference, strip_control_chars(html))
    return lxml_html.fragment_fromstring(html, create_parent="div")


def _inner_html(root: lxml_html.HtmlElement) -> str:
    serialized = lxml_html.tostring(root, encoding="unicode")
    return serialized[len("<div>"):-len("</div>")]


def _remove(element: lxml_html.HtmlElement) -> None:
    """Drop an element and everything in it, keeping the text that follows it."""
    if element.getparent() is not None:
        element.drop_tree()


def _text(element: lxml_html.HtmlElement) -> str:
    return " ".join(element.text_content().split())


def _strip_controls(root: lxml_html.HtmlElement) -> None:
    """Control characters that character references put back out of text and attributes."""
    for node in root.iter():
        if node.text:
            node.text = strip_control_chars(node.text)
        if node.tail:
            node.tail = strip_control_chars(node.tail)
        if isinstance(node.tag, str):
            for name, value in node.attrib.items():
                node.set(name, strip_control_chars(value))


def _drop_stock_chart(root: lxml_html.HtmlElement) -> None:
    """Everything between `<!-- EM_StockImg_Start -->` and its sibling `<!-- EM_StockImg_End -->`."""
    for start in root.xpath(f"//comment()[contains(., '{STOCK_CHART_START}')]"):
        block = []
        node = start.getnext()
        while node is not None and not (node.tag is etree.Comment and STOCK_CHART_END in (node.text or "")):
            block.append(node)
            node = node.getnext()
        if node is None:
            continue  # no end marker beside it: the chart itself still goes with a.EmImageRemark
        start.tail = None
        for element in block:
            element.tail = None
            element.getparent().remove(element)


def _host(url: str) -> str:
    try:
        return urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""


def _drop_boilerplate(root: lxml_html.HtmlElement) -> None:
    _drop_stock_chart(root)
    for element in root.xpath("//comment() | //processing-instruction()"):
        _remove(element)
    for element in list(root.iter(*REMOVE_TAGS)):
        _remove(element)
    for element in REMOVE(root):
        _remove(element)
    for element in root.xpath("//*[@style]"):
        if HIDDEN_STYLE_RE.search(element.get("style", "")):
            _remove(element)
    for element in root.xpath("//a[@href]"):
        if _host(element.get("href")) in AD_HOSTS:
            _remove(element)
    for element in list(root.iter("p")):
        text = _text(element)
        if EDITOR_RE.match(text) or DISCLAIMER_RE.match(text) or DISCLAIMER_TEXT in text:
            _remove(element)
    for element in UNWRAP(root):
        element.drop_tag()


def _absolute_url(link: str, base_url: str) -> str | None:
    """`link` as an absolute, percent-encoded http(s) URL; None when it cannot be one."""
    link = link.strip()
    if not link:
        return None
    try:
        url = "https:" + link if link.startswith("//") else urljoin(base_url, link)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        return safe_url_string(url)
    except ValueError:
        return None


def _absolutize(root: lxml_html.HtmlElement, base_url: str) -> None:
    """Every href/src absolute; a link that cannot be becomes its text, such an image goes."""
    for element in root.xpath("//*[@href or @src]"):
        for name in ("href", "src"):
            value = element.get(name)
            if value is None:
                continue
            url = _absolute_url(value, base_url)
            if url is None:
                del element.attrib[name]
            else:
                element.set(name, url)
    for element in root.xpath("//a[not(@href)]"):
        element.drop_tag()
    for element in root.xpath("//img[not(@src)]"):
        _remove(element)


def _drop_indentation(root: lxml_html.HtmlElement) -> None:
    """`　　` out everywhere, and the leading blanks of each paragraph; CR as LF."""
    for node in root.iter():
        if node.text:
            node.text = node.text.replace("\r\n", "\n").replace("\r", "\n").replace(INDENT, "")
        if node.tail:
            node.tail = node.tail.replace("\r\n", "\n").replace("\r", "\n").replace(INDENT, "")
    for paragraph in root.iter("p"):
        _strip_leading_blanks(paragraph)


def _strip_leading_blanks(element: lxml_html.HtmlElement) -> bool:
    """Blanks before the element's first text (or image, or line break); True once one is met."""
    if element.tag in LEADING_STOPS:
        return True
    if element.text:
        element.text = LEADING_SPACE_RE.sub("", element.text)
        if element.text:
            return True
    for child in element:
        if _strip_leading_blanks(child):
            return True
        if child.tail:
            child.tail = LEADING_SPACE_RE.sub("", child.tail)
            if child.tail:
                return True
    return False


def _prune_empty(root: lxml_html.HtmlElement) -> None:
    """Elements left without content (an emptied paragraph, a link around nothing) go."""
    for element in reversed(list(root.iter(*PRUNABLE))):
        if element.text_content().strip() or element.xpath(CONTENT_XPATH):
            continue
        if element.tag != "p" and element.xpath(".//br"):
            continue
        _remove(element)


def _drop_blank_tails(root: lxml_html.HtmlElement) -> None:
    """The whitespace between blocks (the page's line breaks) out: it renders as nothing."""
    for element in root.iter(*BLOCK_TAGS - {"br"}):
        if element.tail and not element.tail.strip(" \t\n\r\f"):
            element.tail = None


def _fix_images(root: lxml_html.HtmlElement) -> None:
    """`referrerpolicy="no-referrer" loading="lazy"` on every image, attributes in a fixed order."""
    for image in root.iter("img"):
        attributes = {**dict(image.attrib), **IMG_FIXED}
        image.attrib.clear()
        for name in IMG_ORDER:
            if name in attributes:
                image.set(name, attributes[name])


def _clean_once(html: str, base_url: str) -> str:
    root = _parse(html)
    _strip_controls(root)
    _drop_boilerplate(root)
    _absolutize(root, base_url)
    sanitized = nh3.clean(_inner_html(root), **NH3_OPTIONS)
    if not sanitized.strip():
        return ""
    root = _parse(sanitized)
    _drop_indentation(root)
    _prune_empty(root)
    _drop_blank_tails(root)
    _fix_images(root)
    return _inner_html(root).strip()


def clean_html(html: str, base_url: str) -> str:
    """Boilerplate removed, stock links as text, URLs absolute, sanitized by nh3's allow-list.

    The passes repeat until the result stays the same (article HTML: after one repeat), so that
    cleaning is idempotent: libxml2 and html5ever mend bad nesting differently (`<h1><font><h1>`),
    and what one leaves, the other may mend again.
    """
    if not html or not html.strip():
        return ""
    cleaned = _clean_once(html, base_url)
    for _ in range(MAX_ROUNDS - 1):
        again = _clean_once(cleaned, base_url)
        if again == cleaned:
            break
        cleaned = again
    return cleaned


def html_to_text(html: str) -> str:
    """The whitespace-normalized plain text of an HTML fragment (blocks and `<br>` as spaces)."""
    if not html or not html.strip():
        return ""
    root = _parse(html)
    for element in list(root.iter("script", "style")):
        _remove(element)
    for element in root.iter(*BLOCK_TAGS):
        element.text = " " + (element.text or "")
        element.tail = " " + (element.tail or "")
    return " ".join(root.text_content().split())


def _digest_text(digest: str, title: str) -> str:
    """The digest without its leading `【title】` (or any leading `【…】`)."""
    digest = " ".join(strip_control_chars(digest or "").split())
    title = " ".join(strip_control_chars(title or "").split())
    if title and digest.startswith(f"【{title}】"):
        return digest[len(title) + 2:].strip()
    if digest.startswith("【") and "】" in digest:
        return digest[digest.index("】") + 1:].strip()
    return digest


def make_summary(digest: str, html: str, title: str = "", limit: int = 200) -> str:
    """The plain-text summary: the digest, else the text's first `limit` characters.

    A text that does not fit is cut after the last sentence end (。！？；, with any closing
    quotes) in the last 40% of the room, else at the limit, and gets `…`; the result has at
    most `limit` characters.
    """
    summary = _digest_text(digest, title)
    if summary:
        return summary
    text = html_to_text(html)
    if len(text) <= limit:
        return text
    room = text[:limit - 1]
    end = max(room.rfind(mark) for mark in SENTENCE_ENDS)
    if end >= int(limit * 0.6):
        end += 1
        while end < len(room) and room[end] in CLOSERS:
            end += 1
        room = room[:end]
    return room.rstrip() + "…"
