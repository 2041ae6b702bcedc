/* Fuzz target: the TCP reply-stream follower of the upstream client
 * (xs_upstream_tcp_feed: two length octets, a message, again; each whole
 * message's header and question are read to note its rcode). The first
 * byte sets the size of the pieces the rest is fed in, as reads would
 * split it; the seed corpus (tests/fuzz/corpus/tcpstream) holds streams of
 * SERVFAIL, REFUSED and NOERROR replies, empty and truncated messages. */
#include <stdint.h>
#include <stdlib.h>

#include "upstream.h"

static xs_upstream *client(void) {
  static xs_upstream *u;
  if (u == NULL) {
    xs_upstream_cfg cfg = {0};
    cfg.servers[0] = "127.0.0.1:9"; /* never asked: no query is started */
    cfg.nservers = 1;
    if (xs_upstream_new(&cfg, &u, NULL) != XS_OK)
      abort();
  }
  return u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  xs_upstream *u = client();
  size_t piece, off;
  if (size < 1)
    return 0;
  piece = (size_t)data[0] % 64 + 1;
  xs_upstream_tcp_follow(u, 1000);
  for (off = 1; off < size; off += piece)
    xs_upstream_tcp_feed(u, 1000, data + off,
                         size - off < piece ? size - off : piece);
  /* the same stream on another connection, all at once */
  xs_upstream_tcp_follow(u, 1001);
  xs_upstream_tcp_feed(u, 1001, data + 1, size - 1);
  xs_upstream_tcp_forget(u, 1000);
  xs_upstream_tcp_forget(u, 1001);
  return 0;
}
