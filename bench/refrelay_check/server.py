"""Peer for refrelay_check.sh (server namespace): on 8080 read to EOF, then
answer "GOT <bytes>" and close (a half-close test); on 8081 send 300,000
bytes at once and close without reading. IPv4 and IPv6. Runs until killed
(at most an hour)."""
import socket, threading, sys
def echo(c):
    data=b''
    while True:
        d=c.recv(65536)
        if not d: break
        data+=d
    c.sendall(b'GOT %d\n' % len(data)); c.close()
def early(c):
    c.sendall(b'x'*300000); c.close()
def serve(fam, addr, port, fn):
    s=socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR,1)
    if fam==socket.AF_INET6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY,1)
    s.bind((addr,port)); s.listen(512)
    while True:
        c,_=s.accept(); threading.Thread(target=fn,args=(c,),daemon=True).start()
for fam,a in ((socket.AF_INET,'0.0.0.0'),(socket.AF_INET6,'::')):
    for p,fn in ((8080,echo),(8081,early)):
        threading.Thread(target=serve,args=(fam,a,p,fn),daemon=True).start()
import time; time.sleep(3600)
