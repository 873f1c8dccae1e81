#!/usr/bin/env python3
"""Test HTTP server for the server namespace.

GET /ip         -> the client address and port the server saw ("198.19.2.1 40312")
GET /blob/N     -> N bytes of a deterministic pattern (sha256 in header X-Sha256)
GET /<file>     -> a file from --dir
POST /echo      -> the request body, echoed back (after the whole body arrived)
Dual-stack: listens on :: with IPV6_V6ONLY off.
"""
import argparse, hashlib, http.server, os, socket, socketserver


def pattern(n):
    block = bytes(range(256)) * 4096  # 1 MiB
    out = bytearray()
    while len(out) < n:
        out += block[: n - len(out)]
    return bytes(out)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, body, ctype="application/octet-stream", extra=None):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        host = self.client_address[0]
        if host.startswith("::ffff:"):
            host = host[7:]
        if self.path == "/ip":
            self._send(f"{host} {self.client_address[1]}\n".encode(), "text/plain")
        elif self.path.startswith("/blob/"):
            n = int(self.path[6:])
            body = pattern(n)
            self._send(body, extra={"X-Sha256": hashlib.sha256(body).hexdigest()})
        else:
            p = os.path.join(self.server.root, self.path.lstrip("/"))
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    self._send(f.read())
            else:
                self.send_error(404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self._send(body)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # socketserver's 5 drops SYNs when many clients connect at once

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=".")
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS with this certificate")
    a = ap.parse_args()
    srv = Server(("::", a.port), Handler)
    srv.root = a.dir
    if a.tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
