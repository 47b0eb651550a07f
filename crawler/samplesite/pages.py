"""HTML the sample site serves: eastmoney article pages (two templates), share pages, block page."""

from __future__ import annotations

import re
from datetime import datetime

from jinja2 import Environment, StrictUndefined

TEMPLATES = ("current", "old")
INDENT = "\u3000\u3000"
BLOCK_PAGE = ("<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1>"
              "</center><hr><center>openresty</center></body></html>")
SCRIPT_SNIPPET = '<script>alert(1)</script><img src=x onerror=alert(1)><a href="javascript:alert(1)">x</a>'
DISCLAIMER = "郑重声明：东方财富发布此内容旨在传播更多信息，与本站立场无关，不构成投资建议。据此操作，风险自担。"

# Stock names that get an inline quote link when they occur in an article's text.
STOCKS = {
    "贵州茅台": "1.600519", "中国电信": "1.601728", "比亚迪": "0.002594", "赣锋锂业": "0.002460",
    "国泰君安": "1.601211", "中信证券": "1.600030", "华泰证券": "1.601688", "神州泰岳": "0.300002",
    "合锻智能": "1.603011", "东瑞股份": "0.001201", "广生堂": "0.300436", "梦网科技": "0.002123",
    "彩讯股份": "0.300634", "天源迪科": "0.300047", "海联金汇": "0.002537", "小米集团": "116.01810",
}
FALLBACK_STOCK = "1.000001"
_STOCK_RE = re.compile("|".join(map(re.escape, STOCKS)))
_CJK_RE = re.compile(r"[\u4e00-\u9fff]{2,4}")
_TOKEN_RE = re.compile(r"(<!--.*?-->|<[^>]*>)", re.DOTALL)
_P_OPEN_RE = re.compile(r"(<p(?:\s[^>]*)?>)")


def stock_link(name: str, secid: str) -> str:
    """The inline quote link eastmoney wraps around a stock name."""
    market, code = secid.split(".", 1)
    prefix = {"1": "sh", "0": "sz", "116": "hk"}.get(market, "sh")
    page = f"zs{code}" if secid == FALLBACK_STOCK else f"{prefix}{code}"
    return (f'<span id="stock_{secid}"><a class="keytip" href="http://quote.eastmoney.com/{page}.html">'
            f"{name}</a></span>")


def _link_first_stock(html: str) -> str:
    """Wrap the first known stock name in visible text (else the first CJK word) in a quote link."""
    tokens = _TOKEN_RE.split(html)
    eligible = []
    anchor_depth = 0
    hidden = False
    for i, token in enumerate(tokens):
        if i % 2:
            lower = token.lower()
            if lower.startswith("<a ") or lower == "<a>":
                anchor_depth += 1
            elif lower.startswith("</a"):
                anchor_depth = max(anchor_depth - 1, 0)
            elif lower.startswith("<p") and "display:none" in lower.replace(" ", ""):
                hidden = True
            elif lower.startswith("</p"):
                hidden = False
        elif token and not anchor_depth and not hidden:
            eligible.append(i)
    for pattern, secid in ((_STOCK_RE, None), (_CJK_RE, FALLBACK_STOCK)):
        for i in eligible:
            match = pattern.search(tokens[i])
            if match:
                name = match.group()
                link = stock_link(name, secid or STOCKS[name])
                tokens[i] = tokens[i][:match.start()] + link + tokens[i][match.end():]
                return "".join(tokens)
    return html


def dress_body(html: str) -> str:
    """The article HTML as the page shows it: one inline stock link, `　　` paragraph indentation."""
    html = _link_first_stock(html)
    if not html.lstrip().startswith("<"):
        return INDENT + html
    return _P_OPEN_RE.sub(lambda m: m.group(1) + INDENT, html)


