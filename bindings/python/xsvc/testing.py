"""A fake cluster DNS for test suites: a DNS server on loopback answering
from a Registry exactly as the cluster's CoreDNS would.

    reg = xsvc.Registry()
    reg.add_cluster_ip("prod", "db", "10.96.0.20")
    with xsvc.testing.FakeDNS(reg) as dns:
        ...  # point a client at dns.host, dns.port
        reg.set_external(...)   # served from the next query on
"""
from __future__ import annotations

import ctypes
from typing import Optional, Sequence

from . import Registry, Resolver, _check_err, _lib


class FakeDNS:
    """xs_server on listen (default 127.0.0.1 and a free port), UDP and TCP.
    upstream: servers for names outside the cluster (none: REFUSED)."""

    def __init__(self, registry: Registry, listen: str = "127.0.0.1:0",
                 namespace: str = "default", upstream: Optional[Sequence[str]] = None,
                 cluster_domain: Optional[str] = None, allow: Sequence[str] = (),
                 deny: Sequence[str] = ()) -> None:
        self.registry = registry
        # allow/deny: the address policy over forwarded answers (Resolver's)
        self._resolver = Resolver(registry=registry, namespace=namespace,
                                  servers=list(upstream or []), cluster_domain=cluster_domain,
                                  allow=allow, deny=deny)
        h = ctypes.c_void_p()
        err = _lib.XsError()
        _check_err(_lib.xs_server_start(self._resolver._ptr(), listen.encode(), ctypes.byref(h),
                                        ctypes.byref(err)), err)
        self._h = h
        self.port: int = _lib.xs_server_port(h)
        self.address: str = _lib.xs_server_address(h).decode()
        self.host: str = self.address.rsplit(":", 1)[0].strip("[]")

    def close(self) -> None:
        """Stop serving (queries in progress finish first)."""
        h, self._h = getattr(self, "_h", None), None
        if h:
            _lib.xs_server_stop(h)
            self._resolver.close()

    __del__ = close

    def __enter__(self) -> "FakeDNS":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<xsvc.testing.FakeDNS %s>" % (self.address if self._h else "stopped")
