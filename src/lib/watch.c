/* Watchers: inotify on the directories holding the manifest paths, a
 * debounced xs_registry_reload on the watcher's own thread.
 *
 * Directories, not files, are watched: editors replace a file by renaming
 * a new one over it (the old inode, and a watch on it, go away), and a
 * Kubernetes ConfigMap or Secret volume never changes a file at all. Its
 * directory holds `..data -> ..2026_11_30_07_15_27.123456789` and each
 * file is a symlink through `..data`; an update writes a new timestamped
 * directory, points a new symlink `..data_tmp` at it and renames that over
 * `..data` (one IN_MOVED_TO named "..data"), then removes the old
 * directory. So an event counts when it names a file the paths load, or a
 * name starting with ".." (the volume's own entries); anything else in the
 * directory (editor swap files, unrelated files next to a manifest) is
 * ignored. A watched directory that goes away is looked for again every
 * second; the reload that notices it is gone fails and keeps the registry.
 */
#include "xsvc.h"

#include "registry.h"
#include "stats.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/eventfd.h>
#include <sys/inotify.h>
#endif

#define REWATCH_MS 1000      /* how often a vanished directory is looked for */
#define MAX_DELAY_WINDOWS 10 /* a burst waits at most this many windows */

void xs_watch_options_init(xs_watch_options *opts) {
  if (opts == NULL)
    return;
  memset(opts, 0, sizeof(*opts));
  opts->struct_size = sizeof(*opts);
  opts->debounce_ms = XS_WATCH_DEBOUNCE_DEFAULT_MS;
}

#ifdef __linux__

typedef struct wdir {
  char *dir;
  int wd;       /* -1: not watched now (gone) */
  int any_file; /* a path is this directory: every manifest name counts */
  char **names; /* else the file names (basenames) that count */
  size_t nnames;
} wdir;

struct xs_watch {
  xs_registry *reg;
  char **paths;
  size_t npaths;
  xs_load_options load;
  char *default_ns;
  unsigned debounce_ms;
  xs_reload_fn on_reload;
  void *arg;
  wdir *dirs;
  size_t ndirs;
  int ifd, stopfd;
  pthread_t thread;
  atomic_ullong reloads;
};

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int manifest_name(const char *name) {
  size_t n = strlen(name);
  return name[0] != '.' && ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
                            (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
                            (n > 5 && strcmp(name + n - 5, ".json") == 0));
}

static const uint32_t watch_mask =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
    IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

static void watch_free(xs_watch *w) {
  size_t i, j;
  if (w->ifd >= 0)
    close(w->ifd);
  if (w->stopfd >= 0)
    close(w->stopfd);
  for (i = 0; i < w->npaths; i++)
    free(w->paths[i]);
  free(w->paths);
  for (i = 0; i < w->ndirs; i++) {
    free(w->dirs[i].dir);
    for (j = 0; j < w->dirs[i].nnames; j++)
      free(w->dirs[i].names[j]);
    free(w->dirs[i].names);
  }
  free(w->dirs);
  free(w->default_ns);
  xs_registry_free(w->reg);
  free(w);
}

/* The wdir for dir, added if new. NULL: out of memory. */
static wdir *dir_of(xs_watch *w, const char *dir) {
  wdir *d;
  size_t i;
  for (i = 0; i < w->ndirs; i++)
    if (strcmp(w->dirs[i].dir, dir) == 0)
      return &w->dirs[i];
  d = realloc(w->dirs, (w->ndirs + 1) * sizeof(*d));
  if (d == NULL)
    return NULL;
  w->dirs = d;
  d = &w->dirs[w->ndirs];
  memset(d, 0, sizeof(*d));
  d->wd = -1;
  if ((d->dir = strdup(dir)) == NULL)
    return NULL;
  w->ndirs++;
  return d;
}

/* Register path: its directory, and the name in it that counts. */
static xs_status add_path(xs_watch *w, const char *path, xs_error *err) {
  struct stat st;
  char dir[4096];
  const char *base, *slash;
  wdir *d;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    if ((d = dir_of(w, path)) == NULL)
      return XS_ENOMEM;
    d->any_file = 1;
    return XS_OK;
  }
  slash = strrchr(path, '/');
  if (slash == NULL) {
    snprintf(dir, sizeof(dir), ".");
    base = path;
  } else if (slash == path) {
    snprintf(dir, sizeof(dir), "/");
    base = slash + 1;
  } else {
    if ((size_t)(slash - path) >= sizeof(dir)) {
      xs_error_set(err, XS_EINVAL, path, 0, 0, "path too long to watch");
      return XS_EINVAL;
    }
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    base = slash + 1;
  }
  if (*base == '\0') {
    xs_error_set(err, XS_EINVAL, path, 0, 0, "not a file or directory name");
    return XS_EINVAL;
  }
  if ((d = dir_of(w, dir)) == NULL)
    return XS_ENOMEM;
  {
    char **names = realloc(d->names, (d->nnames + 1) * sizeof(*names));
    if (names == NULL)
      return XS_ENOMEM;
    d->names = names;
    if ((names[d->nnames] = strdup(base)) == NULL)
      return XS_ENOMEM;
    d->nnames++;
  }
  return XS_OK;
}

