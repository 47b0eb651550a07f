"""The config: every key checked before anything runs, errors that name the file, key and reason."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest
from pydantic import BaseModel

from crawler.config import (ChoiceSource, ConfigError, CrawlConfig, EastmoneySource, FastnewsSource, SchedulerConfig,
                            SiteConfig, default_config_text, load_config, mask_url)
from crawler.samplesite import SampleSite

from crawlkit import ROOT, run_finews

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
    ("[site]\nfeed_size = true\n", "site.feed_size", "expected a number, got a boolean"),
    ("[site]\nfeed_size = 2.5\n", "site.feed_size", "expected an integer, got 2.5"),
    ("[crawl]\nautothrottle = 1\n", "crawl.autothrottle", "expected a boolean"),
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
    ("[metrics]\nport = 70000\n", "metrics.port", "between 1 and 65535"),
    ("[metrics]\nhost = ' '\n", "metrics.host", "must not be empty"),
    ("[site\n", "-", "not valid TOML"),
    ("[websub]\nhubs = 'https://hub.example/'\n", "websub.hubs", "expected a list"),
    ("[websub]\nhubs = ['https://hub.example/', 'hub.example']\n", "websub.hubs[1]", "not an absolute"),
    ("[websub]\nhub = ['https://hub.example/']\n", "websub.hub", "unknown key"),
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


@pytest.mark.parametrize("text, key, reason", [
    ("[crawl]\nretry_times = 99999999999999999999\n", "crawl.retry_times", "between 0 and 10"),
    ("[crawl]\nconcurrency_per_domain = 0\n", "crawl.concurrency_per_domain", "between 1 and 64"),
    ("[crawl]\ndownload_delay = -1\n", "crawl.download_delay", "between 0s and 60s"),
    ("[crawl]\ndownload_timeout = '2h'\n", "crawl.download_timeout", "between 0.5s and 600s"),
    ("[crawl]\nmax_page_bytes = 10\n", "crawl.max_page_bytes", "between 1024 and"),
    ("[site]\nttl = 100000\n", "site.ttl", "between 1 min and 1440 min"),
    ("[scheduler]\nlock_ttl = 0\n", "scheduler.lock_ttl", "between 1s and 3600s"),
    ("[scheduler]\nkeep_per_category = 0\n", "scheduler.keep_per_category", "between 1 and 1000000"),
    (SOURCE + "every = '0s'\n", "sources.choice-media.every", "between 1s and"),
    (SOURCE.replace('kind = "choice"', 'kind = "eastmoney"').replace("text_url", "#").replace("share_url", "#")
     + "pages = 1000\n", "sources.choice-media.pages", "between 1 and 100"),
])
def test_every_number_out_of_its_range_is_reported_with_the_range(tmp_path, text, key, reason):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ={})
    assert caught.value.key == key and reason in caught.value.reason


def numbers(model: type[BaseModel]) -> list[tuple[str, dict]]:
    """Every numeric key of a model with the JSON Schema of its number (a duration's number branch)."""
    def walk(key: str, schema: dict) -> list[tuple[str, dict]]:
        if schema.get("type") in ("integer", "number"):
            return [(key, schema)]
        return [found for branch in schema.get("anyOf", []) for found in walk(key, branch)]

    properties = model.model_json_schema()["properties"]
    return [found for name, schema in properties.items() for found in walk(f"{model.__name__}.{name}", schema)]


def test_every_numeric_key_of_every_section_and_source_kind_has_a_range():
    models = [SiteConfig, CrawlConfig, SchedulerConfig, ChoiceSource, EastmoneySource, FastnewsSource]
    keys = [item for model in models for item in numbers(model)]
    assert len(keys) >= 17
    assert [key for key, schema in keys if "minimum" not in schema or "maximum" not in schema] == []


def test_a_source_without_a_usable_name_is_named_by_its_position(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, SOURCE + SOURCE.replace('name = "choice-media"', 'name = "../x"')), environ={})
    assert caught.value.key == "sources[1].name" and "'../x' is not a name" in caught.value.reason


def test_each_kind_accepts_only_its_own_keys(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, SOURCE + "pages = 2\n"), environ={})
    assert (caught.value.key, caught.value.reason) == ("sources.choice-media.pages", "unknown key")


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    result = run_finews("status", "--config", str(write(tmp_path, "[site]\nfeed_size = 0\n[crawl]\nretry_times = -1\n")))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "site.feed_size: must be between 1 and 1000" in result.stderr
    assert "crawl.retry_times: must be between 0 and 10" in result.stderr