def split_pages(html: str, pages: int) -> list[str]:
    """Cut an HTML fragment at `</p>` boundaries into up to `pages` parts of similar length."""
    ends = [m.end() for m in re.finditer(r"</p>", html)]
    if pages <= 1 or len(ends) < pages:
        return [html]
    cuts: list[int] = []
    for n in range(1, pages):
        target = len(html) * n / pages
        candidates = [e for e in ends if e > (cuts[-1] if cuts else 0) and e < len(html)]
        if not candidates:
            break
        cuts.append(min(candidates, key=lambda e: abs(e - target)))
    bounds = [0, *cuts, len(html)]
    return [html[a:b] for a, b in zip(bounds, bounds[1:]) if html[a:b]]


def page_time(time: str) -> str:
    """`2021-12-21 20:40:26` → `2021年12月21日 20:40` (article pages show minutes only)."""
    try:
        return datetime.strptime(time, "%Y-%m-%d %H:%M:%S").strftime("%Y年%m月%d日 %H:%M")
    except ValueError:
        return time


_CHROME_HEAD = """<meta charset="{{ charset }}">
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<title>{{ title }}_东方财富网</title>
<meta name="keywords" content="{{ title }}">
<meta name="description" content="{{ summary }}">
<link rel="stylesheet" href="//g1.dfcfw.com/g4/202108/20210824145006.css">
<script src="//emcharts.dfcfw.com/usercollect/usercollect.min.js"></script>
<script>var ArticleInfo = {"code": "{{ article_id }}", "page": {{ page_no }}};</script>"""

_CHROME_TOP = """<div class="topnav"><div class="navlist">
<a href="http://www.eastmoney.com/">东方财富网</a><a href="http://finance.eastmoney.com/">财经</a>
<a href="http://stock.eastmoney.com/">股票</a><a href="http://fund.eastmoney.com/">基金</a>
<a href="http://guba.eastmoney.com/">股吧</a><a href="https://acttg.eastmoney.com/pub/web_nr_dhl_01_01_01_0">下载APP</a>
</div></div>
<div class="ad_context3"><script>(function(){var s=document.createElement("script");s.src="//emres.dfcfw.com/ad/top.js";document.body.appendChild(s);})();</script></div>"""

_BODY_PREFIX = """<p style="display:none;">{{ summary or title }}</p>
<a class="toplink" href="https://emdesk.eastmoney.com/pc_activity/topnews.html" target="_blank">东方财富Choice数据：专业金融数据终端，免费试用</a>
<div class="ad_context3"><script type="text/javascript">var adcontext3 = {"position": "content_top", "code": "{{ article_id }}"};</script></div>
<p><a href="https://acttg.eastmoney.com/pub/web_nr_txtbtm_01_01_01_0" target="_blank"><img src="https://gbres.dfcfw.com/Files/picture/20210714/ad_banner.png" class="em_handle_adv_close" alt="东方财富APP"></a></p>
"""

_BODY_SUFFIX = """
{{ editor }}
<p>""" + DISCLAIMER + "</p>\n"

_PAGER = """{% if page_count > 1 %}<div class="pagerbox">
{% if page_no > 1 %}<a href="{{ page_link(page_no - 1) }}">上一页</a>{% endif %}
{% for n in range(1, page_count + 1) %}{% if n == page_no %}<span class="cur">{{ n }}</span>{% else %}<a href="{{ page_link(n) }}">{{ n }}</a>{% endif %}{% endfor %}
{% if page_no < page_count %}<a href="{{ page_link(page_no + 1) }}">下一页</a>{% endif %}
</div>{% endif %}"""

_BODY_BLOCK = """{% if with_body %}<div id="ContentBody" class="{{ body_class }}">
""" + _BODY_PREFIX + """{{ body|safe }}{% if last_page %}""" + _BODY_SUFFIX + """{% endif %}</div>{% endif %}"""

_CHROME_FOOT = """<div class="footer"><div class="disclaimer"><p>""" + DISCLAIMER + """</p>
<p>东方财富网 版权所有 沪ICP证：沪B2-20070217 网站备案号：沪ICP备05006054号-11</p></div></div>
<script src="//emres.dfcfw.com/public/js/em_news_stat.js"></script>
<script>window.emStat && window.emStat.send({"code": "{{ article_id }}"});</script>"""

