/* Manifest load cost: libyaml's bare event parse of a file vs
 * xs_registry_load of the same file, in one run; retained heap per Service.
 *
 * usage: bench_load [--runs N] [--dir DIR] [SIZE...]   (default 10000 100000)
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "gen.h"
#include "xsvc.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

/* Read the file and run libyaml's parser over it, doing nothing with the
 * events: the floor any libyaml-based loader stands on. */
static long bare_parse(const char *path) {
  FILE *f = fopen(path, "rb");
  yaml_parser_t parser;
  yaml_event_t event;
  unsigned char *buf;
  long size, events = 0;
  int done = 0;

  if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) != 0) {
    if (f != NULL)
      fclose(f);
    return -1;
  }
  buf = malloc((size_t)size + 1);
  if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
    free(buf);
    fclose(f);
    return -1;
  }
  fclose(f);
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_string(&parser, buf, (size_t)size);
  while (!done) {
    if (!yaml_parser_parse(&parser, &event)) {
      events = -1;
      break;
    }
    done = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
    events++;
  }
  yaml_parser_delete(&parser);
  free(buf);
  return events;
}

typedef struct load_stats {
  double best_ns;
  size_t heap;
  size_t services;
} load_stats;

static int load(const char *path, int runs, load_stats *st) {
  int r;
  st->best_ns = 1e30;
  for (r = 0; r < runs; r++) {
    xs_registry *reg = NULL;
    xs_error err;
    size_t before = heap_in_use();
    double t0 = now_ns(), t;
    xs_status s = xs_registry_load_paths(&path, 1, NULL, &reg, &err);
    t = now_ns() - t0;
    if (s != XS_OK) {
      fprintf(stderr, "bench_load: %s:%u:%u: %s\n", err.file, err.line,
              err.column, err.message);
      return -1;
    }
    if (t < st->best_ns)
      st->best_ns = t;
    st->heap = heap_in_use() - before;
    st->services = xs_registry_service_count(reg);
    xs_registry_free(reg);
  }
  return 0;
}

static double best_parse(const char *path, int runs, long *events) {
  double best = 1e30;
  int r;
  for (r = 0; r < runs; r++) {
    double t0 = now_ns(), t;
    *events = bare_parse(path);
    t = now_ns() - t0;
    if (t < best)
      best = t;
  }
  return best;
}

static int write_file(const char *path, size_t n, gen_mix mix, long *bytes) {
  FILE *f = fopen(path, "wb");
  if (f == NULL || gen_write(f, n, mix) != 0) {
    if (f != NULL)
      fclose(f);
    return -1;
  }
  *bytes = ftell(f);
  return fclose(f);
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  char tmpdir[] = "/tmp/bench-load.XXXXXX";
  int runs = 5, i;
  size_t sizes[8], nsizes = 0, k;
  double per_svc[8];

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
      dir = argv[++i];
    else if (nsizes < 8 && atol(argv[i]) > 0)
      sizes[nsizes++] = (size_t)atol(argv[i]);
    else {
      fprintf(stderr, "usage: bench_load [--runs N] [--dir DIR] [SIZE...]\n");
      return 2;
    }
  }
  if (nsizes == 0) {
    sizes[nsizes++] = 10000;
    sizes[nsizes++] = 100000;
  }
  if (runs < 1)
    runs = 1;
  /* A private directory: nothing else may remove the files mid-run. */
  if (dir == NULL && (dir = mkdtemp(tmpdir)) == NULL) {
    perror("mkdtemp");
    return 1;
  }

  printf("%-9s %-9s %8s %10s %10s %7s %10s %10s\n", "services", "mix",
         "file_MB", "parse_ms", "load_ms", "ratio", "ns/svc", "heap_B/svc");
  for (k = 0; k < nsizes; k++) {
    int m;
    for (m = 0; m < 2; m++) {
      gen_mix mix = m == 0 ? GEN_MIX_REALISTIC : GEN_MIX_EXTERNAL;
      char path[4096];
      long bytes, events;
      double parse;
      load_stats st;

      snprintf(path, sizeof(path), "%s/xsvc-bench-%s-%zu.yaml", dir,
               m == 0 ? "mixed" : "external", sizes[k]);
      if (write_file(path, sizes[k], mix, &bytes) != 0) {
        perror(path);
        return 1;
      }
      parse = best_parse(path, runs, &events);
      if (events < 0 || load(path, runs, &st) != 0) {
        fprintf(stderr, "bench_load: %s did not parse/load\n", path);
        return 1;
      }
      if (st.services != sizes[k]) {
        fprintf(stderr, "bench_load: %s: %zu services loaded, want %zu\n", path,
                st.services, sizes[k]);
        return 1;
      }
      printf("%-9zu %-9s %8.1f %10.1f %10.1f %7.2f %10.0f %10.0f\n", sizes[k],
             m == 0 ? "mixed" : "external", (double)bytes / 1e6, parse / 1e6,
             st.best_ns / 1e6, st.best_ns / parse,
             st.best_ns / (double)sizes[k], (double)st.heap / (double)sizes[k]);
      if (m == 0)
        per_svc[k] = st.best_ns / (double)sizes[k];
      unlink(path);
    }
  }
  if (dir == tmpdir)
    rmdir(tmpdir);
  if (nsizes >= 2)
    printf("growth: load ns/service at %zu / at %zu = %.2f (1.00 = linear)\n",
           sizes[nsizes - 1], sizes[0], per_svc[nsizes - 1] / per_svc[0]);
  return 0;
}
