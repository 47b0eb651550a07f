"""The sample site over real HTTP: every endpoint shape, the article templates, every fault."""

from __future__ import annotations

import http.client
import json
import math
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import lxml.html
import pytest

from crawler.config import parse_config
from crawler.samplesite import FAULTS, SampleSite, load_bundled, synthetic
from crawler.samplesite.data import media_names, media_slug
from crawler.samplesite.pages import BLOCK_PAGE, SCRIPT_SNIPPET, page_time

ROOT = Path(__file__).resolve().parent.parent
TWO_LISTS = "202201072239307540"  # rolling news + market list, different html
PATHS = {
    "records": "/web/webapi?type=102",
    "nodeList": "/web/webapi?type=45",
    "record": "/web/webapi?marketType=37",
    "column": "/api/getNewsByColumns?column=350&page_index=1&page_size=20",
    "fastnews": "/comm/web/getFastNewsList?client=web&biz=web_724&fastColumn=102&sortEnd=&pageSize=50&req_trace=1",
}
LIST_ROUTES = tuple(PATHS)
SAMPLES = load_bundled()
BY_LIST = {(a.article_id, a.list): a for a in SAMPLES}
DISTINCT = sorted({a.article_id: a for a in SAMPLES}.values(), key=lambda a: (a.time, a.article_id), reverse=True)


