/* Fuzz target: a forwarded query's upstream reply, made the reply to the
 * client (xs_dns_forward_reply) with and without the server's scrubbing,
 * and the TTL walker over both (xs_dns_ttls). The input is an upstream
 * reply without its question: the first 12 octets are its header (the
 * question count forced to 1), the question asked is put after them, the
 * rest follows as records, so every input reaches the record walk. The
 * first octet picks one of a few client queries (with and without EDNS0;
 * one inside the cluster zone, as a fallthrough question) and whether the
 * reply is scrubbed. Invariants: a reply fits its buffer, echoes the
 * client's id and question, is a response with RA set, has no records when
 * cut (TC), and its records walk again, every name in them decompressing
 * with pointers that lead back. Scrubbed, it holds exactly the upstream's
 * records (before its OPT) that this file's own reading of the rules keeps:
 * no A/AAAA (nor SVCB/HTTPS hint) the policy denies, no owner in
 * cluster.local, in-addr.arpa or ip6.arpa but the question's name; each
 * section's count says how many. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnswire.h"
#include "policy.h"

/* example.com. MX, with EDNS0 (1232, DO) or without; info.example.com. TXT;
 * x.prod.svc.cluster.local. A */
static const uint8_t queries[][64] = {
    {0x12, 0x34, 0x01, 0x00, 0,   1,    0, 0,   0,    0,   0, 1, 7,  'e',
     'x',  'a',  'm',  'p',  'l', 'e',  3, 'c', 'o',  'm', 0, 0, 15, 0,
     1,    0,    0,    41,   4,   0xd0, 0, 0,   0x80, 0,   0, 0},
    {0xab, 0xcd, 0x01, 0x10, 0,   1, 0,   0,   0,   0,   0,   0,
     4,    'i',  'n',  'F',  'o', 7, 'e', 'x', 'a', 'm', 'p', 'l',
     'e',  3,    'C',  'O',  'M', 0, 0,   16,  0,   1},
    {0x77, 0x01, 0x01, 0x00, 0,   1,   0,   0,   0,   0, 0,   0,   1,   'x',
     4,    'p',  'r',  'o',  'd', 3,   's', 'v', 'c', 7, 'c', 'l', 'u', 's',
     't',  'e',  'r',  5,    'l', 'o', 'c', 'a', 'l', 0, 0,   1,   0,   1}};
static const size_t query_len[] = {40, 34, 43};

#define MAX_RECORDS 64 /* compared one by one up to this many */
#define NAME_MAX_WIRE 255

static uint16_t g16(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}

static int low(int c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* The name at *off, uncompressed (wire form) into out; a pointer must
 * lead past the header and before the name's start (and the previous
 * target), to labels wholly before the pointer. */
static int name_at(const uint8_t *m, size_t len, size_t *off, uint8_t *out,
                   size_t *olen) {
  size_t o = *off, n = 0, limit = *off, after = 0, bound = len;
  for (;;) {
    if (o >= bound)
      return 0;
    if ((m[o] & 0xc0) == 0xc0) {
      size_t to;
      if (o + 2 > bound)
        return 0;
      to = (size_t)(g16(m + o) & 0x3fff);
      if (to < XS_DNS_HEADER || to >= limit)
        return 0;
      if (after == 0)
        after = o + 2;
      bound = o;
      o = limit = to;
      continue;
    }
    if ((m[o] & 0xc0) != 0 || n + 1 + m[o] > NAME_MAX_WIRE ||
        o + 1 + m[o] > bound)
      return 0;
    memcpy(out + n, m + o, (size_t)m[o] + 1);
    n += (size_t)m[o] + 1;
    if (m[o] == 0)
      break;
    o += (size_t)m[o] + 1;
  }
  *off = after != 0 ? after : o + 1;
  *olen = n;
  return 1;
}

static int same_name(const uint8_t *a, size_t alen, const uint8_t *b,
                     size_t blen) {
  size_t i;
  if (alen != blen)
    return 0;
  for (i = 0; i < alen; i++)
    if (low(a[i]) != low(b[i]))
      return 0;
  return 1;
}

/* 1 if wire name n is z or below it (label by label). */
static int below(const uint8_t *n, size_t nlen, const uint8_t *z, size_t zlen) {
  size_t o = 0;
  for (;;) {
    if (same_name(n + o, nlen - o, z, zlen))
      return 1;
    if (o >= nlen || n[o] == 0)
      return 0;
    o += (size_t)n[o] + 1;
  }
}

static xs_policy policy;

static int bad_addr(int family, const uint8_t *b) {
  xs_addr a;
  memset(&a, 0, sizeof(a));
  a.family = (uint8_t)family;
  memcpy(a.bytes, b, family == 4 ? 4 : 16);
  return xs_policy_denies(&policy, &a) != NULL;
}

/* A record, canonical: owner, type, class, TTL, and rdata with the names
 * of the types that may carry compressed ones decompressed. */
