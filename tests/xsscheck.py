"""Finding active content in finews's outputs by parsing them (as a browser or a reader would), not by substrings."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from lxml import html as lxml_html

ACTIVE_TAGS = {
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "form", "input", "button",
    "textarea", "select", "noscript", "template", "svg", "math", "meta", "link", "style", "title", "xmp",
    "plaintext", "noembed", "noframes", "isindex", "keygen", "video", "audio", "source", "track", "marquee",
}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "background", "poster", "srcset", "data", "codebase",
                  "cite", "longdesc", "lowsrc", "dynsrc", "xlink:href", "ping", "manifest"}
ACTIVE_ATTRIBUTES = {"srcdoc", "formaction"}
ACTIVE_CSS = re.compile(r"url\s*\(|expression|javascript|vbscript|behavior|binding|@import", re.IGNORECASE)
"""What makes a `style` value load or run something (layout properties alone do not)."""
BLANKS = re.compile(r"[\x00-\x20\x7f-\x9f]+")


def unsafe_url(value: str) -> bool:
    """A URL a browser would run or embed as something other than an http(s) or relative link."""
    scheme = urlsplit(BLANKS.sub("", value)).scheme.lower()
    return scheme not in ("", "http", "https")


def element_survivors(root: lxml_html.HtmlElement, allowed: frozenset[str] = frozenset()) -> list[str]:
    """Active elements, event handlers and script URLs under `root` (`allowed`: tags the page itself uses)."""
    found = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        if tag in ACTIVE_TAGS and tag not in allowed:
            found.append(f"<{tag}>")
        for name, value in element.attrib.items():
            name = name.lower()
            if name.startswith("on") or name in ACTIVE_ATTRIBUTES or name == "style" and ACTIVE_CSS.search(value):
                found.append(f"<{tag} {name}=…>")
            elif name in URL_ATTRIBUTES and unsafe_url(value):
                found.append(f"<{tag} {name}={value[:40]!r}>")
    return found


def html_survivors(fragment: str) -> list[str]:
    """What survives in an HTML fragment (a feed's content, a post's body)."""
    if not fragment.strip():
        return []
    return element_survivors(lxml_html.fragment_fromstring(fragment, create_parent="div"))


def text_survivors(text: str) -> list[str]:
    """A field that must be plain text (a title): any element or comment an HTML parser finds in it."""
    if not text.strip():
        return []
    root = lxml_html.fragment_fromstring(text, create_parent="div")
    return [f"markup {element.tag!r} in text {text[:60]!r}" for element in root.iterdescendants()]


def page_survivors(page: bytes) -> list[str]:
    """What survives in a whole page (the index): its head may have its own meta, link and style."""
    root = lxml_html.document_fromstring(page)
    found = []
    for head in root.iter("head"):
        found += element_survivors(head, frozenset({"meta", "link", "style", "title"}))
        found += [f"<meta http-equiv={meta.get('http-equiv')!r}>" for meta in head.iter("meta")
                  if meta.get("http-equiv")]
    for body in root.iter("body"):
        found += element_survivors(body)
    return found
