"""The deployment files: compose stack, Dockerfile, nginx config (run for real when nginx is installed)."""

from __future__ import annotations

import gzip
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from crawler.config import load_config

from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_redis_persists_append_only_on_a_named_volume_is_healthchecked_and_not_published(compose):
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    assert redis["volumes"] == ["redis-data:/data"] and "redis-data" in compose["volumes"]
    assert "redis-cli" in redis["healthcheck"]["test"]
    assert "ports" not in redis


def test_scheduler_and_workers_share_the_store_and_output_and_wait_for_redis(compose):
    for name, command in (("scheduler", "run"), ("worker", "worker")):
        service = compose["services"][name]
        assert service["command"][0] == command
        assert service["environment"]["FINEWS_STORE_URL"] == "redis://redis:6379/0"
        assert service["environment"]["FINEWS_OUTPUT_DIR"] == "/data/public"
        assert "public:/data/public" in service["volumes"]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["restart"] == "unless-stopped"
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker


def test_web_serves_the_output_volume_read_only_on_8080(compose):
    web = compose["services"]["web"]
    assert "public:/usr/share/nginx/html:ro" in web["volumes"]
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in web["volumes"]
    assert web["ports"] == ["${FINEWS_WEB_PORT:-8080}:8080"]


def test_env_example_documents_every_variable_the_compose_file_uses():
    used = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text(encoding="utf-8")))
    documented = set(re.findall(r"^(\w+)=", (ROOT / ".env.example").read_text(encoding="utf-8"), re.M))
    assert used and used <= documented


def test_the_image_is_slim_runs_as_a_user_and_keeps_no_build_tools():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    final = stages[-1]
    assert final.startswith("python:3.11-slim")
    assert "build-essential" not in final and "gcc" not in final
    assert re.search(r"^USER finews$", final, re.M)
    assert 'ENTRYPOINT ["finews"]' in final
    assert load_config(ROOT / "deploy" / "finews.toml").store.url == "redis://redis:6379/0"


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (bash .ci/run installs nginx-light)")
def test_the_nginx_config_passes_nginx_t_and_serves_feeds_with_types_gzip_and_304(tmp_path):
    root = tmp_path / "html"
    (root / "all").mkdir(parents=True)
    files = {"all/rss.xml": "application/rss+xml", "all/atom.xml": "application/atom+xml",
             "all/feed.json": "application/feed+json", "opml.xml": "text/x-opml", "index.html": "text/html"}
    for name in files:
        (root / name).write_text("<x>" + "新闻" * 1000 + "</x>", encoding="utf-8")
    (tmp_path / "outside.txt").write_text("secret", encoding="utf-8")
    (root / "leak.txt").symlink_to(tmp_path / "outside.txt")
    (root / ".env").write_text("secret", encoding="utf-8")
    port = free_port()
    server = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    server = server.replace("listen 8080;", f"listen 127.0.0.1:{port};").replace("/usr/share/nginx/html", str(root))
    (tmp_path / "server.conf").write_text(server, encoding="utf-8")
    mime = "/etc/nginx/mime.types"
    (tmp_path / "nginx.conf").write_text(f"""
daemon off;
user root;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 64; }}
http {{
    include {mime};
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/server.conf;
}}
""", encoding="utf-8")
    check = subprocess.run([NGINX, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                            stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(base + "index.html", timeout=2).read()
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and proc.poll() is None, "nginx did not start"
                time.sleep(0.1)
        for name, media_type in files.items():
            request = urllib.request.Request(base + name, headers={"Accept-Encoding": "gzip"})
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.headers["Content-Type"].split(";")[0] == media_type, name
                assert response.headers["Content-Encoding"] == "gzip", name
                assert gzip.decompress(response.read()).decode("utf-8").startswith("<x>")
                etag, modified = response.headers["ETag"], response.headers["Last-Modified"]
                assert response.headers["Cache-Control"] == "public, max-age=60"
            for header, value in (("If-None-Match", etag), ("If-Modified-Since", modified)):
                with pytest.raises(urllib.error.HTTPError) as not_modified:
                    urllib.request.urlopen(urllib.request.Request(base + name, headers={header: value}), timeout=5)
                assert not_modified.value.code == 304
        for path in ("leak.txt", ".env", "all/", "missing.xml"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + path, timeout=5)
            assert refused.value.code in (403, 404), path
    finally:
        proc.send_signal(signal.SIGQUIT)
        proc.wait(timeout=10)
