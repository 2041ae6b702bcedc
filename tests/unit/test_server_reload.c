/* The DNS server across reloads: clients keep asking over UDP and TCP while
 * the manifest is rewritten and reloaded (valid and broken versions in
 * turn) and, in a second run, while a watcher reloads it; every query is
 * answered, with an address some published version gives, never an older
 * one after a newer one. With the reply cache on (`cache` option) too.
 * Each client asks at least CLIENT_MIN queries, whatever the scheduler
 * does, before the run ends. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpfiles.h"
#include "wait.h"
#include "xsvc.h"

#define MAX_VERSIONS 400
#define CLIENT_MIN 20 /* queries each client makes at least */
#define TCP_IDLE_MS                                                            \
  2000 /* the server closes TCP connections idle this long                     \
        */

static xs_server *srv;
static atomic_int stop, latest;
static atomic_int published[MAX_VERSIONS + 1];
static atomic_long asked, unanswered, wrong;
static atomic_long asked_by[2]; /* per client: UDP, TCP */

static int rewrites(void) {
  return getenv("XSVC_TEST_VALGRIND") != NULL ? 40 : MAX_VERSIONS;
}

static void version_text(char *buf, size_t size, int v) {
  snprintf(buf, size,
           "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n"
           "  namespace: default\nspec:\n  clusterIP: 10.2.%d.%d\n"
           "  ports:\n  - port: 80\n",
           v >> 8, v & 255);
}

/* A query for api.default.svc.cluster.local. A, id `id`. */
static size_t query(unsigned char *q, unsigned id) {
  static const char name[] = "\3api\7default\3svc\7cluster\5local";
  size_t n = 12;
  memset(q, 0, 12);
  q[0] = (unsigned char)(id >> 8);
  q[1] = (unsigned char)id;
  q[2] = 0x01;
  q[5] = 1;
  memcpy(q + n, name, sizeof(name)); /* with the root's 0 */
  n += sizeof(name);
  q[n++] = 0;
  q[n++] = 1; /* A */
  q[n++] = 0;
  q[n++] = 1; /* IN */
  return n;
}

static int connect_to(int tcp) {
  struct sockaddr_in a;
  struct timeval tv = {XS_TEST_HANG_MS / 1000, 0}; /* a hang, not slowness */
  int fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)xs_server_port(srv));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* The version the reply's one A record names, or -1. */
static int version_of(const unsigned char *r, ssize_t n, unsigned id) {
  if (n < 12 + 4 || r[0] != (unsigned char)(id >> 8) ||
      r[1] != (unsigned char)id || (r[3] & 0x0f) != 0 || r[7] != 1)
    return -1;
  /* the A record's data ends the reply (no additional records here) */
  if (r[n - 4] != 10 || r[n - 3] != 2)
    return -1;
  return r[n - 2] * 256 + r[n - 1];
}

static void *client(void *arg) {
  int tcp = (int)(size_t)arg, last = 0;
  unsigned id = tcp ? 0x8000 : 1;
  int fd = connect_to(tcp);
  uint64_t last_write = xs_test_now_ms();
  while (fd >= 0 && !atomic_load(&stop)) {
    unsigned char q[64], r[512];
    size_t qlen = query(q, ++id & 0xffff);
    ssize_t n;
    int v;
    /* the server may have closed this connection as idle if this client
     * (descheduled) wrote nothing for TCP_IDLE_MS: then a failed read is
     * that close, not a lost answer */
    uint64_t now = xs_test_now_ms();
    int idle_closed_maybe = now - last_write >= TCP_IDLE_MS;
    last_write = now;
    if (tcp) {
      unsigned char lb[2] = {0, (unsigned char)qlen};
      size_t got = 0, want;
      if (write(fd, lb, 2) != 2 || write(fd, q, qlen) != (ssize_t)qlen ||
          read(fd, lb, 2) != 2) {
        n = -1;
      } else {
        want = (size_t)(lb[0] << 8 | lb[1]);
        while (want <= sizeof(r) && got < want &&
               (n = read(fd, r + got, want - got)) > 0)
          got += (size_t)n;
        n = got == want ? (ssize_t)got : -1;
      }
    } else {
      n = send(fd, q, qlen, 0) == (ssize_t)qlen ? recv(fd, r, sizeof(r), 0)
                                                : -1;
    }
    if (n <= 0 && tcp && idle_closed_maybe) {
      close(fd);
      fd = connect_to(tcp);
      last_write = xs_test_now_ms();
      continue; /* asked again on a new connection */
    }
    atomic_fetch_add(&asked, 1);
    atomic_fetch_add(&asked_by[tcp], 1);
    if (n <= 0) {
      atomic_fetch_add(&unanswered, 1);
      if (tcp) { /* the server closes broken connections */
        close(fd);
        fd = connect_to(tcp);
      }
      continue;
    }
    v = version_of(r, n, id & 0xffff);
    if (v < 0 || v > MAX_VERSIONS || !atomic_load(&published[v]) ||
        v > atomic_load(&latest) || v < last)
      atomic_fetch_add(&wrong, 1);
    else
      last = v;
  }
  if (fd >= 0)
    close(fd);
  return NULL;
}

typedef struct run {
  char dir[64], file[128];
  xs_registry *reg;
  xs_resolver *res;
} run;