def get(url: str, data: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request; the status, headers and body whatever the status."""
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(url: str):
    status, _, body = get(url)
    assert status == 200, body[:200]
    return json.loads(body)


def rows_of(route: str, payload: dict) -> list[dict]:
    if route == "column":
        return payload["data"]["list"]
    if route == "fastnews":
        return payload["data"]["fastNewsList"]
    return payload[route]


def content_of(article_id: str) -> str:
    """The html the article page and `content` serve: the rolling record's when there is one."""
    record = BY_LIST.get((article_id, "records")) or next(a for a in SAMPLES if a.article_id == article_id)
    return record.html


def normalized(root: lxml.html.HtmlElement) -> str:
    """An article body with the page boilerplate removed and stock links turned into text."""
    for xpath in (".//p[contains(translate(@style, ' ', ''), 'display:none')]",
                  ".//a[contains(@class, 'toplink')]", ".//div[contains(@class, 'ad_context3')]",
                  ".//p[a[contains(@href, 'acttg.eastmoney.com')]]", ".//p[contains(@class, 'res-edit')]",
                  ".//p[starts-with(normalize-space(.), '（责任编辑')]",
                  ".//p[starts-with(normalize-space(.), '郑重声明')]"):
        for element in root.xpath(xpath):
            element.drop_tree()
    for span in root.xpath(".//span[starts-with(@id, 'stock_')]"):
        for link in span.xpath("./a"):
            link.drop_tag()
        span.drop_tag()
    for element in root.iter():
        if isinstance(element.tag, str):
            element.text = element.text.replace("\u3000\u3000", "") if element.text else element.text
        element.tail = element.tail.replace("\u3000\u3000", "") if element.tail else element.tail
    parts = [(root.text or "").strip()]
    for child in root:
        tail, child.tail = child.tail, None
        parts += [lxml.html.tostring(child, encoding="unicode"), (tail or "").strip()]
    return "".join(parts)


def normalized_fragment(html: str) -> str:
    return normalized(lxml.html.fragment_fromstring(html, create_parent="div"))


def page_doc(body: bytes, encoding: str = "utf-8") -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(body.decode(encoding))


@pytest.fixture(scope="module")
def site():
    with SampleSite() as running:
        yield running


@pytest.fixture
def fresh(site):
    """The shared site with no faults and zeroed counts."""
    site.clear_faults()
    site.reset_counts()
    yield site
    site.clear_faults()


@pytest.fixture
def own_site():
    """A private site for tests that edit the served data."""
    with SampleSite() as running:
        yield running


# -- data ---------------------------------------------------------------------------------------

def test_bundled_samples_keep_each_article_and_list_once():
    keys = [(a.article_id, a.list) for a in SAMPLES]
    lines = (ROOT / "crawler/samplesite/data/articles.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(keys) == len(set(keys)) == len({(json.loads(l)["article_id"], json.loads(l)["list"]) for l in lines})
    assert len(keys) < len(lines)


def test_synthetic_set_has_unique_dated_ids_and_the_asked_media():
    articles = synthetic(2000, 20)
    assert len(articles) == 2000
    assert len({a.article_id for a in articles}) == 2000
    assert len({a.title for a in articles}) == 2000
    assert all(re.fullmatch(r"\d{18}", a.article_id) for a in articles)
    assert all(a.article_id[:8] == a.time[:10].replace("-", "") for a in articles)
    assert all(a.info_code == "NW" + a.article_id and a.list == "nodeList" for a in articles)
    assert len({a.media for a in articles}) == 20
    assert len({a.category for a in articles}) == 20
    assert all(a.category == media_slug(a.media) for a in articles)
    assert len({a.time[:10] for a in articles}) >= 3


def test_numbered_media_names_keep_slugs_unique():
    names = media_names(100)
    assert len(set(names)) == 100
    assert len({media_slug(n) for n in names}) == 100
    assert all(re.fullmatch(r"[a-z0-9-]+", media_slug(n)) for n in names)
    assert media_slug("上海证券报") == "shanghaizhengquanbao"


# -- Choice lists and text ----------------------------------------------------------------------

def test_rolling_list_follows_the_records_mapping_newest_first(fresh):
    rows = get_json(fresh.url(PATHS["records"]))["records"]
    expected = sorted((a for a in SAMPLES if a.list == "records"), key=lambda a: (a.time, a.article_id), reverse=True)
    assert [r["id"] for r in rows] == [a.article_id for a in expected]
    for row, a in zip(rows, expected):
        assert row == {"id": a.article_id, "infoCode": a.info_code, "title": a.title,
                       "digest": "【" + a.title + "】" + a.digest, "url_w": a.url_w, "showtime": a.time}
    assert len(get_json(fresh.url(PATHS["records"] + "&count=3"))["records"]) == 3


def test_media_list_follows_the_nodelist_mapping(fresh):
    rows = get_json(fresh.url(PATHS["nodeList"]))["nodeList"]
    expected = [a for a in SAMPLES if a.list == "nodeList"]
    assert sorted(r["infocode"] for r in rows) == sorted(a.info_code for a in expected)
    for row in rows:
        a = BY_LIST[(row["infocode"][2:], "nodeList")]
        assert (row["title"], row["showtime"], row["from"], row["simtitle"]) == (a.title, a.time, a.media, a.title)
        assert row["simdigest"].startswith("【" + a.title + "】")
    assert [r["showtime"] for r in rows] == sorted((r["showtime"] for r in rows), reverse=True)


def test_market_list_follows_the_record_mapping(fresh):
    rows = get_json(fresh.url(PATHS["record"]))["record"]
    a = BY_LIST[(TWO_LISTS, "record")]
    assert rows == [{"infoCode": a.info_code, "title": a.title, "datetime": a.time, "medianame": a.media}]


def test_text_of_an_article_in_two_lists_gives_both_htmls(fresh):
    payload = get_json(fresh.url(f"/NewsData/GetNewsText.do?id=NW{TWO_LISTS}"))
    assert payload["content"] == BY_LIST[(TWO_LISTS, "records")].html
    assert payload["text"] == BY_LIST[(TWO_LISTS, "record")].html
    assert payload["content"] != payload["text"]


def test_text_of_a_single_list_article_repeats_its_html(fresh):
    a = BY_LIST[("202112212221504115", "nodeList")]
    assert get_json(fresh.url(f"/NewsData/GetNewsText.do?id={a.info_code}")) == {"content": a.html, "text": a.html}


def test_text_of_an_unknown_id_is_a_json_404(fresh):
    status, headers, body = get(fresh.url("/NewsData/GetNewsText.do?id=NW209901019999999999"))
    assert status == 404 and "json" in headers["Content-Type"]
    assert json.loads(body)["error"]


def test_share_page_shows_title_and_html(fresh):
    a = BY_LIST[("202112212221504115", "nodeList")]
    status, _, body = get(fresh.url(f"/html_News/NewsShare.html?infoCode={a.info_code}"))
    assert status == 200
    text = body.decode("utf-8")
    assert a.title in text and a.html in text


# -- eastmoney column list ----------------------------------------------------------------------

def test_column_list_pages_through_every_article_newest_first(fresh):
    seen = []
    page = 1
    while True:
        payload = get_json(fresh.url(f"/api/getNewsByColumns?column=350&page_index={page}&page_size=7"))
        assert payload["code"] == "1"
        if payload["data"] is None:
            break
        assert payload["data"]["page_index"] == page and payload["data"]["total_hits"] == len(DISTINCT)
        seen += payload["data"]["list"]
        page += 1
    assert page == math.ceil(len(DISTINCT) / 7) + 1
    assert [r["code"] for r in seen] == [a.article_id for a in DISTINCT]
    for row, a in zip(seen, DISTINCT):
        assert set(row) == {"code", "title", "summary", "showTime", "mediaName", "url", "uniqueUrl", "image"}
        assert (row["title"], row["showTime"]) == (a.title, a.time)
        assert row["mediaName"] == (a.media or next((s.media for s in SAMPLES if s.article_id == a.article_id
                                                     and s.media), None) or "东方财富网")
        assert row["url"] == fresh.url(f"/a/{a.article_id}.html")


def test_column_list_default_page_size_is_20(fresh):
    assert len(get_json(fresh.url("/api/getNewsByColumns?column=350&page_index=1"))["data"]["list"]) == 20


def test_column_list_answers_jsonp_when_asked_for_a_callback(fresh):
    status, headers, body = get(fresh.url(PATHS["column"] + "&callback=jQuery123_456"))
    text = body.decode("utf-8")
    assert status == 200 and "javascript" in headers["Content-Type"]
    assert text.startswith("jQuery123_456(") and text.endswith(")")
    assert json.loads(text[len("jQuery123_456("):-1]) == get_json(fresh.url(PATHS["column"]))


# -- article pages ------------------------------------------------------------------------------

def test_article_pages_use_both_templates_with_their_fields(fresh):
    templates = Counter(fresh.template_of(a.article_id) for a in DISTINCT)
    assert set(templates) == {"current", "old"}
    for a in DISTINCT:
        status, headers, body = get(fresh.url(f"/a/{a.article_id}.html"))
        assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
        assert b'<meta charset="utf-8">' in body
        doc = page_doc(body)
        media = next((s.media for s in SAMPLES if s.article_id == a.article_id and s.media), None) or "东方财富网"
        digest = BY_LIST.get((a.article_id, "records"), a).digest
        if fresh.template_of(a.article_id) == "current":
            assert doc.xpath("string(//div[@class='contentwrap']//div[@class='title'])") == a.title
            items = doc.xpath("//div[@class='tipbox']//div[@class='infos']/div[@class='item']")
            assert items[0].text_content() == page_time(a.time)
            assert items[1].text_content() == "来源：" + media
            assert doc.xpath("string(//div[@class='abstract']/div[@class='txt'])") == digest
            assert doc.get_element_by_id("ContentBody").get("class") == "txtinfos"
        else:
            assert doc.xpath("string(//div[@class='newsContent']/h1)") == a.title
            assert doc.xpath("string(//div[@class='time'])") == page_time(a.time)
            assert doc.xpath("//div[contains(@class, 'source')]/@data-source") == [media]
            assert doc.xpath("string(//div[@class='b-review'])") == digest
            assert doc.get_element_by_id("ContentBody").get("class") == "Body"


def test_article_pages_carry_the_eastmoney_boilerplate(fresh):
    for a in DISTINCT[:4]:
        body = get(fresh.url(f"/a/{a.article_id}.html"))[2].decode("utf-8")
        content_body = lxml.html.tostring(page_doc(body.encode()).get_element_by_id("ContentBody"), encoding="unicode")
        assert re.search(r'<div id="ContentBody" class="\w+">\s*<p style="display:none;">', body)
        for piece in ('class="toplink"', 'class="ad_context3"><script', "acttg.eastmoney.com",
                      'class="em_handle_adv_close"', 'class="keytip" href="http://quote.eastmoney.com/',
                      '<span id="stock_', "\u3000\u3000"):
            assert piece in content_body, piece
        editor = "<p>（责任编辑：张三）</p>" if fresh.template_of(a.article_id) == "current" else 'class="res-edit"'
        last = get(fresh.url(f"/a/{a.article_id}_{fresh.page_count(a.article_id)}.html"
                             if fresh.page_count(a.article_id) > 1 else f"/a/{a.article_id}.html"))[2]
        last_body = lxml.html.tostring(page_doc(last).get_element_by_id("ContentBody"), encoding="unicode")
        assert editor in last_body and "<p>郑重声明：" in last_body
        outside = body.replace(content_body, "")
        assert 'class="topnav"' in outside and 'class="footer"' in outside and "<script" in outside


def test_an_article_with_a_known_stock_name_links_that_name(fresh):
    body = get(fresh.url("/a/202112082206736335.html"))[2].decode("utf-8")
    assert ('<span id="stock_1.600519"><a class="keytip" href="http://quote.eastmoney.com/sh600519.html">'
            "贵州茅台</a></span>") in body


def test_article_text_is_recoverable_exactly_from_every_page(fresh):
    for a in DISTINCT:
        if fresh.page_count(a.article_id) > 1:
            continue
        doc = page_doc(get(fresh.url(f"/a/{a.article_id}.html"))[2])
        assert normalized(doc.get_element_by_id("ContentBody")) == normalized_fragment(content_of(a.article_id))


def test_longest_article_is_split_over_three_linked_pages(fresh):
    article_id = fresh.paged_article_id
    assert article_id == max(DISTINCT, key=lambda a: len(content_of(a.article_id))).article_id
    assert fresh.page_count(article_id) == 3
    names = [f"{article_id}.html", f"{article_id}_2.html", f"{article_id}_3.html"]
    bodies = []
    for name in names:
        status, _, body = get(fresh.url("/a/" + name))
        assert status == 200
        doc = page_doc(body)
        links = set(doc.xpath("//a/@href"))
        assert {n for n in names if n != name} <= links
        bodies.append(normalized(doc.get_element_by_id("ContentBody")))
    assert all(bodies)
    assert "".join(bodies) == normalized_fragment(content_of(article_id))
    assert get(fresh.url(f"/a/{article_id}_4.html"))[0] == 404
    assert fresh.count("article") == 4


def test_unknown_article_page_is_404(fresh):
    assert get(fresh.url("/a/209901019999999999.html"))[0] == 404


# -- fast news ----------------------------------------------------------------------------------

def test_fastnews_answers_null_data_without_sortend_or_req_trace(fresh):
    base = "/comm/web/getFastNewsList?client=web&biz=web_724&fastColumn=102&pageSize=5"
    assert get_json(fresh.url(base + "&req_trace=1"))["data"] is None
    assert get_json(fresh.url(base + "&sortEnd="))["data"] is None
    assert get_json(fresh.url(base + "&sortEnd=&req_trace=1"))["data"]["fastNewsList"]


def test_fastnews_pages_by_sortend_through_every_article(fresh):
    base = "/comm/web/getFastNewsList?client=web&biz=web_724&fastColumn=102&pageSize=5&req_trace=17"
    seen, cursor, pages = [], "", 0
    while True:
        payload = get_json(fresh.url(f"{base}&sortEnd={cursor}"))
        assert payload["req_trace"] == "17" and payload["code"] == "1"
        rows = payload["data"]["fastNewsList"]
        if not rows:
            break
        assert payload["data"]["sortEnd"] == rows[-1]["realSort"]
        seen += rows
        cursor = payload["data"]["sortEnd"]
        pages += 1
    assert pages == math.ceil(len(DISTINCT) / 5)
    assert sorted(r["code"] for r in seen) == sorted(a.article_id for a in DISTINCT)
    sorts = [int(r["realSort"]) for r in seen]
    assert sorts == sorted(sorts, reverse=True) and len(set(sorts)) == len(sorts)
    for row in seen:
        a = next(x for x in DISTINCT if x.article_id == row["code"])
        assert row["summary"].startswith("【" + a.title + "】") and len(row["summary"]) > len(a.title) + 2
        assert set(row) == {"code", "title", "summary", "showTime", "realSort", "stockList", "image"}


# -- routes and counting ------------------------------------------------------------------------

def test_robots_and_unknown_paths_are_404_and_counted(fresh):
    assert get(fresh.url("/robots.txt"))[0] == 404
    assert get(fresh.url("/nothing/here"))[0] == 404
    assert fresh.count("robots") == 1 and fresh.count("other") == 1


def test_counts_and_hits_record_each_request(fresh):
    get(fresh.url(PATHS["records"]))
    get(fresh.url(PATHS["records"]))
    get(fresh.url(f"/a/{DISTINCT[0].article_id}.html"))
    assert fresh.counts() == {"records": 2, "article": 1}
    assert [(h.route, h.status) for h in fresh.hits] == [("records", 200), ("records", 200), ("article", 200)]
    assert fresh.hits[0].path == PATHS["records"]
    fresh.reset_counts()
    assert fresh.counts() == {} and fresh.hits == [] and fresh.count("records") == 0


def test_control_endpoint_sets_faults_and_reports_uncounted(fresh):
    command = json.dumps({"action": "set_fault", "route": "records", "fault": "rate_limit", "times": 1,
                          "retry_after": 9}).encode()
    assert get(fresh.url("/_control"), command)[0] == 200
    status, headers, _ = get(fresh.url(PATHS["records"]))
    assert status == 429 and headers["Retry-After"] == "9"
    assert get(fresh.url(PATHS["records"]))[0] == 200
    assert get_json(fresh.url("/_control/counts")) == {"records": 2}
    assert get(fresh.url("/_control"), json.dumps({"action": "reset_counts"}).encode())[0] == 200
    assert get_json(fresh.url("/_control/counts")) == {}
    assert get(fresh.url("/_control"), json.dumps({"action": "explode"}).encode())[0] == 400
    assert get(fresh.url("/_control"), json.dumps({"action": "set_fault", "route": "x", "fault": "block"})
               .encode())[0] == 400


def test_control_endpoint_edits_a_title(own_site):
    body = json.dumps({"action": "edit_title", "article_id": TWO_LISTS, "title": "新标题"}).encode()
    assert get(own_site.url("/_control"), body)[0] == 200
    assert get_json(own_site.url(PATHS["record"]))["record"][0]["title"] == "新标题"


def test_edit_title_serves_the_same_lists_with_one_title_changed(own_site):
    before = {route: get_json(own_site.url(path)) for route, path in PATHS.items()}
    own_site.edit_title(TWO_LISTS, "资管圈风向又变（更新）")
    for route, path in PATHS.items():
        old_rows, new_rows = rows_of(route, before[route]), rows_of(route, get_json(own_site.url(path)))
        assert len(old_rows) == len(new_rows)
        for old, new in zip(old_rows, new_rows):
            if TWO_LISTS in json.dumps(old):
                assert new["title"] == "资管圈风向又变（更新）"
                changed = {key for key in new if new[key] != old.get(key)}
                assert "title" in changed and changed <= {"title", "simtitle", "digest", "simdigest", "summary"}
            else:
                assert new == old
    page = page_doc(get(own_site.url(f"/a/{TWO_LISTS}.html"))[2])
    assert "资管圈风向又变（更新）" in page.text_content()


def test_set_text_changes_the_text_endpoint_and_page(own_site):
    own_site.set_text(TWO_LISTS, content="<p>改过的正文</p>")
    payload = get_json(own_site.url(f"/NewsData/GetNewsText.do?id=NW{TWO_LISTS}"))
    assert payload == {"content": "<p>改过的正文</p>", "text": BY_LIST[(TWO_LISTS, "record")].html}
    page = page_doc(get(own_site.url(f"/a/{TWO_LISTS}.html"))[2])
    assert normalized(page.get_element_by_id("ContentBody")) == "<p>改过的正文</p>"


def test_add_entry_puts_a_raw_entry_on_top_of_the_list(own_site):
    hostile = {"infoCode": "NW202201010000000001", "title": "<b>x</b>", "showtime": "2022-01-01 00:00:00"}
    own_site.add_entry("records", hostile)
    own_site.add_entry("fastnews", {"code": "1"})
    assert get_json(own_site.url(PATHS["records"]))["records"][0] == hostile
    first = get_json(own_site.url(PATHS["fastnews"]))["data"]
    assert first["fastNewsList"][0] == {"code": "1"}
    after = get_json(own_site.url(PATHS["fastnews"].replace("sortEnd=", f"sortEnd={first['sortEnd']}")))
    assert {"code": "1"} not in after["data"]["fastNewsList"]
    with pytest.raises(ValueError):
        own_site.add_entry("text", {})


def test_latency_delays_every_response():
    with SampleSite(latency_ms=150) as slow_site:
        started = time.monotonic()
        assert get(slow_site.url(PATHS["record"]))[0] == 200
        assert time.monotonic() - started >= 0.15


# -- faults -------------------------------------------------------------------------------------

@pytest.mark.parametrize("route", LIST_ROUTES)
def test_empty_list_fault_empties_the_list(fresh, route):
    fresh.set_fault(route, "empty_list", times=1)
    assert rows_of(route, get_json(fresh.url(PATHS[route]))) == []
    assert rows_of(route, get_json(fresh.url(PATHS[route])))


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_null_data_fault_nulls_the_payload(fresh, route):
    fresh.set_fault(route, "null_data")
    payload = get_json(fresh.url(PATHS[route]))
    assert payload == {route: None} if route in ("records", "nodeList", "record") else payload["data"] is None


def test_null_data_on_the_text_endpoint(fresh):
    fresh.set_fault("text", "null_data")
    assert get_json(fresh.url(f"/NewsData/GetNewsText.do?id=NW{TWO_LISTS}")) == {"content": None, "text": None}


@pytest.mark.parametrize("route", ["records", "text", "article"])
def test_empty_body_fault_sends_a_zero_length_200(fresh, route):
    fresh.set_fault(route, "empty_body")
    path = {"records": PATHS["records"], "text": f"/NewsData/GetNewsText.do?id=NW{TWO_LISTS}",
            "article": f"/a/{TWO_LISTS}.html"}[route]
    status, headers, body = get(fresh.url(path))
    assert (status, body, headers["Content-Length"]) == (200, b"", "0")


def test_block_fault_sends_the_openresty_403_for_times_requests(fresh):
    fresh.set_fault("column", "block", times=2)
    for _ in range(2):
        status, _, body = get(fresh.url(PATHS["column"]))
        assert (status, body.decode()) == (403, BLOCK_PAGE)
    assert get(fresh.url(PATHS["column"]))[0] == 200
    assert [h.status for h in fresh.hits] == [403, 403, 200]


def test_soft_block_fault_sends_the_block_page_with_200(fresh):
    fresh.set_fault("fastnews", "soft_block")
    status, headers, body = get(fresh.url(PATHS["fastnews"]))
    assert (status, body.decode()) == (200, BLOCK_PAGE) and headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("fault,status", [("rate_limit", 429), ("unavailable", 503)])
def test_retry_faults_send_retry_after(fresh, fault, status):
    fresh.set_fault("text", fault)
    got, headers, _ = get(fresh.url(f"/NewsData/GetNewsText.do?id=NW{TWO_LISTS}"))
    assert (got, headers["Retry-After"]) == (status, "1")
    fresh.set_fault("text", fault, retry_after=30)
    assert get(fresh.url(f"/NewsData/GetNewsText.do?id=NW{TWO_LISTS}"))[1]["Retry-After"] == "30"


def test_drop_fault_closes_the_connection_without_a_response(fresh):
    fresh.set_fault("records", "drop", times=1)
    conn = http.client.HTTPConnection("127.0.0.1", int(fresh.base_url.rsplit(":", 1)[1]), timeout=10)
    conn.request("GET", PATHS["records"])
    with pytest.raises(ConnectionError):
        conn.getresponse()
    conn.close()
    assert fresh.hits[-1].status == 0
    assert get(fresh.url(PATHS["records"]))[0] == 200


def test_slow_fault_waits_before_answering(fresh):
    fresh.set_fault("record", "slow", delay=0.2)
    started = time.monotonic()
    assert get(fresh.url(PATHS["record"]))[0] == 200
    assert time.monotonic() - started >= 0.2
    with pytest.raises(ValueError):
        fresh.set_fault("record", "slow")


def test_stop_does_not_wait_for_a_slow_response():
    slow_site = SampleSite().start()
    slow_site.set_fault("records", "slow", delay=120)
    errors = []

    def fetch():
        try:
            get(slow_site.url(PATHS["records"]))
        except OSError as exc:
            errors.append(exc)

    client = threading.Thread(target=fetch)
    client.start()
    deadline = time.monotonic() + 10
    while slow_site.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert slow_site.in_flight == 1
    slow_site.stop()
    client.join(timeout=30)
    assert not client.is_alive() and len(errors) == 1


@pytest.mark.parametrize("route", ["records", "column", "fastnews", "text"])
def test_jsonp_fault_wraps_json_in_a_callback(fresh, route):
    path = PATHS.get(route, f"/NewsData/GetNewsText.do?id=NW{TWO_LISTS}")
    plain = get_json(fresh.url(path))
    fresh.set_fault(route, "jsonp")
    text = get(fresh.url(path))[2].decode("utf-8")
    assert text.startswith("jQuery1123_456(") and text.endswith(")")
    assert json.loads(text[len("jQuery1123_456("):-1]) == plain


def test_trailing_semicolon_fault_appends_a_semicolon(fresh):
    plain = get_json(fresh.url(PATHS["nodeList"]))
    fresh.set_fault("nodeList", "trailing_semicolon")
    text = get(fresh.url(PATHS["nodeList"]))[2].decode("utf-8")
    assert text.endswith("};") and json.loads(text[:-1]) == plain


def test_no_body_fault_drops_content_body(fresh):
    fresh.set_fault("article", "no_body", article_id=TWO_LISTS)
    doc = page_doc(get(fresh.url(f"/a/{TWO_LISTS}.html"))[2])
    assert not doc.xpath("//*[@id='ContentBody']") and doc.xpath("//title")
    other = page_doc(get(fresh.url(f"/a/{DISTINCT[0].article_id}.html"))[2])
    assert other.xpath("//*[@id='ContentBody']")


def test_empty_text_fault_empties_content_and_text(fresh):
    fresh.set_fault("text", "empty_text")
    assert get_json(fresh.url(f"/NewsData/GetNewsText.do?id=NW{TWO_LISTS}")) == {"content": "", "text": ""}


@pytest.mark.parametrize("header", [True, False])
def test_gbk_fault_serves_a_gbk_page(fresh, header):
    a = DISTINCT[0]
    fresh.set_fault("article", "gbk", header=header)
    status, headers, body = get(fresh.url(f"/a/{a.article_id}.html"))
    assert status == 200
    assert headers["Content-Type"] == ("text/html; charset=gbk" if header else "text/html")
    assert b'<meta charset="gbk">' in body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert a.title in body.decode("gbk")


def test_control_chars_fault_puts_control_characters_in_titles_and_bodies(fresh):
    fresh.set_fault("records", "control_chars")
    for row in get_json(fresh.url(PATHS["records"]))["records"]:
        for key in ("title", "digest"):
            assert {"\x01", "\x08", "\x1b"} <= set(row[key])
    fresh.set_fault("text", "control_chars")
    payload = get_json(fresh.url(f"/NewsData/GetNewsText.do?id=NW{TWO_LISTS}"))
    assert {"\x01", "\x08", "\x1b"} <= set(payload["content"]) and {"\x01", "\x1b"} <= set(payload["text"])
    fresh.set_fault("article", "control_chars")
    body = get(fresh.url(f"/a/{TWO_LISTS}.html"))[2].decode("utf-8")
    assert body.count("\x01") >= 2 and "\x1b" in body


def test_entry_faults_can_target_one_article(fresh):
    fresh.set_fault("column", "control_chars", article_id=TWO_LISTS)
    rows = get_json(fresh.url(PATHS["column"] + "&page_size=50"))["data"]["list"]
    hit = [r["code"] for r in rows if "\x01" in r["title"]]
    assert hit == [TWO_LISTS]
    with pytest.raises(ValueError):
        fresh.set_fault("column", "block", article_id=TWO_LISTS)


def test_article_targeted_fault_spares_other_articles(fresh):
    fresh.set_fault("text", "block", article_id=TWO_LISTS)
    assert get(fresh.url(f"/NewsData/GetNewsText.do?id=NW{TWO_LISTS}"))[0] == 403
    assert get(fresh.url(f"/NewsData/GetNewsText.do?id={DISTINCT[0].info_code}"))[0] == 200


def test_script_fault_puts_scripts_in_bodies(fresh):
    fresh.set_fault("text", "script")
    payload = get_json(fresh.url(f"/NewsData/GetNewsText.do?id=NW{TWO_LISTS}"))
    assert SCRIPT_SNIPPET in payload["content"] and SCRIPT_SNIPPET in payload["text"]
    fresh.set_fault("fastnews", "script")
    assert all(SCRIPT_SNIPPET in r["summary"] for r in get_json(fresh.url(PATHS["fastnews"]))["data"]["fastNewsList"])
    fresh.set_fault("article", "script")
    body = get(fresh.url(f"/a/{TWO_LISTS}.html"))[2].decode("utf-8")
    content_body = lxml.html.tostring(page_doc(body.encode()).get_element_by_id("ContentBody"), encoding="unicode")
    for piece in ("<script>alert(1)</script>", "onerror", "javascript:alert(1)"):
        assert piece in content_body


_TIME_KEYS = {"records": "showtime", "nodeList": "showtime", "record": "datetime", "column": "showTime",
              "fastnews": "showTime"}


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_time_faults_break_or_remove_entry_times(fresh, route):
    fresh.set_fault(route, "bad_time", times=1)
    assert {r[_TIME_KEYS[route]] for r in rows_of(route, get_json(fresh.url(PATHS[route])))} == {"not a time"}
    fresh.set_fault(route, "missing_time", times=1)
    assert all(_TIME_KEYS[route] not in r for r in rows_of(route, get_json(fresh.url(PATHS[route]))))


def test_time_faults_on_article_pages(fresh):
    article_id = next(a.article_id for a in DISTINCT if fresh.template_of(a.article_id) == "old")
    fresh.set_fault("article", "bad_time", times=1)
    doc = page_doc(get(fresh.url(f"/a/{article_id}.html"))[2])
    assert doc.xpath("string(//div[@class='time'])") == "not a time"
    fresh.set_fault("article", "missing_time", times=1)
    assert not page_doc(get(fresh.url(f"/a/{article_id}.html"))[2]).xpath("//div[@class='time']")


_CODE_KEYS = {"records": "infoCode", "nodeList": "infocode", "record": "infoCode", "column": "code",
              "fastnews": "code"}


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_foreign_prefix_fault_adds_one_announcement_entry(fresh, route):
    normal = rows_of(route, get_json(fresh.url(PATHS[route])))
    fresh.set_fault(route, "foreign_prefix", times=1)
    rows = rows_of(route, get_json(fresh.url(PATHS[route])))
    assert len(rows) == len(normal) + 1
    assert [r[_CODE_KEYS[route]][:2] for r in rows if not r[_CODE_KEYS[route]].startswith(("NW", "20"))] == ["AN"]


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_missing_fields_fault_adds_one_entry_without_title_or_code(fresh, route):
    normal = rows_of(route, get_json(fresh.url(PATHS[route])))
    fresh.set_fault(route, "missing_fields", times=1)
    rows = rows_of(route, get_json(fresh.url(PATHS[route])))
    assert len(rows) == len(normal) + 1
    broken = [r for r in rows if "title" not in r]
    assert len(broken) == 1 and _CODE_KEYS[route] not in broken[0] and broken[0]


@pytest.mark.parametrize("route", ["text", "article"])
def test_huge_fault_sends_about_two_megabytes(fresh, route):
    fresh.set_fault(route, "huge")
    path = f"/NewsData/GetNewsText.do?id=NW{TWO_LISTS}" if route == "text" else f"/a/{DISTINCT[0].article_id}.html"
    status, _, body = get(fresh.url(path))
    assert status == 200 and 2_000_000 <= len(body) < 6_000_000


def test_deep_json_fault_sends_a_list_nested_100k_deep(fresh):
    fresh.set_fault("records", "deep_json")
    status, _, body = get(fresh.url(PATHS["records"]))
    assert status == 200 and body == b"[" * 100_000 + b"]" * 100_000


def test_every_fault_is_known_and_bad_combinations_are_refused(fresh):
    assert len(FAULTS) == 22
    with pytest.raises(ValueError):
        fresh.set_fault("records", "gbk")
    with pytest.raises(ValueError):
        fresh.set_fault("records", "no_such_fault")
    with pytest.raises(ValueError):
        fresh.set_fault("records", "block", times=0)


def test_clear_faults_restores_normal_answers(fresh):
    fresh.set_fault("records", "block")
    fresh.clear_faults()
    assert get(fresh.url(PATHS["records"]))[0] == 200


# -- config and command line --------------------------------------------------------------------

def test_config_toml_is_a_valid_finews_config(fresh, tmp_path):
    text = fresh.config_toml(output_dir=str(tmp_path / "public"), store_url="sqlite:///data/x.db",
                             kinds=("choice", "eastmoney", "fastnews"), jekyll=True, feed_size=20,
                             download_timeout="2s")
    data = tomllib.loads(text)
    config = parse_config(data, file="test.toml", base_dir=tmp_path, environ={})
    assert [s.name for s in config.sources] == ["choice-rolling", "choice-media", "choice-market",
                                                "eastmoney-columns", "fastnews"]
    rolling = config.source("choice-rolling")
    assert rolling.list_urls == (fresh.url("/web/webapi?type=102"),)
    assert (rolling.category, rolling.category_name) == ("emnews", "东财滚动新闻")
    assert rolling.jekyll_category_url == "//finews.withounder.com/emnews/"
    assert rolling.text_url == fresh.base_url + "/NewsData/GetNewsText.do?id={info_code}"
    assert config.source("choice-market").list_urls == (fresh.url("/web/webapi?marketType=37"),)
    assert config.source("eastmoney-columns").pages * 20 >= len(DISTINCT)
    assert (config.source("fastnews").category, config.source("fastnews").category_name) == ("kuaixun", "7x24快讯")
    assert config.site.feed_size == 20 and config.site.base_url == "http://127.0.0.1:8080/"
    assert config.crawl.download_timeout == 2.0 and not config.crawl.robotstxt_obey
    assert config.jekyll.category_url == "//finews.withounder.com/category/{category}.html"
    with pytest.raises(ValueError):
        fresh.config_toml(output_dir="p", store_url="sqlite:///x.db", no_such_key=1)


def test_config_sources_fetch_from_the_site(fresh, tmp_path):
    data = tomllib.loads(fresh.config_toml(output_dir="p", store_url="sqlite:///x.db", kinds=("eastmoney",)))
    url = data["sources"][0]["list_url"].format(page=1)
    assert len(get_json(url)["data"]["list"]) == 20


def test_module_entry_point_serves_until_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "crawler.samplesite", "--articles", "30", "--categories", "3"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.fullmatch(r"sample site: (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        rows = get_json(match[1] + PATHS["nodeList"])["nodeList"]
        assert len(rows) == 30 and len({r["from"] for r in rows}) == 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
