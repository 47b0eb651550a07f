"""The config: every key checked before anything runs, errors that name the file, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.config import ConfigError, load_config

from crawlkit import run_finews

SOURCE = '''[[sources]]
name = "choice-media"
kind = "choice"
list_url = "http://183.136.162.242/web/webapi?type=45"
text_url = "http://choicewzp1.eastmoney.com/NewsData/GetNewsText.do?id={info_code}"
share_url = "http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode={info_code}"
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "finews.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, key, reason", [
    ("[site]\ntitel = 'x'\n", "site.titel", "unknown key"),
    ("[site]\nfeed_size = 'many'\n", "site.feed_size", "expected an integer"),
    ("[site]\nfeed_size = 0\n", "site.feed_size", "between 1 and 1000"),
    ("[site]\nbase_url = 'ftp://x/'\n", "site.base_url", "not an absolute http/https URL"),
    ("[store]\nurl = 'mysql://x'\n", "store.url", "must start with sqlite:/// or redis://"),
    ("[crawl]\ndownload_timeout = '5 minutes'\n", "crawl.download_timeout", "not a duration"),
    ("[crawl]\ndistributed = true\n", "crawl.distributed", "needs a Redis store.url"),
    ("[scheduler]\nhousekeeping_cron = '61 * * * *'\n", "scheduler.housekeeping_cron", "bad cron expression"),
    (SOURCE + "cron = '*/5 * * *'\n", "sources.choice-media.cron", "bad cron expression"),
    (SOURCE + "every = '5 parsecs'\n", "sources.choice-media.every", "not a duration"),
    (SOURCE + "cron = '*/5 * * * *'\nevery = '5m'\n", "sources.choice-media.every", "either cron or every"),
    (SOURCE.replace("{info_code}\"\nshare", "{code}\"\nshare"), "sources.choice-media.text_url", "placeholder {code}"),
    (SOURCE.replace('kind = "choice"', 'kind = "weibo"'), "sources.choice-media.kind", "not one of"),
    (SOURCE.replace('list_url = "http://183.136.162.242/web/webapi?type=45"', 'list_url = "not a url"'),
     "sources.choice-media.list_url", "not an absolute"),
    (SOURCE + "category = '../etc'\n", "sources.choice-media.category", "not a slug"),
    (SOURCE + "colour = 'red'\n", "sources.choice-media.colour", "unknown key"),
    (SOURCE + SOURCE, "sources.choice-media", "two sources have this name"),
    ("[categories.slugs]\n'重庆晨报' = 'Zhong Qing'\n", "categories.slugs.重庆晨报", "not a slug"),
    ("[site\n", "-", "not valid TOML"),
])
def test_each_bad_value_names_the_file_the_key_and_the_reason(tmp_path, text, key, reason):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.file == str(path) and caught.value.key == key
    assert reason in caught.value.reason


def test_a_bad_config_stops_every_command_with_exit_code_2(tmp_path):
    path = write(tmp_path, "[site]\nfeed_size = 'many'\n")
    for command in ("crawl", "publish", "status", "run"):
        result = run_finews(command, "--config", str(path))
        assert result.returncode == 2
        assert f"finews: config error: {path}: site.feed_size: expected an integer" in result.stderr


def test_relative_paths_resolve_against_the_config_folder_and_env_overrides_win(tmp_path):
    path = write(tmp_path, "[site]\noutput_dir = 'out'\n[store]\nurl = 'sqlite:///data/f.db'\n[jekyll]\n"
                           "posts_dir = '_posts'\n" + SOURCE + "every = '30s'\n")
    config = load_config(path, environ={})
    assert config.site.output_dir == tmp_path / "out"
    assert config.store.url == f"sqlite:///{tmp_path / 'data' / 'f.db'}"
    assert config.jekyll.posts_dir == tmp_path / "_posts"
    assert config.sources[0].every == 30 and config.sources[0].referer == "http://choicewzp1.eastmoney.com/"
    overridden = load_config(path, environ={"FINEWS_STORE_URL": "redis://127.0.0.1:1/0",
                                            "FINEWS_OUTPUT_DIR": str(tmp_path / "elsewhere")})
    assert overridden.store.url == "redis://127.0.0.1:1/0"
    assert overridden.site.output_dir == tmp_path / "elsewhere"


def test_the_built_in_defaults_are_the_real_eastmoney_endpoints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(None, environ={})
    kinds = {source.kind for source in config.sources}
    assert kinds == {"choice", "eastmoney", "fastnews"}
    assert all("eastmoney.com" in url or "183.136.162.242" in url for s in config.sources for url in s.list_urls)
    fast = next(s for s in config.sources if s.kind == "fastnews")
    assert fast.referer == "https://kuaixun.eastmoney.com/" and fast.category == "kuaixun"
    assert config.site.output_dir == tmp_path / "public"