typedef struct record {
  uint8_t owner[NAME_MAX_WIRE];
  size_t owner_len;
  uint16_t type, rdlen;
  const uint8_t *fixed; /* type, class, TTL */
  uint8_t rdata[2048];
  size_t rlen;
  int canon; /* 0: its rdata names did not decompress */
} record;

static const char *layout_of(uint16_t type) {
  switch (type) {
  case 2:
  case 3:
  case 4:
  case 5:
  case 7:
  case 8:
  case 9:
  case 12:
  case 39:
    return "n";
  case 6:
    return "nn*";
  case 14:
  case 17:
    return "nn";
  case 15:
  case 18:
  case 21:
  case 36:
    return "2n";
  case 26:
    return "2nn";
  case 33:
    return "6n";
  case 35:
    return "22sssn";
  default:
    return "*";
  }
}

/* The record at *off; 0 if it does not parse. */
static int read_record(const uint8_t *m, size_t len, size_t *off, record *r) {
  size_t rd, end;
  const char *l;
  if (!name_at(m, len, off, r->owner, &r->owner_len) || *off + 10 > len)
    return 0;
  r->fixed = m + *off;
  r->type = g16(m + *off);
  r->rdlen = g16(m + *off + 8);
  rd = *off + 10;
  end = rd + r->rdlen;
  if (end > len)
    return 0;
  *off = end;
  r->rlen = 0;
  r->canon = 1;
  for (l = layout_of(r->type); *l != '\0' && r->canon; l++) {
    size_t k = *l == '2' ? 2 : *l == '6' ? 6 : 0, nlen;
    if (*l == 'n') { /* pointers may lead into the client's spelling */
      size_t k2;
      if (!name_at(m, end, &rd, r->rdata + r->rlen, &nlen)) {
        r->canon = 0;
        break;
      }
      for (k2 = 0; k2 < nlen; k2++)
        r->rdata[r->rlen + k2] = (uint8_t)low(r->rdata[r->rlen + k2]);
      r->rlen += nlen;
      continue;
    }
    if (*l == 's')
      k = rd < end ? (size_t)m[rd] + 1 : 1;
    else if (*l == '*')
      k = end - rd;
    if (rd + k > end || r->rlen + k > sizeof(r->rdata)) {
      r->canon = 0;
      break;
    }
    memcpy(r->rdata + r->rlen, m + rd, k);
    r->rlen += k;
    rd += k;
  }
  if (rd != end)
    r->canon = 0;
  return 1;
}

/* This file's reading of the scrubbing rules for one record. */
static int goes(const record *r, const uint8_t *rd, const xs_dns_query *q) {
  static const uint8_t zones[][16] = {"\7cluster\5local", "\7in-addr\4arpa",
                                      "\3ip6\4arpa"};
  static const size_t zlen[] = {15, 14, 10};
  size_t i;
  if (r->type == 1 && (r->rdlen != 4 || bad_addr(4, rd)))
    return 1;
  if (r->type == 28 && (r->rdlen != 16 || bad_addr(6, rd)))
    return 1;
  if (r->type == 64 || r->type == 65) {
    size_t o = 2;
    while (o < r->rdlen && rd[o] != 0 && rd[o] <= 63)
      o += (size_t)rd[o] + 1;
    if (o < r->rdlen && rd[o] == 0)
      for (o++; o + 4 <= r->rdlen;) {
        size_t key = g16(rd + o), vlen = g16(rd + o + 2), each, k;
        o += 4;
        if (o + vlen > r->rdlen)
          break;
        each = key == 4 ? 4 : key == 6 ? 16 : 0;
        for (k = 0; each != 0 && k + each <= vlen; k += each)
          if (bad_addr(each == 4 ? 4 : 6, rd + o + k))
            return 1;
        o += vlen;
      }
  }
  if (same_name(r->owner, r->owner_len, q->qwire, q->qwire_len))
    return 0;
  for (i = 0; i < 3; i++)
    if (below(r->owner, r->owner_len, zones[i], zlen[i]))
      return 1;
  return 0;
}

static record in_rec[MAX_RECORDS], out_rec[MAX_RECORDS];

/* Past the name at *off without following pointers (0: it overruns). */
static int skip(const uint8_t *m, size_t len, size_t *off) {
  while (*off < len && m[*off] != 0 && (m[*off] & 0xc0) != 0xc0)
    *off += (size_t)m[*off] + 1;
  if (*off >= len)
    return 0;
  *off += m[*off] == 0 ? 1 : 2;
  return *off <= len;
}

