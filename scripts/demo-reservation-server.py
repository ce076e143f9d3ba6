#!/usr/bin/env python3
"""A demo reservation API for the local stack (not for production).

Rooms whose name starts with "blocked" are refused with 403 and a message; every other room
gets a one-hour reservation. Each request is printed, so a newcomer sees what jitsi-focus asks.
"""
import itertools
import json
import sys
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

ids = itertools.count(1)
reservations = {}


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        if self.path.rstrip("/") != "/conference":
            return self.reply(404, {"message": "no such endpoint"})
        length = int(self.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        name = form.get("name", "")
        print(f"POST /conference {form}", flush=True)
        if name.startswith("blocked"):
            return self.reply(403, {"message": f"Room “{name}” is not booked. Please reserve it first."})
        rid = next(ids)
        reservation = {
            "id": rid,
            "name": name,
            "mail_owner": form.get("mail_owner"),
            "start_time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "duration": 3600,
        }
        reservations[str(rid)] = reservation
        self.reply(201, reservation)

    def do_GET(self):
        found = reservations.get(self.path.rsplit("/", 1)[-1])
        print(f"GET {self.path} -> {'found' if found else 'missing'}", flush=True)
        self.reply(200, found) if found else self.reply(404, {"message": "no such reservation"})

    def do_DELETE(self):
        print(f"DELETE {self.path}", flush=True)
        reservations.pop(self.path.rsplit("/", 1)[-1], None)
        self.reply(200, {})

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 18080
    print(f"demo reservation API on http://127.0.0.1:{port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
