/* Kubernetes API validation rules and IP parsing, with the API server's
 * exact messages (K8S-DNS.md section 3). Pure functions; any thread. */
#ifndef XS_VALIDATE_H
#define XS_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "xsvc.h"

/* An IPv4 or IPv6 address in network byte order. */
typedef struct xs_addr {
  uint8_t family; /* 4 or 6; 0 = none */
  uint8_t bytes[16];
} xs_addr;

/* Each validator returns 1 when s[0..len) is valid. Otherwise it returns 0
 * and, when msg is non-NULL, writes the API server's message for field
 * (e.g. "metadata.name") into msg[0..msgsize), e.g.
 * `metadata.name: Invalid value: "My-Service": a DNS-1035 label must ...`.
 * Several failures are joined with ", " in API order (length first). */
int xs_valid_dns1035_label(const char *s, size_t len, const char *field,
                           char *msg, size_t msgsize);
/* DNS-1123 label (namespaces, port names): lowercase RFC 1123 label. For
 * a namespace that would be a valid subdomain the API says "must not
 * contain dots"; pass is_namespace=1 to get that wording. */
int xs_valid_dns1123_label(const char *s, size_t len, const char *field,
                           int is_namespace, char *msg, size_t msgsize);
/* DNS-1123 subdomain, total <= 253. */
int xs_valid_dns1123_subdomain(const char *s, size_t len, const char *field,
                               char *msg, size_t msgsize);
/* spec.externalName: strips one trailing dot, then DNS-1123 subdomain,
 * then xsvc's stricter rule: every label <= 63 octets. *norm_len receives
 * the length without the trailing dot. Empty -> "spec.externalName:
 * Required value". */
int xs_valid_external_name(const char *s, size_t len, size_t *norm_len,
                           char *msg, size_t msgsize);

/* Parse a textual IPv4/IPv6 address (no brackets, no zone). 1 on success. */
int xs_addr_parse(const char *s, size_t len, xs_addr *out);
/* Format into buf (at least 46 bytes). Returns buf. */
char *xs_addr_format(const xs_addr *a, char *buf, size_t size);
/* 1 if s[0..len) parses as an IPv4 dotted quad (as Go's net.ParseIP). */
int xs_looks_like_ipv4(const char *s, size_t len);

/* Write s[0..len) double-quoted into dst[0..size) as Go's %q does for the
 * API's "Invalid value" (\" \\ \n \r \t, other control octets and invalid
 * UTF-8 as \xNN), truncated to fit; returns the length written. */
size_t xs_quote(char *dst, size_t size, const char *s, size_t len);

#endif
