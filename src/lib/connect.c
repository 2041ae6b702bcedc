/* xs_connect: resolve through the resolver, then connect the way RFC 8305
 * (Happy Eyeballs v2) describes: both families asked at once, a short wait
 * for the preferred family when the other answers first, addresses
 * alternating by family, a new attempt every attempt delay without waiting
 * for earlier ones to fail, the first connection wins. Addresses that
 * recently failed are tried last (the failover memory). */
#include "connect.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "names.h"
#include "resolver.h"

/* ---- settings and failover memory ---------------------------------------- */

void xs_connect_cfg_default(xs_connect_cfg *c) {
  c->attempt_delay_ms = XS_DEFAULT_ATTEMPT_DELAY_MS;
  c->prefer = 6;
  c->nonblock = 0;
  c->failover_s = XS_DEFAULT_FAILOVER_S;
  c->resolution_delay_ms = XS_RESOLUTION_DELAY_MS;
}

typedef struct failed {
  xs_addr addr;
  unsigned port;
  uint64_t until_ms; /* 0: free */
} failed;

struct xs_failmem {
  pthread_mutex_t lock;
  failed e[XS_FAILMEM_SLOTS];
  size_t next; /* the slot a new address takes when none matches or is free */
};

xs_failmem *xs_failmem_new(void) {
  xs_failmem *m = calloc(1, sizeof(*m));
  if (m != NULL)
    pthread_mutex_init(&m->lock, NULL);
  return m;
}

void xs_failmem_free(xs_failmem *m) {
  if (m == NULL)
    return;
  pthread_mutex_destroy(&m->lock);
  free(m);
}

static int same(const failed *f, const xs_addr *a, unsigned port) {
  return f->until_ms != 0 && f->port == port && f->addr.family == a->family &&
         memcmp(f->addr.bytes, a->bytes, sizeof(a->bytes)) == 0;
}

void xs_failmem_note(xs_failmem *m, const xs_addr *a, unsigned port,
                     uint64_t until_ms) {
  size_t i, slot = XS_FAILMEM_SLOTS;
  pthread_mutex_lock(&m->lock);
  for (i = 0; i < XS_FAILMEM_SLOTS; i++) {
    if (same(&m->e[i], a, port)) {
      slot = i;
      break;
    }
    if (slot == XS_FAILMEM_SLOTS && m->e[i].until_ms == 0)
      slot = i;
  }
  if (slot == XS_FAILMEM_SLOTS) /* full: the oldest entry in turn */
    slot = m->next++ % XS_FAILMEM_SLOTS;
  m->e[slot].addr = *a;
  m->e[slot].port = port;
  m->e[slot].until_ms = until_ms;
  pthread_mutex_unlock(&m->lock);
}

void xs_failmem_forget(xs_failmem *m, const xs_addr *a, unsigned port) {
  size_t i;
  pthread_mutex_lock(&m->lock);
  for (i = 0; i < XS_FAILMEM_SLOTS; i++)
    if (same(&m->e[i], a, port))
      m->e[i].until_ms = 0;
  pthread_mutex_unlock(&m->lock);
}

int xs_failmem_recent(xs_failmem *m, const xs_addr *a, unsigned port,
                      uint64_t now_ms) {
  size_t i;
  int found = 0;
  pthread_mutex_lock(&m->lock);
  for (i = 0; i < XS_FAILMEM_SLOTS && !found; i++)
    if (same(&m->e[i], a, port)) {
      if (now_ms < m->e[i].until_ms)
        found = 1;
      else
        m->e[i].until_ms = 0; /* forgotten */
    }
  pthread_mutex_unlock(&m->lock);
  return found;
}

/* ---- resolution ------------------------------------------------------------
 */

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The two resolutions (slot 0: the preferred family, 1: the other), filled
 * by callbacks on this thread or the engine's. */
typedef struct hev {
  pthread_mutex_t lock;
  pthread_cond_t cv;
  int efd;     /* -1 until the connecting thread must be woken */
  int pending; /* callbacks still to run */
  int done[2], taken[2];
  xs_status st[2];
  xs_result *r[2];
  unsigned long long id[2];
} hev;

typedef struct slot_arg {
  hev *h;
  int slot;
} slot_arg;

