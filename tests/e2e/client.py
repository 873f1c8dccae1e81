#!/usr/bin/env python3
"""Test client for end-to-end tests (runs in the client namespace).

halfclose HOST PORT PATH   send a GET, shut the write side, read the whole reply;
                           prints the body length and sha256
hold HOST PORT N SECONDS   open N connections, keep them open SECONDS, print how many connected
"""
import hashlib, socket, sys, time


def halfclose(host, port, path):
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall(f"GET {path} HTTP/1.0\r\nHost: test\r\n\r\n".encode())
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        data += b
    head, _, body = data.partition(b"\r\n\r\n")
    print(len(body), hashlib.sha256(body).hexdigest())


def hold(host, port, n, secs):
    socks = []
    for _ in range(int(n)):
        try:
            socks.append(socket.create_connection((host, int(port)), timeout=5))
        except OSError:
            pass
    print(len(socks), flush=True)
    time.sleep(float(secs))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"halfclose": halfclose, "hold": hold}[cmd](*args)
