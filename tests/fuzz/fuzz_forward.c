/* Fuzz target: a forwarded query's upstream reply, made the reply to the
 * client (xs_dns_forward_reply), and the TTL walker over both
 * (xs_dns_ttls). The input is an upstream reply without its question: the
 * first 12 octets are its header (the question count forced to 1), the
 * question asked is put after them, the rest follows as records, so every
 * input reaches the record walk. One of a few client queries (with and
 * without EDNS0) is chosen by the first octet. Invariants: a reply fits its
 * buffer, echoes the client's id and question, is a response with RA set,
 * has no records when cut (TC), and its records walk again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnswire.h"

/* example.com. MX, with EDNS0 (1232, DO) or without; info.example.com. TXT */
static const uint8_t queries[][64] = {
    {0x12, 0x34, 0x01, 0x00, 0,   1,    0, 0,   0,    0,   0, 1, 7,  'e',
     'x',  'a',  'm',  'p',  'l', 'e',  3, 'c', 'o',  'm', 0, 0, 15, 0,
     1,    0,    0,    41,   4,   0xd0, 0, 0,   0x80, 0,   0, 0},
    {0xab, 0xcd, 0x01, 0x10, 0,   1, 0,   0,   0,   0,   0,   0,
     4,    'i',  'n',  'F',  'o', 7, 'e', 'x', 'a', 'm', 'p', 'l',
     'e',  3,    'C',  'O',  'M', 0, 0,   16,  0,   1}};
static const size_t query_len[] = {40, 34};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t caps[] = {512, 1232, 4096, XS_DNS_TCP_MAX};
  static uint8_t up[XS_DNS_TCP_MAX + 512], out[XS_DNS_TCP_MAX];
  xs_dns_query q;
  size_t which, len, i, n;
  uint32_t lo, ttl = 7;
  if (size < XS_DNS_HEADER)
    return 0;
  which = data[0] % 2;
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
    n = xs_dns_forward_reply(up, len, &q, out, caps[i]);
    if (n == 0)
      continue;
    if (n > caps[i] || n < XS_DNS_HEADER + q.qwire_len + 4 ||
        out[0] != (uint8_t)(q.id >> 8) || out[1] != (uint8_t)q.id ||
        !(out[2] & 0x80) || !(out[3] & 0x80) || out[4] != 0 || out[5] != 1 ||
        memcmp(out + XS_DNS_HEADER, q.qwire, q.qwire_len) != 0)
      abort();
    if ((out[2] & 0x02) && (out[6] | out[7] | out[8] | out[9]) != 0)
      abort(); /* cut: no records */
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
