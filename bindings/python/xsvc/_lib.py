"""ctypes declarations for libxsvc (include/xsvc.h). Internal."""
import ctypes
import ctypes.util
import os

STATUS = [
    "OK", "EINVAL", "ENOMEM", "EIO", "EMANIFEST", "ELIMIT", "EEXIST",
    "ENOTFOUND", "ENODATA", "ELOOP", "ETIMEOUT", "ESERVFAIL", "EREFUSED",
    "EUPSTREAM", "ECANCELLED", "EPOLICY", "EBADNAME", "ECONNECT",
]
S = {name: i for i, name in enumerate(STATUS)}

FAMILY = {"any": 0, "ipv4": 4, "ipv6": 6, "A": 4, "AAAA": 6, None: 0}
DISPATCH_QUEUE = 1


class XsError(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("line", ctypes.c_uint),
                ("column", ctypes.c_uint), ("file", ctypes.c_char * 1024),
                ("message", ctypes.c_char * 1024)]


class XsConnectInfo(ctypes.Structure):
    _fields_ = [("family", ctypes.c_int), ("address", ctypes.c_char * 46),
                ("port", ctypes.c_uint), ("target", ctypes.c_char * 254),
                ("attempts", ctypes.c_uint), ("elapsed_ms", ctypes.c_uint),
                ("error", ctypes.c_int), ("message", ctypes.c_char * 256)]


class XsLoadOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint), ("default_namespace", ctypes.c_char_p),
                ("diag", ctypes.c_void_p), ("diag_arg", ctypes.c_void_p),
                ("allow_insecure_permissions", ctypes.c_int)]


RESOLVE_CB = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


def _candidates():
    env = os.environ.get("XSVC_LIBRARY")
    if env:
        yield env
    found = ctypes.util.find_library("xsvc")
    if found:
        yield found
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(os.path.join(here, "..", "..", ".."))
    for build in ("build", "build-bench"):
        yield os.path.join(root, build, "libxsvc.so")


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append("%s: %s" % (path, e))
    raise ImportError("xsvc: libxsvc.so not found (set XSVC_LIBRARY); tried:\n  "
                      + "\n  ".join(errors))


lib, path = _load()
# The same library for calls that never block (result accessors, free):
# they keep the GIL, which saves releasing and taking it back each time.
fastlib = ctypes.PyDLL(path)
P, U, I, SZ, CP = ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_size_t, ctypes.c_char_p


