"""xsvc: Kubernetes ExternalName resolution in-process (ctypes over libxsvc).

    reg = xsvc.Registry.load("manifests/")
    with xsvc.Resolver(registry=reg, namespace="prod",
                       servers=["127.0.0.1:5353"]) as r:
        ans = r.resolve("my-service")      # ans.chain, ans.addresses, ans.target
        sock = r.connect("my-service", "pg")  # sock.target: TLS server_hostname, Host
        ans = await r.resolve_async("my-service")

Memory at the boundary: every C object is owned by exactly one Python object
(Registry, Resolver, the fake DNS server) and freed once, by close() or by
the garbage collector; results are copied into plain Python objects and the
C result freed at once; a connected socket's descriptor belongs to the
returned socket.socket. Errors are exceptions, subclasses of xsvc.Error.
"""
from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading

from typing import Dict, List, NamedTuple, Optional, Sequence, Union

from . import _lib
from ._lib import S, lib

__all__ = [
    "Address", "Answer", "ConnectError", "Connection", "Error", "InvalidArgument", "LimitError",
    "Link", "ManifestError", "NoData", "NotFound", "PolicyError", "Registry",
    "Resolver", "Timeout", "UpstreamError", "version",
]


def version() -> str:
    """The library's version, e.g. "0.1.0"."""
    return _lib.xs_version().decode()


# ---- errors -------------------------------------------------------------------

class Error(Exception):
    """An xsvc failure; .status is the library's status name (e.g. "ENOTFOUND")."""

    def __init__(self, status: int, message: str = ""):
        self.status = _lib.STATUS[status] if 0 <= status < len(_lib.STATUS) else str(status)
        self.code = status
        text = message or _lib.xs_strerror(status).decode()
        super().__init__(text)


class InvalidArgument(Error, ValueError):
    """An argument or option was refused (XS_EINVAL, XS_EBADNAME)."""


class ManifestError(Error):
    """A manifest could not be loaded: .file, .line, .column say where."""

    def __init__(self, status: int, message: str, file: str, line: int, column: int):
        self.file, self.line, self.column = file, line, column
        where = file
        if line:
            where += ":%d" % line
            if column:
                where += ":%d" % column
        super().__init__(status, "%s: %s" % (where, message) if where else message)


class NotFound(Error, LookupError):
    """No such name (NXDOMAIN)."""


class NoData(NotFound):
    """The name exists but has no address of the family asked."""


class Timeout(Error, TimeoutError):
    """Upstream DNS, or a connection, did not answer in time."""


class UpstreamError(Error):
    """Upstream DNS failed (SERVFAIL, REFUSED, a bad reply) or a CNAME loop."""


class PolicyError(Error, PermissionError):
    """The resolver's policy refused the target or every address; .rule says why."""


class LimitError(Error):
    """A resolver limit was reached: requests in flight (max_pending)."""


class ConnectError(Error, ConnectionError):
    """Every address refused or failed; .errno is the last one's."""


def _error(status: int, message: str = "") -> Error:
    name = _lib.STATUS[status] if 0 <= status < len(_lib.STATUS) else ""
    cls = {
        "EINVAL": InvalidArgument, "EBADNAME": InvalidArgument,
        "EMANIFEST": ManifestError, "EIO": ManifestError, "ELIMIT": LimitError,
        "EEXIST": InvalidArgument, "ENOTFOUND": NotFound, "ENODATA": NoData,
        "ETIMEOUT": Timeout, "ESERVFAIL": UpstreamError, "EREFUSED": UpstreamError,
        "EUPSTREAM": UpstreamError, "ELOOP": UpstreamError, "EPOLICY": PolicyError,
        "ECONNECT": ConnectError,
    }.get(name, Error)
    if cls is ManifestError:
        return ManifestError(status, message, "", 0, 0)
    return cls(status, message)


