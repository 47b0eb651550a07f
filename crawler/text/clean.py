"""Article HTML made clean and safe for feeds: eastmoney boilerplate out, nh3 allow-list, absolute URLs."""

from __future__ import annotations

import re

import nh3
from lxml import html as lxml_html

XML_FORBIDDEN_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
STOCK_IMG_RE = re.compile(r"<!--\s*EM_StockImg_Start\s*-->.*?<!--\s*EM_StockImg_End\s*-->", re.DOTALL)
HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
INDENT_RE = re.compile("^[\u3000\\s]+")
SENTENCE_END = "。！？；!?;"

ALLOWED_TAGS = {
    "p", "br", "strong", "b", "em", "i", "u", "a", "img", "h1", "h2", "h3", "h4", "h5", "h6",
    "ul", "ol", "li", "blockquote", "table", "thead", "tbody", "tr", "th", "td", "figure",
    "figcaption", "sub", "sup", "pre", "code", "hr",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
IMG_VALUES = {"referrerpolicy": "no-referrer", "loading": "lazy"}

REMOVE_XPATH = " | ".join([
    "//script", "//style", "//noscript", "//iframe", "//form",
    "//*[@hidden]",
    "//div[contains(concat(' ', normalize-space(@class), ' '), ' ad_context3 ')]",
    "//a[contains(concat(' ', normalize-space(@class), ' '), ' toplink ')]",
    "//a[contains(@href, 'acttg.eastmoney.com')]",
    "//img[contains(concat(' ', normalize-space(@class), ' '), ' em_handle_adv_close ')]",
    "//p[contains(concat(' ', normalize-space(@class), ' '), ' res-edit ')]",
])
UNWRAP_XPATH = " | ".join([
    "//a[contains(concat(' ', normalize-space(@class), ' '), ' keytip ')]",
    "//a[contains(concat(' ', normalize-space(@class), ' '), ' infokey ')]",
    "//span[starts-with(@id, 'stock_')]", "//span[starts-with(@id, 'bk_')]",
    "//span[starts-with(@id, 'bkquote_')]", "//span[starts-with(@id, 'Info.')]",
])
BOILERPLATE_PREFIXES = ("（责任编辑", "(责任编辑", "责任编辑：", "郑重声明：", "郑重声明:")
DISCLAIMER = "东方财富发布此内容旨在传播更多信息"


def strip_control_chars(text: str) -> str:
    """Drop the characters XML 1.0 forbids or discourages (C0/C1 controls but tab/LF/CR, U+FFFE/FFFF, surrogates)."""
    return XML_FORBIDDEN_RE.sub("", text)


def html_to_text(html: str) -> str:
    """The whitespace-normalized plain text of an HTML fragment."""
    if not html.strip():
        return ""
    root = lxml_html.fragment_fromstring(strip_control_chars(html), create_parent="div")
    return " ".join(root.text_content().split())


def _strip_boilerplate(root: lxml_html.HtmlElement) -> None:
    for element in root.xpath(REMOVE_XPATH):
        if element.getparent() is not None:
            element.drop_tree()
    for element in root.xpath("//*[@style]"):
        if HIDDEN_STYLE_RE.search(element.get("style", "")) and element.getparent() is not None:
            element.drop_tree()
    for element in root.xpath("//p"):
        text = " ".join(element.text_content().split())
        if text.startswith(BOILERPLATE_PREFIXES) or DISCLAIMER in text:
            element.drop_tree()
    for element in reversed(root.xpath(UNWRAP_XPATH)):
        element.drop_tag()
    for comment in root.xpath("//comment()"):
        if comment.getparent() is not None:
            comment.drop_tree()


def _remove_indentation(root: lxml_html.HtmlElement) -> None:
    for element in root.iter():
        if isinstance(element.tag, str):
            if element.text:
                text = strip_control_chars(element.text).replace("\u3000\u3000", "")
                element.text = INDENT_RE.sub("", text) if element.tag == "p" else text
            if element.tail:
                element.tail = strip_control_chars(element.tail).replace("\u3000\u3000", "")


def clean_html(html: str, base_url: str) -> str:
    """Boilerplate removed, stock links as text, URLs absolute, then sanitized by nh3's allow-list."""
    html = strip_control_chars(html or "")
    if not html.strip():
        return ""
    html = STOCK_IMG_RE.sub("", html)
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    _strip_boilerplate(root)
    _remove_indentation(root)
    if base_url:
        root.make_links_absolute(base_url, resolve_base_href=False, handle_failures="discard")
    for image in root.iter("img"):
        # Set here, not by nh3, whose attribute order would change from run to run.
        for name, value in IMG_VALUES.items():
            image.set(name, value)
    inner = (root.text or "") + "".join(
        lxml_html.tostring(child, encoding="unicode") for child in root)
    cleaned = nh3.clean(
        inner,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        tag_attribute_values={"img": {name: {value} for name, value in IMG_VALUES.items()}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    cleaned = re.sub(r"<p>\s*</p>", "", cleaned).strip()
    return strip_control_chars(cleaned)


def make_summary(digest: str, html: str, title: str = "", limit: int = 200) -> str:
    """The plain-text summary: the digest (without a leading `【…】`), else the start of the text."""
    digest = " ".join(strip_control_chars(digest or "").split())
    if digest.startswith("【") and "】" in digest:
        digest = digest[digest.index("】") + 1:].strip()
    if digest:
        return digest
    text = html_to_text(html)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(mark) for mark in SENTENCE_END)
    if end >= int(limit * 0.6):
        return cut[:end + 1]
    return cut.rstrip() + "…"
