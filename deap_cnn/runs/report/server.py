"""The live view: a small HTTP server on 127.0.0.1 that re-renders the page when the run's files change."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .page import render_html
from .run_data import REPORT_NAME, RUN_FILES, ReportError, read_run

__all__ = ["ReportServer", "serve"]


def _watched_signature(folder: Path) -> tuple:
    """What changes whenever the run writes something the page shows (the store's journal included)."""
    names = (*RUN_FILES, "best.json", "results.sqlite-journal", "results.sqlite-wal")
    signature = []
    for name in names:
        try:
            stat = (folder / name).stat()
        except OSError:
            signature.append((name, None))
        else:
            signature.append((name, stat.st_mtime_ns, stat.st_size))
    return tuple(signature)


class ReportServer(ThreadingHTTPServer):
    """The live report of one run folder; ``port`` is the bound port, ``url`` the page's address."""

    daemon_threads = True

    def __init__(self, run_dir, host="127.0.0.1", port=8000):
        self.run_dir = Path(run_dir)
        read_run(self.run_dir)  # fail now, with the folder's problem, not on the first request
        self._cache = (None, "")
        self._lock = threading.Lock()
        self._thread = None
        super().__init__((host, port), _ReportHandler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        host = self.server_address[0]
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"

    def page(self) -> str:
        """The page, rendered again only when a watched file changed since the last render."""
        signature = _watched_signature(self.run_dir)
        with self._lock:
            if self._cache[0] != signature:
                self._cache = (signature, render_html(self.run_dir, live=True))
            return self._cache[1]

    def start(self) -> ReportServer:
        """Serve from a background thread and return at once; :meth:`shutdown` stops it."""
        self._thread = threading.Thread(target=self.serve_forever, name="deap-cnn-report", daemon=True)
        self._thread.start()
        return self

    def shutdown(self):
        """Stop serving (if serving from :meth:`start`) and release the port."""
        if self._thread is not None:
            super().shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()


class _ReportHandler(BaseHTTPRequestHandler):
    """``GET /`` (or ``/report.html``): the page; ``/favicon.ico``: empty; anything else: 404.

    Nothing from disk is served.
    """

    def do_GET(self):
        if self.path == "/favicon.ico":  # browsers ask for it; an empty answer keeps their consoles clean
            self._send(204, "image/x-icon", b"")
            return
        if self.path.split("?")[0] not in ("/", "/" + REPORT_NAME):
            self._send(
                404,
                "text/plain; charset=utf-8",
                b"not found: this server only serves the report at /\n",
            )
            return
        try:
            body = self.server.page().encode("utf-8")
        except ReportError as error:
            self._send(503, "text/plain; charset=utf-8", f"error: {error}\n".encode())
            return
        self._send(200, "text/html; charset=utf-8", body)

    def _send(self, code: int, content_type: str, body: bytes):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # quiet: a refreshing page would fill the terminal


def serve(run_dir, host="127.0.0.1", port=8000, block=True) -> ReportServer:
    """Serve the live report of ``run_dir`` at ``http://HOST:PORT/``.

    Listens on 127.0.0.1 unless ``host`` says otherwise; ``port=0`` takes a
    free port (see the returned server's ``port``). With ``block`` (the
    default) it serves until interrupted (Ctrl-C); with ``block=False`` it
    serves from a background thread and returns the running server at once,
    to be stopped with ``server.shutdown()``.
    """
    server = ReportServer(run_dir, host, port)
    print(f"serving {run_dir} at {server.url}", flush=True)
    if not block:
        return server.start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return server
