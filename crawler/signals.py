"""finews' own Scrapy signals, sent through `crawler.signals` like those of `scrapy.signals`."""

source_counted = object()
"""A per-source counter moved. Arguments: `source`, `key` (a run tracker key such as `new`,
`listed` or `dropped/bad_time`) and `count` (by how much)."""
