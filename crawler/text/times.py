"""Beijing time: every source time is naive Asia/Shanghai; Chinese and relative forms too."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")

ABSOLUTE_RE = re.compile(
    r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[\sT]*(?P<H>\d{1,2})\s*[:：时]\s*(?P<M>\d{1,2})(?:\s*[:：分]\s*(?P<S>\d{1,2})(?:\.\d+)?)?\s*秒?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?$")
MONTH_DAY_RE = re.compile(r"^(?P<m>\d{1,2})\s*[-/月]\s*(?P<d>\d{1,2})\s*日?\s+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?$")
AGO_RE = re.compile(r"^(?P<n>\d+)\s*(?P<unit>秒|分钟|小时|天)前$")
DAY_WORD_RE = re.compile(r"^(?P<word>今天|昨天|前天)\s*(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?$")
AGO_UNITS = {"秒": "seconds", "分钟": "minutes", "小时": "hours", "天": "days"}
DAY_OFFSETS = {"今天": 0, "昨天": 1, "前天": 2}


def _unparseable(text: str) -> ValueError:
    return ValueError(f"unparseable time {text!r}")


def parse_time(text: str, now: datetime) -> datetime:
    """A source's time text → an aware Asia/Shanghai datetime; relative forms count from `now`."""
    raw = text
    text = " ".join(str(text).replace("\u3000", " ").replace("\xa0", " ").split())
    if not text:
        raise _unparseable(raw)
    now = now.astimezone(BEIJING)
    try:
        if text == "刚刚":
            return now.replace(microsecond=0)
        if match := AGO_RE.match(text):
            return (now - timedelta(**{AGO_UNITS[match["unit"]]: int(match["n"])})).replace(microsecond=0)
        if match := DAY_WORD_RE.match(text):
            day = (now - timedelta(days=DAY_OFFSETS[match["word"]])).date()
            return datetime(day.year, day.month, day.day, int(match["H"]), int(match["M"]),
                            int(match["S"] or 0), tzinfo=BEIJING)
        if match := ABSOLUTE_RE.match(text):
            parsed = datetime(int(match["y"]), int(match["m"]), int(match["d"]), int(match["H"] or 0),
                              int(match["M"] or 0), int(match["S"] or 0))
            if match["tz"]:
                offset = datetime.fromisoformat("2000-01-01T00:00:00" + match["tz"].replace("Z", "+00:00")).tzinfo
                return parsed.replace(tzinfo=offset).astimezone(BEIJING)
            return parsed.replace(tzinfo=BEIJING)
        if match := MONTH_DAY_RE.match(text):
            parsed = datetime(now.year, int(match["m"]), int(match["d"]), int(match["H"]), int(match["M"]),
                              int(match["S"] or 0), tzinfo=BEIJING)
            if parsed - now > timedelta(days=1):
                parsed = parsed.replace(year=now.year - 1)
            return parsed
    except ValueError:
        raise _unparseable(raw) from None
    raise _unparseable(raw)


def format_rfc3339(dt: datetime) -> str:
    return dt.astimezone(BEIJING).isoformat(timespec="seconds")


def format_jekyll(dt: datetime) -> str:
    return dt.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S %z")
