/* xs_connect on loopback, side by side with what an application would do
 * without it, in one run:
 *
 *   alias   xs_connect("db", port) where db is an ExternalName alias whose
 *           target's A record is cached (AAAA: cached NODATA), vs glibc
 *           getaddrinfo("localhost", AF_INET) + connect to the same
 *           127.0.0.1 listener; each connection closed at once. ns/op,
 *           best of 5 rounds, the two interleaved round by round.
 *   dead    the first address never answers (a listener whose backlog is
 *           full), the second is live: time to connect vs the attempt
 *           delay, with the failover memory off (every call meets the dead
 *           address first) and on (only the first call does).
 *
 * usage: bench_connect [--op alias|dead] */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "responder.h"
#include "xsvc.h"

#define ROUNDS 5
#define CONNECTS 2000
#define DEAD_RUNS 5

static responder srv;
static atomic_int stop_accept;

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int listener(const char *ip, unsigned *port, int backlog) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)*port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      listen(fd, backlog) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    perror("bench_connect: listener");
    exit(1);
  }
  *port = ntohs(a.sin_port);
  return fd;
}

/* Accept and close every connection until told to stop. */
static void *acceptor(void *arg) {
  int l = *(int *)arg;
  while (!atomic_load(&stop_accept)) {
    struct pollfd p = {l, POLLIN, 0};
    if (poll(&p, 1, 20) == 1) {
      int c = accept(l, NULL, NULL);
      if (c >= 0)
        close(c);
    }
  }
  return NULL;
}

static xs_resolver *make(xs_registry *reg, int failover_s) {
  xs_config *cfg;
  xs_resolver *res;
  xs_error err;
  xs_config_new(&cfg);
  xs_config_set_namespace(cfg, "prod");
  xs_config_add_server(cfg, srv.server);
  xs_config_set_connect_prefer(cfg, XS_FAMILY_IPV4);
  if (failover_s >= 0)
    xs_config_set_failover_memory(cfg, (unsigned)failover_s);
  if (xs_resolver_new(cfg, reg, &res, &err) != XS_OK) {
    fprintf(stderr, "bench_connect: resolver: %s\n", err.message);
    exit(1);
  }
  xs_config_free(cfg);
  return res;
}

static double round_xs(xs_resolver *res, unsigned port) {
  double t0 = now_ns();
  int i;
  for (i = 0; i < CONNECTS; i++) {
    int fd;
    if (xs_connect(res, "db", port, 2000, &fd, NULL) != XS_OK) {
      fprintf(stderr, "bench_connect: xs_connect failed\n");
      exit(1);
    }
    close(fd);
  }
  return (now_ns() - t0) / CONNECTS;
}

static double round_gai(unsigned port) {
  struct addrinfo hints, *ai;
  char service[16];
  double t0 = now_ns();
  int i;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(service, sizeof(service), "%u", port);
  for (i = 0; i < CONNECTS; i++) {
    int fd;
    if (getaddrinfo("localhost", service, &hints, &ai) != 0) {
      fprintf(stderr, "bench_connect: getaddrinfo failed\n");
      exit(1);
    }
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      perror("bench_connect: connect");
      exit(1);
    }
    close(fd);
    freeaddrinfo(ai);
  }
  return (now_ns() - t0) / CONNECTS;
}

