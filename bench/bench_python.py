#!/usr/bin/env python3
"""Python binding: a cached resolve per call vs socket.getaddrinfo of an
/etc/hosts name, same run (best of 5 rounds).

usage: XSVC_LIBRARY=build-bench/libxsvc.so PYTHONPATH=bindings/python \
       python3 bench/bench_python.py
"""
import socket
import time

import xsvc
import xsvc.testing

N = 20000


def per_call(fn, n=N):
    best = None
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t = (time.perf_counter() - t0) / n
        best = t if best is None or t < best else best
    return best * 1e6


def main():
    up = xsvc.Registry()
    up.add_cluster_ip("ext", "db", "192.0.2.10")
    with xsvc.testing.FakeDNS(up, cluster_domain="example.test") as dns:
        reg = xsvc.Registry()
        reg.add_external("prod", "my-service", "db.ext.svc.example.test")
        with xsvc.Resolver(registry=reg, namespace="prod", servers=[dns.address]) as r:
            r.resolve("my-service", "ipv4")  # fills the cache
            xs = per_call(lambda: r.resolve("my-service", "ipv4"))
            xs_addr = per_call(lambda: r.resolve("my-service", "ipv4").addresses[0].address)
            gai = per_call(lambda: socket.getaddrinfo("localhost", 80, socket.AF_INET,
                                                      socket.SOCK_STREAM))
        reg.close()
    up.close()
    print("%-50s %8.2f us" % ("xsvc Resolver.resolve, cached alias -> A", xs))
    print("%-50s %8.2f us" % ("  ... and reading .addresses[0].address", xs_addr))
    print("%-50s %8.2f us" % ("socket.getaddrinfo('localhost', AF_INET)", gai))
    print("ratio getaddrinfo / xsvc: %.1fx (target: xsvc <= 3 us)" % (gai / xs))


if __name__ == "__main__":
    main()
