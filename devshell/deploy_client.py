"""``devshell deploy``: zip a module and upload it to a running devshell server.

The zip holds what git would commit (``.gitignore`` honoured) minus ``__pycache__``
and compiled files; symbolic links are refused (the server would refuse them
too). The client logs in (``POST /web/login``), then posts the zip to
``/devshell/deploy`` with the server's deploy password; the server installs it
and every server sharing the database loads it. HTTPS certificates are verified unless *insecure*.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import secrets
import ssl
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from .errors import DevshellError, UsageError

ALWAYS_SKIPPED = frozenset({"__pycache__", ".git", ".devshell", ".hg", ".svn"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")
CHUNK = 64 * 1024
Progress = Callable[[int], None]


@dataclass
class PackedModule:
    """A module zipped for upload: entries are ``<name>/<relative path>``."""

    name: str
    version: str
    path: Path
    data: bytes
    files: list[str] = field(default_factory=list)


def module_files(root: Path) -> list[PurePosixPath]:
    """The files to deploy, relative to *root*: .gitignore honoured, caches skipped, symlinks refused."""
    from .gitignore import IgnoreRules

    rules = IgnoreRules(root)
    found: list[PurePosixPath] = []
    for folder, dirs, files in os.walk(root):
        here = PurePosixPath(Path(folder).relative_to(root).as_posix())
        if here != PurePosixPath("."):
            rules.enter(here)
        kept = []
        for name in sorted(dirs):
            relative = here / name if here != PurePosixPath(".") else PurePosixPath(name)
            if Path(folder, name).is_symlink():
                raise DevshellError(f"{root / relative} is a symbolic link: deploy real folders only")
            if name not in ALWAYS_SKIPPED and not rules.ignored(relative, True):
                kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            relative = here / name if here != PurePosixPath(".") else PurePosixPath(name)
            if name.endswith(SKIPPED_SUFFIXES) or rules.ignored(relative, False):
                continue
            if Path(folder, name).is_symlink():
                raise DevshellError(f"{root / relative} is a symbolic link: replace it with the file itself")
            found.append(relative)
    return sorted(found)


def pack_module(path: str | Path) -> PackedModule:
    """Zip the module at *path* (its manifest checked first, so a broken module never leaves the machine)."""
    from .modules import read_manifest
    from .server.web.module_archive import MAX_ARCHIVE_BYTES, MANIFEST

    root = Path(path).expanduser().resolve()
    if not (root / MANIFEST).is_file():
        raise UsageError(f"{path} is not a module: it has no {MANIFEST}")
    if not root.name.isidentifier():
        raise UsageError(f"{root.name!r} is not a valid module name: a module's folder name is a Python identifier")
    manifest = read_manifest(root / MANIFEST, root.name)
    files = module_files(root)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in files:
            archive.write(root / relative, f"{root.name}/{relative.as_posix()}")
    data = buffer.getvalue()
    if len(data) > MAX_ARCHIVE_BYTES:
        raise DevshellError(f"the zipped module is {len(data)} bytes, over the server's limit of "
                            f"{MAX_ARCHIVE_BYTES} bytes: leave large files out with .gitignore")
    return PackedModule(root.name, manifest.version, root, data, [p.as_posix() for p in files])


_HOST = re.compile(r"[\w.~-]+|[0-9A-Fa-f:.]+(%[\w.-]+)?")  #: a name, an IPv4 address, or an IPv6 one (brackets off)


def parse_url(url: str) -> urllib.parse.SplitResult:
    """*url* split (``http://`` assumed without a scheme), or a usage error saying what is wrong with it."""
    try:
        parsed = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        port, host = parsed.port, parsed.hostname  # both raise ValueError on a bad port or IPv6 literal
    except ValueError as exc:
        raise UsageError(f"{url!r} is not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise UsageError(f"{url!r} is not an http:// or https:// URL")
    if not host or not _HOST.fullmatch(host):
        raise UsageError(f"{url!r} names no valid host (e.g. http://127.0.0.1:8069)")
    if port == 0:
        raise UsageError(f"{url!r}: port 0 is not a server's port")
    return parsed


class Client:
    """Just enough HTTP for deploy: one connection, cookies kept, JSON errors turned into one line."""

    def __init__(self, url: str, *, insecure: bool = False, timeout: float = 300.0) -> None:
        parsed = parse_url(url)
        assert parsed.hostname is not None
        self.url = url
        self.prefix = parsed.path.rstrip("/")
        self.cookies: dict[str, str] = {}
        if parsed.scheme == "https":
            context = ssl.create_default_context()
            if insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self.conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parsed.hostname, parsed.port, timeout=timeout, context=context)
        else:
            self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)

    def request(self, path: str, body: bytes, content_type: str,
                progress: Progress | None = None) -> tuple[int, Any]:
        """POST *body*; (status, decoded JSON body or text)."""
        try:
            self.conn.putrequest("POST", self.prefix + path)
            self.conn.putheader("Content-Type", content_type)
            self.conn.putheader("Content-Length", str(len(body)))
            self.conn.putheader("Accept", "application/json")
            if self.cookies:
                self.conn.putheader("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
            self.conn.endheaders()
            view = memoryview(body)
            for start in range(0, len(body), CHUNK):
                self.conn.send(view[start:start + CHUNK])
                if progress is not None:
                    progress(len(view[start:start + CHUNK]))
            response = self.conn.getresponse()
            raw = response.read()
        except ssl.SSLCertVerificationError as exc:
            raise DevshellError(f"the TLS certificate of {self.url} is not trusted ({exc.verify_message}): "
                                "fix it, or pass --insecure to skip the check") from None
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise DevshellError(f"cannot reach {self.url}: {reason} (is `devshell server` running there?)") from None
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw.decode("utf-8", "replace")

    def close(self) -> None:
        self.conn.close()


def _error_text(payload: Any) -> str:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return str(payload["error"].get("message", payload["error"]))
    return str(payload).strip()[:300]


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with *fields* and one file named ``file``; (body, content type)."""
    boundary = f"devshell-{secrets.token_hex(16)}"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 "Content-Type: application/zip\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload(packed: PackedModule, url: str, db: str, login: str, password: str, *, deploy_password: str,
           force: bool = False, insecure: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """Log in on *db* at *url* and upload *packed*; the server's answer (module, version, action…).

    Two keys: *login*'s *password* (an administrator of *db*) and the server's
    *deploy_password*. *progress* is told how many bytes of the upload went out, as they go.
    """
    if not password:
        raise UsageError("no password: type it when asked, or set DEVSHELL_PASSWORD")
    if not deploy_password:
        raise UsageError("no deploy password: type it when asked, or set DEVSHELL_DEPLOY_PASSWORD")
    client = Client(url, insecure=insecure)
    try:
        status, answer = client.request("/web/login", json.dumps(
            {"login": login, "password": password, "db": db}).encode(), "application/json")
        if status == 401:
            raise DevshellError(f"login refused on {db!r}: wrong login or password for {login!r}")
        if status != 200:
            raise DevshellError(f"login on {db!r} failed ({status}): {_error_text(answer)}")
        if not (isinstance(answer, dict) and answer.get("is_admin")):
            raise DevshellError(f"user {login!r} is not an administrator of {db!r}: deploy needs an admin")
        fields = {"db": db, "force": "1" if force else "0", "deploy_password": deploy_password}
        body, content_type = multipart(fields, f"{packed.name}.zip", packed.data)
        status, answer = client.request("/devshell/deploy", body, content_type, progress)
    finally:
        client.close()
    if status != 200:
        raise DevshellError(f"the server refused {packed.name} ({status}): {_error_text(answer)}")
    if not isinstance(answer, dict):
        raise DevshellError(f"unexpected answer from {url}: {_error_text(answer)}")
    return answer


def deploy(path: str | Path, url: str, db: str, login: str, password: str, *, deploy_password: str,
           force: bool = False, insecure: bool = False) -> dict[str, Any]:
    """Zip the module at *path* and upload it (see :func:`upload`)."""
    return upload(pack_module(path), url, db, login, password, deploy_password=deploy_password, force=force,
                  insecure=insecure)
