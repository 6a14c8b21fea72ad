"""A small webhook receiver for trying incident webhooks out (``triage incidents receive``).

It listens on 127.0.0.1, checks each delivery's signature and timestamp (``store.webhooks.verify_signature``),
drops repeated event ids as a real receiver should, answers 204 (401 for a bad signature), and prints one
line per delivery. Not a production server: a receiver belongs to the brand's own systems.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from store.webhooks import verify_signature

MAX_BODY = 1_048_576


def make_handler(secret: str, seen: set[str], done: threading.Event, count: int) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, MAX_BODY))
            timestamp = self.headers.get("X-Triage-Timestamp", "")
            signature = self.headers.get("X-Triage-Signature", "")
            event_id = self.headers.get("X-Triage-Event-Id", "")
            if not verify_signature(secret, timestamp, body, signature):
                self.send_response(401)
                self.end_headers()
                print(f"rejected: bad signature (event {event_id or '?'})", flush=True)
                return
            self.send_response(204)
            self.end_headers()
            with lock:
                repeat = event_id in seen
                seen.add(event_id)
                if not repeat:
                    _print(event_id, body)
                if count and len(seen) >= count:
                    done.set()

        def log_message(self, format: str, *args: object) -> None:
            return  # one line per delivery is printed above, nothing else

    return Handler


def _print(event_id: str, body: bytes) -> None:
    data = json.loads(body)
    incident = data.get("incident", {})
    print(f"received {data.get('type')} {event_id}: incident {incident.get('id')} "
          f"({incident.get('kind')}/{','.join(incident.get('triggers', []))}), {incident.get('posts')} posts, "
          f"signature ok", flush=True)


def serve(port: int, secret: str, count: int = 0) -> None:
    """Listen until Ctrl-C, or until ``count`` distinct deliveries arrived."""
    done = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(secret, set(), done, count))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f"listening on http://127.0.0.1:{server.server_port}/", file=sys.stderr, flush=True)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
