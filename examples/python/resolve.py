#!/usr/bin/env python3
"""Resolve a Service name and connect to it from Python (bindings/python).

    XSVC_LIBRARY=build/libxsvc.so PYTHONPATH=bindings/python \
    examples/python/resolve.py examples/manifests default 127.0.0.1:5353 \
        httpbin-service 8080
"""
import sys

import xsvc


def main(manifests, namespace, server, name, port=None):
    reg = xsvc.Registry.load(manifests)
    with xsvc.Resolver(registry=reg, namespace=namespace, servers=[server]) as r:
        try:
            ans = r.resolve(name)
        except xsvc.NotFound as e:
            print("%s: not found (tried %s)" % (name, ", ".join(e.answer.candidates)))
            return 1
        for link in ans.chain:
            print("%s -> %s (ttl %d, %s)" % (link.name, link.target, link.ttl, link.source))
        for a in ans.addresses:
            print("%s ttl %d (%s)" % (a.address, a.ttl, a.source))
        # target: for TLS server_hostname and Host (never an upstream CNAME's
        # target); final_name: where the addresses are, for diagnostics
        print("TLS/Host name %s (addresses at %s)" % (ans.target, ans.final_name))
        if port:
            with r.connect(name, int(port) if port.isdigit() else port) as sock:
                print("connected to %s:%d, Host/SNI %s" % (*sock.getpeername()[:2], sock.target))
    reg.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