CURRENT_TEMPLATE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
""" + _CHROME_HEAD + """
</head>
<body>
""" + _CHROME_TOP + """
<div class="main"><div class="mainleft">
<div class="contentwrap">
<div class="title">{{ title }}</div>
<div class="tipbox"><div class="infos">
<div class="item">{{ time_text or "" }}</div>
<div class="item">来源：{{ media }}</div>
<div class="item"><span class="cmt">评论</span></div>
</div></div>
{% if summary %}<div class="abstract"><div class="txt">{{ summary }}</div></div>{% endif %}
""" + _BODY_BLOCK.replace("{{ editor }}", "<p>（责任编辑：张三）</p>") + """
""" + _PAGER + """
<div class="ad_context3"><script>var adBottom = "content_bottom";</script></div>
</div></div>
<div class="mainright"><div class="hotnews"><div class="hd">热门文章</div>
<ul><li><a href="http://finance.eastmoney.com/a/cywjh.html">要闻精华</a></li><li><a href="http://finance.eastmoney.com/a/cgnjj.html">国内经济</a></li></ul>
</div></div></div>
""" + _CHROME_FOOT + """
</body>
</html>
"""

OLD_TEMPLATE = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
""" + _CHROME_HEAD + """
</head>
<body>
""" + _CHROME_TOP + """
<div class="main"><div class="left">
<div class="newsContent">
<h1>{{ title }}</h1>
<div class="Info"><div class="time-source">
{% if time_text is not none %}<div class="time">{{ time_text }}</div>{% endif %}
<div class="source data-source" data-source="{{ media }}">来源：<img src="//g1.dfcfw.com/g3/201905/sourceicon.png" alt=""><a href="http://finance.eastmoney.com/">{{ media }}</a></div>
</div></div>
{% if summary %}<div class="b-review">{{ summary }}</div>{% endif %}
""" + _BODY_BLOCK.replace("{{ editor }}", '<p class="res-edit">（责任编辑：DF078）</p>') + """
""" + _PAGER + """
</div></div></div>
""" + _CHROME_FOOT + """
</body>
</html>
"""

SHARE_TEMPLATE = """<!DOCTYPE html>
<html>
<head><meta charset="{{ charset }}"><meta name="viewport" content="width=device-width"><title>{{ title }}</title></head>
<body><div class="newsshare">
<h1 class="title">{{ title }}</h1>
<div class="info"><span class="time">{{ time }}</span> <span class="source">{{ media }}</span></div>
<div class="content">{{ body|safe }}</div>
</div></body>
</html>
"""

_env = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
_article_templates = {"current": _env.from_string(CURRENT_TEMPLATE), "old": _env.from_string(OLD_TEMPLATE)}
_share_template = _env.from_string(SHARE_TEMPLATE)


def page_name(article_id: str, page_no: int) -> str:
    """`<id>.html` for page 1, `<id>_<n>.html` for the continuations."""
    return f"{article_id}.html" if page_no == 1 else f"{article_id}_{page_no}.html"


def render_article(template: str, *, article_id: str, title: str, time_text: str | None, media: str,
                   summary: str, body: str, page_no: int = 1, page_count: int = 1,
                   with_body: bool = True, charset: str = "utf-8") -> str:
    """One article page in the `current` or `old` template; `body` is already dressed HTML."""
    return _article_templates[template].render(
        article_id=article_id, title=title, time_text=time_text, media=media, summary=summary,
        body=body, page_no=page_no, page_count=page_count, last_page=page_no == page_count,
        with_body=with_body, charset=charset, body_class="txtinfos" if template == "current" else "Body",
        page_link=lambda n: page_name(article_id, n),
    )


def render_share(*, title: str, time: str, media: str, body: str, charset: str = "utf-8") -> str:
    """The Choice share page of one article."""
    return _share_template.render(title=title, time=time, media=media, body=body, charset=charset)
