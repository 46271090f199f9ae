"""The gallery bench's server: the App on a filled data directory, served by the HTTP gateway in its own process.

Its own process, so that the bench's client threads do not share a GIL with the server they time. It opens the
App (the rarity service rebuilds a space that has no saved index, or loads the saved one, as at any start),
waits until the rarity worker is idle, serves ``services.http.app.create_app`` through
``services.http.server.HttpServer`` on 127.0.0.1 (a free port), and mounts one more static directory,
``/static/_bench/``, with Starlette's ``StaticFiles`` (what serves the gallery's ``/static/``), in front of every
other route: the bench writes files there of the same sizes as the pictures it times. Then it prints one JSON line
(url, open_s, score_s) and serves until its standard input closes.

    python bench/gallery_serve.py DATA_DIR STATIC_DIR
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from starlette.routing import Mount  # noqa: E402
from starlette.staticfiles import StaticFiles  # noqa: E402

from bench.gallery_fill import settings  # noqa: E402
from multiverse.app import App  # noqa: E402
from services.http.app import Gateway, create_app  # noqa: E402
from services.http.server import HttpServer, bind, url_of  # noqa: E402

STATIC = "/static/_bench"  # under /static/: what the gallery serves, with its exemptions (no rate limit)


def main() -> None:
    data, static = Path(sys.argv[1]), Path(sys.argv[2])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sock = bind("127.0.0.1:0", fallback=False)
    url = url_of(sock)
    started = time.perf_counter()
    app = App.open(settings(data))
    opened = time.perf_counter()
    try:
        if not app.rarity.wait_idle(timeout=3600):
            raise SystemExit("the rarity worker did not finish scoring within an hour")
        scored = time.perf_counter()
        api = create_app(Gateway(app, url))
        api.router.routes.insert(0, Mount(STATIC, app=StaticFiles(directory=static), name="bench-static"))
        server = HttpServer(api, sock).start()
        print(json.dumps({"url": url, "static": STATIC, "open_s": round(opened - started, 2),
                          "score_s": round(scored - opened, 2), "rarity": app.rarity.describe()["serving"]}),
              flush=True)
        try:
            sys.stdin.read()  # until the bench closes our standard input (or exits)
        finally:
            server.stop()
    finally:
        app.close()


if __name__ == "__main__":
    main()
