#!/usr/bin/env python3
"""A stand-in for systemd's side of sd_notify(3), for the end-to-end tests.

  notify_manager.py --socket PATH|@NAME --out FILE [--probe PORT] [--seconds S]

Binds an AF_UNIX datagram socket (a filesystem path, or @NAME in the
abstract namespace of the network namespace it runs in) and appends one JSON
line per datagram to FILE:
  {"t_usec": CLOCK_MONOTONIC at receipt, "fields": {"READY": "1", ...},
   "probe": true|false|null}
"probe" is whether a TCP connect to 127.0.0.1:PORT succeeded right after
the datagram carrying READY=1 arrived (null for other datagrams or without
--probe): a READY=1 sent before the listener is up shows as false.
Exits after S seconds (default 300), bounded.
"""
import argparse
import json
import os
import socket
import time


def probe(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--probe", type=int)
    ap.add_argument("--seconds", type=float, default=300)
    a = ap.parse_args()
    addr = "\0" + a.socket[1:] if a.socket.startswith("@") else a.socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if not a.socket.startswith("@"):
        try:
            os.unlink(a.socket)
        except FileNotFoundError:
            pass
    s.bind(addr)
    if not a.socket.startswith("@"):
        os.chmod(a.socket, 0o777)  # like /run/systemd/notify: a dropped daemon can still send
    deadline = time.monotonic() + a.seconds
    with open(a.out, "a", buffering=1) as out:
        out.write(json.dumps({"t_usec": time.monotonic_ns() // 1000, "fields": {"MANAGER": "listening"},
                              "probe": None}) + "\n")
        while time.monotonic() < deadline:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                data = s.recv(4096)
            except socket.timeout:
                continue
            t = time.monotonic_ns() // 1000
            fields = {}
            for line in data.decode("utf-8", "replace").split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields[k] = v
            p = probe(a.probe) if a.probe and fields.get("READY") == "1" else None
            out.write(json.dumps({"t_usec": t, "fields": fields, "probe": p}) + "\n")


if __name__ == "__main__":
    main()
