"""Download Spider or BIRD from a manifest: streamed, resumable, verified, extracted atomically.

The manifest (``sqlenv_core/datasets/manifest.json``, shipped as package data: :data:`DEFAULT_MANIFEST`)
maps a name to its archive: ``url``, ``filename``, ``size``, ``sha256``, ``archive`` kind,
the ``folder`` it unpacks to and ``nested`` archives inside it to unpack too.

* Bytes go to ``<parent of DIR>/.sqlenv-downloads/<name>-<filename>.part``; a rerun after a
  dropped connection resumes from there with an HTTP ``Range`` request.
* When the manifest (or the caller) pins ``size``/``sha256``, a mismatch is an error and the
  bad file is deleted: nothing is extracted from it.
* Extraction goes to a temporary folder beside ``DIR`` which is renamed into place only when
  complete, so ``DIR`` is either absent or whole.
* ``SQLENV_DATA_MANIFEST`` (a path or URL) replaces the manifest and ``SQLENV_DATA_BASE_URL``
  serves every archive from ``<base>/<filename>`` instead (a mirror, or a local test server).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_MANIFEST",
    "MANIFEST_ENV",
    "DownloadError",
    "DownloadInterrupted",
    "DownloadResult",
    "Source",
    "download_dataset",
    "load_manifest",
]

MANIFEST_ENV = "SQLENV_DATA_MANIFEST"
BASE_URL_ENV = "SQLENV_DATA_BASE_URL"
MARKER = ".sqlenv-download.json"
USER_AGENT = "sqlenv-data/0.1 (+https://github.com/sqlenv)"
ARCHIVE_KINDS = ("zip", "tar", "tar.gz", "tgz", "tar.bz2", "tar.xz")
_CHUNK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

#: The manifest shipped with sqlenv-core (package data); ``$SQLENV_DATA_MANIFEST`` replaces it.
DEFAULT_MANIFEST: Traversable = resources.files("sqlenv_core.datasets") / "manifest.json"


class DownloadError(RuntimeError):
    """A download failed; the message says why and what to do."""


class DownloadInterrupted(DownloadError):
    """The connection dropped mid-body; the partial file is kept and a rerun resumes it."""


@dataclass(frozen=True)
class Source:
    """One manifest entry: where an archive is and what it must look like."""

    name: str
    url: str
    filename: str
    archive: str = "zip"
    size: int | None = None
    sha256: str | None = None
    folder: str | None = None
    nested: tuple[str, ...] = ()
    loader: str = ""
    homepage: str = ""
    license: str = ""


@dataclass(frozen=True)
class DownloadResult:
    """What :func:`download_dataset` did.

    Attributes:
        path: the extracted dataset folder (``DIR``).
        sha256: the archive's SHA-256 as downloaded ('' when nothing was downloaded).
        size: the archive's size in bytes.
        verified: the checksum was pinned and matched.
        resumed_from: bytes already on disk when the last request started (0: a fresh download).
        already_present: ``DIR`` already held this dataset; nothing was fetched.
    """

    path: Path
    sha256: str = ""
    size: int = 0
    verified: bool = False
    resumed_from: int = 0
    already_present: bool = False


# -- manifest ------------------------------------------------------------------------------------


def _source(name: str, entry: Any, where: str) -> Source:
    if not isinstance(entry, dict):
        raise DownloadError(f"{where}: entry {name!r} must be an object with at least 'url'")
    item: dict[str, Any] = entry  # pyright: ignore[reportUnknownVariableType]
    url = item.get("url")
    if not isinstance(url, str) or not url:
        raise DownloadError(f"{where}: entry {name!r} has no 'url'")
    archive = str(item.get("archive") or "zip")
    if archive not in ARCHIVE_KINDS:
        raise DownloadError(f"{where}: entry {name!r}: archive {archive!r} is not one of {', '.join(ARCHIVE_KINDS)}")
    sha = item.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not _SHA256.match(sha.lower())):
        raise DownloadError(f"{where}: entry {name!r}: sha256 must be 64 hex digits or null")
    size = item.get("size")
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise DownloadError(f"{where}: entry {name!r}: size must be a positive integer or null")
    filename = str(item.get("filename") or Path(urlparse(url).path).name or f"{name}.{archive}")
    nested: list[Any] = list(item.get("nested") or [])
    return Source(
        name=name,
        url=url,
        filename=filename,
        archive=archive,
        size=size,
        sha256=sha.lower() if isinstance(sha, str) else None,
        folder=str(item["folder"]) if item.get("folder") else None,
        nested=tuple(str(n) for n in nested),
        loader=str(item.get("loader") or name),
        homepage=str(item.get("homepage") or ""),
        license=str(item.get("license") or ""),
    )


def load_manifest(location: str | Path | None = None, *, timeout: float = 10.0) -> dict[str, Source]:
    """Read a download manifest.

    Args:
        location: a file path or an ``http(s)://`` URL. Default: ``$SQLENV_DATA_MANIFEST``, else
            the manifest shipped with the package (:data:`DEFAULT_MANIFEST`).
        timeout: seconds to wait for a manifest URL.

    Raises:
        DownloadError: the manifest cannot be read or an entry is malformed.
    """
    chosen = location if location is not None else os.environ.get(MANIFEST_ENV)
    where = str(chosen) if chosen is not None else "the built-in manifest"
    try:
        if chosen is None:
            text = DEFAULT_MANIFEST.read_text(encoding="utf-8")
        elif where.startswith(("http://", "https://")):
            with urllib.request.urlopen(
                urllib.request.Request(where, headers={"User-Agent": USER_AGENT}), timeout=timeout
            ) as resp:
                text = resp.read().decode("utf-8")
        else:
            text = Path(where).expanduser().read_text(encoding="utf-8")
        data: Any = json.loads(text)
    except (OSError, urllib.error.URLError, UnicodeDecodeError) as exc:
        raise DownloadError(f"cannot read the download manifest {where}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise DownloadError(f"{where}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
    except RecursionError:
        raise DownloadError(f"{where}: JSON nested too deeply to read") from None
    entries = cast(Any, data.get("datasets", data) if isinstance(data, dict) else None)  # pyright: ignore[reportUnknownMemberType]
    if not isinstance(entries, dict):
        raise DownloadError(f"{where}: expected an object with a 'datasets' mapping of name to entry")
    items: dict[str, Any] = entries  # pyright: ignore[reportUnknownVariableType]
    return {name: _source(name, entry, where) for name, entry in items.items() if not name.startswith("_")}


# -- fetching ------------------------------------------------------------------------------------


def _unreachable(url: str, exc: BaseException) -> DownloadError:
    reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    host = urlparse(url).netloc or url
    if isinstance(reason, ConnectionRefusedError):
        why = "connection refused"
    elif isinstance(reason, socket.gaierror):
        why = "host name does not resolve"
    elif isinstance(reason, TimeoutError | socket.timeout):
        why = "timed out"
    else:
        why = str(reason) or type(reason).__name__
    return DownloadError(
        f"cannot reach {host} ({why}); are you offline? Retry when connected, or point "
        f"--base-url / ${BASE_URL_ENV} at a mirror that serves the archive"
    )


def _content_range_start(value: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-", value or "")
    return int(match.group(1)) if match else None


def _fetch(
    url: str,
    part: Path,
    *,
    timeout: float,
    expected_size: int | None,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Append the rest of ``url`` to ``part``; return the offset the request resumed from."""
    have = part.stat().st_size if part.is_file() else 0
    if expected_size is not None and have > expected_size:
        part.unlink()
        have = 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            return have  # the partial file is already whole; verification decides
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise _unreachable(url, exc) from exc
    with response:
        if "text/html" in (response.headers.get("Content-Type") or ""):
            raise DownloadError(
                f"{url} returned a web page instead of the archive (a quota or confirmation page?); "
                f"download it in a browser and place it at {part.with_suffix('')}"
            )
        start = _content_range_start(response.headers.get("Content-Range")) if response.status == 206 else 0
        if start is not None and start not in (0, have):
            part.unlink()
            raise DownloadInterrupted(f"{url}: server resumed at byte {start}, not {have}; starting over")
        if start != have:
            have = 0  # the server ignored the Range header and sends everything: start over
        length_header = response.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        total = have + length if length is not None else expected_size
        resumed_from = have
        with part.open("ab" if have else "wb") as out:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (http.client.HTTPException, OSError) as exc:
                    raise DownloadInterrupted(_interrupted(url, part, have, total)) from exc
                if not chunk:
                    break
                out.write(chunk)
                have += len(chunk)
                if progress is not None:
                    progress(have, total or 0)
        if length is not None and have < resumed_from + length:
            raise DownloadInterrupted(_interrupted(url, part, have, total))
    return resumed_from


