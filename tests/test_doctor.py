"""``linestream doctor URL`` against real deployments: uvicorn direct, Debian's nginx in front of it (buffering
on and ignoring ``X-Accel-Buffering``, buffering on and honouring it, buffering off with a short read timeout),
and an app behind Starlette's ``GZipMiddleware``."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from linestream.cli import cli
from tests.apps import doctor_app
from tests.conftest import free_port, serve, wait_for

NGINX = "/usr/sbin/nginx"
CONFIG = """
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    proxy_http_version 1.1;
    server {{
        listen 127.0.0.1:{port};
        location /buffered/ {{
            proxy_pass http://127.0.0.1:{upstream}/;
            proxy_buffering on;
            proxy_ignore_headers X-Accel-Buffering;
        }}
        location /gzipped/ {{
            proxy_pass http://127.0.0.1:{upstream}/;
            proxy_buffering on;
            proxy_ignore_headers X-Accel-Buffering;
            gzip on;
            gzip_min_length 0;
            gzip_proxied any;
            gzip_types text/event-stream application/jsonl;
        }}
        location /honoured/ {{
            proxy_pass http://127.0.0.1:{upstream}/;
            proxy_buffering on;
        }}
        location /direct/ {{
            proxy_pass http://127.0.0.1:{upstream}/;
            proxy_buffering off;
            proxy_read_timeout 1s;
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve(doctor_app.app) as url:
        yield url


@pytest.fixture(scope="module")
def nginx(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not shutil.which(NGINX):
        pytest.fail(f"nginx is required at {NGINX} (scripts/test installs Debian's nginx package)")
    folder = tmp_path_factory.mktemp("nginx")
    port = free_port()
    config = folder / "nginx.conf"
    config.write_text(CONFIG.format(dir=folder, port=port, upstream=upstream.rsplit(":", 1)[1]))
    process = subprocess.Popen([NGINX, "-c", str(config), "-p", str(folder)], stderr=subprocess.PIPE)
    try:
        wait_for(lambda: _listening(port) or process.poll() is not None, timeout=10)
        assert process.poll() is None, (process.stderr.read() if process.stderr else b"").decode()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        if process.stderr is not None:
            process.stderr.close()


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def doctor(*args: str) -> Result:
    return CliRunner().invoke(cli, ["doctor", *args], catch_exceptions=False)


def test_a_healthy_stream_passes_every_check(upstream: str) -> None:
    result = doctor(f"{upstream}/ticks?quiet=1.5", "--watch", "4", "--keepalive", "0.5")
    assert result.exit_code == 0, result.output
    assert "HTTP/1.1 200, text/event-stream" in result.output
    assert "as they were sent" in result.output
    assert "bytes kept coming" in result.output
    assert "resumed right after it (1)" in result.output
    assert "FIX" not in result.output


def test_nginx_compressing_a_stream_holds_it_back_and_is_found_with_its_fix(nginx: str) -> None:
    result = doctor(f"{nginx}/gzipped/ticks", "-H", "Accept-Encoding: gzip", "--watch", "5")
    assert result.exit_code == 1, result.output
    assert "content encoding gzip" in result.output
    assert "the items arrived only as the stream ended" in result.output
    assert "the stream is compressed (gzip)" in result.output
    assert "proxy_buffering off" in result.output


@pytest.mark.parametrize("location", ["honoured", "buffered", "direct"])
def test_nginx_proxy_buffering_on_or_off_delivers_a_stream_read_at_once_as_sent(nginx: str, location: str) -> None:
    # proxy_buffering on holds nothing back from a client that reads (nginx 1.22), whether it honours the
    # X-Accel-Buffering: no that linestream sends or ignores it; it is a compressor (above) that holds items.
    result = doctor(f"{nginx}/{location}/ticks", "--watch", "5")
    assert "as they were sent" in result.output, result.output
    assert result.exit_code == 0, result.output


def test_an_idle_cut_by_the_proxys_read_timeout_is_found_with_its_fix(nginx: str) -> None:
    result = doctor(f"{nginx}/direct/no-keepalive?quiet=5", "--watch", "8", "--keepalive", "0.5")
    assert result.exit_code == 1, result.output
    assert "the connection was cut after" in result.output
    assert "proxy_read_timeout" in result.output


def test_keep_alives_that_do_not_come_are_found(upstream: str) -> None:
    result = doctor(f"{upstream}/no-keepalive?quiet=2", "--watch", "4", "--keepalive", "0.5")
    assert result.exit_code == 1, result.output
    assert "without a byte, where keep-alives were expected every 0.5 s" in result.output


def test_a_stream_that_ignores_last_event_id_is_found(upstream: str) -> None:
    result = doctor(f"{upstream}/forgetful", "--watch", "4")
    assert result.exit_code == 1, result.output
    assert "sent that event again" in result.output


def test_a_compressed_stream_is_named_and_starlettes_gzip_still_delivers_as_sent() -> None:
    with serve(doctor_app.gzip_app) as url:
        result = doctor(f"{url}/ticks", "--format", "jsonl", "--watch", "4")
    assert "content encoding gzip" in result.output, result.output
    assert "as they were sent" in result.output
    assert result.exit_code == 0, result.output


def test_an_error_status_is_a_finding(upstream: str) -> None:
    result = doctor(f"{upstream}/nowhere")
    assert result.exit_code == 1
    assert "404" in result.output