def _check_err(status: int, err: _lib.XsError) -> None:
    if status == 0:
        return
    msg = err.message.decode(errors="replace")
    if status in (S["EMANIFEST"], S["EIO"], S["ELIMIT"], S["EEXIST"], S["EPOLICY"]) and err.file:
        raise ManifestError(status, msg, err.file.decode(errors="replace"), err.line, err.column)
    if status == S["ELIMIT"]:  # a load's limit, without a position
        raise ManifestError(status, msg, "", 0, 0)
    raise _error(status, msg)


# ---- results -------------------------------------------------------------------

class Link(NamedTuple):
    """One CNAME link: name -> target, its TTL and where it came from."""
    name: str
    target: str
    ttl: int
    source: str


class Address(NamedTuple):
    """One address with its remaining TTL and source."""
    address: str
    family: int
    ttl: int
    source: str


# bound once: resolve() is the hot path
_c_void_p, _byref = ctypes.c_void_p, ctypes.byref
_xs_resolve, _FAMILY = _lib.xs_resolve, _lib.FAMILY
_xs_result_free = _lib.xs_result_free


def _s(b: Optional[bytes]) -> str:
    return b.decode() if b else ""


# xs_source values -> their names (registry, upstream, cache, stale)
_SOURCES = tuple(_s(_lib.xs_source_name(i)) for i in range(4))


class Answer:
    """What a resolution found: query, name (the candidate that answered),
    target (the name for TLS SNI, the certificate check and the HTTP Host
    header), final_name (where the addresses are, for diagnostics), ttl,
    status, chain (Links), addresses (Addresses), candidates (tried, in
    order) and policy (why the policy refused, or ""). Immutable. The fields are read
    from the library's result when first used, so a resolve costs little
    more than the C call; the result is freed with the Answer."""

    __slots__ = ("_r", "_chain", "_addrs")

    def __init__(self, r: int) -> None:
        self._r = r  # an xs_result the Answer owns
        self._chain = self._addrs = None

    def __del__(self) -> None:
        if self._r:
            _xs_result_free(self._r)
            self._r = None

    @property
    def query(self) -> str:
        return _s(_lib.xs_result_query(self._r))

    @property
    def name(self) -> str:
        return _s(_lib.xs_result_name(self._r))

    @property
    def target(self) -> str:
        """The name to check the peer against (xs_result_target), with the
        trailing dot: the ExternalName's target as the registry holds it
        (after in-cluster aliases), the name asked when it is outside the
        cluster, or a ClusterIP/headless Service's in-cluster name. Never a
        name learned from an upstream CNAME."""
        return _s(_lib.xs_result_target(self._r))

    @property
    def final_name(self) -> str:
        """The chain's last name, upstream CNAMEs included: the name the
        addresses belong to (xs_result_final_name). For diagnostics only,
        not for TLS."""
        return _s(_lib.xs_result_final_name(self._r))

    @property
    def ttl(self) -> int:
        return _lib.xs_result_ttl(self._r)

    @property
    def status(self) -> str:
        return _s(_lib.xs_status_name(_lib.xs_result_status(self._r)))

    @property
    def policy(self) -> str:
        return _s(_lib.xs_result_policy(self._r))

    @property
    def candidates(self) -> List[str]:
        r = self._r
        return [_s(_lib.xs_result_candidate(r, i))
                for i in range(_lib.xs_result_candidate_count(r))]

    @property
    def chain(self) -> List[Link]:
        if self._chain is None:
            r = self._r
            self._chain = [
                Link(_s(_lib.xs_result_chain_name(r, i)), _s(_lib.xs_result_chain_target(r, i)),
                     _lib.xs_result_chain_ttl(r, i), _SOURCES[_lib.xs_result_chain_source(r, i)])
                for i in range(_lib.xs_result_chain_count(r))]
        return list(self._chain)

    @property
    def addresses(self) -> List[Address]:
        if self._addrs is None:
            r = self._r
            text, fam, ttl, src = (_lib.xs_result_address_text, _lib.xs_result_address_family,
                                   _lib.xs_result_address_ttl, _lib.xs_result_address_source)
            self._addrs = [Address(text(r, i).decode(), fam(r, i), ttl(r, i), _SOURCES[src(r, i)])
                           for i in range(_lib.xs_result_address_count(r))]
        return list(self._addrs)

    def __repr__(self) -> str:
        return "<Answer %s -> %s %s>" % (
            self.query, self.target, [a.address for a in self.addresses])


