"""The review page of a round: a local Flask app that shows each overlay and saves yes/no at once.

HTTP API (JSON errors ``{"error": ...}``; ``Cache-Control: no-store`` on the page and the API):

- ``GET /``: the page; it embeds a random token made at each server start.
- ``GET /api/state``: ``{"round", "items": [review.csv rows], "decisions": {id: "yes"|"no"}, "counts"}``.
- ``POST /api/decision``: header ``X-Review-Token: <token>``, JSON ``{"id": ..., "response": "yes"|"no"|null}``
  (null forgets the decision: undo); saved to response.csv before the answer, which is the new state.
  403 bad or missing token, 400 malformed body or response, 404 id not in review.csv, 405 not a POST.
- ``GET /overlay/<id>``, ``GET /image/<id>``: the round's PNGs, found by looking the id up in
  review.csv (never by joining the request into a path); anything else is a 404.

Bound to 127.0.0.1 by default; then requests naming another Host are refused (DNS rebinding).
"""

from __future__ import annotations

import hmac
import secrets
import threading
from pathlib import Path
from typing import Callable

from flask import Flask, abort, g, jsonify, render_template, request, send_file
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, make_server

from ..errors import InputError
from .responses import ANSWERS, RESPONSE_CSV, read_responses, set_decision
from .roundfiles import image_path, overlay_path, read_review

TOKEN_HEADER = "X-Review-Token"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _counts(ids: list[str], decisions: dict[str, str]) -> dict:
    yes = sum(decisions.get(i) == "yes" for i in ids)
    no = sum(decisions.get(i) == "no" for i in ids)
    return {"total": len(ids), "reviewed": yes + no, "accepted": yes, "rejected": no, "pending": len(ids) - yes - no}


def _host_name(host: str) -> str:
    """The name part of a Host header: ``[::1]:8765`` -> ``::1``, ``localhost:80`` -> ``localhost``."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def create_app(round_dir: str | Path, local_only: bool = True) -> Flask:
    """The review app of ``round_dir`` (see :mod:`snakeseg.assl.roundfiles` for the folder).
    ``local_only``: answer only requests addressed to a loopback name (127.0.0.1, localhost)."""
    round_dir = Path(round_dir).resolve()
    items = read_review(round_dir)
    ids = [item.id for item in items]
    read_responses(round_dir, ids)  # a bad response.csv stops the start, not the first decision
    files = {"overlay": {i: overlay_path(round_dir, i) for i in ids},
             "image": {i: image_path(round_dir, i) for i in ids}}
    token = secrets.token_urlsafe(32)
    lock = threading.Lock()  # one read-modify-write of response.csv at a time

    app = Flask(__name__)
    app.config.update(REVIEW_TOKEN=token, MAX_CONTENT_LENGTH=64 * 1024)
    app.url_map.merge_slashes = False  # "/overlay//etc/passwd" is a 404, not a redirect
    app.json.sort_keys = False

    def state(decisions: dict[str, str]) -> dict:
        return {"round": round_dir.name, "decisions": decisions, "counts": _counts(ids, decisions)}

    @app.before_request
    def check_host():
        if local_only and _host_name(request.host) not in LOOPBACK:
            abort(400, "this page answers only at 127.0.0.1 or localhost")

    @app.get("/")
    def page():
        g.nonce = secrets.token_urlsafe(16)
        return render_template("review.html", token=token, nonce=g.nonce, round_name=round_dir.name,
                               responses=str(round_dir / RESPONSE_CSV))

    @app.get("/api/state")
    def get_state():
        with lock:
            decisions = read_responses(round_dir, ids)
        return jsonify({**state(decisions), "items": [item.as_dict() for item in items]})

    @app.post("/api/decision")
    def post_decision():
        sent = request.headers.get(TOKEN_HEADER, "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(sent, token.encode("ascii")):
            abort(403, "missing or wrong review token: reload the page")
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or "response" not in body:
            abort(400, 'send JSON {"id": <id>, "response": "yes" | "no" | null}')
        if body["id"] not in files["overlay"]:
            abort(404, "no such image in this round")
        answer = body["response"]
        if answer not in (*ANSWERS, None):
            abort(400, 'response must be "yes", "no" or null')
        with lock:
            previous = read_responses(round_dir, ids).get(body["id"])
            decisions = set_decision(round_dir, body["id"], answer, ids)
        return jsonify({**state(decisions), "id": body["id"], "response": answer, "previous": previous})

    def send_png(kind: str, item_id: str):
        path = files[kind].get(item_id)  # the id is only a dictionary key, never part of a path
        if path is None or not path.is_file():
            abort(404, f"no {kind} for this id")
        response = send_file(path, mimetype="image/png", conditional=True)
        response.headers["Cache-Control"] = "no-cache"
        return response

    # <path:> takes "../x" and "a/b" too, so every request for a file reaches the id lookup
    app.add_url_rule("/overlay/<path:item_id>", "overlay", lambda item_id: send_png("overlay", item_id))
    app.add_url_rule("/image/<path:item_id>", "image", lambda item_id: send_png("image", item_id))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        response = jsonify({"error": err.description, "status": err.code})
        response.status_code = err.code or 500
        if err.code == 405:
            response.headers["Allow"] = ", ".join(err.valid_methods or [])
        return response

    @app.errorhandler(InputError)
    def broken_round(err: InputError):  # response.csv or review.csv edited into a bad state meanwhile
        response = jsonify({"error": str(err), "status": 500})
        response.status_code = 500
        return response

    @app.after_request
    def headers(response):
        response.headers.update({"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                                 "Referrer-Policy": "no-referrer"})
        if request.path == "/" or request.path.startswith("/api/") or response.status_code >= 400:
            response.headers["Cache-Control"] = "no-store"
        if "nonce" in g:
            response.headers["Content-Security-Policy"] = (
                f"default-src 'none'; img-src 'self'; connect-src 'self'; script-src 'nonce-{g.nonce}'; "
                f"style-src 'nonce-{g.nonce}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
        return response

    return app


def make_review_server(round_dir: str | Path, host: str = "127.0.0.1", port: int = 8765) -> BaseWSGIServer:
    """A threaded WSGI server for the round's page, bound but not yet serving (port 0: a free port)."""
    app = create_app(round_dir, local_only=host in LOOPBACK)
    return make_server(host, port, app, threaded=True)


def serve(round_dir: str | Path, host: str = "127.0.0.1", port: int = 8765,
          on_start: Callable[[BaseWSGIServer], None] | None = None) -> None:
    """Serve the review page until Ctrl-C. ``on_start`` gets the server before it serves (tests stop it)."""
    server = make_review_server(round_dir, host, port)
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    print(f"Reviewing {Path(round_dir).resolve().name}: open http://{shown}:{server.server_port}/ "
          f"(Ctrl-C to stop; each decision is saved at once to {Path(round_dir) / RESPONSE_CSV})", flush=True)
    if host not in LOOPBACK:
        print(f"Warning: listening on {host}: anyone who can reach this port can see the images and answer.",
              flush=True)
    if on_start is not None:
        on_start(server)
    try:
        server.serve_forever()
    finally:
        server.server_close()
