"""Client for refrelay_check.sh: for each address, ROUNDS times: a half-close
(send, SHUT_WR, read the answer to EOF), a server that sends first and
closes, a refused destination (port 9), and a client reset after its FIN.
An assertion names the first wrong answer; every socket has a 5 s timeout."""
import socket, struct, sys
ROUNDS = 200
def t_halfclose(h, n):
    s=socket.create_connection((h,8080),timeout=5); s.sendall(b'a'*n); s.shutdown(socket.SHUT_WR)
    r=b''
    while True:
        d=s.recv(65536)
        if not d: break
        r+=d
    s.close(); assert r==b'GOT %d\n'%n, r
def t_early(h):
    s=socket.create_connection((h,8081),timeout=5); r=b''
    while True:
        d=s.recv(65536)
        if not d: break
        r+=d
    s.close(); assert len(r)==300000, len(r)
def t_refused(h):
    s=socket.create_connection((h,9),timeout=5)
    try:
        d=s.recv(10); assert d==b'', d
    except ConnectionResetError: pass
    s.close()
def t_rst(h):
    s=socket.create_connection((h,8080),timeout=5); s.sendall(b'abc'); s.shutdown(socket.SHUT_WR)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii',1,0)); s.close()
for h in sys.argv[1:]:
    for i in range(ROUNDS):
        t_halfclose(h, 1+i*5000); t_early(h); t_refused(h); t_rst(h)
    print('ok', h)
