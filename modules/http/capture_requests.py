#!/usr/bin/env python3
"""Capture real HTTP/1.x request heads from the HTTP clients installed here.

Usage: capture_requests.py OUTDIR

For every client found (curl, wget, busybox wget, python's urllib) it
listens on 127.0.0.1 (an ephemeral port), points the client at it (directly,
or as its HTTP proxy for an absolute-form request), reads until the end of
the request head (5 s limit), answers "204 No Content" and writes
OUTDIR/<name>.bin with the bytes read and OUTDIR/<name>.expect:
    domain=<the normalised host the sniffer must find, or empty>
    source=<header|target|none>

Exit status: 0 when every installed client was captured, 77 when none is
installed, 1 otherwise.
"""
import os
import shutil
import socket
import subprocess
import sys
import time

TIMEOUT = 5.0
PY_URLLIB = ("import urllib.request as u\n"
             "r=u.Request('http://127.0.0.1:PORT/py?x=1',headers={'Host':'Python.Example:8080'})\n"
             "u.urlopen(r,timeout=4).read()\n")

# name, argv (PORT is replaced), env additions, expected domain, host source
CLIENTS = [
    ("curl_origin", ["curl", "-s", "--max-time", "4", "--resolve", "curl.example:PORT:127.0.0.1",
                     "http://curl.example:PORT/index.html?q=1"], {}, "curl.example", "header"),
    ("curl_post", ["curl", "-s", "--max-time", "4", "-d", "a=b&c=d", "-H", "X-Test: 1",
                   "--resolve", "post.example:PORT:127.0.0.1", "http://post.example:PORT/form"],
     {}, "post.example", "header"),
    ("curl_http10", ["curl", "-s", "-0", "--max-time", "4", "--resolve", "old.example:PORT:127.0.0.1",
                     "http://old.example:PORT/"], {}, "old.example", "header"),
    ("curl_absolute_form", ["curl", "-s", "--max-time", "4", "-x", "http://127.0.0.1:PORT",
                            "http://proxied.example:8080/a/b"], {}, "proxied.example", "target"),
    ("curl_ipv4_host", ["curl", "-s", "--max-time", "4", "http://127.0.0.1:PORT/"], {}, "", "header"),
    ("curl_ipv6_host", ["curl", "-s", "--max-time", "4", "--connect-to",
                        "[2001:db8::1]:80:127.0.0.1:PORT", "http://[2001:db8::1]/"],
     {}, "", "header"),
    ("wget_host_header", ["wget", "-q", "-O", "/dev/null", "-t", "1", "-T", "4",
                          "--header", "Host: WGET.Example.:8080", "http://127.0.0.1:PORT/w"],
     {}, "wget.example", "header"),
    ("wget_proxy", ["wget", "-q", "-O", "/dev/null", "-t", "1", "-T", "4",
                    "http://wget-proxied.example/p"],
     {"http_proxy": "http://127.0.0.1:PORT/"}, "wget-proxied.example", "target"),
    ("busybox_wget", ["busybox", "wget", "-q", "-O", "/dev/null",
                      "--header", "Host: busybox.example", "http://127.0.0.1:PORT/"],
     {}, "busybox.example", "header"),
    ("python_urllib", [sys.executable, "-c", PY_URLLIB], {}, "python.example", "header"),
]


def capture_one(argv, env_add):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(TIMEOUT)
    port = str(lsock.getsockname()[1])
    argv = [a.replace("PORT", port) for a in argv]
    env = dict(os.environ)
    for k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
              "no_proxy", "NO_PROXY"):
        env.pop(k, None)
    env.update({k: v.replace("PORT", port) for k, v in env_add.items()})
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    buf = b""
    try:
        conn, _ = lsock.accept()
        deadline = time.monotonic() + TIMEOUT
        with conn:
            while b"\r\n\r\n" not in buf and b"\n\n" not in buf and time.monotonic() < deadline:
                conn.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                buf += chunk
            try:
                conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
    except socket.timeout:
        pass
    finally:
        lsock.close()
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return buf if (b"\r\n\r\n" in buf or b"\n\n" in buf) else None


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 1
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    got, tried = 0, 0
    for name, argv, env_add, domain, source in CLIENTS:
        if shutil.which(argv[0]) is None:
            print("skip %s: %s not installed" % (name, argv[0]))
            continue
        tried += 1
        data = capture_one(argv, env_add)
        if data is None:
            print("FAIL %s: no complete request head" % name, file=sys.stderr)
            continue
        with open(os.path.join(outdir, name + ".bin"), "wb") as f:
            f.write(data)
        with open(os.path.join(outdir, name + ".expect"), "w") as f:
            f.write("domain=%s\nsource=%s\n" % (domain, source))
        print("captured %s: %d bytes" % (name, len(data)))
        got += 1
    if tried == 0:
        return 77
    return 0 if got == tried else 1


if __name__ == "__main__":
    sys.exit(main())