static void on_resolved(xs_status st, xs_result *r, void *arg) {
  slot_arg *a = arg;
  hev *h = a->h;
  pthread_mutex_lock(&h->lock);
  h->st[a->slot] = st;
  h->r[a->slot] = r;
  h->done[a->slot] = 1;
  h->pending--;
  if (h->efd >= 0) {
    uint64_t one = 1;
    ssize_t n;
    do
      n = write(h->efd, &one, sizeof(one));
    while (n < 0 && errno == EINTR);
  }
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->lock);
}

/* ---- connecting ------------------------------------------------------------
 */

#define MAX_ADDRS 64
#define MAX_ATTEMPTS 64

typedef struct cand {
  xs_addr addr;
  int recent_fail; /* in the failover memory: tried after the others */
  int used;
} cand;

typedef struct attempt {
  int fd;
  size_t cand;
  uint64_t started_ms;
} attempt;

typedef struct conn {
  xs_resolver *res;
  const xs_connect_cfg *cfg;
  xs_failmem *fm;
  unsigned port;
  cand c[2][MAX_ADDRS]; /* per slot, in the result's order */
  size_t nc[2];
  int last_slot; /* slot of the last address picked, -1 before the first */
  attempt a[MAX_ATTEMPTS];
  size_t na;
  unsigned started;
  int last_error;
} conn;

static void set_msg(xs_connect_info *info, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_msg(xs_connect_info *info, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(info->message, sizeof(info->message), fmt, ap);
  va_end(ap);
}

/* The next address to try: alternating families starting with the
 * preferred one, addresses that recently failed only when no other is
 * left. Returns the slot and index, or -1. */
static int pick(conn *k, size_t *idx) {
  int pass, t, slot;
  for (pass = 0; pass < 2; pass++) /* 0: not recently failed; 1: any */
    for (t = 0; t < 2; t++) {
      size_t i;
      slot = k->last_slot < 0 ? t : (k->last_slot + 1 + t) % 2;
      for (i = 0; i < k->nc[slot]; i++) {
        cand *c = &k->c[slot][i];
        if (!c->used && (pass == 1 || !c->recent_fail)) {
          c->used = 1;
          k->last_slot = slot;
          *idx = i;
          return slot;
        }
      }
    }
  return -1;
}

static socklen_t to_sockaddr(const xs_addr *a, unsigned port,
                             struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof(*ss));
  if (a->family == 4) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    memcpy(&s4->sin_addr, a->bytes, 4);
    return sizeof(*s4);
  } else {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    memcpy(&s6->sin6_addr, a->bytes, 16);
    return sizeof(*s6);
  }
}

/* Start a non-blocking connect to the next address. Returns the fd when it
 * connected at once, -1 otherwise (started, failed, or nothing left: *more
 * says whether an address was left to try). */
static int start_attempt(conn *k, uint64_t now, int *more) {
  size_t idx;
  int slot, fd;
  struct sockaddr_storage ss;
  socklen_t len;
  xs_addr *addr;
  *more = 0;
  if (k->na == MAX_ATTEMPTS || (slot = pick(k, &idx)) < 0)
    return -1;
  *more = 1;
  addr = &k->c[slot][idx].addr;
  len = to_sockaddr(addr, k->port, &ss);
  fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  k->started++;
  if (fd < 0) {
    k->last_error = errno;
    return -1;
  }
  if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
    k->a[k->na].fd = fd; /* the caller takes it from here */
    k->a[k->na].cand = (size_t)slot * MAX_ADDRS + idx;
    k->a[k->na++].started_ms = now;
    return fd;
  }
  if (errno != EINPROGRESS) {
    k->last_error = errno;
    xs_failmem_note(k->fm, addr, k->port, now + k->cfg->failover_s * 1000u);
    close(fd);
    return -1;
  }
  k->a[k->na].fd = fd;
  k->a[k->na].cand = (size_t)slot * MAX_ADDRS + idx;
  k->a[k->na++].started_ms = now;
  return -1;
}

static const xs_addr *attempt_addr(const conn *k, const attempt *a) {
  return &k->c[a->cand / MAX_ADDRS][a->cand % MAX_ADDRS].addr;
}

