"""`sqlenv data download` against a real HTTP server on 127.0.0.1 serving an archive built here."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import sqlite3
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sqlenv_core.datasets import load
from sqlenv_core.datasets.download import (
    DEFAULT_MANIFEST,
    DownloadError,
    DownloadInterrupted,
    download_dataset,
    load_manifest,
)


def _shop_db() -> bytes:
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        "CREATE TABLE product (id INTEGER PRIMARY KEY, name TEXT, price REAL);"
        "INSERT INTO product VALUES (1, 'pen', 2.5), (2, 'book', 12.0), (3, 'lamp', 30.0);"
    )
    data = conn.serialize()
    conn.close()
    return data


def _bird_like_archive() -> bytes:
    """A zip shaped like BIRD's dev.zip: a dated folder with dev.json and a nested databases zip."""
    db_buf = io.BytesIO()
    with zipfile.ZipFile(db_buf, "w") as inner:
        inner.writestr("dev_databases/shop/shop.sqlite", _shop_db())
    questions = [
        {
            "question_id": 0,
            "db_id": "shop",
            "question": "How many products cost more than 5?",
            "evidence": "cost refers to price",
            "SQL": "SELECT count(*) FROM product WHERE price > 5",
            "difficulty": "simple",
        }
    ]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as outer:
        outer.writestr("dev_20240627/dev.json", json.dumps(questions))
        outer.writestr("dev_20240627/dev_databases.zip", db_buf.getvalue())
        outer.writestr("__MACOSX/dev_20240627/._dev.json", b"junk")
        # Padding makes the body long enough that a mid-body cut is a real partial file.
        outer.writestr("dev_20240627/padding.bin", bytes(range(256)) * 4096, compress_type=zipfile.ZIP_STORED)
    return buf.getvalue()


ARCHIVE = _bird_like_archive()
ARCHIVE_SHA = hashlib.sha256(ARCHIVE).hexdigest()


