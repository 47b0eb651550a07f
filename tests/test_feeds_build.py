"""Feeds built from hostile content stay well-formed and valid; building is deterministic."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

from crawler.config import SiteConfig
from crawler.store import ALL, Article
from crawler.text.clean import clean_html
from crawler.text.times import BEIJING
from feeds.build import build_atom, build_json_feed, build_rss, spec_for

from feedcheck import check_atom, check_json_feed, check_rss

SITE = SiteConfig(base_url="https://finews.example.com/")
T0 = datetime(2022, 1, 7, 8, 14, 19, tzinfo=BEIJING)
HOSTILE = ["&amp; & <b>", "\"quotes\" 'single'", "]]>", "emoji 📈🚀", "ctrl \x01\x08\x1b\x0b end",
           "<script>alert(1)</script>", '<img src=x onerror="alert(1)">', '<a href="javascript:alert(1)">x</a>',
           "\ufffe\uffff", "　　缩进"]


def article(i: int, title: str, body: str, summary: str = "摘要") -> Article:
    article_id = f"2022010722393075{i:02d}"
    html = clean_html(body, "https://finance.eastmoney.com/a/1.html")
    return Article(article_id=article_id, title=title, link=f"https://finance.eastmoney.com/a/{article_id}.html",
                   published=T0 - timedelta(minutes=i), updated=T0 - timedelta(minutes=i) + timedelta(hours=1),
                   categories={"quanshangzhongguo": "券商中国新闻"}, media="券商中国", html=html or "<p>x</p>",
                   summary=summary)


def check_all(entries: list[Article]) -> None:
    spec = spec_for(SITE, ALL, None, entries)
    atom, rss, feed = check_atom(build_atom(spec)), check_rss(build_rss(spec)), check_json_feed(build_json_feed(spec))
    bodies = [e.content[0].value for e in atom.entries] + [e.content[0].value for e in rss.entries]
    bodies += [item["content_html"] for item in feed["items"]]
    for body in bodies:
        assert "<script" not in body.lower() and "onerror" not in body.lower() and "javascript:" not in body.lower()
    assert len(atom.entries) == len(rss.entries) == len(feed["items"]) == len(entries)
    assert [e.title.strip() for e in atom.entries] == [item["title"].strip() for item in feed["items"]]


def test_hostile_titles_and_bodies_give_valid_feeds():
    entries = [article(i, f"标题 {text}", f"<p>{text}</p>" * 3, summary=text) for i, text in enumerate(HOSTILE)]
    check_all(entries)


def test_a_100_kb_body_gives_a_valid_feed():
    check_all([article(0, "长文", "<p>" + "长" * 100_000 + "</p>")])


def test_building_twice_gives_identical_bytes_and_build_time_is_the_newest_update():
    entries = [article(i, f"标题{i}", f"<p>正文{i}</p>") for i in range(3)]
    spec = spec_for(SITE, "quanshangzhongguo", "券商中国新闻", entries)
    for build in (build_rss, build_atom, build_json_feed):
        assert build(spec) == build(spec)
    atom = check_atom(build_atom(spec))
    assert atom.feed.updated == (T0 + timedelta(hours=1)).isoformat()
    assert b"<lastBuildDate>Fri, 07 Jan 2022 09:14:19 +0800</lastBuildDate>" in build_rss(spec)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=st.text(min_size=1, max_size=60), body=st.text(max_size=300), summary=st.text(max_size=80))
def test_any_text_gives_well_formed_valid_feeds(title, body, summary):
    check_all([article(1, title, body, summary)])
