"""The deployment files: compose stack, Dockerfile, stack config and nginx config (run for real).

No Docker engine is needed: the compose file and the Dockerfile are parsed and checked, the
stack's finews config is loaded by crawler.config, and the nginx config is run by the nginx of
this machine (Debian's; `bash .ci/run` installs nginx-light) on a free port.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml

from crawler.config import (DEFAULT_CONFIG_NAME, Config, default_config_text, load_config, parse_config,
                            parse_duration)
from crawler.text.times import BEIJING
from crawler.supervisor import STOP_GRACE

ROOT = Path(__file__).resolve().parent.parent
STACK_CONFIG = ROOT / "deploy" / "finews.toml"
CONFIG_IN_CONTAINER = "/etc/finews/finews.toml"
STORE_URL = "redis://redis:6379/0"
OUTPUT_DIR = "/data/public"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


# -- docker-compose.yml -------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def env_example() -> dict[str, str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return dict(re.findall(r"^(\w+)=(.*)$", text, re.M))


def interpolate(value: str, environ: Mapping[str, str]) -> str:
    """Compose's `${VAR}` / `${VAR:-default}` substitution."""
    return VARIABLE.sub(lambda m: environ.get(m[1]) or (m[2] or ""), value)


def mounts(service: dict, environ: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """Short-syntax volumes, interpolated (default: compose's defaults), as {target: (source, mode)}."""
    result = {}
    for volume in service.get("volumes", []):
        source, target, *mode = interpolate(volume, environ or {}).split(":")
        result[target] = (source, mode[0] if mode else "rw")
    return result


def test_redis_keeps_an_append_only_file_on_a_named_volume_is_health_checked_and_not_published(compose):
    redis = compose["services"]["redis"]
    assert redis["image"].split(":")[1].startswith("7")
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    source, mode = mounts(redis)["/data"]
    assert source in compose["volumes"] and mode == "rw"
    assert redis["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    assert "ports" not in redis and "network_mode" not in redis
    assert redis["restart"] == "unless-stopped"


@pytest.mark.parametrize(("name", "command"), [("scheduler", "run"), ("worker", "worker")])
def test_scheduler_and_worker_run_finews_on_the_redis_store_once_redis_is_healthy(compose, name, command):
    service = compose["services"][name]
    assert service["command"] == [command, "--config", CONFIG_IN_CONTAINER]
    assert service["environment"] == {"FINEWS_STORE_URL": STORE_URL, "FINEWS_OUTPUT_DIR": OUTPUT_DIR}
    volumes = mounts(service)
    assert volumes[OUTPUT_DIR] == ("public", "rw") and "public" in compose["volumes"]
    assert volumes[CONFIG_IN_CONTAINER][1] == "ro"
    assert service["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert service["restart"] == "unless-stopped"
    assert service["build"] == "."


def test_the_scheduler_is_given_longer_to_stop_than_its_shutdown_grace_and_a_late_crawl(compose):
    late_crawl = 2 * STOP_GRACE  # the engine's input closed, then SIGTERM, each with its grace, then SIGKILL
    shutdown_grace = load_config(STACK_CONFIG, environ={}).scheduler.shutdown_grace
    stop_grace = parse_duration(compose["services"]["scheduler"]["stop_grace_period"])
    assert stop_grace > shutdown_grace + late_crawl


def test_workers_can_be_scaled_they_have_no_fixed_name_port_or_hostname(compose):
    worker, scheduler = compose["services"]["worker"], compose["services"]["scheduler"]
    assert not {"container_name", "hostname", "ports"} & worker.keys()
    assert worker["image"] == scheduler["image"]
    assert "replicas" not in worker.get("deploy", {})


def test_scheduler_and_workers_expose_metrics_to_the_compose_network_and_nothing_publishes_them(compose):
    metrics = load_config(STACK_CONFIG, environ={}).metrics
    assert metrics.port is not None and metrics.host == "0.0.0.0"
    for name in ("scheduler", "worker"):
        service = compose["services"][name]
        assert service["expose"] == [str(metrics.port)]
        assert "ports" not in service and "network_mode" not in service
    for name, service in compose["services"].items():
        for published in service.get("ports", []):
            container_port = interpolate(str(published), {}).rsplit(":", 1)[-1].split("/")[0]
            assert container_port != str(metrics.port), f"{name} publishes the metrics port"


def test_web_serves_the_public_volume_read_only_on_8080_with_the_repo_nginx_config(compose):
    web = compose["services"]["web"]
    assert web["image"].startswith("nginx:")
    volumes = mounts(web)
    assert volumes["/usr/share/nginx/html"] == ("public", "ro")
    assert volumes["/etc/nginx/conf.d/default.conf"] == ("./deploy/nginx.conf", "ro")
    assert web["ports"] == ["${FINEWS_WEB_PORT:-8080}:8080"]
    assert web["restart"] == "unless-stopped"


def test_env_example_documents_every_compose_variable_with_the_compose_default(compose):
    documented = env_example()
    used = VARIABLE.findall((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert used
    for name, default in used:
        assert name in documented, f"{name} is not in .env.example"
        assert documented[name] == default, f".env.example changes the default of {name}"
    assert documented["COMPOSE_PROJECT_NAME"] == compose["name"]


@pytest.mark.parametrize("environ", [{}, env_example()], ids=["defaults", "env-example"])
def test_every_host_file_the_compose_file_mounts_exists_and_every_volume_is_declared(compose, environ):
    for name, service in compose["services"].items():
        for source, _ in mounts(service, environ).values():
            if source.startswith((".", "/")):
                assert (ROOT / source).is_file(), f"{name} mounts {source}, which is not in the repo"
            else:
                assert source in compose["volumes"], f"{name} mounts an undeclared volume {source}"


# -- the stack's finews config -------------------------------------------------------------


def test_the_stack_config_crawls_distributed_into_the_public_volume_on_the_redis_store(compose):
    for environ in ({}, compose["services"]["scheduler"]["environment"]):
        config = load_config(STACK_CONFIG, environ=environ)
        assert config.store.url == STORE_URL
        assert config.site.output_dir == Path(OUTPUT_DIR)
        # The stack runs `finews worker`: without distributed mode nothing would feed it.
        assert config.crawl.distributed


def test_the_stack_config_crawls_the_built_in_default_sources():
    defaults: Config = parse_config(tomllib.loads(default_config_text()), file="<defaults>",
                                    base_dir=ROOT, environ={})
    assert load_config(STACK_CONFIG, environ={}).sources == defaults.sources


# -- Dockerfile ----------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments), continued lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), " ".join(arguments.split())))
    return stages


def arguments(stage: list[tuple[str, str]], instruction: str) -> list[str]:
    return [args for name, args in stage if name == instruction]


def test_wheels_are_built_in_a_build_stage_and_the_slim_final_stage_installs_only_them():
    stages = dockerfile_stages()
    assert len(stages) >= 2
    assert all(arguments(stage, "FROM")[0].split()[0] == "python:3.11-slim" for stage in stages)
    build_name = arguments(stages[0], "FROM")[0].split()[-1]
    assert any("pip wheel" in run for run in arguments(stages[0], "RUN"))
    final_runs = " ".join(arguments(stages[-1], "RUN"))
    for tool in ("apt-get install", "build-essential", "gcc", "g++", "make ", "compile"):
        assert tool not in final_runs, f"the final stage mentions {tool!r}"
    install = next(run for run in arguments(stages[-1], "RUN") if "pip install" in run)
    assert f"from={build_name}" in install and "--no-index" in install


def test_the_image_runs_finews_unprivileged_from_a_data_folder_it_owns():
    final = dockerfile_stages()[-1]
    user = arguments(final, "USER")[-1]
    assert user.split(":")[0] not in ("root", "0")
    owner = re.search(r"chown -R (\S+) /data(\s|$)", " ".join(arguments(final, "RUN")))
    assert owner and owner[1] == user
    assert any(re.search(r"mkdir -p /data/public(\s|$)", run) for run in arguments(final, "RUN"))
    assert arguments(final, "WORKDIR")[-1] == "/data"
    assert json.loads(arguments(final, "ENTRYPOINT")[-1]) == ["finews"]
    assert json.loads(arguments(final, "CMD")[-1]) == ["run", "--config", CONFIG_IN_CONTAINER]
    assert f"deploy/finews.toml {CONFIG_IN_CONTAINER}" in arguments(final, "COPY")


def test_finews_commands_in_the_container_read_the_stack_config_without_a_flag():
    final = dockerfile_stages()[-1]
    workdir = arguments(final, "WORKDIR")[-1]
    link = f"ln -s {CONFIG_IN_CONTAINER} {workdir}/{DEFAULT_CONFIG_NAME}"
    assert any(link in run for run in arguments(final, "RUN"))


def dockerignored(path: str) -> bool:
    """Whether .dockerignore leaves `path` (relative, with /) or one of its folders out."""
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(fnmatch(prefix, pattern) or (pattern.startswith("**/") and fnmatch(prefix, pattern[3:]))
               for pattern in patterns for prefix in prefixes)


def test_the_build_stage_copies_everything_the_package_is_built_from_and_no_secrets():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = project["tool"]["setuptools"]
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= {f"{module}.py" for module in setuptools["py-modules"]}
    needed |= {pattern.rstrip("*") for pattern in setuptools["packages"]["find"]["include"]}
    copied = {source for copy in arguments(dockerfile_stages()[0], "COPY") for source in copy.split()[:-1]}
    assert needed <= copied
    files = {"deploy/finews.toml"}
    for name in needed:
        path = ROOT / name
        files |= ({str(file.relative_to(ROOT)) for file in path.rglob("*")
                   if file.is_file() and "__pycache__" not in file.parts} if path.is_dir() else {name})
    for path in sorted(files):
        assert not dockerignored(path), f".dockerignore leaves out {path}"
    for path in (".env", ".git/config", "finews.toml", "public/index.html", "tests/test_deploy.py"):
        assert dockerignored(path), f".dockerignore lets {path} into the build context"


# -- nginx ---------------------------------------------------------------------------------


FEEDS = {
    "all/rss.xml": "application/rss+xml; charset=utf-8",
    "all/atom.xml": "application/atom+xml; charset=utf-8",
    "all/feed.json": "application/feed+json; charset=utf-8",
    "shanghaizhengquanbao/rss.xml": "application/rss+xml; charset=utf-8",
    "opml.xml": "text/x-opml; charset=utf-8",
    "index.html": "text/html; charset=utf-8",
}
SECRET = "outside the output folder"
COMPLETED_MONTH = "2021-12"


def beijing_month() -> str:
    return datetime.now(BEIJING).strftime("%Y-%m")


def last_beijing_month() -> str:
    return (datetime.now(BEIJING).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def archives() -> dict[str, str]:
    """Archive documents of a settled month, of last month and of this one, by path → media type."""
    return {f"all/archive/{month}.{suffix}": media
            for month in (COMPLETED_MONTH, last_beijing_month(), beijing_month())
            for suffix, media in (("atom", FEEDS["all/atom.xml"]), ("json", FEEDS["all/feed.json"]))}


def nginx_config(workdir: Path, root: Path, listen: str) -> Path:
    """deploy/nginx.conf on `listen` serving `root`, inside the http block the nginx image wraps it in."""
    server = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    assert "listen 8080;" in server and "root /usr/share/nginx/html;" in server
    server = server.replace("listen 8080;", f"listen {listen};")
    server = server.replace("root /usr/share/nginx/html;", f"root {root};")
    (workdir / "server.conf").write_text(server, encoding="utf-8")
    build = subprocess.run([NGINX, "-V"], capture_output=True, text=True).stderr
    temp_paths = "\n".join(
        f"    {name.replace('-', '_')}_temp_path {workdir / name};"
        for name in re.findall(r"--http-([\w-]+)-temp-path=", build)
        if f"--without-http_{name.replace('-', '_')}_module" not in build)
    mime_types = Path("/etc/nginx/mime.types")
    types = (f"include {mime_types};" if mime_types.is_file()
             else "types { text/html html; text/xml xml; application/json json; }")
    # Workers run as the user that runs the test (root's default, nobody, cannot read tmp_path).
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    main = workdir / "nginx.conf"
    main.write_text(f"""
daemon off;
{user}
worker_processes 1;
pid {workdir / 'nginx.pid'};
error_log {workdir / 'error.log'};
events {{ worker_connections 64; }}
http {{
    {types}
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
    access_log off;
{temp_paths}
    include {workdir / 'server.conf'};
}}
""", encoding="utf-8")
    return main


def nginx_command(config: Path, *extra: str) -> list[str]:
    workdir = str(config.parent)
    return [NGINX, "-c", str(config), "-p", workdir, "-e", str(config.parent / "error.log"), *extra]


def write_output_folder(root: Path) -> None:
    """What a publish leaves: feeds (over 1 kB, so gzip applies), a temp file, plus two traps."""
    for name in [*FEEDS, *archives()]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("<x>" + "新闻" * 1000 + "</x>", encoding="utf-8")
    (root / "all" / ".rss.xml.k2j4x.tmp").write_text("half-written", encoding="utf-8")
    (root / ".env").write_text("SECRET=1", encoding="utf-8")
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "secret.xml").write_text(SECRET, encoding="utf-8")
    (root / "leak.xml").symlink_to(outside / "secret.xml")
    (root / "linked").symlink_to(outside, target_is_directory=True)


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """nginx running deploy/nginx.conf on a listening socket it inherits (no port race, no wait)."""
    if NGINX is None:
        pytest.skip("nginx is not installed (bash .ci/run installs nginx-light)")
    workdir = tmp_path_factory.mktemp("nginx")
    write_output_folder(workdir / "html")
    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        port = listener.getsockname()[1]
        config = nginx_config(workdir, workdir / "html", f"127.0.0.1:{port}")
        proc = subprocess.Popen(nginx_command(config), pass_fds=[listener.fileno()],
                                env={**os.environ, "NGINX": f"{listener.fileno()};", "TZ": compose_tz()})
    try:
        yield port
    finally:
        proc.send_signal(signal.SIGQUIT)
        proc.wait(timeout=10)
        assert proc.returncode == 0, (workdir / "error.log").read_text(encoding="utf-8")


def get(port: int, path: str, **headers: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/" + path, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (bash .ci/run installs nginx-light)")
def test_the_nginx_config_passes_nginx_t(tmp_path):
    (tmp_path / "html").mkdir()
    config = nginx_config(tmp_path, tmp_path / "html", "127.0.0.1:8080")
    check = subprocess.run(nginx_command(config, "-t"), capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "test is successful" in check.stderr
    assert "[warn]" not in check.stderr and "[emerg]" not in check.stderr, check.stderr


@pytest.mark.parametrize("path", FEEDS)
def test_nginx_serves_each_feed_with_its_media_type_charset_and_a_short_cache_lifetime(nginx, path):
    status, headers, body = get(nginx, path)
    assert status == 200
    assert headers["Content-Type"] == FEEDS[path]
    assert body.decode("utf-8").startswith("<x>新闻")
    assert headers["Cache-Control"] == "max-age=60"


def compose_tz() -> str:
    """The web service's TZ in docker-compose.yml (the nginx config needs Beijing time)."""
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]["web"][
        "environment"]["TZ"]


def test_nginx_caches_settled_archive_months_for_a_week_and_this_and_last_month_for_a_minute(nginx):
    assert compose_tz() == "CST-8"
    for path, media_type in archives().items():
        status, headers, _ = get(nginx, path)
        assert status == 200 and headers["Content-Type"] == media_type
        completed = f"/{COMPLETED_MONTH}." in path
        assert headers["Cache-Control"] == ("max-age=604800" if completed else "max-age=60"), path
        assert get(nginx, path, **{"If-None-Match": headers["ETag"]})[0] == 304


def test_nginx_serves_the_index_page_at_the_root(nginx):
    status, headers, body = get(nginx, "")
    assert status == 200 and headers["Content-Type"] == FEEDS["index.html"]
    assert body.decode("utf-8").startswith("<x>新闻")


@pytest.mark.parametrize("path", FEEDS)
def test_nginx_gzips_feeds_for_clients_that_accept_it(nginx, path):
    status, headers, body = get(nginx, path, **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in headers["Vary"]
    assert gzip.decompress(body).decode("utf-8").startswith("<x>新闻")
    assert get(nginx, path)[1]["Content-Encoding"] is None


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_nginx_answers_304_to_a_reader_that_sends_back_the_etag_or_the_last_modified(nginx, encoding):
    for path in FEEDS:
        status, headers, _ = get(nginx, path, **{"Accept-Encoding": encoding})
        assert status == 200 and headers["ETag"] and headers["Last-Modified"]
        for condition in ({"If-None-Match": headers["ETag"]}, {"If-Modified-Since": headers["Last-Modified"]}):
            status, _, body = get(nginx, path, **{"Accept-Encoding": encoding}, **condition)
            assert (status, body) == (304, b""), (path, condition)
        stale = get(nginx, path, **{"If-None-Match": '"0-0"'})
        assert stale[0] == 200


@pytest.mark.parametrize("path", ["leak.xml", "linked/secret.xml"])
def test_nginx_does_not_follow_a_symlink_out_of_the_output_folder(nginx, path):
    status, _, body = get(nginx, path)
    assert status in (403, 404) and SECRET.encode() not in body


@pytest.mark.parametrize("path", [".env", "all/.rss.xml.k2j4x.tmp"])
def test_nginx_hides_dotfiles_including_a_publish_in_progress(nginx, path):
    status, _, body = get(nginx, path)
    assert status == 404 and b"SECRET" not in body and b"half-written" not in body


def test_nginx_lists_no_folder_and_reports_a_missing_file(nginx):
    status, _, body = get(nginx, "all/")
    assert status == 403 and b"rss.xml" not in body
    assert get(nginx, "nosuch/rss.xml")[0] == 404
