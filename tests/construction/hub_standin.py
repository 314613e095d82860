"""A tiny local HTTP server that answers like the Hugging Face Hub for dataset downloads.

It serves what ``huggingface_hub.snapshot_download`` asks for: the dataset's
revision info (``/api/datasets/<repo>/revision/<rev>``), its file tree
(``/api/datasets/<repo>/tree/<commit>``) and the files themselves
(``/datasets/<repo>/resolve/<commit>/<path>``, HEAD and GET). A repository can be
**gated**: its metadata stays public, as on the Hub, but a file request without
an allowed token gets the Hub's refusal (HTTP 401 without a token, 403 with one,
``X-Error-Code: GatedRepo``). Every request's path and Authorization header are
recorded, so tests can check what was sent.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse


@dataclass
class HubRepo:
    repo_id: str
    files: dict[str, bytes]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    gated: bool = False
    allowed_tokens: set[str] = field(default_factory=set)

    @classmethod
    def from_folder(cls, repo_id: str, folder: Path, **kwargs) -> HubRepo:
        files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
                 if p.is_file() and not p.name.startswith(".")}
        return cls(repo_id, files, **kwargs)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        return

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              head: bool = False) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, payload, head: bool = False) -> None:
        self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json"},
                   head)

    def _route(self, head: bool) -> None:
        path = unquote(urlparse(self.path).path)
        self.server.requests.append((self.command, path))
        self.server.authorizations.append(self.headers.get("Authorization"))
        for repo in self.server.repos.values():
            api = f"/api/datasets/{repo.repo_id}/"
            resolve = f"/datasets/{repo.repo_id}/resolve/"
            if path == api.rstrip("/") or path.startswith(api + "revision/"):
                siblings = [{"rfilename": name} for name in repo.files]
                return self._json(200, {"id": repo.repo_id, "sha": repo.commit,
                                        "private": False,
                                        "gated": "manual" if repo.gated else False,
                                        "siblings": siblings}, head)
            if path.startswith(api + "tree/"):
                tree = [{"type": "file", "path": name, "size": len(data),
                         "oid": hashlib.sha1(data).hexdigest()}
                        for name, data in repo.files.items()]
                return self._json(200, tree, head)
            if path.startswith(resolve):
                name = path[len(resolve):].split("/", 1)[1]
                if repo.gated and self._token() not in repo.allowed_tokens:
                    status = 403 if self._token() else 401
                    message = (f"Access to dataset {repo.repo_id} is restricted. You must have "
                               f"access to it and be authenticated to access it. Please log in.")
                    return self._send(status, message.encode(), {
                        "X-Error-Code": "GatedRepo", "X-Error-Message": message}, head)
                if name not in repo.files:
                    return self._send(404, b"Entry not found",
                                      {"X-Error-Code": "EntryNotFound"}, head)
                data = repo.files[name]
                return self._send(200, data, {
                    "X-Repo-Commit": repo.commit,
                    "ETag": f'"{hashlib.sha1(data).hexdigest()}"',
                    "Content-Type": "application/octet-stream"}, head)
        self._send(404, b"Repository not found", {"X-Error-Code": "RepoNotFound"}, head)

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        return auth[len("Bearer "):] if auth.startswith("Bearer ") else None

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._route(head=False)

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib naming
        self._route(head=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    repos: dict[str, HubRepo]
    requests: list[tuple[str, str]]
    authorizations: list[str | None]


class HubStandIn:
    """``with HubStandIn(repo, ...) as hub: ... hub.url``: a local Hub on 127.0.0.1."""

    def __init__(self, *repos: HubRepo) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.repos = {r.repo_id: r for r in repos}
        self._server.requests = []
        self._server.authorizations = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[tuple[str, str]]:
        return list(self._server.requests)

    @property
    def authorizations(self) -> list[str | None]:
        return list(self._server.authorizations)

    def __enter__(self) -> HubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