static void run_start(run *r, unsigned cache_ttl) {
  xs_server_options so;
  xs_error err;
  char text[512];
  snprintf(r->dir, sizeof(r->dir), "/tmp/xsvc-srvreload-XXXXXX");
  assert_int_equal(tmp_dir(r->dir), 0);
  snprintf(r->file, sizeof(r->file), "%s/api.yaml", r->dir);
  memset((void *)published, 0, sizeof(published));
  atomic_store(&published[0], 1);
  atomic_store(&latest, 0);
  atomic_store(&stop, 0);
  atomic_store(&asked, 0);
  atomic_store(&asked_by[0], 0);
  atomic_store(&asked_by[1], 0);
  atomic_store(&unanswered, 0);
  atomic_store(&wrong, 0);
  version_text(text, sizeof(text), 0);
  assert_int_equal(tmp_write(r->file, text), 0);
  assert_int_equal(xs_registry_load(r->file, &r->reg, &err), XS_OK);
  assert_int_equal(xs_resolver_new(NULL, r->reg, &r->res, &err), XS_OK);
  xs_server_options_init(&so);
  so.cache_ttl = cache_ttl;
  assert_int_equal(xs_server_start_opts(r->res, "127.0.0.1:0", &so, &srv, &err),
                   XS_OK);
}

static void run_finish(run *r, pthread_t *th) {
  /* both clients took part, however the threads were scheduled */
  XS_WAIT_UNTIL(atomic_load(&asked_by[0]) >= CLIENT_MIN &&
                atomic_load(&asked_by[1]) >= CLIENT_MIN);
  atomic_store(&stop, 1);
  pthread_join(th[0], NULL);
  pthread_join(th[1], NULL);
  fprintf(stderr, "%ld queries, %ld unanswered, %ld wrong\n",
          atomic_load(&asked), atomic_load(&unanswered), atomic_load(&wrong));
  assert_int_equal(atomic_load(&unanswered), 0);
  assert_int_equal(atomic_load(&wrong), 0);
  assert_true(atomic_load(&asked_by[0]) >= CLIENT_MIN);
  assert_true(atomic_load(&asked_by[1]) >= CLIENT_MIN);
  xs_server_stop(srv);
  xs_resolver_free(r->res);
  xs_registry_free(r->reg);
  tmp_remove(r->dir);
}

static void reload_loop(unsigned cache_ttl) {
  run r;
  pthread_t th[2];
  xs_reload_report rep;
  const char *paths[1];
  char text[512];
  int v, n = rewrites();
  run_start(&r, cache_ttl);
  paths[0] = r.file;
  pthread_create(&th[0], NULL, client, (void *)0);
  pthread_create(&th[1], NULL, client, (void *)1);
  for (v = 1; v <= n; v++) {
    if (v % 2 == 0) {
      version_text(text, sizeof(text), v);
      atomic_store(&published[v], 1);
      atomic_store(&latest, v);
    } else {
      snprintf(text, sizeof(text), "kind: Service\nmetadata: {name: [\n");
    }
    assert_int_equal(tmp_write_rename(r.file, text), 0);
    assert_int_equal(xs_registry_reload(r.reg, paths, 1, NULL, &rep) == XS_OK,
                     v % 2 == 0);
  }
  run_finish(&r, th);
}

static void test_server_reload_answers_every_query(void **st) {
  (void)st;
  reload_loop(0);
}

static void test_server_reload_with_reply_cache(void **st) {
  (void)st;
  reload_loop(30);
}

/* The same through a watcher: the file rewritten, the watcher reloads. */
static atomic_int reloaded_to;

static void on_reload(const xs_reload_report *rep, void *arg) {
  (void)arg;
  if (rep->status == XS_OK)
    atomic_fetch_add(&reloaded_to, 1);
}

static void test_server_reload_through_watcher(void **st) {
  run r;
  pthread_t th[2];
  xs_watch *w;
  xs_watch_options wo;
  xs_error err;
  const char *paths[1];
  char text[512];
  int v, n = rewrites() / 10, i;
  (void)st;
  run_start(&r, 0);
  paths[0] = r.file;
  xs_watch_options_init(&wo);
  wo.debounce_ms = 5;
  wo.on_reload = on_reload;
  assert_int_equal(xs_watch_start(r.reg, paths, 1, &wo, &w, &err), XS_OK);
  pthread_create(&th[0], NULL, client, (void *)0);
  pthread_create(&th[1], NULL, client, (void *)1);
  for (v = 2; v <= 2 * n; v += 2) {
    xs_result *res = NULL;
    char want[32];
    version_text(text, sizeof(text), v);
    atomic_store(&published[v], 1);
    atomic_store(&latest, v);
    assert_int_equal(tmp_write_rename(r.file, text), 0);
    /* wait (up to the hang deadline) until the resolver sees it before
     * the next edit */
    snprintf(want, sizeof(want), "10.2.%d.%d", v >> 8, v & 255);
    for (i = 0; i < XS_TEST_HANG_MS / 5; i++) {
      struct timespec ms = {0, 5000000};
      int seen;
      xs_resolve(r.res, "api.default.svc.cluster.local.", XS_FAMILY_IPV4, &res);
      seen = xs_result_address_count(res) == 1 &&
             strcmp(xs_result_address_text(res, 0), want) == 0;
      xs_result_free(res);
      res = NULL;
      if (seen)
        break;
      nanosleep(&ms, NULL);
    }
    assert_true(i < XS_TEST_HANG_MS / 5);
  }
  xs_watch_stop(w);
  assert_true(atomic_load(&reloaded_to) >= 1);
  run_finish(&r, th);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_reload_answers_every_query),
      cmocka_unit_test(test_server_reload_with_reply_cache),
      cmocka_unit_test(test_server_reload_through_watcher),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