static int add_watch(xs_watch *w, wdir *d) {
  d->wd = inotify_add_watch(w->ifd, d->dir, watch_mask);
  return d->wd >= 0;
}

/* Does an event named name (may be "") in d call for a reload? */
static int counts(const wdir *d, const char *name) {
  size_t i;
  if (name[0] == '.' && name[1] == '.')
    return 1; /* a ConfigMap/Secret volume's ..data and timestamped dirs */
  if (d->any_file && manifest_name(name))
    return 1;
  for (i = 0; i < d->nnames; i++)
    if (strcmp(d->names[i], name) == 0)
      return 1;
  return 0;
}

static void reload(xs_watch *w) {
  xs_reload_report rep;
  xs_registry_reload(w->reg, (const char *const *)w->paths, w->npaths, &w->load,
                     &rep);
  atomic_fetch_add(&w->reloads, 1);
  if (w->on_reload != NULL)
    w->on_reload(&rep, w->arg);
}

/* Read the events waiting; returns 1 if one calls for a reload. */
static int read_events(xs_watch *w) {
  char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  int relevant = 0;
  for (;;) {
    ssize_t n = read(w->ifd, buf, sizeof(buf));
    char *p;
    if (n <= 0)
      break;
    for (p = buf; p < buf + n;) {
      const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
      size_t i;
      p += sizeof(*ev) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        relevant = 1;
        continue;
      }
      for (i = 0; i < w->ndirs; i++) {
        wdir *d = &w->dirs[i];
        if (d->wd != ev->wd)
          continue;
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
          /* The directory went (or was renamed away): watch whatever
           * takes its path later. */
          if (!(ev->mask & IN_IGNORED))
            inotify_rm_watch(w->ifd, d->wd);
          d->wd = -1;
          relevant = 1;
          xs_log(XS_LOG_WARNING, "watch: %s went away; looking for it again",
                 d->dir);
        } else if (ev->len == 0 || counts(d, ev->name)) {
          /* nameless: the directory's own attributes (its mode counts) */
          relevant = 1;
        }
      }
    }
  }
  return relevant;
}

static void *watch_run(void *arg) {
  xs_watch *w = arg;
  uint64_t due = 0, first = 0, next_rewatch = 0;
  for (;;) {
    struct pollfd pfd[2];
    uint64_t now = now_ms(), wake = 0;
    int timeout = -1, missing = 0, changed = 0;
    size_t i;
    for (i = 0; i < w->ndirs; i++)
      if (w->dirs[i].wd < 0)
        missing = 1;
    if (missing && next_rewatch == 0)
      next_rewatch = now + REWATCH_MS;
    if (due != 0)
      wake = due;
    if (missing && (wake == 0 || next_rewatch < wake))
      wake = next_rewatch;
    if (wake != 0)
      timeout = wake > now ? (int)(wake - now) : 0;
    pfd[0].fd = w->ifd;
    pfd[0].events = POLLIN;
    pfd[1].fd = w->stopfd;
    pfd[1].events = POLLIN;
    if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
      break;
    if (pfd[1].revents & POLLIN)
      break;
    if (pfd[0].revents & POLLIN)
      changed = read_events(w);
    now = now_ms();
    if (missing && now >= next_rewatch) {
      next_rewatch = 0;
      for (i = 0; i < w->ndirs; i++)
        if (w->dirs[i].wd < 0 && add_watch(w, &w->dirs[i])) {
          xs_log(XS_LOG_INFO, "watch: %s is back", w->dirs[i].dir);
          changed = 1;
        }
    }
    if (changed) {
      /* Quiet window from the latest change, within a bound from the
       * first of the burst. */
      uint64_t bound;
      if (first == 0)
        first = now;
      due = now + w->debounce_ms;
      bound = first + (uint64_t)w->debounce_ms * MAX_DELAY_WINDOWS;
      if (due > bound)
        due = bound;
    }
    if (due != 0 && now >= due) {
      due = first = 0;
      reload(w);
    }
  }
  return NULL;
}

