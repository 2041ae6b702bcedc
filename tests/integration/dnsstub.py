"""A tiny scripted DNS server (UDP) for the preload tests: answers A and
AAAA from a table, NXDOMAIN (with an SOA, so negative answers are final)
for every other name, and remembers every question it was asked.

    stub = DnsStub({"good.example.com": ["127.0.0.10"]}, port=53)
    ...
    stub.asked     # [("good.example.com", "A"), ...], lowercase, no dot
    stub.stop()

Names in the table are lowercase without the trailing dot; addresses are
text, IPv4 or IPv6 (an AAAA question gets the IPv6 ones: NODATA if none).
Standard library only; one thread; stopped by stop().
"""
import ipaddress
import socket
import struct
import threading

T_A, T_AAAA, T_SOA = 1, 28, 6


def _qname(msg, off):
    labels = []
    while True:
        n = msg[off]
        off += 1
        if n == 0:
            return ".".join(labels).lower(), off
        if n & 0xC0:
            raise ValueError("compressed question name")
        labels.append(msg[off:off + n].decode("ascii", "replace"))
        off += n


def _rr(rtype, ttl, rdata):
    # owner: a pointer to the question name at offset 12
    return struct.pack("!HHHIH", 0xC00C, rtype, 1, ttl, len(rdata)) + rdata


class DnsStub:
    def __init__(self, table, host="127.0.0.1", port=0):
        self.table = {k.lower().rstrip("."): list(v) for k, v in table.items()}
        self.asked = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _answer(self, query):
        qid, flags, qd = struct.unpack("!HHH", query[:6])
        name, end = _qname(query, 12)
        qtype, _ = struct.unpack("!HH", query[end:end + 4])
        question = query[12:end + 4]
        self.asked.append((name, {T_A: "A", T_AAAA: "AAAA"}.get(qtype, str(qtype))))
        answers = []
        rcode = 0
        if name in self.table:
            for text in self.table[name]:
                ip = ipaddress.ip_address(text)
                if qtype == T_A and ip.version == 4:
                    answers.append(_rr(T_A, 30, ip.packed))
                elif qtype == T_AAAA and ip.version == 6:
                    answers.append(_rr(T_AAAA, 30, ip.packed))
        else:
            rcode = 3
        authority = []
        if not answers:
            # mname ".", rname ".", serial, refresh, retry, expire, minimum
            authority.append(_rr(T_SOA, 30, b"\0\0" + struct.pack("!IIIII", 1, 7200, 1800, 86400, 30)))
        # QR, AA, RD copied, RA; the rcode
        rflags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
        head = struct.pack("!HHHHHH", qid, rflags, 1, len(answers), len(authority), 0)
        return head + question + b"".join(answers) + b"".join(authority)

    def _serve(self):
        while not self._stop.is_set():
            try:
                query, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self.sock.sendto(self._answer(query), peer)
            except (ValueError, struct.error, IndexError):
                continue

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()
