"""Beijing time: every source time is naive Asia/Shanghai; Chinese and relative forms too."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")

# Absolute forms, tried in order (NFKC has already turned full-width digits, colons and spaces
# into ASCII; strptime's %m/%d/%H also take one digit, and a space in a format matches any run).
FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
    "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日%H:%M:%S", "%Y年%m月%d日%H:%M",
)
ISO_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
AGO_RE = re.compile(r"(?P<n>\d+) ?(?P<unit>秒|分钟|小时|天)前")
AGO_UNITS = {"秒": "seconds", "分钟": "minutes", "小时": "hours", "天": "days"}
DAY_WORD_RE = re.compile(r"(?P<word>今天|昨天|前天) ?(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?")
DAYS_BACK = {"今天": 0, "昨天": 1, "前天": 2}
MONTH_DAY_RE = re.compile(
    r"(?P<m>\d{1,2})(?:-|月)(?P<d>\d{1,2})日? ?(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?")


def _beijing(dt: datetime) -> datetime:
    """`dt` in Beijing time; a naive datetime is Beijing time already (never the host's zone)."""
    return dt.replace(tzinfo=BEIJING) if dt.tzinfo is None else dt.astimezone(BEIJING)


def _clock(day: datetime, match: re.Match[str]) -> datetime:
    return datetime(day.year, day.month, day.day, int(match["H"]), int(match["M"]), int(match["S"] or 0),
                    tzinfo=BEIJING)


def _parse(text: str, now: datetime) -> datetime | None:
    if text == "刚刚":
        return now.replace(microsecond=0)
    if match := AGO_RE.fullmatch(text):
        return now.replace(microsecond=0) - timedelta(**{AGO_UNITS[match["unit"]]: int(match["n"])})
    if match := DAY_WORD_RE.fullmatch(text):
        return _clock(now - timedelta(days=DAYS_BACK[match["word"]]), match)
    if match := MONTH_DAY_RE.fullmatch(text):
        parsed = _clock(datetime(now.year, int(match["m"]), int(match["d"])), match)
        if parsed - now > timedelta(days=1):
            parsed = parsed.replace(year=now.year - 1)
        return parsed
    for fmt in FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=BEIJING)
        except ValueError:
            continue
    if ISO_RE.match(text):
        return _beijing(datetime.fromisoformat(text))
    return None


def parse_time(text: str, now: datetime) -> datetime:
    """A source's time text → an aware Asia/Shanghai datetime; relative forms count from `now`."""
    normalized = " ".join(unicodedata.normalize("NFKC", str(text)).split())
    try:
        parsed = _parse(normalized, _beijing(now)) if normalized else None
    except (ValueError, OverflowError):
        parsed = None
    if parsed is None:
        raise ValueError(f"unparseable time {text!r}")
    return parsed


def format_rfc3339(dt: datetime) -> str:
    """`2021-12-21T20:40:26+08:00`"""
    return _beijing(dt).isoformat(timespec="seconds")


def format_jekyll(dt: datetime) -> str:
    """`2021-12-21 20:40:26 +0800`, the original posts' `date:`."""
    return _beijing(dt).strftime("%Y-%m-%d %H:%M:%S %z")
