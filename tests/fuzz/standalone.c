/* Smoke driver for the fuzz targets without libFuzzer: replays every file
 * of a corpus directory, then a fixed number of deterministic mutations of
 * them (byte flips, truncations, splices), so ctest exercises each parser
 * with hostile input under any compiler and sanitizer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
  uint8_t *data;
  size_t size;
} input;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static int read_file(const char *path, input *in) {
  FILE *f = fopen(path, "rb");
  long n;
  if (f == NULL)
    return -1;
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return -1;
  }
  in->data = malloc((size_t)n + 1);
  in->size = (size_t)n;
  if (in->data == NULL || fread(in->data, 1, in->size, f) != in->size) {
    free(in->data);
    fclose(f);
    return -1;
  }
  fclose(f);
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  input *corpus = NULL;
  size_t ncorpus = 0, i;
  long iterations = argc > 2 ? atol(argv[2]) : 10000;
  DIR *d;
  struct dirent *e;
  char **names = NULL;
  size_t nnames = 0;

  if (argc < 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS]\n", argv[0]);
    return 2;
  }
  d = opendir(argv[1]);
  if (d == NULL) {
    fprintf(stderr, "cannot open corpus %s\n", argv[1]);
    return 2;
  }
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    names = realloc(names, (nnames + 1) * sizeof(*names));
    names[nnames++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, nnames, sizeof(*names), by_name);
  for (i = 0; i < nnames; i++) {
    char path[4096];
    input in;
    snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]);
    if (read_file(path, &in) == 0) {
      LLVMFuzzerTestOneInput(in.data, in.size);
      corpus = realloc(corpus, (ncorpus + 1) * sizeof(*corpus));
      corpus[ncorpus++] = in;
    }
    free(names[i]);
  }
  free(names);
  if (ncorpus == 0) {
    fprintf(stderr, "empty corpus %s\n", argv[1]);
    return 2;
  }
  for (long it = 0; it < iterations; it++) {
    const input *src = &corpus[rng() % ncorpus];
    size_t size = src->size, k, flips;
    uint8_t *buf = malloc(size + 64);
    memcpy(buf, src->data, size);
    switch (rng() % 4) {
    case 0: /* flip bytes */
      flips = 1 + rng() % 8;
      for (k = 0; k < flips && size > 0; k++)
        buf[rng() % size] = (uint8_t)rng();
      break;
    case 1: /* truncate */
      size = size > 0 ? rng() % size : 0;
      break;
    case 2: { /* splice another input's tail */
      const input *o = &corpus[rng() % ncorpus];
      size_t at = size > 0 ? rng() % size : 0;
      size_t take = o->size > 0 ? rng() % o->size : 0;
      if (take > 64)
        take = 64;
      memcpy(buf + at, o->data + (o->size - take), take);
      size = at + take;
      break;
    }
    default: /* insert interesting bytes */
      if (size > 0) {
        static const uint8_t special[] = {0,   0xff, '\n', ':', '&',  '*',
                                          '-', '[',  '{',  '"', 0xc0, 0x3f};
        buf[rng() % size] = special[rng() % sizeof(special)];
      }
      break;
    }
    LLVMFuzzerTestOneInput(buf, size);
    free(buf);
  }
  for (i = 0; i < ncorpus; i++)
    free(corpus[i].data);
  free(corpus);
  printf("%ld mutations of %zu inputs: ok\n", iterations, ncorpus);
  return 0;
}
