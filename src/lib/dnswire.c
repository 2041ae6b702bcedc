/* DNS messages for the server (see dnswire.h). */
#include "dnswire.h"

#include <string.h>

#include "policy.h"

#define T_OPT 41
#define CLASS_IN 1
#define MAX_PTRS 128 /* names remembered for compression */
#define MAX_SEEN 16  /* name strings remembered by address */

static uint16_t get16(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- decoding --------------------------------------------------------------
 */

/* The (uncompressed: a question's name is never compressed in a query we
 * accept) name at *off into out with a trailing dot. 0 on a bad name. */
static int read_qname(const uint8_t *buf, size_t len, size_t *off, char *out,
                      size_t *out_len) {
  size_t o = *off, n = 0, k;
  for (;;) {
    size_t l;
    if (o >= len)
      return 0;
    l = buf[o++];
    if (l == 0)
      break;
    if (l > 63 || o + l > len || n + l + 1 > XS_MAX_NAME + 1)
      return 0; /* compression in a question, long label, long name */
    for (k = 0; k < l; k++) {
      uint8_t c = buf[o + k];
      if (c == '.' || c == 0)
        return 0; /* a dot or NUL inside a label cannot be a host name */
      out[n + k] = (char)c;
    }
    n += l;
    out[n++] = '.';
    o += l;
  }
  if (n == 0)
    out[n++] = '.'; /* the root */
  out[n] = '\0';
  *out_len = n;
  *off = o;
  return 1;
}

xs_dns_verdict xs_dns_decode_query(const uint8_t *buf, size_t len,
                                   xs_dns_query *q) {
  size_t off = XS_DNS_HEADER, i;
  uint16_t qd, an, ns, ar;
  memset(q, 0, sizeof(*q));
  q->udp_size = XS_DNS_UDP_MIN;
  if (len < XS_DNS_HEADER || (buf[2] & 0x80) != 0)
    return XS_DNS_DROP; /* no whole header, or a response */
  q->id = get16(buf);
  q->flags = get16(buf + 2);
  q->opcode = (buf[2] >> 3) & 0x0f;
  q->rd = buf[2] & 0x01;
  q->cd = (buf[3] >> 4) & 0x01;
  qd = get16(buf + 4);
  an = get16(buf + 6);
  ns = get16(buf + 8);
  ar = get16(buf + 10);
  if (q->opcode != 0)
    return XS_DNS_NOTIMP;
  if (qd != 1 || an != 0 || ns != 0)
    return XS_DNS_FORMERR;
  if (!read_qname(buf, len, &off, q->qname, &q->qname_len) || off + 4 > len) {
    q->qname_len = 0;
    q->qname[0] = '\0';
    return XS_DNS_FORMERR;
  }
  q->qwire_len = off - XS_DNS_HEADER;
  memcpy(q->qwire, buf + XS_DNS_HEADER, q->qwire_len);
  q->qtype = get16(buf + off);
  q->qclass = get16(buf + off + 2);
  off += 4;
  /* additional: at most one OPT (RFC 6891); anything else is skipped */
  for (i = 0; i < ar; i++) {
    uint16_t type, rdlen;
    if (off < len && buf[off] == 0) {
      off++; /* the root, as OPT's owner must be */
    } else {
      /* another owner: skip it (labels or a pointer) */
      for (;;) {
        if (off >= len)
          return XS_DNS_FORMERR;
        if ((buf[off] & 0xc0) == 0xc0) {
          off += 2;
          break;
        }
        if (buf[off] > 63)
          return XS_DNS_FORMERR;
        if (buf[off] == 0) {
          off++;
          break;
        }
        off += (size_t)buf[off] + 1;
      }
    }
    if (off + 10 > len)
      return XS_DNS_FORMERR;
    type = get16(buf + off);
    rdlen = get16(buf + off + 8);
    if (type == T_OPT) {
      uint16_t size = get16(buf + off + 2);
      if (q->edns)
        return XS_DNS_FORMERR; /* two OPT records */
      q->edns = 1;
      q->edns_version = buf[off + 5];
      q->do_bit = (buf[off + 6] & 0x80) != 0;
      q->udp_size = size < XS_DNS_UDP_MIN     ? XS_DNS_UDP_MIN
                    : size > XS_DNS_EDNS_SIZE ? XS_DNS_EDNS_SIZE
                                              : size;
    }
    off += 10;
    if (off + rdlen > len)
      return XS_DNS_FORMERR;
    off += rdlen;
  }
  return XS_DNS_QUERY;
}

/* ---- encoding --------------------------------------------------------------
 */

typedef struct writer {
  uint8_t *buf;
  size_t cap, len;
  int full; /* something did not fit */
  /* names written, for compression: offset of each name's labels */
  uint16_t ptrs[MAX_PTRS];
  size_t nptrs;
  /* whole names written, by the address of the string they came from:
   * answers repeat the question's name and their targets by pointer */
  const char *seen[MAX_SEEN];
  uint16_t seen_off[MAX_SEEN];
  size_t nseen;
} writer;

static void put(writer *w, const void *p, size_t n) {
  if (w->full || w->len + n > w->cap) {
    w->full = 1;
    return;
  }
  memcpy(w->buf + w->len, p, n);
  w->len += n;
}

static void put16(writer *w, unsigned v) {
  uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  put(w, b, 2);
}

static void put32(writer *w, uint32_t v) {
  put16(w, v >> 16);
  put16(w, v & 0xffff);
}

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* 1 if the uncompressed-or-compressed name at offset o in the message
 * equals name[0..len) (labels with dots, no trailing dot), ignoring case. */
static int name_at_equals(const writer *w, size_t o, const char *name,
                          size_t len) {
  size_t i = 0;
  int hops = 0;
  for (;;) {
    size_t l;
    if (o >= w->len)
      return 0;
    if ((w->buf[o] & 0xc0) == 0xc0) {
      if (o + 1 >= w->len || ++hops > 32)
        return 0;
      o = (size_t)(get16(w->buf + o) & 0x3fff);
      continue;
    }
    l = w->buf[o++];
    if (l == 0)
      return i == len;
    if (i > 0) {
      if (i >= len || name[i] != '.')
        return 0;
      i++;
    }
    if (i + l > len || o + l > w->len)
      return 0;
    for (size_t k = 0; k < l; k++)
      if (lower(w->buf[o + k]) != lower((unsigned char)name[i + k]))
        return 0;
    i += l;
    o += l;
  }
}

/* A name (with or without the trailing dot), compressed against the
 * names already written. */
/* remember: the string lives as long as the message is written (not a
 * scratch buffer reused for another name), so its address identifies it. */
static void put_name_as(writer *w, const char *name, int remember) {
  size_t len, start = 0, i;
  for (i = 0; remember && i < w->nseen; i++)
    if (w->seen[i] == name) {
      put16(w, 0xc000u | w->seen_off[i]);
      return;
    }
  if (remember && w->nseen < MAX_SEEN && w->len < 0x4000 && !w->full) {
    w->seen[w->nseen] = name;
    w->seen_off[w->nseen++] = (uint16_t)w->len;
  }
  len = strlen(name);
  if (len > 0 && name[len - 1] == '.')
    len--;
  while (start < len) {
    size_t end;
    for (end = start; end < len && name[end] != '.'; end++)
      ;
    for (i = 0; i < w->nptrs; i++)
      /* the first label's length decides most comparisons at once */
      if (w->buf[w->ptrs[i]] == end - start &&
          name_at_equals(w, w->ptrs[i], name + start, len - start)) {
        put16(w, 0xc000u | w->ptrs[i]);
        return;
      }
    if (w->len < 0x4000 && w->nptrs < MAX_PTRS && !w->full)
      w->ptrs[w->nptrs++] = (uint16_t)w->len;
    {
      uint8_t l = (uint8_t)(end - start);
      put(w, &l, 1);
      put(w, name + start, end - start);
    }
    start = end + 1;
  }
  put(w, "", 1);
}

static void put_name(writer *w, const char *name) {
  put_name_as(w, name, 1);
}

/* A name built here (SOA rdata), compressed against the others. */
static void put_name_prefixed(writer *w, const char *prefix, const char *zone) {
  char buf[XS_NAME_BUF + 32];
  size_t pl = strlen(prefix), zl = strlen(zone);
  if (pl + zl + 1 >= sizeof(buf)) {
    w->full = 1;
    return;
  }
  memcpy(buf, prefix, pl);
  memcpy(buf + pl, zone, zl + 1);
  put_name_as(w, buf, 0); /* buf is reused for the next name */
}

static void put_rr(writer *w, const xs_rr *rr, const xs_answer *a) {
  size_t rdlen_at;
  put_name(w, rr->owner);
  put16(w, rr->type);
  put16(w, CLASS_IN);
  put32(w, rr->ttl);
  rdlen_at = w->len;
  put16(w, 0);
  switch (rr->type) {
  case XS_T_A:
    put(w, rr->addr.bytes, 4);
    break;
  case XS_T_AAAA:
    put(w, rr->addr.bytes, 16);
    break;
  case XS_T_CNAME:
  case XS_T_PTR:
    put_name(w, rr->target);
    break;
  case XS_T_SRV:
    put16(w, rr->priority);
    put16(w, rr->weight);
    put16(w, rr->port);
    put_name(w, rr->target); /* RFC 2782: not compressed by old clients, but
                              * compression is allowed and CoreDNS does */
    break;
  case XS_T_TXT: {
    size_t n = strlen(rr->target);
    uint8_t l = (uint8_t)(n > 255 ? 255 : n);
    put(w, &l, 1);
    put(w, rr->target, l);
    break;
  }
  case XS_T_SOA:
    put_name_prefixed(w, "ns.dns.", rr->owner);
    put_name_prefixed(w, "hostmaster.", rr->owner);
    put32(w, (uint32_t)a->soa_serial);
    put32(w, 7200);
    put32(w, 1800);
    put32(w, 86400);
    put32(w, a->soa_minimum);
    break;
  default:
    break;
  }
  if (!w->full) {
    size_t n = w->len - rdlen_at - 2;
    w->buf[rdlen_at] = (uint8_t)(n >> 8);
    w->buf[rdlen_at + 1] = (uint8_t)n;
  }
}

static void put_header(writer *w, const xs_dns_query *q, int rcode, int aa,
                       int ra, int tc, unsigned an, unsigned ns, unsigned ar) {
  uint8_t h[XS_DNS_HEADER];
  h[0] = (uint8_t)(q->id >> 8);
  h[1] = (uint8_t)q->id;
  h[2] = (uint8_t)(0x80 | (q->opcode << 3) | (aa ? 0x04 : 0) | (tc ? 0x02 : 0) |
                   (q->rd ? 0x01 : 0));
  h[3] = (uint8_t)((ra ? 0x80 : 0) | (q->cd ? 0x10 : 0) | (rcode & 0x0f));
  h[4] = 0;
  h[5] = q->qname_len > 0 ? 1 : 0;
  h[6] = (uint8_t)(an >> 8);
  h[7] = (uint8_t)an;
  h[8] = (uint8_t)(ns >> 8);
  h[9] = (uint8_t)ns;
  h[10] = (uint8_t)(ar >> 8);
  h[11] = (uint8_t)ar;
  put(w, h, sizeof(h));
}

/* The question as it came (the first name: nothing to compress), its
 * labels remembered for the names that follow. */
static void put_question(writer *w, const xs_dns_query *q) {
  size_t o;
  if (q->qname_len == 0)
    return;
  if (w->len + q->qwire_len + 4 > w->cap || w->len != XS_DNS_HEADER) {
    put_name(w, q->qname); /* not reached: the question follows the header */
  } else {
    w->seen[w->nseen] = q->qname;
    w->seen_off[w->nseen++] = (uint16_t)w->len;
    for (o = 0; q->qwire[o] != 0 && w->nptrs < MAX_PTRS; o += q->qwire[o] + 1u)
      w->ptrs[w->nptrs++] = (uint16_t)(w->len + o);
    put(w, q->qwire, q->qwire_len);
  }
  put16(w, q->qtype);
  put16(w, q->qclass);
}

static void put_opt(writer *w, const xs_dns_query *q, int rcode) {
  if (!q->edns)
    return;
  put(w, "", 1);
  put16(w, T_OPT);
  put16(w, XS_DNS_EDNS_SIZE);
  put(w, (uint8_t[]){(uint8_t)(rcode >> 4), 0}, 2); /* extended rcode, v0 */
  put16(w, q->do_bit ? 0x8000 : 0);
  put16(w, 0);
}

static void init(writer *w, uint8_t *out, size_t cap) {
  w->buf = out;
  w->cap = cap;
  w->len = 0;
  w->full = 0;
  w->nptrs = 0;
  w->nseen = 0;
}

size_t xs_dns_encode_error(const xs_dns_query *q, int rcode, uint8_t *out,
                           size_t cap) {
  writer w;
  init(&w, out, cap);
  put_header(&w, q, rcode, 0, 0, 0, 0, 0, q->edns ? 1 : 0);
  put_question(&w, q);
  put_opt(&w, q, rcode);
  return w.full ? 0 : w.len;
}

size_t xs_dns_encode_response(const xs_dns_query *q, int rcode, int aa, int ra,
                              const xs_answer *a, uint8_t *out, size_t cap) {
  writer w;
  size_t i, nan = a != NULL ? a->nanswer : 0;
  size_t nns = a != NULL && a->soa && a->soa_owner != NULL ? 1 : 0;
  size_t nar = a != NULL ? a->nadditional : 0;
  init(&w, out, cap);
  put_header(&w, q, rcode, aa, ra, 0, (unsigned)nan, (unsigned)nns,
             (unsigned)(nar + (q->edns ? 1 : 0)));
  put_question(&w, q);
  for (i = 0; i < nan; i++)
    put_rr(&w, &a->answer[i], a);
  if (nns) {
    xs_rr soa;
    memset(&soa, 0, sizeof(soa));
    soa.owner = a->soa_owner;
    soa.type = XS_T_SOA;
    soa.ttl = a->soa_ttl;
    put_rr(&w, &soa, a);
  }
  for (i = 0; i < nar; i++)
    put_rr(&w, &a->additional[i], a);
  put_opt(&w, q, rcode);
  if (!w.full)
    return w.len;
  /* Too big: the header and question only, with TC. */
  init(&w, out, cap);
  put_header(&w, q, rcode, aa, ra, 1, 0, 0, q->edns ? 1 : 0);
  put_question(&w, q);
  put_opt(&w, q, rcode);
  return w.full ? 0 : w.len;
}

/* ---- records of an encoded message -----------------------------------------
 */

/* Past the name at *off (labels ending in the root or a pointer). */
static int skip_name(const uint8_t *buf, size_t len, size_t *off) {
  size_t o = *off;
  for (;;) {
    if (o >= len)
      return 0;
    if ((buf[o] & 0xc0) == 0xc0) {
      if (o + 2 > len)
        return 0;
      *off = o + 2;
      return 1;
    }
    if (buf[o] > 63)
      return 0;
    if (buf[o] == 0) {
      *off = o + 1;
      return 1;
    }
    o += (size_t)buf[o] + 1;
  }
}

int xs_dns_ttls(uint8_t *msg, size_t len, const uint32_t *set, uint32_t *min) {
  size_t off = XS_DNS_HEADER, i, n;
  unsigned qd, an, ns, ar;
  uint32_t lo = UINT32_MAX;
  if (len < XS_DNS_HEADER)
    return -1;
  qd = get16(msg + 4);
  an = get16(msg + 6);
  ns = get16(msg + 8);
  ar = get16(msg + 10);
  for (i = 0; i < qd; i++) {
    if (!skip_name(msg, len, &off) || off + 4 > len)
      return -1;
    off += 4;
  }
  n = 0;
  for (i = 0; i < (size_t)an + ns + ar; i++) {
    uint16_t type, rdlen;
    uint32_t ttl;
    if (!skip_name(msg, len, &off) || off + 10 > len)
      return -1;
    type = get16(msg + off);
    rdlen = get16(msg + off + 8);
    if (off + 10 + rdlen > len)
      return -1;
    if (type != T_OPT) {
      ttl = (uint32_t)get16(msg + off + 4) << 16 | get16(msg + off + 6);
      if (ttl < lo)
        lo = ttl;
      if (type == XS_T_SOA && an == 0 && i < (size_t)an + ns && rdlen >= 20) {
        const uint8_t *m = msg + off + 10 + rdlen - 4;
        ttl = (uint32_t)get16(m) << 16 | get16(m + 2);
        if (ttl < lo)
          lo = ttl;
      }
      if (set != NULL) {
        msg[off + 4] = (uint8_t)(*set >> 24);
        msg[off + 5] = (uint8_t)(*set >> 16);
        msg[off + 6] = (uint8_t)(*set >> 8);
        msg[off + 7] = (uint8_t)*set;
      }
      n++;
    }
    off += 10 + (size_t)rdlen;
  }
  if (min != NULL)
    *min = lo;
  return (int)n;
}

/* ---- forwarded replies ------------------------------------------------------
 * An upstream reply is copied as it came when nothing in it is dropped (its
 * offsets, and so its compression pointers, stay valid: the question is as
 * long as the client's). When something is dropped the rest is written
 * anew: every name decompressed and compressed again against what is
 * written, since a pointer may lead into a record that went. */

#define WIRE_NAME_MAX 255 /* octets of a name in wire form, root included */

/* The name at *off in msg[0..len), uncompressed into out[WIRE_NAME_MAX]
 * (wire form), *off past it. A pointer must lead past the header and
 * before the name it is in (each further pointer before the last one's
 * target), to a name wholly before the pointer: every name ends, and one
 * copied as it is reads the same in the copy. 0 on a bad or long name. */
static int read_name(const uint8_t *msg, size_t len, size_t *off, uint8_t *out,
                     size_t *out_len) {
  size_t o = *off, n = 0, end = 0, limit = *off, bound = len;
  int jumped = 0;
  for (;;) {
    size_t l;
    if (o >= bound)
      return 0;
    l = msg[o];
    if ((l & 0xc0) == 0xc0) {
      size_t to;
      if (o + 2 > bound)
        return 0;
      to = (size_t)(get16(msg + o) & 0x3fff);
      if (to < XS_DNS_HEADER || to >= limit)
        return 0; /* into the header (ours differs), or not back */
      if (!jumped)
        end = o + 2;
      jumped = 1;
      bound = o;
      o = limit = to;
      continue;
    }
    if (l > 63 || n + 1 + l > WIRE_NAME_MAX || o + 1 + l > bound)
      return 0;
    memcpy(out + n, msg + o, 1 + l);
    n += 1 + l;
    o += 1 + l;
    if (l == 0)
      break;
  }
  *off = jumped ? end : o;
  *out_len = n;
  return 1;
}

/* 1 if the wire names a[0..n) and b[0..n) are equal, ignoring case. */
static int wire_eq(const uint8_t *a, const uint8_t *b, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (lower(a[i]) != lower(b[i]))
      return 0;
  return 1;
}

/* 1 if the wire name name[0..len) is zone[0..zlen) (wire form) or below. */
static int wire_in_zone(const uint8_t *name, size_t len, const uint8_t *zone,
                        size_t zlen) {
  size_t o = 0;
  while (o < len && len - o >= zlen) {
    if (len - o == zlen && wire_eq(name + o, zone, zlen))
      return 1;
    o += (size_t)name[o] + 1;
  }
  return 0;
}

/* "a.b" (no trailing dot) in wire form into out[WIRE_NAME_MAX]; 0 when it
 * does not fit. */
static size_t zone_wire(const char *zone, size_t zlen, uint8_t *out) {
  size_t n = 0, start = 0, i;
  if (zlen + 2 > WIRE_NAME_MAX)
    return 0;
  for (i = 0; i <= zlen; i++)
    if (i == zlen || zone[i] == '.') {
      if (i > start) {
        out[n++] = (uint8_t)(i - start);
        memcpy(out + n, zone + start, i - start);
        n += i - start;
      }
      start = i + 1;
    }
  out[n++] = 0;
  return n;
}

/* What one call filters: the zones as wire names. */
typedef struct scrubber {
  const xs_dns_scrub *s;
  const xs_dns_query *q;
  uint8_t zone[WIRE_NAME_MAX];
  size_t zone_len; /* 0: no cluster zone */
} scrubber;

static int denied(const scrubber *sc, int family, const uint8_t *bytes) {
  xs_addr a;
  if (sc->s == NULL || sc->s->policy == NULL)
    return 0;
  memset(&a, 0, sizeof(a));
  a.family = (uint8_t)family;
  memcpy(a.bytes, bytes, family == 4 ? 4 : 16);
  return xs_policy_denies(sc->s->policy, &a) != NULL;
}

/* 1 if an SVCB/HTTPS record's rdata carries an address hint the policy
 * denies (ipv4hint, key 4; ipv6hint, key 6: RFC 9460 7.3). */
static int svcb_denied(const scrubber *sc, const uint8_t *rd, size_t rdlen) {
  size_t o = 2;
  for (;;) { /* the target name: never compressed (RFC 9460 2.2) */
    if (o >= rdlen || rd[o] > 63)
      return 0;
    if (rd[o] == 0)
      break;
    o += (size_t)rd[o] + 1;
  }
  o++;
  while (o + 4 <= rdlen) {
    unsigned key = get16(rd + o), vlen = get16(rd + o + 2), i;
    size_t each = key == 4 ? 4 : key == 6 ? 16 : 0;
    o += 4;
    if (o + vlen > rdlen)
      return 0;
    for (i = 0; each != 0 && i + each <= vlen; i += (unsigned)each)
      if (denied(sc, each == 4 ? 4 : 6, rd + o + i))
        return 1;
    o += vlen;
  }
  return 0;
}

/* 1 if the record at *off (owner, fixed part, rdata) goes: an address the
 * policy denies (A, AAAA, SVCB/HTTPS hints; a malformed A or AAAA too),
 * or an owner in the cluster or reverse zones other than the question's
 * own name (a fallthrough question is the upstream's to answer). *off past
 * the record; -1 when it does not parse. */
static int scrubbed(const scrubber *sc, const uint8_t *up, size_t uplen,
                    size_t *off) {
  static const uint8_t in_addr[] = "\7in-addr\4arpa", ip6[] = "\3ip6\4arpa";
  uint8_t owner[WIRE_NAME_MAX];
  size_t olen, r;
  uint16_t type, rdlen;
  int drop = 0;
  if (!read_name(up, uplen, off, owner, &olen) || *off + 10 > uplen)
    return -1;
  type = get16(up + *off);
  rdlen = get16(up + *off + 8);
  r = *off + 10;
  if (r + rdlen > uplen)
    return -1;
  *off = r + rdlen;
  if (sc->s == NULL)
    return 0;
  if (type == XS_T_A || type == XS_T_AAAA) {
    size_t want = type == XS_T_A ? 4 : 16;
    drop = rdlen != want || denied(sc, type == XS_T_A ? 4 : 6, up + r);
  } else if (type == 64 || type == XS_T_HTTPS) {
    drop = svcb_denied(sc, up + r, rdlen);
  }
  if (!drop &&
      !(olen == sc->q->qwire_len && wire_eq(owner, sc->q->qwire, olen)) &&
      ((sc->zone_len > 0 &&
        wire_in_zone(owner, olen, sc->zone, sc->zone_len)) ||
       (sc->s->reverse &&
        (wire_in_zone(owner, olen, in_addr, sizeof(in_addr)) ||
         wire_in_zone(owner, olen, ip6, sizeof(ip6))))))
    drop = 1;
  return drop;
}

/* 1 if the wire name at offset o of what w holds (pointers followed)
 * equals the uncompressed name, ignoring case. */
static int wire_at_equals(const writer *w, size_t o, const uint8_t *name) {
  size_t i = 0;
  int hops = 0;
  for (;;) {
    size_t l;
    if (o >= w->len)
      return 0;
    if ((w->buf[o] & 0xc0) == 0xc0) {
      if (o + 1 >= w->len || ++hops > 32)
        return 0;
      o = (size_t)(get16(w->buf + o) & 0x3fff);
      continue;
    }
    l = w->buf[o];
    if (l != name[i])
      return 0;
    if (l == 0)
      return 1;
    if (o + 1 + l > w->len || !wire_eq(w->buf + o + 1, name + i + 1, l))
      return 0;
    i += l + 1;
    o += l + 1;
  }
}

/* An uncompressed wire name into w; compressed against the names already
 * written when compress (else written whole, as RFC 3597 section 4 wants
 * for the names of types not in RFC 1035). Its labels can be pointed to. */
static void put_wire_name(writer *w, const uint8_t *name, int compress) {
  size_t o = 0, i;
  while (name[o] != 0) {
    for (i = 0; compress && i < w->nptrs; i++)
      if (w->buf[w->ptrs[i]] == name[o] &&
          wire_at_equals(w, w->ptrs[i], name + o)) {
        put16(w, 0xc000u | w->ptrs[i]);
        return;
      }
    if (w->len < 0x4000 && w->nptrs < MAX_PTRS && !w->full)
      w->ptrs[w->nptrs++] = (uint16_t)w->len;
    put(w, name + o, (size_t)name[o] + 1);
    o += (size_t)name[o] + 1;
  }
  put(w, "", 1);
}

/* How a type's rdata holds names: 'n' a name RFC 1035 lets be compressed,
 * 'N' one to write whole, '2'/'6' that many octets, 's' a
 * <character-string>; '*' what is left is copied (SOA's 20 octets); NULL:
 * no names (copied as it is). RFC 3597 section 4 lists which types a
 * receiver decompresses. */
static const char *rdata_layout(uint16_t type) {
  switch (type) {
  case 2:  /* NS */
  case 3:  /* MD */
  case 4:  /* MF */
  case 5:  /* CNAME */
  case 7:  /* MB */
  case 8:  /* MG */
  case 9:  /* MR */
  case 12: /* PTR */
    return "n";
  case 6: /* SOA */
    return "nn*";
  case 14: /* MINFO */
    return "nn";
  case 15: /* MX */
    return "2n";
  case 17: /* RP */
    return "NN";
  case 18: /* AFSDB */
  case 21: /* RT */
  case 36: /* KX */
    return "2N";
  case 26: /* PX */
    return "2NN";
  case 33: /* SRV */
    return "6N";
  case 35: /* NAPTR */
    return "22sssN";
  case 39: /* DNAME */
    return "N";
  default:
    return NULL;
  }
}

/* The record at *off of up rewritten into w (names decompressed and
 * compressed anew). 0 when it does not parse. */
static int put_record(writer *w, const uint8_t *up, size_t uplen, size_t *off) {
  uint8_t name[WIRE_NAME_MAX];
  size_t nlen, r, rend, rdlen_at;
  uint16_t type, rdlen;
  const char *layout;
  if (!read_name(up, uplen, off, name, &nlen) || *off + 10 > uplen)
    return 0;
  put_wire_name(w, name, 1);
  type = get16(up + *off);
  rdlen = get16(up + *off + 8);
  put(w, up + *off, 8); /* type, class, TTL */
  r = *off + 10;
  rend = r + rdlen;
  if (rend > uplen)
    return 0;
  *off = rend;
  rdlen_at = w->len;
  put16(w, 0);
  layout = rdata_layout(type);
  if (layout == NULL) {
    put(w, up + r, rdlen);
  } else {
    for (; *layout != '\0'; layout++) {
      size_t fixed = *layout == '2' ? 2 : *layout == '6' ? 6 : 0;
      if (*layout == 'n' || *layout == 'N') {
        if (!read_name(up, rend, &r, name, &nlen))
          return 0;
        put_wire_name(w, name, *layout == 'n');
        continue;
      }
      if (*layout == 's')
        fixed = r < rend ? (size_t)up[r] + 1 : 1;
      else if (*layout == '*')
        fixed = rend - r;
      if (r + fixed > rend)
        return 0;
      put(w, up + r, fixed);
      r += fixed;
    }
    if (r != rend)
      return 0;
  }
  if (!w->full) {
    size_t n = w->len - rdlen_at - 2;
    w->buf[rdlen_at] = (uint8_t)(n >> 8);
    w->buf[rdlen_at + 1] = (uint8_t)n;
  }
  return 1;
}

size_t xs_dns_forward_reply(const uint8_t *up, size_t uplen,
                            const xs_dns_query *q, const xs_dns_scrub *scrub,
                            uint8_t *out, size_t cap) {
  size_t qend = XS_DNS_HEADER + q->qwire_len + 4, off, end, i, n;
  unsigned an, ns, ar, kept = 0, total, dropped = 0, left[3] = {0, 0, 0};
  scrubber sc;
  writer w;
  if (uplen < qend || (up[2] & 0x80) == 0 || get16(up + 4) != 1 ||
      q->qwire_len == 0)
    return 0;
  /* the question asked, in any case, not compressed */
  for (i = 0; i < q->qwire_len; i++) {
    uint8_t a = up[XS_DNS_HEADER + i], b = q->qwire[i];
    if (a >= 'A' && a <= 'Z')
      a = (uint8_t)(a + 32);
    if (b >= 'A' && b <= 'Z')
      b = (uint8_t)(b + 32);
    if (a != b)
      return 0;
  }
  if (get16(up + qend - 4) != q->qtype || get16(up + qend - 2) != q->qclass)
    return 0;
  sc.s = scrub;
  sc.q = q;
  sc.zone_len = 0;
  if (scrub != NULL && scrub->zone != NULL && scrub->zone_len > 0 &&
      (sc.zone_len = zone_wire(scrub->zone, scrub->zone_len, sc.zone)) == 0)
    return 0;
  an = get16(up + 6);
  ns = get16(up + 8);
  ar = get16(up + 10);
  total = an + ns + ar;
  /* the records, up to an OPT (later ones could be pointed into from past
   * it: the copy keeps every offset before it as it was) */
  off = end = qend;
  for (n = 0; n < total; n++) {
    size_t at = off;
    int drop;
    if (!skip_name(up, uplen, &off) || off + 10 > uplen)
      return 0;
    if (get16(up + off) == T_OPT) {
      if (n < (size_t)an + ns)
        return 0; /* an OPT outside the additional section */
      break;
    }
    off = at;
    if ((drop = scrubbed(&sc, up, uplen, &off)) < 0)
      return 0;
    end = off;
    kept++;
    if (drop)
      dropped++;
    else
      left[n < an ? 0 : n < (size_t)an + ns ? 1 : 2]++;
  }
  if (n < (size_t)an + ns)
    return 0;
  init(&w, out, cap);
  if (dropped == 0) {
    put_header(&w, q, up[3] & 0x0f, (up[2] & 0x04) != 0, 1, 0, an, ns,
               kept - an - ns + (q->edns ? 1u : 0u));
    put(&w, q->qwire, q->qwire_len);
    put16(&w, q->qtype);
    put16(&w, q->qclass);
    put(&w, up + qend, end - qend);
  } else {
    put_header(&w, q, up[3] & 0x0f, (up[2] & 0x04) != 0, 1, 0, left[0], left[1],
               left[2] + (q->edns ? 1u : 0u));
    put_question(&w, q);
    for (off = qend, n = 0; n < kept; n++) {
      size_t at = off;
      int drop = scrubbed(&sc, up, uplen, &off);
      if (drop == 0 && (off = at, !put_record(&w, up, uplen, &off)))
        return 0;
    }
  }
  if ((up[3] & 0x20) && dropped == 0 && !w.full)
    out[3] |= 0x20; /* AD, as the upstream said (not for what we cut) */
  put_opt(&w, q, up[3] & 0x0f);
  if (!w.full)
    return w.len;
  init(&w, out, cap); /* too big: the header and question, with TC */
  put_header(&w, q, up[3] & 0x0f, (up[2] & 0x04) != 0, 1, 1, 0, 0,
             q->edns ? 1 : 0);
  put_question(&w, q);
  put_opt(&w, q, up[3] & 0x0f);
  return w.full ? 0 : w.len;
}