def _interrupted(url: str, part: Path, have: int, total: int | None) -> str:
    of = f" of {total:,}" if total else ""
    return f"download of {url} interrupted after {have:,}{of} bytes; run the same command again to resume from {part}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(part: Path, source: Source, sha256: str | None) -> tuple[str, bool]:
    size = part.stat().st_size
    if source.size is not None and size != source.size:
        if size < source.size:
            raise DownloadInterrupted(
                f"{part.name}: {size:,} of {source.size:,} bytes received; run the command again to resume"
            )
        part.unlink()
        raise DownloadError(
            f"{source.filename}: {size:,} bytes received but the manifest says {source.size:,}; "
            "the download was discarded (the manifest may be stale or the server wrong)"
        )
    digest = _sha256(part)
    expected = (sha256 or source.sha256 or "").lower()
    if expected and digest != expected:
        part.unlink()
        raise DownloadError(
            f"checksum mismatch for {source.filename}: expected sha256 {expected}, got {digest}; "
            "the download was discarded and nothing was extracted. Retry; if it persists, the archive "
            "changed upstream and the manifest needs updating"
        )
    return digest, bool(expected)


# -- extraction ----------------------------------------------------------------------------------


def _unpack(archive: Path, dest: Path, kind: str) -> None:
    root = dest.resolve()
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                members = [m for m in zf.namelist() if not m.startswith("__MACOSX/")]
                for member in members:
                    if not (root / member).resolve().is_relative_to(root):
                        raise DownloadError(f"{archive.name}: unsafe path {member!r} in archive; refusing it")
                zf.extractall(dest, members)
        else:
            with tarfile.open(archive, "r:*") as tf:
                tf.extractall(dest, filter="data")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise DownloadError(f"{archive.name} is not a valid {kind} archive: {exc}") from exc