class _Server:
    """Serves ARCHIVE at /dev.zip with Range support; modes simulate a corrupt or dropped body."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append({k: v for k, v in self.headers.items()})
                if self.path != "/dev.zip":
                    self.send_error(404)
                    return
                body = ARCHIVE if outer.mode != "corrupt" else ARCHIVE[:-10] + b"X" * 10
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                if outer.mode == "drop_once":
                    outer.mode = "ok"
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[_Server]:
    with _Server() as srv:
        yield srv


def _manifest(tmp_path: Path, *, sha256: str | None = ARCHIVE_SHA, size: int | None = len(ARCHIVE)) -> Path:
    entry = {
        "url": "https://example.invalid/dev.zip",
        "filename": "dev.zip",
        "size": size,
        "sha256": sha256,
        "archive": "zip",
        "folder": None,
        "nested": ["dev_databases.zip"],
        "loader": "bird",
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"datasets": {"bird": entry}}))
    return path


def test_download_verifies_extracts_and_the_result_loads(tmp_path: Path, server: _Server) -> None:
    seen: list[tuple[int, int]] = []
    result = download_dataset(
        "bird",
        tmp_path / "bird",
        manifest=_manifest(tmp_path),
        base_url=server.url,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert result.verified and result.sha256 == ARCHIVE_SHA
    assert (tmp_path / "bird" / "dev.json").is_file()
    assert (tmp_path / "bird" / "dev_databases" / "shop" / "shop.sqlite").is_file()
    assert not (tmp_path / "bird" / "dev_databases.zip").exists()
    assert not (tmp_path / "bird" / "__MACOSX").exists()
    assert seen[-1] == (len(ARCHIVE), len(ARCHIVE))
    # no staging folders or partial files left beside the target
    assert sorted(p.name for p in tmp_path.iterdir()) == [".sqlenv-downloads", "bird", "manifest.json"]
    assert list((tmp_path / ".sqlenv-downloads").iterdir()) == []
    ds = load(f"bird:{tmp_path / 'bird'}")
    (q,) = ds.questions
    assert q.evidence == "cost refers to price" and ds.gold(q.id).rows == [(2,)]
    again = download_dataset("bird", tmp_path / "bird", manifest=_manifest(tmp_path), base_url=server.url)
    assert again.already_present and len(server.requests) == 1


def test_corrupt_download_is_refused_and_nothing_is_extracted(tmp_path: Path, server: _Server) -> None:
    server.mode = "corrupt"
    with pytest.raises(DownloadError, match="checksum mismatch.*discarded"):
        download_dataset("bird", tmp_path / "bird", manifest=_manifest(tmp_path), base_url=server.url)
    assert not (tmp_path / "bird").exists()
    assert list((tmp_path / ".sqlenv-downloads").iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bird")] == []


def test_interrupted_download_resumes_with_a_range_request(tmp_path: Path, server: _Server) -> None:
    server.mode = "drop_once"
    with pytest.raises(DownloadInterrupted, match="run the same command again to resume"):
        download_dataset("bird", tmp_path / "bird", manifest=_manifest(tmp_path), base_url=server.url, retries=0)
    part = tmp_path / ".sqlenv-downloads" / "bird-dev.zip.part"
    kept = part.stat().st_size
    assert 0 < kept < len(ARCHIVE)
    assert not (tmp_path / "bird").exists()
    result = download_dataset("bird", tmp_path / "bird", manifest=_manifest(tmp_path), base_url=server.url)
    assert result.resumed_from == kept and result.verified
    assert server.requests[-1].get("Range") == f"bytes={kept}-"
    assert "Range" not in server.requests[0]
    assert (tmp_path / "bird" / "dev.json").is_file()


def test_dropped_connection_is_retried_automatically(tmp_path: Path, server: _Server) -> None:
    server.mode = "drop_once"
    result = download_dataset("bird", tmp_path / "bird", manifest=_manifest(tmp_path), base_url=server.url)
    assert result.resumed_from > 0 and (tmp_path / "bird" / "dev.json").is_file()


def test_offline_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(DownloadError, match="cannot reach 127.0.0.1.*connection refused.*offline"):
        download_dataset("bird", tmp_path / "bird", manifest=_manifest(tmp_path), base_url=f"http://127.0.0.1:{port}")
    assert time.monotonic() - started < 5
    assert not (tmp_path / "bird").exists()


def test_unpinned_checksum_is_reported_not_trusted_blindly(tmp_path: Path, server: _Server) -> None:
    result = download_dataset(
        "bird", tmp_path / "bird", manifest=_manifest(tmp_path, sha256=None, size=None), base_url=server.url
    )
    assert not result.verified and result.sha256 == ARCHIVE_SHA
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_dataset(
            "bird",
            tmp_path / "other",
            manifest=_manifest(tmp_path, sha256=None, size=None),
            base_url=server.url,
            sha256="0" * 64,
        )


def test_a_non_empty_target_is_not_overwritten(tmp_path: Path, server: _Server) -> None:
    (tmp_path / "bird").mkdir()
    (tmp_path / "bird" / "notes.txt").write_text("mine")
    with pytest.raises(DownloadError, match="not empty.*--force"):
        download_dataset("bird", tmp_path / "bird", manifest=_manifest(tmp_path), base_url=server.url)
    assert (tmp_path / "bird" / "notes.txt").read_text() == "mine"
    assert server.requests == []


def test_unknown_name_and_bad_manifest_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="unknown dataset 'wikisql'.*bird"):
        download_dataset("wikisql", tmp_path / "x", manifest=_manifest(tmp_path))
    bad = tmp_path / "bad.json"
    bad.write_text('{"datasets": {"bird": {"url": "https://x/y.zip", "sha256": "abc"}}}')
    with pytest.raises(DownloadError, match="sha256 must be 64 hex digits"):
        load_manifest(bad)


def test_the_shipped_manifest_is_the_default_and_reads_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SQLENV_DATA_MANIFEST", raising=False)
    shipped = json.loads(DEFAULT_MANIFEST.read_text(encoding="utf-8"))["datasets"]
    sources = load_manifest()
    assert set(sources) == set(shipped) == {"spider", "bird"}
    assert sources["bird"].url.startswith("https://") and sources["spider"].filename == "spider_data.zip"