def _take_result(status: int, r: int) -> Answer:
    """An Answer owning the C result r, or the matching exception."""
    if not r:
        raise _error(status)
    ans = Answer(r)
    if status != 0:
        err = _error(status, ans.policy)
        if isinstance(err, PolicyError):
            err.rule = ans.policy
        err.answer = ans  # the chain and candidates are still worth seeing
        raise err
    return ans


# ---- registry ----------------------------------------------------------------------

class Registry:
    """Kubernetes Services by (namespace, name). Build with Registry.load(...)
    or Registry() and the add_* methods. Thread-safe."""

    def __init__(self) -> None:
        h = ctypes.c_void_p()
        _check_err(_lib.xs_registry_new(ctypes.byref(h)), _lib.XsError())
        self._h = h

    @classmethod
    def load(cls, paths: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]],
             default_namespace: Optional[str] = None,
             allow_insecure_permissions: bool = False) -> "Registry":
        """Load manifests (a file, a directory, or a list of them), all or
        nothing. Raises ManifestError with .file/.line/.column."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        arr = (ctypes.c_char_p * len(paths))(*[os.fsencode(p) for p in paths])
        opts = _lib.XsLoadOptions()
        _lib.xs_load_options_init(ctypes.byref(opts))
        if default_namespace:
            ns = default_namespace.encode()
            opts.default_namespace = ns
        opts.allow_insecure_permissions = 1 if allow_insecure_permissions else 0
        err = _lib.XsError()
        h = ctypes.c_void_p()
        st = _lib.xs_registry_load_paths(arr, len(paths), ctypes.byref(opts),
                                         ctypes.byref(h), ctypes.byref(err))
        _check_err(st, err)
        self = cls.__new__(cls)
        self._h = h
        return self

    def _ptr(self) -> ctypes.c_void_p:
        if not self._h:
            raise InvalidArgument(S["EINVAL"], "registry is closed")
        return self._h

    def add_external(self, namespace: str, name: str, external_name: str) -> None:
        """Add an ExternalName Service namespace/name -> external_name."""
        err = _lib.XsError()
        _check_err(_lib.xs_registry_add_external(self._ptr(), namespace.encode(), name.encode(),
                                                 external_name.encode(), ctypes.byref(err)), err)

    def set_external(self, namespace: str, name: str, external_name: str) -> None:
        """Repoint an ExternalName Service."""
        err = _lib.XsError()
        _check_err(_lib.xs_registry_set_external(self._ptr(), namespace.encode(), name.encode(),
                                                 external_name.encode(), ctypes.byref(err)), err)

    def add_cluster_ip(self, namespace: str, name: str, *ips: str,
                       ports: Optional[Dict[str, int]] = None) -> None:
        """Add a ClusterIP Service with its IPs and named TCP ports."""
        err = _lib.XsError()
        arr = (ctypes.c_char_p * len(ips))(*[ip.encode() for ip in ips])
        _check_err(_lib.xs_registry_add_cluster_ip(self._ptr(), namespace.encode(),
                                                   name.encode(), arr, len(ips),
                                                   ctypes.byref(err)), err)
        for pname, port in (ports or {}).items():
            _check_err(_lib.xs_registry_add_port(self._ptr(), namespace.encode(), name.encode(),
                                                 pname.encode(), port, b"TCP",
                                                 ctypes.byref(err)), err)

    def remove(self, namespace: str, name: str) -> None:
        """Remove a Service (NotFound if there is none)."""
        st = _lib.xs_registry_remove(self._ptr(), namespace.encode(), name.encode())
        if st:
            raise _error(st)

    def __len__(self) -> int:
        return _lib.xs_registry_service_count(self._ptr())

    def close(self) -> None:
        """Free the registry (resolvers built on it keep their own reference)."""
        h, self._h = getattr(self, "_h", None), None
        if h:
            _lib.xs_registry_free(h)

    __del__ = close

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<xsvc.Registry %d services>" % len(self) if self._h else "<xsvc.Registry closed>"


# ---- resolver ------------------------------------------------------------------------

class Connection(socket.socket):
    """A connected socket.socket; .target is the name for TLS server_hostname,
    the certificate check and the HTTP Host header (xs_connect_info.target:
    Answer.target without the trailing dot, never an upstream CNAME's
    target)."""
    target: str = ""


class Resolver:
    """A pod's view of a registry plus upstream DNS (cache, engine thread).

    resolve() and connect() may be called from many threads at once;
    resolve_async() belongs to the asyncio loop that first calls it.

    Policy (see the README's policy section): loopback, unspecified,
    link-local, cloud metadata, multicast and broadcast addresses are denied
    by default. allow lifts ranges ("127.0.0.0/8", "::1"), deny adds ranges,
    default_denied=False drops the defaults, allowed_targets restricts the
    names aliases may point at ("example.com" and below). A refusal raises
    PolicyError."""

    def __init__(self, registry: Optional[Registry] = None, namespace: str = "default",
                 servers: Optional[Sequence[str]] = None, timeout_ms: Optional[int] = None,
                 attempts: Optional[int] = None, cluster_domain: Optional[str] = None,
                 max_pending: Optional[int] = None,
                 allow: Sequence[str] = (), deny: Sequence[str] = (),
                 allowed_targets: Sequence[str] = (),
                 default_denied: bool = True) -> None:
        cfg = ctypes.c_void_p()
        _check_err(_lib.xs_config_new(ctypes.byref(cfg)), _lib.XsError())
        try:
            _check_err(_lib.xs_config_set_namespace(cfg, namespace.encode()), _lib.XsError())
            if cluster_domain is not None:
                _check_err(_lib.xs_config_set_cluster_domain(cfg, cluster_domain.encode()),
                           _lib.XsError())
            for s in servers or []:
                _check_err(_lib.xs_config_add_server(cfg, s.encode()), _lib.XsError())
            if timeout_ms is not None:
                _check_err(_lib.xs_config_set_timeout_ms(cfg, timeout_ms), _lib.XsError())
            if attempts is not None:
                _check_err(_lib.xs_config_set_attempts(cfg, attempts), _lib.XsError())
            if max_pending is not None:  # resolve_async beyond it: LimitError
                _check_err(_lib.xs_config_set_max_pending(cfg, max_pending), _lib.XsError())
            if not default_denied:
                _check_err(_lib.xs_config_clear_denied_ranges(cfg), _lib.XsError())
            for what, fn in (("allow", _lib.xs_config_allow_range),
                             ("deny", _lib.xs_config_add_denied_range),
                             ("allowed_targets", _lib.xs_config_add_allowed_target)):
                items = {"allow": allow, "deny": deny, "allowed_targets": allowed_targets}[what]
                if isinstance(items, str):
                    raise TypeError(f"{what} takes a sequence of strings, not a string")
                for item in items:
                    st = fn(cfg, item.encode())
                    if st != 0:
                        raise _error(st, f"{what}: invalid {item!r}")
            # completions of resolve_async are queued for this process's loop
            _check_err(_lib.xs_config_set_dispatch(cfg, _lib.DISPATCH_QUEUE), _lib.XsError())
            h = ctypes.c_void_p()
            err = _lib.XsError()
            _check_err(_lib.xs_resolver_new(cfg, registry._ptr() if registry else None,
                                            ctypes.byref(h), ctypes.byref(err)), err)
        finally:
            _lib.xs_config_free(cfg)
        self._h = h
        self._lock = threading.Lock()
        self._pending: Dict[int, "asyncio.Future[Answer]"] = {}
        self._next = 0
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._cb = _lib.RESOLVE_CB(self._on_done)  # kept alive with the resolver

    def _ptr(self) -> ctypes.c_void_p:
        if not self._h:
            raise InvalidArgument(S["EINVAL"], "resolver is closed")
        return self._h

    def resolve(self, name: str, family: str = "any") -> Answer:
        """Resolve name as a pod in the namespace would (blocking; releases
        the GIL). family: "any", "ipv4" or "ipv6"."""
        r = _c_void_p()
        st = _xs_resolve(self._h or self._ptr(), name.encode(), _FAMILY[family], _byref(r))
        if st == 0 and r.value:  # the common case, kept short
            return Answer(r.value)
        return _take_result(st, r.value)

    def connect(self, name: str, port: Union[int, str], timeout: float = 5.0) -> "Connection":
        """A connected TCP socket to name (Happy Eyeballs over its addresses).
        port: a number or a port name from the Service's spec.ports."""
        fd = ctypes.c_int(-1)
        info = _lib.XsConnectInfo()
        if isinstance(port, str):
            spec, num = "%s:%s" % (name, port), 0
        else:
            spec, num = name, port
        st = _lib.xs_connect(self._ptr(), spec.encode(), num, max(1, int(timeout * 1000)),
                             ctypes.byref(fd), ctypes.byref(info))
        if st != 0:
            err = _error(st, info.message.decode(errors="replace"))
            if isinstance(err, ConnectError):
                err.errno = info.error
            raise err
        sock = Connection(fileno=fd.value)
        sock.target = info.target.decode()
        return sock

    # -- asyncio --

    def _on_done(self, status: int, result: int, arg: int) -> None:
        # Runs inside xs_resolver_dispatch, on the loop's thread.
        fut = self._pending.pop(arg or 0, None)
        if fut is None or fut.done():
            _lib.xs_result_free(result)
            return
        try:
            fut.set_result(_take_result(status, result))
        except Error as e:
            fut.set_exception(e)

    def _readable(self) -> None:
        _lib.xs_resolver_dispatch(self._h)

    async def resolve_async(self, name: str, family: str = "any") -> Answer:
        """resolve() without blocking the event loop: the resolver's
        completion fd is watched with loop.add_reader. Cancelling the task
        cancels the request in the library."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._loop is None:
                self._loop = loop
                loop.add_reader(_lib.xs_resolver_fd(self._ptr()), self._readable)
            elif self._loop is not loop:
                raise InvalidArgument(S["EINVAL"], "resolver bound to another event loop")
            self._next += 1
            key = self._next
        fut: asyncio.Future[Answer] = loop.create_future()
        self._pending[key] = fut
        req = ctypes.c_ulonglong()
        st = _lib.xs_resolve_async(self._ptr(), name.encode(), _lib.FAMILY[family], self._cb,
                                   ctypes.c_void_p(key), ctypes.byref(req))
        if st != 0:
            self._pending.pop(key, None)
            raise _error(st)
        try:
            return await fut
        except asyncio.CancelledError:
            _lib.xs_resolve_cancel(self._h, req.value)
            raise

    def close(self) -> None:
        """Stop the engine; requests in flight end with ECANCELLED."""
        h, self._h = getattr(self, "_h", None), None
        if not h:
            return
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.remove_reader(_lib.xs_resolver_fd(h))
            except (RuntimeError, ValueError):
                pass
        _lib.xs_resolver_free(h)  # runs queued callbacks first
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._pending.clear()

    __del__ = close

    def __enter__(self) -> "Resolver":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
