/* Kubernetes name validation with the API server's messages
 * (apimachinery IsDNS1035Label / IsDNS1123Label / IsDNS1123Subdomain), and
 * IP address parsing. */
#include "validate.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define DNS1035_MSG                                                            \
  "a DNS-1035 label must consist of lower case alphanumeric characters or "    \
  "'-', start with an alphabetic character, and end with an alphanumeric "     \
  "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "    \
  "'[a-z]([-a-z0-9]*[a-z0-9])?')"
#define DNS1123_LABEL_MSG                                                      \
  "a lowercase RFC 1123 label must consist of lower case alphanumeric "        \
  "characters or '-', and must start and end with an alphanumeric character "  \
  "(e.g. 'my-name',  or '123-abc', regex used for validation is "              \
  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
#define DNS1123_SUBDOMAIN_MSG                                                  \
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "    \
  "characters, '-' or '.', and must start and end with an alphanumeric "       \
  "character (e.g. 'example.com', regex used for validation is "               \
  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"

static int is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? (first_alpha: [a-z] first) */
static int label_ok(const char *s, size_t len, int first_alpha) {
  size_t i;
  if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
    return 0;
  if (first_alpha && !(s[0] >= 'a' && s[0] <= 'z'))
    return 0;
  for (i = 1; i + 1 < len; i++)
    if (!is_alnum(s[i]) && s[i] != '-')
      return 0;
  return 1;
}

static int subdomain_ok(const char *s, size_t len) {
  size_t start = 0, i;
  if (len == 0)
    return 0;
  for (i = 0; i <= len; i++)
    if (i == len || s[i] == '.') {
      if (!label_ok(s + start, i - start, 0))
        return 0;
      start = i + 1;
    }
  return 1;
}

/* Width of the UTF-8 sequence at s[0..len); 0 if it is not valid UTF-8. */
static size_t utf8_width(const unsigned char *s, size_t len) {
  size_t w, i;
  unsigned c = s[0];
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    w = 2;
  else if (c >= 0xe0 && c <= 0xef)
    w = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    w = 4;
  else
    return 0;
  if (w > len)
    return 0;
  for (i = 1; i < w; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  return w;
}

size_t xs_quote(char *dst, size_t size, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s;
  size_t out = 0, i = 0;
  if (dst == NULL || size < 3) {
    if (dst != NULL && size > 0)
      dst[0] = '\0';
    return 0;
  }
  dst[out++] = '"';
  /* keep room for the closing quote and the NUL */
  while (i < len && out + 2 < size) {
    unsigned char c = p[i];
    char esc[4];
    size_t n = 0, w = 1;
    const char *src = esc;
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      n = 2;
    } else if (c == '\n' || c == '\r' || c == '\t') {
      esc[0] = '\\';
      esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
      n = 2;
    } else if (c < 0x20 || c == 0x7f || (w = utf8_width(p + i, len - i)) == 0) {
      esc[0] = '\\';
      esc[1] = 'x';
      esc[2] = hex[c >> 4];
      esc[3] = hex[c & 15];
      n = 4;
      w = 1;
    } else {
      src = s + i;
      n = w;
    }
    if (out + n + 2 > size)
      break;
    memcpy(dst + out, src, n);
    out += n;
    i += w;
  }
  dst[out++] = '"';
  dst[out] = '\0';
  return out;
}

/* `<field>: Invalid value: "<value>": <d1>, <d2>`, the value quoted as Go's
 * %q does and clipped for the message buffer only. */
static void invalid(char *msg, size_t size, const char *field, const char *s,
                    size_t len, const char *d1, const char *d2) {
  char quoted[512];
  if (msg == NULL || size == 0)
    return;
  xs_quote(quoted, sizeof(quoted), s, len);
  snprintf(msg, size, "%s: Invalid value: %s: %s%s%s", field, quoted, d1,
           d2 != NULL ? ", " : "", d2 != NULL ? d2 : "");
}

int xs_valid_dns1035_label(const char *s, size_t len, const char *field,
                           char *msg, size_t msgsize) {
  int too_long = len > 63, bad = !label_ok(s, len, 1);
  if (!too_long && !bad)
    return 1;
  invalid(msg, msgsize, field, s, len,
          too_long ? "must be no more than 63 characters" : DNS1035_MSG,
          too_long && bad ? DNS1035_MSG : NULL);
  return 0;
}

int xs_valid_dns1123_label(const char *s, size_t len, const char *field,
                           int is_namespace, char *msg, size_t msgsize) {
  int too_long = len > 63, bad = !label_ok(s, len, 0);
  if (!too_long && !bad)
    return 1;
  if (is_namespace && !too_long && memchr(s, '.', len) != NULL &&
      subdomain_ok(s, len)) {
    /* ValidateNamespaceName: a valid subdomain gets the clearer hint */
    invalid(msg, msgsize, field, s, len, "must not contain dots", NULL);
    return 0;
  }
  invalid(msg, msgsize, field, s, len,
          too_long ? "must be no more than 63 characters" : DNS1123_LABEL_MSG,
          too_long && bad ? DNS1123_LABEL_MSG : NULL);
  return 0;
}

int xs_valid_dns1123_subdomain(const char *s, size_t len, const char *field,
                               char *msg, size_t msgsize) {
  int too_long = len > 253, bad = !subdomain_ok(s, len);
  if (!too_long && !bad)
    return 1;
  invalid(msg, msgsize, field, s, len,
          too_long ? "must be no more than 253 characters"
                   : DNS1123_SUBDOMAIN_MSG,
          too_long && bad ? DNS1123_SUBDOMAIN_MSG : NULL);
  return 0;
}

int xs_valid_external_name(const char *s, size_t len, size_t *norm_len,
                           char *msg, size_t msgsize) {
  size_t n = len, start = 0, i;
  if (n > 0 && s[n - 1] == '.')
    n--; /* one trailing dot marks it fully qualified */
  if (norm_len != NULL)
    *norm_len = n;
  if (n == 0) {
    if (msg != NULL && msgsize > 0)
      snprintf(msg, msgsize, "spec.externalName: Required value");
    return 0;
  }
  if (!xs_valid_dns1123_subdomain(s, n, "spec.externalName", msg, msgsize))
    return 0;
  /* xsvc's stricter rule: DNS messages cannot carry labels over 63 octets */
  for (i = 0; i <= n; i++)
    if (i == n || s[i] == '.') {
      if (i - start > 63) {
        char detail[512];
        snprintf(detail, sizeof(detail),
                 "label \"%.*s\" is %zu octets long; DNS labels are at most "
                 "63 octets, so no DNS message can carry this name",
                 (int)(i - start), s + start, i - start);
        invalid(msg, msgsize, "spec.externalName", s, n, detail, NULL);
        return 0;
      }
      start = i + 1;
    }
  return 1;
}

int xs_addr_parse(const char *s, size_t len, xs_addr *out) {
  char buf[64];
  if (len == 0 || len >= sizeof(buf))
    return 0;
  memcpy(buf, s, len);
  buf[len] = '\0';
  memset(out, 0, sizeof(*out));
  if (inet_pton(AF_INET, buf, out->bytes) == 1) {
    out->family = 4;
    return 1;
  }
  if (inet_pton(AF_INET6, buf, out->bytes) == 1) {
    out->family = 6;
    return 1;
  }
  return 0;
}

char *xs_addr_format(const xs_addr *a, char *buf, size_t size) {
  if (a->family != 4 && a->family != 6) {
    if (size > 0)
      buf[0] = '\0';
    return buf;
  }
  if (inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->bytes, buf,
                (socklen_t)size) == NULL &&
      size > 0)
    buf[0] = '\0';
  return buf;
}

int xs_looks_like_ipv4(const char *s, size_t len) {
  xs_addr a;
  return xs_addr_parse(s, len, &a) && a.family == 4;
}