def _content_root(staging: Path, folder: str | None) -> Path:
    if folder and (staging / folder).is_dir():
        return staging / folder
    entries = [p for p in staging.iterdir() if p.name != "__MACOSX" and not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return staging


def _extract(archive: Path, source: Source, target: Path, marker: dict[str, Any]) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.extract-", dir=target.parent))
    try:
        _unpack(archive, staging, source.archive)
        root = _content_root(staging, source.folder)
        for nested in source.nested:
            inner = root / nested
            if not inner.is_file():
                raise DownloadError(f"{source.filename} should contain {nested} but does not; is the manifest stale?")
            kind = "zip" if inner.suffix == ".zip" else "tar"
            _unpack(inner, inner.parent, kind)
            inner.unlink()
        shutil.rmtree(root / "__MACOSX", ignore_errors=True)
        (root / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        old: Path | None = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
        root.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# -- the whole job -------------------------------------------------------------------------------


def _already_there(target: Path, name: str) -> bool:
    marker = target / MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("name") == name
    except (OSError, ValueError, AttributeError, RecursionError):
        return False


def download_dataset(
    name: str,
    to: str | Path,
    *,
    manifest: str | Path | None = None,
    base_url: str | None = None,
    sha256: str | None = None,
    timeout: float = 10.0,
    retries: int = 2,
    force: bool = False,
    keep_archive: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> DownloadResult:
    """Download, verify and extract dataset ``name`` into folder ``to``.

    Args:
        name: a manifest entry (``spider``, ``bird``).
        to: the folder to create; afterwards ``spider:<to>`` / ``bird:<to>`` loads it.
        manifest: a manifest path or URL (see :func:`load_manifest`).
        base_url: fetch ``<base_url>/<filename>`` instead of the manifest URL (default
            ``$SQLENV_DATA_BASE_URL``).
        sha256: a checksum to require (overrides the manifest's).
        timeout: seconds to wait for a connection or for data; an unreachable host fails fast.
        retries: extra attempts after a dropped connection (each resumes where the last stopped).
        force: replace ``to`` even if it already holds data.
        keep_archive: keep the verified archive in ``.sqlenv-downloads`` after extracting it.
        progress: ``progress(bytes_done, bytes_total)``; total is 0 when unknown.

    Raises:
        DownloadError: unknown name, unreachable host, HTTP error, checksum mismatch, a bad
            archive, or ``to`` already holding something else.
    """
    sources = load_manifest(manifest, timeout=timeout)
    if name not in sources:
        raise DownloadError(f"unknown dataset {name!r}; the manifest has {', '.join(sorted(sources)) or 'nothing'}")
    source = sources[name]
    target = Path(to).expanduser().resolve()
    if not force and _already_there(target, name):
        return DownloadResult(path=target, already_present=True)
    if not force and target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DownloadError(
            f"{target} already exists and is not empty; pass --force to replace it or pick another --to"
        )
    if sha256 is not None and not _SHA256.match(sha256.lower()):
        raise DownloadError(f"--sha256 must be 64 hex digits, got {sha256!r}")
    mirror = base_url if base_url is not None else os.environ.get(BASE_URL_ENV)
    url = f"{mirror.rstrip('/')}/{source.filename}" if mirror else source.url
    if urlparse(url).scheme not in ("http", "https"):
        raise DownloadError(f"only http(s) URLs can be downloaded, got {url!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    cache = target.parent / ".sqlenv-downloads"
    cache.mkdir(exist_ok=True)
    part = cache / f"{name}-{source.filename}.part"
    attempt = 0
    while True:
        try:
            resumed_from = _fetch(url, part, timeout=timeout, expected_size=source.size, progress=progress)
            digest, verified = _verify(part, source, sha256)
            break
        except DownloadInterrupted:
            if attempt >= retries:
                raise
            attempt += 1
            time.sleep(min(0.5 * attempt, 2.0))
    size = part.stat().st_size
    marker = {
        "name": name,
        "url": url,
        "sha256": digest,
        "size": size,
        "verified": verified,
        "downloaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _extract(part, source, target, marker)
    if keep_archive:
        part.rename(cache / f"{name}-{source.filename}")
    else:
        part.unlink()
    return DownloadResult(path=target, sha256=digest, size=size, verified=verified, resumed_from=resumed_from)