static void op_alias(void) {
  unsigned port = 0;
  int l = listener("127.0.0.1", &port, 128), fd, r;
  pthread_t th;
  xs_registry *reg;
  xs_resolver *res;
  xs_error err;
  double best_xs = 1e18, best_gai = 1e18;
  atomic_store(&srv.loopback, 1);
  atomic_store(&srv.addr4, 1);
  atomic_store(&srv.no_aaaa, 1);
  xs_registry_new(&reg);
  xs_registry_add_external(reg, "prod", "db", "db.example.test", &err);
  res = make(reg, -1);
  atomic_store(&stop_accept, 0);
  pthread_create(&th, NULL, acceptor, &l);
  if (xs_connect(res, "db", port, 2000, &fd, NULL) != XS_OK) { /* warm */
    fprintf(stderr, "bench_connect: warm-up failed\n");
    exit(1);
  }
  close(fd);
  for (r = 0; r < ROUNDS; r++) {
    double a = round_xs(res, port), b = round_gai(port);
    if (a < best_xs)
      best_xs = a;
    if (b < best_gai)
      best_gai = b;
  }
  printf("%-56s %10.1f\n", "xs_connect through a cached alias (ns/op)",
         best_xs);
  printf("%-56s %10.1f\n", "getaddrinfo(localhost) + connect (ns/op)",
         best_gai);
  printf("xs_connect / getaddrinfo+connect: %.2fx (target <= 1.2x)\n",
         best_xs / best_gai);
  atomic_store(&stop_accept, 1);
  pthread_join(th, NULL);
  xs_resolver_free(res);
  xs_registry_free(reg);
  close(l);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void op_dead(void) {
  unsigned port = 0;
  int hole = listener("127.0.0.5", &port, 0), live, filler, r;
  struct sockaddr_in a;
  struct pollfd p;
  pthread_t th;
  xs_registry *reg;
  xs_resolver *forgetful, *remembering;
  xs_error err;
  double off[DEAD_RUNS], on[DEAD_RUNS];
  live = listener("127.0.0.6", &port, 128);
  /* fill the dead address's backlog: its next SYNs go unanswered */
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, "127.0.0.5", &a.sin_addr);
  filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  (void)connect(filler, (struct sockaddr *)&a, sizeof(a));
  p.fd = filler;
  p.events = POLLOUT;
  poll(&p, 1, 1000);
  xs_registry_new(&reg);
  xs_registry_add_headless(reg, "prod", "pool", &err);
  xs_registry_add_endpoint(reg, "prod", "pool", "127.0.0.5", NULL, 1, &err);
  xs_registry_add_endpoint(reg, "prod", "pool", "127.0.0.6", NULL, 1, &err);
  forgetful = make(reg, 0);
  remembering = make(reg, -1);
  atomic_store(&stop_accept, 0);
  pthread_create(&th, NULL, acceptor, &live);
  for (r = 0; r < DEAD_RUNS; r++) {
    xs_connect_info info;
    int fd;
    double t0 = now_ns();
    if (xs_connect(forgetful, "pool", port, 5000, &fd, &info) != XS_OK) {
      fprintf(stderr, "bench_connect: dead: %s\n", info.message);
      exit(1);
    }
    off[r] = (now_ns() - t0) / 1e6;
    close(fd);
    t0 = now_ns();
    if (xs_connect(remembering, "pool", port, 5000, &fd, &info) != XS_OK)
      exit(1);
    on[r] = (now_ns() - t0) / 1e6;
    close(fd);
  }
  printf(
      "%-56s %10.1f\n", "first address dead, memory off: ms (median of 5)",
      (qsort(off, DEAD_RUNS, sizeof(double), cmp_double), off[DEAD_RUNS / 2]));
  printf("  ratio to the 250 ms attempt delay: %.2fx (target <= 1.5x)\n",
         off[DEAD_RUNS / 2] / 250.0);
  printf("%-56s %10.1f / %.1f\n",
         "failover memory on: first call / median of the others (ms)", on[0],
         (qsort(on + 1, DEAD_RUNS - 1, sizeof(double), cmp_double),
          on[1 + (DEAD_RUNS - 1) / 2]));
  atomic_store(&stop_accept, 1);
  pthread_join(th, NULL);
  xs_resolver_free(forgetful);
  xs_resolver_free(remembering);
  xs_registry_free(reg);
  close(filler);
  close(hole);
  close(live);
}

int main(int argc, char **argv) {
  const char *only = NULL;
  if (argc == 3 && strcmp(argv[1], "--op") == 0)
    only = argv[2];
  else if (argc != 1) {
    fprintf(stderr, "usage: bench_connect [--op alias|dead]\n");
    return 2;
  }
  if (responder_start(&srv) != 0) {
    fprintf(stderr, "bench_connect: cannot start the DNS responder\n");
    return 1;
  }
  atomic_store(&srv.nx_outside, 1);
  if (only == NULL || strcmp(only, "alias") == 0)
    op_alias();
  if (only == NULL || strcmp(only, "dead") == 0)
    op_dead();
  responder_stop(&srv);
  return 0;
}
