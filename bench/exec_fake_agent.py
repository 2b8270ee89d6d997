#!/usr/bin/env python3
"""A stand-in agent for timing an executor's start: it answers every SUBSCRIBE on
/api/v1/executor with a 200 stream carrying one ERROR event, then closes. An executor started
against it (MESOS_AGENT_ENDPOINT=127.0.0.1:PORT) loads, reads its environment, connects,
subscribes, gets the event and exits 1: its whole run is its start-up cost. Prints the port.

usage: exec_fake_agent.py [PORT]   (0 or absent: any free port)
"""
import http.server
import socketserver
import sys

# mesos.v1.executor.Event{type: ERROR, error{message: "bench"}}, hand-encoded.
EVENT = bytes([0x08, 0x06, 0x3A, 0x07, 0x0A, 0x05]) + b"bench"
RECORD = str(len(EVENT)).encode() + b"\n" + EVENT


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        if self.path != "/api/v1/executor":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(RECORD)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(RECORD)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    srv = Server(("127.0.0.1", port), Handler)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
