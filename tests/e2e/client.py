#!/usr/bin/env python3
"""Test client for end-to-end tests (runs in the client namespace).

halfclose HOST PORT PATH   send a GET, shut the write side, read the whole reply;
                           prints the body length and sha256
hold HOST PORT N SECONDS   open N connections, keep them open SECONDS, print how many connected
burst HOST PORT SECONDS [MAX]  GET /ip on one new connection after another for SECONDS (at
                           most MAX, default 5,000); print "ok N failed M" and each source address
                           seen with its count
idle HOST PORT SECONDS     connect, send nothing; print when the connection was closed on us
trickle HOST PORT SECONDS  send a GET's header a byte every 0.5 s for SECONDS, then the rest;
                           print the reply's status line
"""
import hashlib, socket, sys, time


def read_all(s):
    """Everything the peer sends until it closes."""
    data = b""
    while True:
        b = s.recv(1 << 20)
        if not b:
            return data
        data += b


def halfclose(host, port, path):
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall(f"GET {path} HTTP/1.0\r\nHost: test\r\n\r\n".encode())
    s.shutdown(socket.SHUT_WR)
    data = read_all(s)
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


def slowhello(host, port, sni):
    """A real TLS ClientHello (from Python's ssl), sent one byte per TCP segment."""
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    s = socket.create_connection((host, int(port)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(hello)):
        s.send(hello[i:i + 1])
    s.settimeout(5)
    reply = s.recv(5)  # the server's ServerHello record header
    print(len(hello), reply[:1].hex())


def send_wait(host, port, data, secs):
    """Send data (may be empty), wait, print what the server sent first."""
    s = socket.create_connection((host, int(port)), timeout=10)
    if data:
        s.sendall(data.encode())
    s.settimeout(float(secs))
    try:
        print(s.recv(100).decode(errors="replace").strip())
    except socket.timeout:
        print("(nothing)")


def banner(host, port):
    """Connect and time how long until the server's first bytes arrive."""
    t0 = time.time()
    s = socket.create_connection((host, int(port)), timeout=10)
    s.settimeout(10)
    data = s.recv(100)
    print(f"{time.time() - t0:.3f}", data.decode(errors="replace").strip())


def burst(host, port, secs, most=5000):
    """Back-to-back short connections: a refused, reset or unanswered one is a failure."""
    end, ok, failed, seen, first = time.time() + float(secs), 0, 0, {}, ""
    while time.time() < end and ok + failed < int(most):
        try:
            s = socket.create_connection((host, int(port)), timeout=5)
            s.settimeout(5)
            s.sendall(b"GET /ip HTTP/1.0\r\n\r\n")
            data = read_all(s)
            s.close()
            body = data.partition(b"\r\n\r\n")[2].split()
            if not data.startswith(b"HTTP/1") or not body:
                raise OSError(f"bad reply {data[:40]!r}")
            ok += 1
            src = body[0].decode()
            seen[src] = seen.get(src, 0) + 1
        except OSError as e:
            failed += 1
            first = first or f" first error: {e}"
    print(f"ok {ok} failed {failed}" + "".join(f" {a}={n}" for a, n in sorted(seen.items())) + first)


def idle(host, port, secs):
    """Say after how long the peer (the proxy) closed an idle connection."""
    t0 = time.time()
    s = socket.create_connection((host, int(port)), timeout=10)
    s.settimeout(float(secs))
    try:
        how = "closed" if s.recv(100) == b"" else "data"
    except socket.timeout:
        how = "open"
    except ConnectionResetError:
        how = "reset"
    print(how, f"{time.time() - t0:.1f}")


def trickle(host, port, secs):
    """A slow but live client: one byte every 0.5 s must keep the flow up."""
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(b"GET /ip HTTP/1.0\r\nX-Slow: ")
    end = time.time() + float(secs)
    while time.time() < end:
        time.sleep(0.5)
        s.sendall(b"x")
    s.sendall(b"\r\n\r\n")
    data = read_all(s)
    print(data.split(b"\r\n", 1)[0].decode(errors="replace") or "(no reply)")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"halfclose": halfclose, "hold": hold, "slowhello": slowhello, "send_wait": send_wait, "banner": banner,
     "idle": idle, "trickle": trickle, "burst": burst}[cmd](*args)