def test_a_config_file_that_is_not_utf8_is_named_with_the_encoding_problem(tmp_path):
    path = tmp_path / "finews.toml"
    path.write_bytes("[site]\ntitle = '金融消息'\n".encode("gbk"))
    result = run_finews("status", "--config", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"finews: config error: {path}: -: not UTF-8 (byte 0xbd on line 2)" in result.stderr


def test_crawl_and_run_refuse_a_config_without_enabled_sources_while_other_commands_work(tmp_path):
    path = write(tmp_path, f"[site]\noutput_dir = 'public'\n[store]\nurl = 'sqlite:///f.db'\n"
                           + SOURCE + "enabled = false\n")
    for command in ("crawl", "run"):
        result = run_finews(command, "--config", str(path))
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"finews: config error: {path}: sources: no enabled source, nothing to crawl" in result.stderr
    assert run_finews("publish", "--config", str(path)).returncode == 0
    assert run_finews("status", "--config", str(path)).returncode == 0
    assert run_finews("crawl", "--config", str(write(tmp_path, "")), "--no-publish").returncode == 2


def check(path: Path, env: dict[str, str]) -> dict:
    result = run_finews("config", "check", "--config", str(path), env=env)
    assert result.returncode == 0, result.stderr
    return tomllib.loads(result.stdout)


def test_environment_variables_override_the_file_which_overrides_the_defaults(tmp_path):
    path = write(tmp_path, "[site]\ntitle = 'From the file'\nbase_url = 'https://file.example/'\n"
                           "[crawl]\nretry_times = 5\n" + SOURCE)
    effective = check(path, {"FINEWS_SITE__BASE_URL": "https://env.example/feeds",
                             "FINEWS_CRAWL__DOWNLOAD_TIMEOUT": "2m", "FINEWS_SCHEDULER__HOUSEKEEPING_CRON": "0 3 * * *",
                             "FINEWS_CRAWL__AUTOTHROTTLE": "false", "FINEWS_JEKYLL__POSTS_DIR": "posts",
                             "FINEWS_CATEGORIES__SLUGS": '{"重庆晨报": "cq"}'})
    assert effective["site"]["title"] == "From the file" and effective["crawl"]["retry_times"] == 5
    assert effective["site"]["base_url"] == "https://env.example/feeds/"
    assert effective["site"]["feed_size"] == 50 and effective["crawl"]["download_timeout"] == 120
    assert effective["scheduler"]["housekeeping_cron"] == "0 3 * * *" and effective["crawl"]["autothrottle"] is False
    assert effective["jekyll"]["posts_dir"] == str(ROOT / "posts")  # a variable's relative path: the cwd
    assert effective["categories"]["slugs"] == {"重庆晨报": "cq"}
    assert effective["sources"][0]["name"] == "choice-media"


def test_a_container_is_configured_by_environment_alone(tmp_path):
    sources = json.dumps([{"name": "flash", "kind": "fastnews", "category": "kuaixun", "every": "1m",
                           "list_url": "https://np-weblist.eastmoney.com/comm/web/getFastNewsList?pageSize=50"}])
    env = {"FINEWS_STORE__URL": f"sqlite:///{tmp_path / 'f.db'}", "FINEWS_SITE__OUTPUT_DIR": str(tmp_path / "out"),
           "FINEWS_SOURCES": sources}
    result = run_finews("config", "check", env=env)
    assert result.returncode == 0, result.stderr
    effective = tomllib.loads(result.stdout)
    assert effective["store"]["url"] == f"sqlite:///{tmp_path / 'f.db'}"
    assert [(s["name"], s["every"], s["referer"]) for s in effective["sources"]] == [
        ("flash", 60, "https://kuaixun.eastmoney.com/")]


def test_the_first_two_variables_still_work_below_their_nested_spelling(tmp_path):
    path = write(tmp_path, SOURCE)
    effective = check(path, {"FINEWS_STORE_URL": "redis://127.0.0.1:1/0", "FINEWS_OUTPUT_DIR": str(tmp_path / "o")})
    assert effective["store"]["url"] == "redis://127.0.0.1:1/0" and effective["site"]["output_dir"] == str(tmp_path / "o")
    effective = check(path, {"FINEWS_STORE_URL": "redis://127.0.0.1:1/0", "FINEWS_STORE__URL": "redis://127.0.0.1:2/0"})
    assert effective["store"]["url"] == "redis://127.0.0.1:2/0"


@pytest.mark.parametrize("env, problem", [
    ({"FINEWS_CRAWL__RETRY_TIMES": "many"}, "FINEWS_CRAWL__RETRY_TIMES: crawl.retry_times: expected an integer"),
    ({"FINEWS_CRAWL__RETRY_TIMES": "99999999999999999999"}, "FINEWS_CRAWL__RETRY_TIMES: crawl.retry_times: must be between 0 and 10"),
    ({"FINEWS_SITE__TITEL": "x"}, "FINEWS_SITE__TITEL: site.titel: unknown key"),
    ({"FINEWS_STORE_URL": "mysql://x"}, "FINEWS_STORE_URL: store.url: 'mysql://x': the store URL must start with"),
    ({"FINEWS_SOURCES": "[{"}, "FINEWS_SOURCES: sources: not valid JSON"),
    ({"FINEWS_SOURCES": '[{"name": "a", "kind": "weibo"}]'}, "FINEWS_SOURCES: sources.a.kind: 'weibo' is not one of"),
    ({"FINEWS_CRAWL__DISTRIBUTED": "true"}, "FINEWS_CRAWL__DISTRIBUTED: crawl.distributed: distributed crawling needs"),
])
def test_a_bad_environment_value_names_the_variable(tmp_path, env, problem):
    result = run_finews("config", "check", "--config", str(write(tmp_path, SOURCE)), env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"finews: config error: {problem}" in result.stderr


def test_config_check_masks_the_store_password(tmp_path):
    path = write(tmp_path, "[store]\nurl = 'redis://:s3cret@127.0.0.1:1/0'\n" + SOURCE)
    result = run_finews("config", "check", "--config", str(path))
    assert result.returncode == 0 and "s3cret" not in result.stdout + result.stderr
    assert tomllib.loads(result.stdout)["store"]["url"] == "redis://:***@127.0.0.1:1/0"
    result = run_finews("config", "check", env={"FINEWS_STORE__URL": "rediss://finews:s3cret@h:6380/0?password=s3cret"})
    assert "s3cret" not in result.stdout and "rediss://finews:***@h:6380/0?password=***" in result.stdout


@pytest.mark.parametrize("url, masked", [
    ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
    ("redis://user:p%40w@h/0", "redis://user:***@h/0"),
    ("redis://h:6379/0", "redis://h:6379/0"),
    ("unix:///run/redis.sock?db=0&password=pw", "unix:///run/redis.sock?db=0&password=***"),
    ("sqlite:///data/finews.db", "sqlite:///data/finews.db"),
])
def test_mask_url_hides_passwords_only(url, masked):
    assert mask_url(url) == masked


def schema() -> dict:
    result = run_finews("config", "schema")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("draft", [jsonschema.Draft4Validator, jsonschema.Draft7Validator])  # Taplo reads draft 4
def test_the_schema_accepts_the_shipped_and_the_sample_configs_and_rejects_bad_ones(draft):
    validator = draft(schema())
    validator.check_schema(validator.schema)
    with SampleSite() as site:
        sample = tomllib.loads(site.config_toml(output_dir="public", store_url="sqlite:///f.db",
                                                kinds=("choice", "eastmoney", "fastnews"), jekyll=True))
    for document in (tomllib.loads(default_config_text()), sample, tomllib.loads((ROOT / "deploy" / "finews.toml")
                                                                                 .read_text(encoding="utf-8"))):
        assert list(validator.iter_errors(document)) == []
    bad = [{"site": {"titel": "x"}}, {"crawl": {"retry_times": 99999999999999999999}},
           {"crawl": {"download_timeout": "5 minutes"}}, {"sources": [{**sample["sources"][0], "kind": "weibo"}]},
           {"sources": [{**sample["sources"][0], "pages": 2}]}, {"categories": {"slugs": {"重庆晨报": "Zhong Qing"}}}]
    for document in bad:
        assert not validator.is_valid(document), document


def test_archives_are_on_and_websub_off_by_default_and_hubs_keep_their_order(tmp_path):
    default = load_config(write(tmp_path, ""), environ={})
    assert default.site.archives is True and default.websub.hubs == ()
    config = load_config(write(tmp_path, "[site]\narchives = false\n[websub]\nhubs = ['https://b.example/', "
                                         "'http://a.example/hub', 'https://b.example/']\n"), environ={})
    assert config.site.archives is False and config.websub.hubs == ("https://b.example/", "http://a.example/hub")
