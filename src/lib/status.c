/* Version and status names. */
#include "xsvc.h"

const char *xs_version(void) {
  return XSVC_VERSION_STRING;
}

unsigned xs_version_number(void) {
  return XSVC_VERSION;
}

static const struct {
  const char *name;
  const char *text;
} statuses[XS_STATUS_COUNT] = {
    [XS_OK] = {"ok", "success"},
    [XS_EINVAL] = {"error", "invalid argument"},
    [XS_ENOMEM] = {"error", "out of memory"},
    [XS_EIO] = {"error", "file or directory could not be read"},
    [XS_EMANIFEST] = {"error", "invalid manifest"},
    [XS_ELIMIT] = {"error", "manifest exceeds a limit"},
    [XS_EEXIST] = {"error", "service already exists"},
    [XS_ENOTFOUND] = {"nxdomain", "name not found"},
    [XS_ENODATA] = {"nodata", "no records of the requested family"},
    [XS_ELOOP] = {"loop", "CNAME loop or chain too long"},
    [XS_ETIMEOUT] = {"timeout", "upstream DNS timed out"},
    [XS_ESERVFAIL] = {"servfail", "upstream DNS failed (SERVFAIL)"},
    [XS_EREFUSED] = {"refused", "upstream DNS refused the query"},
    [XS_EUPSTREAM] = {"error", "upstream DNS failure"},
    [XS_ECANCELLED] = {"cancelled", "request cancelled"},
    [XS_EPOLICY] = {"policy", "refused by policy"},
    [XS_EBADNAME] = {"error", "invalid DNS name"},
    [XS_ECONNECT] = {"connect", "no address accepted the connection"},
};

const char *xs_strerror(xs_status status) {
  if ((unsigned)status >= XS_STATUS_COUNT)
    return "unknown status";
  return statuses[status].text;
}

const char *xs_status_name(xs_status status) {
  if ((unsigned)status >= XS_STATUS_COUNT)
    return "error";
  return statuses[status].name;
}

const char *xs_source_name(xs_source source) {
  switch (source) {
  case XS_SOURCE_REGISTRY:
    return "registry";
  case XS_SOURCE_UPSTREAM:
    return "upstream";
  case XS_SOURCE_CACHE:
    return "cache";
  case XS_SOURCE_STALE:
    return "stale";
  }
  return "unknown";
}