static void drop_attempt(conn *k, size_t i) {
  close(k->a[i].fd);
  k->a[i] = k->a[--k->na];
}

/* Add a result's addresses to slot (once), in the result's order. */
static void add_result(conn *k, int slot, const xs_result *r, uint64_t now) {
  size_t i, n = xs_result_address_count(r);
  for (i = 0; i < n && k->nc[slot] < MAX_ADDRS; i++) {
    cand *c = &k->c[slot][k->nc[slot]];
    memset(c, 0, sizeof(*c));
    c->addr.family = (uint8_t)xs_result_address_family(r, i);
    memcpy(c->addr.bytes, xs_result_address_raw(r, i), 16);
    c->recent_fail = k->cfg->failover_s > 0 &&
                     xs_failmem_recent(k->fm, &c->addr, k->port, now);
    k->nc[slot]++;
  }
}

/* "name:port" or "name:portname" when port is 0. */
static xs_status split_port(const char *name, unsigned port, char *host,
                            size_t hostsize, char *port_name, size_t pnsize,
                            unsigned *out) {
  const char *colon = strrchr(name, ':');
  size_t hlen;
  port_name[0] = '\0';
  if (port != 0) {
    if (port > 65535 || strlen(name) >= hostsize)
      return XS_EINVAL;
    strcpy(host, name);
    *out = port;
    return XS_OK;
  }
  if (colon == NULL || colon[1] == '\0')
    return XS_EINVAL;
  hlen = (size_t)(colon - name);
  if (hlen == 0 || hlen >= hostsize || strlen(colon + 1) >= pnsize)
    return XS_EINVAL;
  memcpy(host, name, hlen);
  host[hlen] = '\0';
  if (colon[1] >= '0' && colon[1] <= '9') {
    char *end;
    unsigned long v = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || v == 0 || v > 65535)
      return XS_EINVAL;
    *out = (unsigned)v;
    return XS_OK;
  }
  strcpy(port_name, colon + 1);
  *out = 0;
  return XS_OK;
}

