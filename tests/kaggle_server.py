"""A local stand-in for Kaggle's API server, for testing the real `kaggle` client against.

It answers, on 127.0.0.1 only, the requests the client makes (kaggle 2.x, through kagglesdk: a
POST of JSON to /v1/<service>/<method>): token introspection, the competition download (a redirect,
then the zip), the submission upload (start, PUT of the file, create) and reading a submission,
with the shapes of Kaggle's answers. `faults` makes a method fail instead, as Kaggle or the
network would. Every handler answers at once, except "hang", which waits a bounded time.

    with KaggleServer(zip_bytes) as server:   # server.endpoint is "http://127.0.0.1:<port>"
        server.faults["IntrospectToken"] = Fault(status=401)
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG_SECONDS = 5.0  # a "hang" fault's silence, longer than the tests' client timeout
USERNAME = "alice"


@dataclass
class Fault:
    status: int = 500  # the HTTP status of the error answer
    message: str = "Internal error"  # Kaggle's {"code": status, "message": ...}
    kind: str = "http"  # "http" or "hang" (say nothing for HANG_SECONDS)
    times: int = 1_000_000  # how many requests fail before the method works again


@dataclass
class Received:
    method: str
    body: Any
    authorization: str  # the Authorization header: "Bearer <token>" or "Basic ..."


@dataclass
class State:
    zip_bytes: bytes
    faults: dict[str, Fault] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    submissions: dict[int, dict[str, Any]] = field(default_factory=dict)
    score: dict[str, Any] = field(default_factory=lambda: {"status": "COMPLETE", "publicScore": "0.98123"})
    pending_polls: int = 1  # GetSubmission answers PENDING this many times first
    inactive_token: bool = False  # IntrospectToken says the token is not active
    truncate_download: int | None = None  # send only this many bytes of the zip, no Content-Length
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, 10 << 20))

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _fault(self, name: str) -> bool:
        """Fails this request if a fault is set for name; whether it did."""
        state = self.server.state
        with state.lock:
            fault = state.faults.get(name)
            if fault is None or fault.times <= 0:
                return False
            fault.times -= 1
        if fault.kind == "hang":
            threading.Event().wait(HANG_SECONDS)
            self.close_connection = True
            return True
        self._json(fault.status, {"code": fault.status, "message": fault.message})
        return True

    def do_POST(self) -> None:
        state = self.server.state
        body = self._body()
        parts = self.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "v1":
            self._json(404, {"code": 404, "message": f"no such path {self.path}"})
            return
        method = parts[2]
        request = json.loads(body or b"{}")
        with state.lock:
            state.received.append(Received(method, request, self.headers.get("Authorization", "")))
        if self._fault(method):
            return
        port = self.server.server_address[1]
        if method == "IntrospectToken":
            if state.inactive_token:
                self._json(200, {"active": False})
            else:
                self._json(200, {"active": True, "username": USERNAME, "clientId": "kaggle-cli"})
        elif method == "DownloadDataFiles":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{port}/files/{request['competitionName']}.zip")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif method == "StartSubmissionUpload":
            self._json(200, {"token": "blob-1", "createUrl": f"http://127.0.0.1:{port}/upload/blob-1"})
        elif method == "CreateSubmission":
            with state.lock:
                ref = 30_000_000 + len(state.submissions) + 1
                state.submissions[ref] = request
            self._json(200, {"message": "Successfully submitted to Digit Recognizer", "ref": ref})
        elif method == "GetSubmission":
            with state.lock:
                known = request.get("ref") in state.submissions
                pending = state.pending_polls > 0
                state.pending_polls -= 1
            if not known:
                self._json(404, {"code": 404, "message": "Submission not found"})
            elif pending:
                self._json(200, {"ref": request["ref"], "status": "PENDING"})
            else:
                self._json(200, {"ref": request["ref"], **state.score})
        else:
            self._json(404, {"code": 404, "message": f"unknown method {method}"})

    def do_GET(self) -> None:
        state = self.server.state
        if not self.path.startswith("/files/"):
            self._json(404, {"code": 404, "message": "not found"})
            return
        if self._fault("file"):
            return
        data = state.zip_bytes
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        if state.truncate_download is None:
            self.send_header("Content-Length", str(len(data)))
        else:  # the connection drops early and nothing said how long the file was
            data = data[: state.truncate_download]
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        state = self.server.state
        body = self._body()
        if self._fault("upload"):
            return
        with state.lock:
            state.uploads[self.path.rsplit("/", 1)[-1]] = body
        self._json(200, {})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: State


class KaggleServer:
    def __init__(self, zip_bytes: bytes) -> None:
        self.state = State(zip_bytes)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def faults(self) -> dict[str, Fault]:
        return self.state.faults

    def __enter__(self) -> KaggleServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
