"""Article HTML made clean and safe for feeds: eastmoney boilerplate out, URLs absolute, nh3 allow-list.

`clean_html` runs three passes (again until the result stays the same, see `clean_html`):
1. lxml: structural removals (the stock chart, hidden elements, ads, promos, editor and disclaimer
   lines, scripts), inline stock links unwrapped to their text, every href/src made absolute or dropped;
2. nh3: the allow-list sanitizer (the security boundary: tags, attributes, URL schemes);
3. lxml again: the `　　` indentation out, empty elements and the blanks between blocks pruned,
   fixed `<img>` attributes, serialized;
then a check of the final tree (`_settled`) that tells, without parsing, whether another round would
change nothing: it runs only when the check cannot tell.
The result is deterministic and idempotent (`clean_html(clean_html(x, base), base) == clean_html(x, base)`).
`html_to_text` of the HTML just cleaned reads the tree it came from instead of parsing it again.
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
COMMENTS = etree.XPath("//comment() | //processing-instruction()")
REMOVED = etree.XPath(" | ".join([*(f"//{tag}" for tag in REMOVE_TAGS), REMOVE.path]))
STYLED = etree.XPath("//*[@style]")
LINKED = etree.XPath("//a[@href]")
# The paragraphs that may be an editor line or a disclaimer: with a character of their marks.
MARKED_PARAGRAPHS = etree.XPath("//p[contains(., '责') or contains(., '郑') or contains(., '旨')]")
BOILERPLATE_MARKS = "责郑旨"
URL_HOLDERS = etree.XPath("//*[@href or @src]")
UNLINKED = etree.XPath("//a[not(@href)] | //img[not(@src)]")

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
SANITIZER = nh3.Cleaner(**NH3_OPTIONS)
# lxml.html's parser, but its element classes looked up in C: no Python call per element.
PARSER = etree.HTMLParser()
PARSER.set_element_class_lookup(etree.ElementDefaultClassLookup(
    element=lxml_html.HtmlElement, comment=lxml_html.HtmlComment, pi=lxml_html.HtmlProcessingInstruction,
    entity=lxml_html.HtmlEntity,
))
# Elements that mean nothing without text (or an image, a rule, a table) inside.
PRUNABLE = {"p", "span", "strong", "b", "em", "i", "u", "a", "sub", "sup", "h1", "h2", "h3", "h4", "h5",
            "h6", "blockquote", "li", "ul", "ol", "figure", "figcaption", "code", "pre"}
HAS_CONTENT = etree.XPath("boolean(.//img | .//hr | .//table)")
HAS_BREAK = etree.XPath("boolean(.//br)")
INDENT = "\u3000\u3000"
LEADING_SPACE_RE = re.compile("^[\u3000 \t\n\r\f]+")
LEADING_STOPS = {"img", "br", "hr", "table"}
BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "blockquote", "pre", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "figure",
    "figcaption", "center", "section", "article", "header", "footer", "aside", "nav", "main", "address",
}
BLANK_TAIL_TAGS = tuple(BLOCK_TAGS - {"br"})
MAX_ROUNDS = 4
PHRASING = frozenset({"span", "strong", "b", "em", "i", "u", "a", "sub", "sup", "code", "br", "img"})
FLOW = PHRASING | {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "blockquote", "figure", "figcaption",
                   "table", "hr", "pre"}
# The children each element may have for both parsers to read its serialization back as it is;
# the ones marked False take no text either. Anything else (`<h2>` in `<h1>`, `<p>` in `<a>`,
# text in a table) is left to the repeat.
NESTING: dict[str, tuple[frozenset[str], bool]] = {
    **{tag: (PHRASING, True) for tag in PHRASING - {"br", "img"}},
    **{tag: (PHRASING, True) for tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "pre")},
    **{tag: (FLOW, True) for tag in ("div", "li", "blockquote", "figure", "figcaption", "td", "th")},
    "ul": (frozenset({"li"}), False), "ol": (frozenset({"li"}), False),
    "table": (frozenset({"thead", "tbody"}), False),
    "thead": (frozenset({"tr"}), False), "tbody": (frozenset({"tr"}), False),
    "tr": (frozenset({"td", "th"}), False),
    "br": (frozenset(), False), "img": (frozenset(), False), "hr": (frozenset(), False),
}
MAX_SETTLED_DEPTH = 64  # far below where libxml2 stops nesting (html5ever has no limit)
BOM = "\ufeff"  # html5ever drops it at the start of its input
# What libxml2 writes into an href/src as it is (it escapes spaces, for one).
PLAIN_URL_RE = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
SENTENCE_ENDS = "。！？；"
CLOSERS = "”’」』）》】\"')"

# The last `clean_html` result that `_settled` vouched for, with its tree (what parsing it gives),
# or once `html_to_text` has read that, its text: the summary is made from the HTML just cleaned.
_last_cleaned: tuple[str, lxml_html.HtmlElement | str] = ("", "")


def strip_control_chars(text: str) -> str:
    """`text` without the characters XML 1.0 forbids (and the C1 controls it discourages)."""
    return CONTROL_RE.sub("", text)


def _forbidden_reference(match: re.Match[str]) -> str:
    code = int(match[1], 16) if match[1] else int(match[2])
    return "" if code <= 0x10FFFF and XML_FORBIDDEN_RE.match(chr(code)) else match[0]


def _prepare(html: str) -> str:
    """`html` without control characters and references to XML-forbidden ones (`&#1;`).

    lxml refuses to hold those (and leaves the C1 ones to the parser, which reads `&#150;` as
    the en dash HTML says it is).
    """
    html = strip_control_chars(html)
    return CHAR_REFERENCE_RE.sub(_forbidden_reference, html) if "&#" in html else html


def _fragment(html: str) -> lxml_html.HtmlElement:
    """The fragment under a bare `<div>` (a whole document gives its body's content).

    As `lxml.html.fragment_fromstring(html, create_parent="div")` reads it, with `PARSER`.
    """
    elements = lxml_html.fragments_fromstring(html, parser=PARSER)
    root = PARSER.makeelement("div")
    if elements and isinstance(elements[0], str):
        root.text = elements.pop(0)
    root.extend(elements)
    return root


def _parse(html: str) -> lxml_html.HtmlElement:
    """`html` as a fragment under a bare `<div>`, made fit for lxml first."""
    return _fragment(_prepare(html))


def _inner_html(root: lxml_html.HtmlElement) -> str:
    serialized = etree.tostring(root, method="html", encoding="unicode")
    return serialized[len("<div>"):-len("</div>")]


def _remove(element: lxml_html.HtmlElement) -> None:
    """Drop an element and everything in it, keeping the text that follows it."""
    if element.getparent() is not None:
        element.drop_tree()


def _text(element: lxml_html.HtmlElement) -> str:
    return " ".join(element.text_content().split())


def _strip_controls(root: lxml_html.HtmlElement) -> None:
    """Control characters that character references put back out of text and attributes.

    Only references put them back (no named one stands for one): `_prepare` took the others.
    An attribute is set only when it changes: libxml2 keeps names (`{"a":`) lxml cannot set.
    """
    for node in root.iter():
        if node.text:
            node.text = strip_control_chars(node.text)
        if node.tail:
            node.tail = strip_control_chars(node.tail)
        if isinstance(node.tag, str):
            for name, value in node.attrib.items():
                if CONTROL_RE.search(value):
                    node.set(name, strip_control_chars(value))


def _drop_stock_chart(comments: list[lxml_html.HtmlComment | lxml_html.HtmlProcessingInstruction]) -> None:
    """Everything between a `<!-- EM_StockImg_Start -->` in `comments` and its sibling `…_End -->`."""
    for start in comments:
        if start.tag is not etree.Comment or STOCK_CHART_START not in (start.text or ""):
            continue
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


def _is_boilerplate_paragraph(element: lxml_html.HtmlElement) -> bool:
    """An editor line or the disclaimer."""
    text = _text(element)
    return bool(EDITOR_RE.match(text) or DISCLAIMER_RE.match(text) or DISCLAIMER_TEXT in text)


def _drop_boilerplate(root: lxml_html.HtmlElement, html: str) -> None:
    """The removals and unwrappings; `html` is what `root` was parsed from.

    Whether an element goes depends on it alone, and what stays is the same whatever the order
    of the removals: they are all found first, then made. A comment holds its text as `html` has
    it, and a paragraph's text is there too unless a character reference wrote it: without a
    stock chart marker or a character of the editor line's and disclaimer's marks in `html`,
    there is nothing to look for.
    """
    comments = COMMENTS(root)
    if STOCK_CHART_START in html:
        _drop_stock_chart(comments)
    doomed = [*comments, *REMOVED(root)]
    doomed += [element for element in STYLED(root) if HIDDEN_STYLE_RE.search(element.get("style", ""))]
    doomed += [element for element in LINKED(root) if _host(element.get("href")) in AD_HOSTS]
    for element in doomed:
        _remove(element)
    if "&#" in html or any(mark in html for mark in BOILERPLATE_MARKS):
        for element in MARKED_PARAGRAPHS(root):
            if _is_boilerplate_paragraph(element):
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
    for element in URL_HOLDERS(root):
        for name in ("href", "src"):
            value = element.get(name)
            if value is None:
                continue
            url = _absolute_url(value, base_url)
            if url is None:
                del element.attrib[name]
            else:
                element.set(name, url)
    for element in UNLINKED(root):
        if element.tag == "a":
            element.drop_tag()
        else:
            _remove(element)


def _drop_indentation(root: lxml_html.HtmlElement, html: str) -> None:
    """`　　` out everywhere, and the leading blanks of each paragraph; CR as LF.

    `html` is what `root` was parsed from: without `　　`, CR or a character reference there (no
    named one stands for them), no text has them.
    """
    if INDENT in html or "\r" in html or "&#" in html:
        for node in root.iter():
            text, tail = node.text, node.tail
            if text and (INDENT in text or "\r" in text):
                node.text = text.replace("\r\n", "\n").replace("\r", "\n").replace(INDENT, "")
            if tail and (INDENT in tail or "\r" in tail):
                node.tail = tail.replace("\r\n", "\n").replace("\r", "\n").replace(INDENT, "")
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
        if (element.text and element.text.strip()) or element.text_content().strip() or HAS_CONTENT(element):
            continue
        if element.tag != "p" and HAS_BREAK(element):
            continue
        _remove(element)


def _drop_blank_tails(root: lxml_html.HtmlElement) -> None:
    """The whitespace between blocks (the page's line breaks) out: it renders as nothing."""
    for element in root.iter(*BLANK_TAIL_TAGS):
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


def _clean_once(html: str, base_url: str) -> tuple[str, lxml_html.HtmlElement | None]:
    """One round of the passes: the cleaned HTML, and the tree it was serialized from."""
    html = _prepare(html)
    root = _fragment(html)
    if "&#" in html:
        _strip_controls(root)
    _drop_boilerplate(root, html)
    _absolutize(root, base_url)
    sanitized = SANITIZER.clean(_inner_html(root))
    if not sanitized.strip():
        return "", None
    sanitized = _prepare(sanitized)
    root = _fragment(sanitized)
    _drop_indentation(root, sanitized)
    _prune_empty(root)
    _drop_blank_tails(root)
    _fix_images(root)
    return _inner_html(root).strip(), root


def _nests_plainly(element: lxml_html.HtmlElement, in_link: bool = False, depth: int = 0) -> bool:
    """Whether libxml2 and html5ever both read the element's serialization back as this very tree."""
    children, takes_text = NESTING[element.tag]
    if not takes_text and element.text:
        return False
    if element.tag == "pre" and (element.text or "").startswith("\n"):
        return False  # html5ever drops that line break, libxml2 keeps it
    in_link = in_link or element.tag == "a"
    for child in element:
        tag = child.tag
        if tag not in children or (in_link and tag == "a") or (not takes_text and child.tail):
            return False
        if depth >= MAX_SETTLED_DEPTH or not _nests_plainly(child, in_link, depth + 1):
            return False
    return True


def _leading_blanks_settled(element: lxml_html.HtmlElement) -> bool | None:
    """Whether `_strip_leading_blanks` leaves the element as it is; None while it would go on."""
    if element.tag in LEADING_STOPS:
        return True
    if element.text:
        return not LEADING_SPACE_RE.match(element.text)
    for child in element:
        settled = _leading_blanks_settled(child)
        if settled is not None:
            return settled
        if child.tail:
            return not LEADING_SPACE_RE.match(child.tail)
    return None


def _settled(root: lxml_html.HtmlElement, cleaned: str, base_url: str) -> bool:
    """Whether cleaning `cleaned` (serialized from `root`) again gives it back as it is.

    A conservative check, no parsing: both parsers read `cleaned` back as `root` (plain nesting,
    no leading BOM, no `　　`, CR or character reference to mend), and no pass would change `root`
    again (nothing left to remove or unwrap, no paragraph blank to strip, every URL final).
    """
    if cleaned.startswith(BOM) or INDENT in cleaned or "\r" in cleaned or "&#" in cleaned:
        return False
    if not _nests_plainly(root):
        return False
    if any(_leading_blanks_settled(paragraph) is False for paragraph in root.iter("p")):
        return False
    if any(mark in cleaned for mark in BOILERPLATE_MARKS):
        if any(map(_is_boilerplate_paragraph, MARKED_PARAGRAPHS(root))):
            return False
    for element in root.iter("a", "img"):
        name = "href" if element.tag == "a" else "src"
        url = element.get(name)
        if url is None or not PLAIN_URL_RE.fullmatch(url) or _absolute_url(url, base_url) != url:
            return False
        if name == "href" and _host(url) in AD_HOSTS:
            return False
    return True


def clean_html(html: str, base_url: str) -> str:
    """Boilerplate removed, stock links as text, URLs absolute, sanitized by nh3's allow-list.

    The passes repeat until the result stays the same, so that cleaning is idempotent: libxml2
    and html5ever mend bad nesting differently (`<h1><font><h1>`), and what one leaves, the other
    may mend again. A repeat runs only when `_settled` cannot show that it would change nothing
    (article HTML: it can).
    """
    global _last_cleaned
    if not html or not html.strip():
        return ""
    cleaned, root = _clean_once(html, base_url)
    if root is None:
        return cleaned
    if _settled(root, cleaned, base_url):
        _last_cleaned = (cleaned, root)
        return cleaned
    for _ in range(MAX_ROUNDS - 1):
        again, _ = _clean_once(cleaned, base_url)
        if again == cleaned:
            break
        cleaned = again
    return cleaned


def html_to_text(html: str) -> str:
    """The whitespace-normalized plain text of an HTML fragment (blocks and `<br>` as spaces)."""
    global _last_cleaned
    if not html or not html.strip():
        return ""
    cleaned, tree_or_text = _last_cleaned
    if html != cleaned:
        return _spaced_text(_parse(html))
    if isinstance(tree_or_text, str):
        return tree_or_text
    text = _spaced_text(tree_or_text)
    _last_cleaned = (cleaned, text)
    return text


def _spaced_text(root: lxml_html.HtmlElement) -> str:
    """`html_to_text` of the tree (which it changes)."""
    for element in list(root.iter("script", "style")):
        _remove(element)
    for element in root.iter(*BLOCK_TAGS):
        element.text = " " + (element.text or "")
        element.tail = " " + (element.tail or "")
    return " ".join(root.text_content().split())


TEXT_ROUNDS = 8
"""Markup and references a plain-text field may nest (`&amp;lt;b&amp;gt;` is two) before it is refused."""


def plain_text(text: str) -> str:
    """A field that is text at every source (a title, a media name): markup, comments and character
    references out until parsing the text as HTML finds none, whitespace collapsed.

    Raises ValueError when markup is still there after `TEXT_ROUNDS` rounds.
    """
    text = " ".join(strip_control_chars(text or "").split())
    for _ in range(TEXT_ROUNDS):
        if "<" not in text and "&" not in text:
            return text
        plain = html_to_text(text)
        if plain == text:
            return text
        text = plain
    raise ValueError(f"markup nested more than {TEXT_ROUNDS} deep in {text[:80]!r}")


def clean_media(media: str | None) -> str | None:
    """A media name as plain text (None when nothing is left, or markup nests too deep to trust it)."""
    try:
        return plain_text(media or "") or None
    except ValueError:
        return None


def strip_bracket_title(digest: str, title: str = "") -> str:
    """`【title】digest` → `digest` (the lists repeat the title in front); else without any leading `【…】`."""
    digest = digest.strip()
    if title and digest.startswith(f"【{title}】"):
        return digest[len(title) + 2:].strip()
    if digest.startswith("【") and "】" in digest:
        return digest[digest.index("】") + 1:].strip()
    return digest


def _digest_text(digest: str, title: str) -> str:
    """The digest, whitespace collapsed, without its leading `【title】` (or any leading `【…】`)."""
    return strip_bracket_title(" ".join(strip_control_chars(digest or "").split()),
                               " ".join(strip_control_chars(title or "").split()))


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


SOURCE_TAGS = ALLOWED_TAGS | {"center", "div", "font"}
SOURCE_ATTRIBUTES = {"*": {"id", "class", "style", "title", "align", "width", "height", "border", "alt", "type",
                           "target", "href", "src", "web", "nid", "imagetype", "token", "at"}}


SOURCE_STYLES = {"display", "height", "width", "max-width", "overflow", "text-align", "text-indent", "margin",
                 "padding", "font-size", "font-weight", "color", "vertical-align", "line-height", "float", "border"}
"""CSS properties kept in a source's `style` attributes (nh3 drops the others, `url(…)` values with them)."""


def _canonical(html: str) -> bytes:
    """`html` as lxml serializes it, `style` values without their trailing `;` (as nh3 writes them)."""
    root = _parse(html)
    for element in STYLED(root):
        element.set("style", element.get("style", "").strip().rstrip(";").strip())
    return etree.tostring(root, method="html", encoding="utf-8")


def source_html_or_clean(html: str, base_url: str) -> str:
    """The source's own HTML when nh3 (with the source's harmless tags and attributes allowed) would
    keep every element and attribute of it; else the cleaned HTML (for outputs that must keep the
    source's bytes when they are safe, as the Jekyll posts)."""
    if not html:
        return html
    sanitized = nh3.clean(html, tags=SOURCE_TAGS, attributes=SOURCE_ATTRIBUTES, strip_comments=False,
                          link_rel=None, url_schemes={"http", "https"}, generic_attribute_prefixes={"data-"},
                          filter_style_properties=SOURCE_STYLES)
    return html if _canonical(sanitized) == _canonical(html) else clean_html(html, base_url)
