"""A small synchronous LSP client over a server process's stdin/stdout.

For the tests, the benchmark and scripts (the docs' hover screenshot): start
`python -m archdsl lsp`, send requests and notifications as JSON-RPC with
`Content-Length` framing, and read replies. Notifications the server sends
(diagnostics, log messages) are kept in `notifications`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from queue import Empty, Queue
from typing import Any


class LspClient:
    def __init__(self, cmd: list[str] | None = None, cwd: str | os.PathLike | None = None, env: dict | None = None):
        cmd = cmd or [sys.executable, "-m", "archdsl", "lsp"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=cwd, env=env)
        self._next = 0
        self._inbox: Queue = Queue()
        self.notifications: list[dict] = []
        self.stderr: list[bytes] = []  # drained all along, so a chatty server never blocks on a full pipe
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)

    # ---- framing ----------------------------------------------------------------
    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    self._inbox.put(None)
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if length is None:
                continue
            self._inbox.put(json.loads(out.read(length)))

    def _send(self, msg: dict) -> None:
        body = json.dumps(msg).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _take(self, timeout: float) -> dict:
        try:
            msg = self._inbox.get(timeout=timeout)
        except Empty:
            raise TimeoutError("no message from the server") from None
        if msg is None:
            err = b"".join(self.stderr[-50:]).decode(errors="replace")
            raise ConnectionError("the server closed its output" + (f":\n{err}" if err else ""))
        return msg

    # ---- protocol ---------------------------------------------------------------
    def request(self, method: str, params: Any = None, timeout: float = 60.0) -> Any:
        self._next += 1
        rid = self._next
        self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        while True:
            msg = self._take(timeout)
            if msg.get("id") == rid and "method" not in msg:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result")
            self._handle(msg)

    def notify(self, method: str, params: Any = None) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def _handle(self, msg: dict) -> None:
        if "method" in msg and "id" in msg:  # a request from the server (e.g. registerCapability): accept it
            self._send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
        elif "method" in msg:
            self.notifications.append(msg)

    def wait_for(self, method: str, uri: str | None = None, timeout: float = 60.0) -> dict:
        """The next notification `method` (for `uri`, when given), including ones already received."""
        while True:
            for k, msg in enumerate(self.notifications):
                if msg["method"] == method and (uri is None or msg["params"].get("uri") == uri):
                    return self.notifications.pop(k)["params"]
            self._handle(self._take(timeout))

    # ---- conveniences -------------------------------------------------------------
    def initialize(self, root: str | os.PathLike | None = None) -> dict:
        root_uri = Path(root).resolve().as_uri() if root else None
        caps = {"textDocument": {"hover": {"contentFormat": ["markdown", "plaintext"]},
                                 "completion": {"completionItem": {"snippetSupport": False}},
                                 "documentSymbol": {"hierarchicalDocumentSymbolSupport": True}},
                "general": {"positionEncodings": ["utf-16"]}}
        result = self.request("initialize", {"processId": os.getpid(), "rootUri": root_uri, "capabilities": caps})
        self.notify("initialized", {})
        return result

    def open(self, path: str | os.PathLike, text: str | None = None, version: int = 1) -> str:
        p = Path(path).resolve()
        uri = p.as_uri()
        text = p.read_text() if text is None else text
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "arch", "version": version, "text": text}})
        return uri

    def change(self, uri: str, text: str, version: int) -> None:
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": [{"text": text}]})

    def at(self, method: str, uri: str, line: int, character: int, **extra) -> Any:
        """A positional request (0-based line and character, as LSP counts)."""
        return self.request(method, {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}, **extra})

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.request("shutdown", None, timeout=10)
                self.notify("exit")
                self.proc.wait(timeout=10)
        except (TimeoutError, ConnectionError, BrokenPipeError, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass

    def __enter__(self) -> "LspClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