def _fn(name, restype, *argtypes, fast=False):
    f = getattr(fastlib if fast else lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


xs_strerror = _fn("xs_strerror", CP, I, fast=True)
xs_status_name = _fn("xs_status_name", CP, I, fast=True)
xs_source_name = _fn("xs_source_name", CP, I, fast=True)
xs_version = _fn("xs_version", CP)
xs_load_options_init = _fn("xs_load_options_init", None, ctypes.POINTER(XsLoadOptions))
xs_registry_load_paths = _fn("xs_registry_load_paths", I, ctypes.POINTER(CP), SZ,
                             ctypes.POINTER(XsLoadOptions), ctypes.POINTER(P),
                             ctypes.POINTER(XsError))
xs_registry_new = _fn("xs_registry_new", I, ctypes.POINTER(P))
xs_registry_free = _fn("xs_registry_free", None, P)
xs_registry_add_external = _fn("xs_registry_add_external", I, P, CP, CP, CP,
                               ctypes.POINTER(XsError))
xs_registry_set_external = _fn("xs_registry_set_external", I, P, CP, CP, CP,
                               ctypes.POINTER(XsError))
xs_registry_add_cluster_ip = _fn("xs_registry_add_cluster_ip", I, P, CP, CP,
                                 ctypes.POINTER(CP), SZ, ctypes.POINTER(XsError))
xs_registry_add_port = _fn("xs_registry_add_port", I, P, CP, CP, CP, I, CP,
                           ctypes.POINTER(XsError))
xs_registry_remove = _fn("xs_registry_remove", I, P, CP, CP)
xs_registry_service_count = _fn("xs_registry_service_count", SZ, P)
xs_config_new = _fn("xs_config_new", I, ctypes.POINTER(P))
xs_config_free = _fn("xs_config_free", None, P)
xs_config_set_namespace = _fn("xs_config_set_namespace", I, P, CP)
xs_config_add_server = _fn("xs_config_add_server", I, P, CP)
xs_config_set_cluster_domain = _fn("xs_config_set_cluster_domain", I, P, CP)
xs_config_set_timeout_ms = _fn("xs_config_set_timeout_ms", I, P, I)
xs_config_set_max_pending = _fn("xs_config_set_max_pending", I, P, SZ)
xs_config_set_attempts = _fn("xs_config_set_attempts", I, P, I)
xs_config_set_dispatch = _fn("xs_config_set_dispatch", I, P, I)
xs_config_allow_range = _fn("xs_config_allow_range", I, P, CP)
xs_config_add_denied_range = _fn("xs_config_add_denied_range", I, P, CP)
xs_config_clear_denied_ranges = _fn("xs_config_clear_denied_ranges", I, P)
xs_config_add_allowed_target = _fn("xs_config_add_allowed_target", I, P, CP)
xs_resolver_new = _fn("xs_resolver_new", I, P, P, ctypes.POINTER(P), ctypes.POINTER(XsError))
xs_resolver_free = _fn("xs_resolver_free", None, P)
xs_resolve = _fn("xs_resolve", I, P, CP, I, ctypes.POINTER(P))
xs_resolve_async = _fn("xs_resolve_async", I, P, CP, I, RESOLVE_CB, P,
                       ctypes.POINTER(ctypes.c_ulonglong))
xs_resolve_cancel = _fn("xs_resolve_cancel", I, P, ctypes.c_ulonglong)
xs_resolver_fd = _fn("xs_resolver_fd", I, P)
xs_resolver_dispatch = _fn("xs_resolver_dispatch", SZ, P)
xs_connect = _fn("xs_connect", I, P, CP, U, I, ctypes.POINTER(I),
                 ctypes.POINTER(XsConnectInfo))
xs_result_free = _fn("xs_result_free", None, P, fast=True)
xs_result_status = _fn("xs_result_status", I, P, fast=True)
xs_result_query = _fn("xs_result_query", CP, P, fast=True)
xs_result_name = _fn("xs_result_name", CP, P, fast=True)
xs_result_target = _fn("xs_result_target", CP, P, fast=True)
xs_result_final_name = _fn("xs_result_final_name", CP, P, fast=True)
xs_result_policy = _fn("xs_result_policy", CP, P, fast=True)
xs_result_ttl = _fn("xs_result_ttl", U, P, fast=True)
xs_result_candidate_count = _fn("xs_result_candidate_count", SZ, P, fast=True)
xs_result_candidate = _fn("xs_result_candidate", CP, P, SZ, fast=True)
xs_result_chain_count = _fn("xs_result_chain_count", SZ, P, fast=True)
xs_result_chain_name = _fn("xs_result_chain_name", CP, P, SZ, fast=True)
xs_result_chain_target = _fn("xs_result_chain_target", CP, P, SZ, fast=True)
xs_result_chain_ttl = _fn("xs_result_chain_ttl", U, P, SZ, fast=True)
xs_result_chain_source = _fn("xs_result_chain_source", I, P, SZ, fast=True)
xs_result_address_count = _fn("xs_result_address_count", SZ, P, fast=True)
xs_result_address_family = _fn("xs_result_address_family", I, P, SZ, fast=True)
xs_result_address_text = _fn("xs_result_address_text", CP, P, SZ, fast=True)
xs_result_address_ttl = _fn("xs_result_address_ttl", U, P, SZ, fast=True)
xs_result_address_source = _fn("xs_result_address_source", I, P, SZ, fast=True)
xs_server_start = _fn("xs_server_start", I, P, CP, ctypes.POINTER(P), ctypes.POINTER(XsError))
xs_server_port = _fn("xs_server_port", U, P)
xs_server_address = _fn("xs_server_address", CP, P)
xs_server_stop = _fn("xs_server_stop", None, P)