/* The scrubbed reply out[0..n) against the upstream's up[0..len). */
static void check_scrubbed(const uint8_t *up, size_t len, const uint8_t *out,
                           size_t n, const xs_dns_query *q) {
  size_t qend = XS_DNS_HEADER + q->qwire_len + 4, off = qend, i, nin = 0;
  size_t an = g16(up + 6), ns = g16(up + 8);
  size_t total = an + ns + g16(up + 10), want[3] = {0, 0, 0};
  for (i = 0; i < total; i++) {
    size_t peek = off;
    if (skip(up, len, &peek) && peek + 2 <= len && g16(up + peek) == 41)
      break; /* the upstream's OPT: it and what follows are not relayed */
    if (!read_record(up, len, &off, &in_rec[nin]))
      abort(); /* the reply was taken: its records parse */
    if (goes(&in_rec[nin], up + off - in_rec[nin].rdlen, q))
      continue;
    want[i < an ? 0 : i < an + ns ? 1 : 2]++;
    if (nin + 1 < MAX_RECORDS)
      nin++;
  }
  if (g16(out + 6) != want[0] || g16(out + 8) != want[1] ||
      g16(out + 10) != want[2] + (q->edns ? 1u : 0u))
    abort(); /* every record the rules keep, and counted */
  off = qend;
  total = want[0] + want[1] + want[2];
  for (i = 0; i < total; i++) {
    record *r = &out_rec[i < MAX_RECORDS ? i : MAX_RECORDS - 1];
    if (!read_record(out, n, &off, r))
      abort(); /* what we send decompresses, pointers leading back */
    if (goes(r, out + off - r->rdlen, q))
      abort(); /* nothing the rules drop */
    if (i < nin && i < MAX_RECORDS - 1 &&
        (!same_name(r->owner, r->owner_len, in_rec[i].owner,
                    in_rec[i].owner_len) ||
         memcmp(r->fixed, in_rec[i].fixed, 8) != 0 ||
         (r->canon && in_rec[i].canon &&
          (r->rlen != in_rec[i].rlen ||
           memcmp(r->rdata, in_rec[i].rdata, r->rlen) != 0))))
      abort(); /* the upstream's records, in order, as they were */
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t caps[] = {512, 1232, 4096, XS_DNS_TCP_MAX};
  static uint8_t up[XS_DNS_TCP_MAX + 512], out[XS_DNS_TCP_MAX];
  static int ready;
  xs_dns_query q;
  xs_dns_scrub scrub;
  size_t which, len, i, n;
  uint32_t lo, ttl = 7;
  int scrubbing;
  if (!ready) { /* link-local (the default) and two ranges seeds use */
    xs_policy_init(&policy);
    if (xs_policy_deny_range(&policy, "10.0.0.0/8") != XS_OK ||
        xs_policy_deny_range(&policy, "2001:db8::/32") != XS_OK)
      abort();
    ready = 1;
  }
  if (size < XS_DNS_HEADER)
    return 0;
  which = data[0] % 3;
  scrubbing = (data[0] / 3) % 2 == 0;
  scrub.policy = &policy;
  scrub.zone = "cluster.local";
  scrub.zone_len = 13;
  scrub.reverse = 1;
  if (xs_dns_decode_query(queries[which], query_len[which], &q) != XS_DNS_QUERY)
    abort();
  memcpy(up, data, XS_DNS_HEADER);
  up[4] = 0;
  up[5] = 1;
  len = XS_DNS_HEADER;
  memcpy(up + len, q.qwire, q.qwire_len); /* the question, upstream's case */
  for (i = 0; i < q.qwire_len; i++)
    if (up[len + i] >= 'A' && up[len + i] <= 'Z')
      up[len + i] = (uint8_t)(up[len + i] + 32);
  len += q.qwire_len;
  up[len++] = (uint8_t)(q.qtype >> 8);
  up[len++] = (uint8_t)q.qtype;
  up[len++] = 0;
  up[len++] = 1;
  n = size - XS_DNS_HEADER;
  if (n > sizeof(up) - len)
    n = sizeof(up) - len;
  memcpy(up + len, data + XS_DNS_HEADER, n);
  len += n;
  (void)xs_dns_ttls(up, len, NULL, &lo);
  for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
    n = xs_dns_forward_reply(up, len, &q, scrubbing ? &scrub : NULL, out,
                             caps[i]);
    if (n == 0)
      continue;
    if (n > caps[i] || n < XS_DNS_HEADER + q.qwire_len + 4 ||
        out[0] != (uint8_t)(q.id >> 8) || out[1] != (uint8_t)q.id ||
        !(out[2] & 0x80) || !(out[3] & 0x80) || out[4] != 0 || out[5] != 1 ||
        memcmp(out + XS_DNS_HEADER, q.qwire, q.qwire_len) != 0)
      abort();
    if ((out[2] & 0x02) && (out[6] | out[7] | out[8] | out[9]) != 0)
      abort(); /* cut: no records */
    if (scrubbing && !(out[2] & 0x02))
      check_scrubbed(up, len, out, n, &q);
    if (xs_dns_ttls(out, n, &ttl, &lo) < 0 ||
        xs_dns_ttls(out, n, NULL, &lo) < 0)
      abort();                             /* what we send walks */
    if ((out[6] | out[7]) != 0 && lo != 7) /* every TTL set (answers: */
      abort();                             /* no SOA MINIMUM in the minimum) */
    if (lo > 7 && lo != UINT32_MAX)
      abort();
  }
  return 0;
}
