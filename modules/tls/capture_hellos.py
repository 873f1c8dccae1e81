#!/usr/bin/env python3
"""Capture real TLS ClientHellos from the TLS clients installed here.

Usage: capture_hellos.py OUTDIR

For every client found (openssl s_client, curl, gnutls-cli, python's ssl) it
listens on 127.0.0.1 (an ephemeral port), points the client at it, reads the
stream until the ClientHello is complete (it follows the TLS record and
handshake lengths, with a 5 s limit) and writes OUTDIR/<name>.bin with those
bytes and OUTDIR/<name>.expect with what the sniffer must find:
    domain=<normalised SNI or empty>
    alpn=<first ALPN offered or empty>
    records=<minimum number of TLS records, when the client was told to split>
The listener never answers, so each client gives up; it is then killed.

Exit status: 0 when at least one hello was captured, 77 when no client is
installed, 1 on any other failure.
"""
import os
import shutil
import socket
import subprocess
import sys
import time

TIMEOUT = 5.0
LONG_ALPN = ",".join(["http/1.1"] + ["x-vrouter-padding-protocol-%02d" % i for i in range(20)])

# name, argv (PORT is replaced), expected domain, expected alpn, min records
CLIENTS = [
    ("openssl_tls13", ["openssl", "s_client", "-connect", "127.0.0.1:PORT", "-tls1_3",
                       "-servername", "openssl13.example", "-alpn", "h2,http/1.1"],
     "openssl13.example", "h2", 1),
    ("openssl_tls12", ["openssl", "s_client", "-connect", "127.0.0.1:PORT", "-tls1_2",
                       "-servername", "openssl12.example", "-alpn", "http/1.1"],
     "openssl12.example", "http/1.1", 1),
    ("openssl_tls10", ["openssl", "s_client", "-connect", "127.0.0.1:PORT", "-tls1",
                       "-cipher", "DEFAULT@SECLEVEL=0", "-servername", "openssl10.example"],
     "openssl10.example", "", 1),
    ("openssl_mixed_case_dot", ["openssl", "s_client", "-connect", "127.0.0.1:PORT",
                                "-servername", "MiXeD.Case.Example.", "-alpn", "h2"],
     "mixed.case.example", "h2", 1),
    ("openssl_no_sni", ["openssl", "s_client", "-connect", "127.0.0.1:PORT", "-noservername",
                        "-alpn", "http/1.1"],
     "", "http/1.1", 1),
    ("openssl_ip_sni", ["openssl", "s_client", "-connect", "127.0.0.1:PORT",
                        "-servername", "192.0.2.7"],
     "", "", 1),
    # The handshake itself split into 512-byte records by a real client.
    ("openssl_split_records", ["openssl", "s_client", "-connect", "127.0.0.1:PORT",
                               "-max_send_frag", "512", "-servername", "split.example",
                               "-alpn", LONG_ALPN],
     "split.example", "http/1.1", 2),
    ("curl_h2", ["curl", "-sk", "--max-time", "4", "--resolve", "curl.example:PORT:127.0.0.1",
                 "https://curl.example:PORT/"],
     "curl.example", "h2", 1),
    ("curl_http11_tls12", ["curl", "-sk", "--max-time", "4", "--http1.1", "--tls-max", "1.2",
                           "--resolve", "www.curl12.example:PORT:127.0.0.1",
                           "https://www.curl12.example:PORT/"],
     "www.curl12.example", "http/1.1", 1),
    ("gnutls_cli", ["gnutls-cli", "--insecure", "--port", "PORT",
                    "--sni-hostname", "gnutls.example", "--alpn", "h2", "--alpn", "http/1.1",
                    "127.0.0.1"],
     "gnutls.example", "h2", 1),
    ("python_ssl", [sys.executable, "-c",
                    "import socket,ssl\n"
                    "c=ssl.create_default_context();c.check_hostname=False\n"
                    "c.verify_mode=ssl.CERT_NONE;c.set_alpn_protocols(['http/1.1','h2'])\n"
                    "s=socket.create_connection(('127.0.0.1',PORT),timeout=4)\n"
                    "c.wrap_socket(s,server_hostname='python.example')\n"],
     "python.example", "http/1.1", 1),
]


def hello_complete(buf):
    """True once buf holds a whole ClientHello (or can never become one)."""
    off, hs = 0, b""
    while True:
        if len(buf) - off < 5:
            return False
        if buf[off] != 0x16:
            return True
        rlen = (buf[off + 3] << 8) | buf[off + 4]
        hs += buf[off + 5:off + 5 + rlen]
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
            return True
        if len(buf) - off - 5 < rlen:
            return False
        off += 5 + rlen
        if off > 20000:
            return True


def capture_one(argv):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(TIMEOUT)
    port = str(lsock.getsockname()[1])
    argv = [a.replace("PORT", port) for a in argv]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    buf = b""
    try:
        conn, _ = lsock.accept()
        deadline = time.monotonic() + TIMEOUT
        with conn:
            while not hello_complete(buf) and time.monotonic() < deadline:
                conn.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                buf += chunk
    except socket.timeout:
        pass
    finally:
        lsock.close()
        proc.kill()
        proc.wait()
    return buf if hello_complete(buf) else None


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 1
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    got, tried = 0, 0
    for name, argv, domain, alpn, records in CLIENTS:
        if shutil.which(argv[0]) is None:
            print("skip %s: %s not installed" % (name, argv[0]))
            continue
        tried += 1
        data = capture_one(argv)
        if data is None:
            print("FAIL %s: no complete ClientHello" % name, file=sys.stderr)
            continue
        with open(os.path.join(outdir, name + ".bin"), "wb") as f:
            f.write(data)
        with open(os.path.join(outdir, name + ".expect"), "w") as f:
            f.write("domain=%s\nalpn=%s\nrecords=%d\n" % (domain, alpn, records))
        print("captured %s: %d bytes" % (name, len(data)))
        got += 1
    if tried == 0:
        return 77
    return 0 if got == tried else 1


if __name__ == "__main__":
    sys.exit(main())