static void set_blocking(int fd, int nonblock) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0 && !nonblock)
    (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

static void fill_peer(xs_connect_info *info, const xs_addr *a, unsigned port) {
  info->family = a->family;
  xs_addr_format(a, info->address, sizeof(info->address));
  info->port = port;
}

xs_status xs_connect(xs_resolver *res, const char *name, unsigned port,
                     int timeout_ms, int *fd_out, xs_connect_info *info) {
  xs_connect_info scratch;
  hev h;
  slot_arg args[2];
  conn k;
  char host[XS_NAME_BUF + 1], port_name[64];
  uint64_t t0 = mono_ms(), deadline, first_answer = 0, last_start = 0;
  xs_status st = XS_OK, resolve_st = XS_ENOTFOUND;
  int winner = -1, slot, have_target = 0, fams[2];
  size_t i;

  if (info == NULL)
    info = &scratch;
  memset(info, 0, sizeof(*info));
  if (fd_out != NULL)
    *fd_out = -1;
  if (res == NULL || name == NULL || fd_out == NULL || timeout_ms <= 0 ||
      split_port(name, port, host, sizeof(host), port_name, sizeof(port_name),
                 &port) != XS_OK) {
    set_msg(info, "invalid argument");
    return XS_EINVAL;
  }
  deadline = t0 + (uint64_t)timeout_ms;
  memset(&k, 0, sizeof(k));
  k.res = res;
  k.cfg = xs_resolver_connect_cfg(res);
  k.fm = xs_resolver_failmem(res);
  k.port = port;
  k.last_slot = -1;
  fams[0] = k.cfg->prefer == 4 ? XS_FAMILY_IPV4 : XS_FAMILY_IPV6;
  fams[1] = fams[0] == XS_FAMILY_IPV4 ? XS_FAMILY_IPV6 : XS_FAMILY_IPV4;

  memset(&h, 0, sizeof(h));
  pthread_mutex_init(&h.lock, NULL);
  pthread_cond_init(&h.cv, NULL);
  h.efd = -1;
  h.pending = 2;
  for (i = 0; i < 2; i++) {
    args[i].h = &h;
    args[i].slot = (int)i;
    if ((st = xs_resolve_start(res, host, (xs_family)fams[i], on_resolved,
                               &args[i], &h.id[i],
                               XS_START_DIRECT | XS_START_BLOCKING)) != XS_OK) {
      pthread_mutex_lock(&h.lock);
      h.st[i] = st;
      h.done[i] = 1;
      h.pending--;
      pthread_mutex_unlock(&h.lock);
    }
  }

  for (;;) {
    struct pollfd pfd[MAX_ATTEMPTS + 1];
    size_t np = 0;
    uint64_t now = mono_ms(), wake = deadline;
    int pending, more = 0, can_start;

    /* Results that came in. */
    pthread_mutex_lock(&h.lock);
    pending = h.pending;
    for (slot = 0; slot < 2; slot++)
      if (h.done[slot] && !h.taken[slot]) {
        h.taken[slot] = 1;
        if (first_answer == 0)
          first_answer = now;
        if (h.st[slot] == XS_OK && h.r[slot] != NULL) {
          resolve_st = XS_OK;
          if (!have_target) {
            /* The name for TLS and Host (the registry's ExternalName or
             * the name asked; never an upstream CNAME's target): the same
             * in either family's result. */
            const char *t = xs_result_target(h.r[slot]);
            size_t tl = strlen(t);
            if (tl > 0 && t[tl - 1] == '.')
              tl--;
            if (tl < sizeof(info->target)) {
              memcpy(info->target, t, tl);
              info->target[tl] = '\0';
            }
            have_target = 1;
            if (port_name[0] != '\0') {
              char why[160];
              xs_status ps = xs_resolver_named_port(res, h.r[slot], port_name,
                                                    &k.port, why, sizeof(why));
              if (ps != XS_OK) {
                pthread_mutex_unlock(&h.lock);
                st = ps;
                set_msg(info, "%s", why);
                goto out;
              }
            }
          }
          pthread_mutex_unlock(&h.lock);
          add_result(&k, slot, h.r[slot], now);
          pthread_mutex_lock(&h.lock);
        } else if (resolve_st != XS_OK && h.st[slot] != XS_ECANCELLED) {
          /* the more telling failure: policy, then upstream, then others */
          if (h.st[slot] == XS_EPOLICY || resolve_st == XS_ENOTFOUND ||
              resolve_st == XS_ENODATA) {
            resolve_st = h.st[slot];
            if (h.r[slot] != NULL && h.st[slot] == XS_EPOLICY)
              set_msg(info, "%s", xs_result_policy(h.r[slot]));
          }
        }
      }
    pthread_mutex_unlock(&h.lock);

    /* Start an attempt: the first once the preferred family answered (or
     * the resolution delay passed after the other did), then one every
     * attempt delay, or at once when every earlier attempt failed. */
    can_start = k.nc[0] + k.nc[1] > 0 &&
                (h.taken[0] || pending == 0 ||
                 now >= first_answer + (uint64_t)k.cfg->resolution_delay_ms);
    if (can_start &&
        (k.na == 0 || now >= last_start + (uint64_t)k.cfg->attempt_delay_ms)) {
      int fd = start_attempt(&k, now, &more);
      if (more)
        last_start = now;
      if (fd >= 0) {
        winner = (int)k.na - 1;
        break;
      }
    }

    if (now >= deadline) {
      st = XS_ETIMEOUT;
      set_msg(info, "no connection within %d ms", timeout_ms);
      break;
    }
    if (k.na == 0 && pending == 0) {
      int left = 0;
      for (slot = 0; slot < 2; slot++)
        for (i = 0; i < k.nc[slot]; i++)
          left |= !k.c[slot][i].used;
      if (!left) {
        if (k.started > 0) {
          st = XS_ECONNECT;
          info->error = k.last_error;
          set_msg(info, "every address failed (last: %s)",
                  strerror(k.last_error));
        } else {
          st = resolve_st == XS_OK ? XS_ENODATA : resolve_st;
          if (info->message[0] == '\0')
            set_msg(info, "%s: %s", host, xs_strerror(st));
        }
        break;
      }
      continue; /* an address is left: start it now */
    }

    /* Wait for a socket, a result, the next attempt or the deadline. */
    if (can_start && k.na > 0 && last_start + k.cfg->attempt_delay_ms < wake)
      wake = last_start + (uint64_t)k.cfg->attempt_delay_ms;
    if (!can_start && first_answer != 0 &&
        first_answer + (uint64_t)k.cfg->resolution_delay_ms < wake)
      wake = first_answer + (uint64_t)k.cfg->resolution_delay_ms;
    for (i = 0; i < k.na; i++) {
      pfd[np].fd = k.a[i].fd;
      pfd[np].events = POLLOUT;
      pfd[np++].revents = 0;
    }
    if (pending > 0) {
      pthread_mutex_lock(&h.lock);
      if (h.efd < 0)
        h.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      pending = h.pending; /* a result may have come meanwhile */
      pthread_mutex_unlock(&h.lock);
      if (pending == 0)
        continue;
      if (h.efd >= 0) {
        pfd[np].fd = h.efd;
        pfd[np].events = POLLIN;
        pfd[np++].revents = 0;
      } else if (wake > now + 5) {
        wake = now + 5; /* no eventfd: look again soon */
      }
    }
    if (poll(pfd, np, (int)(wake > now ? wake - now : 0)) < 0 &&
        errno != EINTR) {
      st = XS_EINVAL;
      set_msg(info, "poll: %s", strerror(errno));
      break;
    }
    if (h.efd >= 0 && np > k.na && (pfd[k.na].revents & POLLIN)) {
      uint64_t v;
      if (read(h.efd, &v, sizeof(v)) < 0) {
        /* spurious: nothing to clear */
      }
    }
    now = mono_ms();
    for (i = k.na; i-- > 0;) {
      int err = 0;
      socklen_t elen = sizeof(err);
      if (!(pfd[i].revents & (POLLOUT | POLLERR | POLLHUP)))
        continue;
      if (getsockopt(k.a[i].fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
        err = errno;
      if (err == 0) {
        winner = (int)i;
        break;
      }
      k.last_error = err;
      if (k.cfg->failover_s > 0)
        xs_failmem_note(k.fm, attempt_addr(&k, &k.a[i]), k.port,
                        now + k.cfg->failover_s * 1000u);
      drop_attempt(&k, i);
      last_start = 0; /* a failure starts the next attempt at once */
    }
    if (winner >= 0)
      break;
  }

out:
  /* Every attempt but the winner goes; those that were left unanswered for
   * a whole attempt delay count as failed. */
  {
    uint64_t now = mono_ms();
    for (i = k.na; i-- > 0;) {
      if ((int)i == winner)
        continue;
      if (k.cfg->failover_s > 0 &&
          now >= k.a[i].started_ms + (uint64_t)k.cfg->attempt_delay_ms)
        xs_failmem_note(k.fm, attempt_addr(&k, &k.a[i]), k.port,
                        now + k.cfg->failover_s * 1000u);
      close(k.a[i].fd);
    }
  }
  if (winner >= 0) {
    const xs_addr *a = attempt_addr(&k, &k.a[winner]);
    xs_failmem_forget(k.fm, a, k.port);
    set_blocking(k.a[winner].fd, k.cfg->nonblock);
    fill_peer(info, a, k.port);
    *fd_out = k.a[winner].fd;
    st = XS_OK;
  }
  /* Resolutions still running are cancelled; their callbacks run before
   * this returns (h lives on this stack). */
  pthread_mutex_lock(&h.lock);
  for (slot = 0; slot < 2; slot++)
    if (!h.done[slot]) {
      pthread_mutex_unlock(&h.lock);
      xs_resolve_cancel(res, h.id[slot]);
      pthread_mutex_lock(&h.lock);
    }
  while (h.pending > 0)
    pthread_cond_wait(&h.cv, &h.lock);
  pthread_mutex_unlock(&h.lock);
  for (slot = 0; slot < 2; slot++)
    xs_result_free(h.r[slot]);
  if (h.efd >= 0)
    close(h.efd);
  pthread_cond_destroy(&h.cv);
  pthread_mutex_destroy(&h.lock);
  info->attempts = k.started;
  info->elapsed_ms = (unsigned)(mono_ms() - t0);
  return st;
}