xs_status xs_watch_start(xs_registry *reg, const char *const *paths,
                         size_t npaths, const xs_watch_options *opts,
                         xs_watch **out, xs_error *err) {
  xs_watch_options defaults;
  xs_watch *w;
  xs_status st = XS_ENOMEM;
  size_t i;
  if (reg == NULL || paths == NULL || npaths == 0 || out == NULL) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "invalid argument");
    return XS_EINVAL;
  }
  if (opts == NULL) {
    xs_watch_options_init(&defaults);
    opts = &defaults;
  }
  if (opts->debounce_ms > XS_WATCH_DEBOUNCE_MAX_MS) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "debounce must be in range [0, %u] ms: %u",
                 XS_WATCH_DEBOUNCE_MAX_MS, opts->debounce_ms);
    return XS_EINVAL;
  }
  for (i = 0; i < npaths; i++)
    if (paths[i] == NULL || paths[i][0] == '\0') {
      xs_error_set(err, XS_EINVAL, NULL, 0, 0, "empty path");
      return XS_EINVAL;
    }
  if ((w = calloc(1, sizeof(*w))) == NULL)
    return XS_ENOMEM;
  w->ifd = w->stopfd = -1;
  xs_registry_ref(reg);
  w->reg = reg;
  w->debounce_ms = opts->debounce_ms;
  w->on_reload = opts->on_reload;
  w->arg = opts->arg;
  /* As much of the caller's load options as its header had (struct_size):
   * a caller built against an older one has a shorter struct. */
  xs_load_options_init(&w->load);
  if (opts->load != NULL)
    memcpy(&w->load, opts->load,
           opts->load->struct_size < sizeof(w->load) ? opts->load->struct_size
                                                     : sizeof(w->load));
  if (w->load.default_namespace != NULL) {
    if ((w->default_ns = strdup(w->load.default_namespace)) == NULL)
      goto fail;
    w->load.default_namespace = w->default_ns;
  }
  if ((w->paths = calloc(npaths, sizeof(*w->paths))) == NULL)
    goto fail;
  w->npaths = npaths;
  for (i = 0; i < npaths; i++)
    if ((w->paths[i] = strdup(paths[i])) == NULL)
      goto fail;
  for (i = 0; i < npaths; i++)
    if ((st = add_path(w, paths[i], err)) != XS_OK)
      goto fail;
  w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  w->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (w->ifd < 0 || w->stopfd < 0) {
    st = XS_EINVAL;
    xs_error_set(err, st, NULL, 0, 0, "inotify: %s", strerror(errno));
    goto fail;
  }
  for (i = 0; i < w->ndirs; i++)
    if (!add_watch(w, &w->dirs[i])) {
      st = XS_EINVAL;
      xs_error_set(err, st, w->dirs[i].dir, 0, 0, "cannot watch: %s",
                   strerror(errno));
      goto fail;
    }
  if (pthread_create(&w->thread, NULL, watch_run, w) != 0) {
    st = XS_ENOMEM;
    xs_error_set(err, st, NULL, 0, 0, "cannot start the watcher thread");
    goto fail;
  }
  xs_log(XS_LOG_INFO, "watching %zu path(s) in %zu director%s", npaths,
         w->ndirs, w->ndirs == 1 ? "y" : "ies");
  *out = w;
  return XS_OK;
fail:
  if (st == XS_ENOMEM)
    xs_error_set(err, st, NULL, 0, 0, "out of memory");
  watch_free(w);
  return st;
}

unsigned long long xs_watch_reloads(const xs_watch *w) {
  return w != NULL ? atomic_load(&((xs_watch *)(uintptr_t)w)->reloads) : 0;
}

void xs_watch_stop(xs_watch *w) {
  uint64_t one = 1;
  if (w == NULL)
    return;
  if (write(w->stopfd, &one, sizeof(one)) < 0) {
    /* an eventfd write fails only on overflow: it is readable anyway */
  }
  pthread_join(w->thread, NULL);
  watch_free(w);
}

#else /* no inotify */

struct xs_watch {
  int unused;
};

xs_status xs_watch_start(xs_registry *reg, const char *const *paths,
                         size_t npaths, const xs_watch_options *opts,
                         xs_watch **out, xs_error *err) {
  (void)reg;
  (void)paths;
  (void)npaths;
  (void)opts;
  (void)out;
  xs_error_set(err, XS_EINVAL, NULL, 0, 0,
               "watching needs inotify (Linux); reload with "
               "xs_registry_reload instead");
  return XS_EINVAL;
}

unsigned long long xs_watch_reloads(const xs_watch *w) {
  (void)w;
  return 0;
}

void xs_watch_stop(xs_watch *w) {
  (void)w;
}

#endif
