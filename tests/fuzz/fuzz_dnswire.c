/* Fuzz target: the server's DNS codec. The input is a query as it would
 * arrive over UDP; what decodes is answered from a small registry and
 * encoded at every reply size a client may ask for. Invariants: a reply
 * fits its buffer, echoes the id, is a response, and carries the question
 * exactly when one decoded; a reply cut for size has TC set and no
 * records. Each reply to an A or AAAA question is then decoded again by
 * the client's reply parser (xs_dns_parse_reply), which must agree with
 * what was encoded: NXDOMAIN stays NXDOMAIN, addresses stay addresses. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "dnswire.h"
#include "registry.h"
#include "upstream.h"

static xs_snapshot *snapshot(void) {
  static xs_snapshot *snap;
  if (snap == NULL) {
    xs_registry *reg;
    xs_error err;
    const char *ip[] = {"10.96.0.20"};
    char name[32];
    int i;
    if (xs_registry_new(&reg) != XS_OK ||
        xs_registry_add_external(reg, "prod", "my-service",
                                 "my.database.example.com", &err) != XS_OK ||
        xs_registry_add_external(reg, "prod", "to-internal",
                                 "backend.prod.svc.cluster.local",
                                 &err) != XS_OK ||
        xs_registry_add_cluster_ip(reg, "prod", "backend", ip, 1, &err) !=
            XS_OK ||
        xs_registry_add_port(reg, "prod", "backend", "http", 80, "TCP", &err) !=
            XS_OK ||
        xs_registry_add_headless(reg, "prod", "many", &err) != XS_OK)
      abort();
    for (i = 0; i < 60; i++) {
      snprintf(name, sizeof(name), "10.2.0.%d", i + 1);
      if (xs_registry_add_endpoint(reg, "prod", "many", name, NULL, 1, &err) !=
          XS_OK)
        abort();
    }
    snap = xs_registry_snapshot(reg);
    xs_registry_free(reg);
  }
  return snap;
}

static void check(const xs_dns_query *q, const uint8_t *out, size_t n,
                  size_t cap) {
  if (n == 0 || n > cap || n < XS_DNS_HEADER)
    abort();
  if (out[0] != (uint8_t)(q->id >> 8) || out[1] != (uint8_t)q->id ||
      !(out[2] & 0x80) || out[5] != (q->qname_len > 0 ? 1 : 0))
    abort();
  if ((out[2] & 0x02) && (out[6] | out[7] | out[8] | out[9]) != 0)
    abort(); /* truncated: no records */
}

/* Names the reply parser compares as text: letters, digits, '-', '.' */
static int plain_name(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
      return 0;
  return 1;
}

/* The reply out[0..n) decoded again as a client would. */
static void round_trip(const xs_dns_query *q, const xs_answer *a,
                       const uint8_t *out, size_t n) {
  static xs_upstream_answer back;
  if ((q->qtype != 1 && q->qtype != 28) || q->qclass != 1 || (out[2] & 0x02) ||
      !plain_name(q->qname, q->qname_len))
    return;
  xs_dns_parse_reply(out, n, q->qname, q->qtype, &back);
  if (a->rcode == XS_RCODE_NXDOMAIN && back.status != XS_ENOTFOUND)
    abort();
  if (a->rcode == XS_RCODE_NOERROR && a->status == XS_OK &&
      a->external_target == NULL && back.status != XS_OK)
    abort();
  if (back.status == XS_OK && back.naddrs == 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const xs_answer_cfg cfg = {"cluster.local", 13, 5, XS_MODE_COREDNS, 0};
  static uint8_t out[XS_DNS_TCP_MAX];
  static const size_t caps[] = {512, 1232, 4096, XS_DNS_TCP_MAX};
  xs_dns_query q;
  xs_answer a;
  size_t i, n;
  switch (xs_dns_decode_query(data, size, &q)) {
  case XS_DNS_DROP:
    return 0;
  case XS_DNS_FORMERR:
  case XS_DNS_NOTIMP:
    n = xs_dns_encode_error(&q, XS_RCODE_FORMERR, out, 512);
    check(&q, out, n, 512);
    return 0;
  default:
    break;
  }
  if (q.qname_len == 0 || q.qname[q.qname_len - 1] != '.')
    abort();
  if (xs_answer_query(snapshot(), &cfg, q.qname, q.qname_len, q.qtype, &a) !=
      XS_OK)
    return 0; /* e.g. the root: not a name the server answers */
  for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
    n = xs_dns_encode_response(&q, a.rcode, 1, 0, &a, out, caps[i]);
    check(&q, out, n, caps[i]);
    round_trip(&q, &a, out, n);
  }
  xs_answer_free(&a);
  return 0;
}
