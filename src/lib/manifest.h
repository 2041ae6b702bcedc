/* Manifest loading: libyaml event parsing of Kubernetes objects into a
 * snapshot builder, with positions for errors and hard limits. */
#ifndef XS_MANIFEST_H
#define XS_MANIFEST_H

#include "registry.h"

typedef struct xs_loader xs_loader;

/* What a loader's key and anchor lookups have cost so far: a count of
 * steps, the same on every machine, for tests that check the loader stays
 * linear in its input (tests/unit/test_manifest.c). */
typedef struct xs_loader_work {
  uint64_t lookups; /* hash-table lookups (keys of large maps, anchors) */
  uint64_t probes;  /* slots or earlier keys compared, rehash steps too */
  uint64_t moves;   /* entries moved when the table grew */
} xs_loader_work;

/* A loader collects objects from several sources into one builder. opts
 * may be NULL. XS_OK, XS_ENOMEM, XS_EINVAL (a bad default namespace or a
 * limit above its bound: err says which). */
xs_status xs_loader_new(const xs_load_options *opts, xs_loader **out,
                        xs_error *err);
void xs_loader_free(xs_loader *l);
void xs_loader_work_get(const xs_loader *l, xs_loader_work *out);
/* The limits the loader runs with (xs_load_options.max_*, 0 replaced by
 * the bound), in xs_load_options's fields; for tests. */
void xs_loader_limits_get(const xs_loader *l, xs_load_options *out);
/* Read a file or a directory (sorted *.yaml, *.yml, *.json). Errors go to
 * the diagnostic callback; the first one is kept for xs_loader_finish. */
xs_status xs_loader_add_path(xs_loader *l, const char *path);
xs_status xs_loader_add_buffer(xs_loader *l, const char *data, size_t len,
                               const char *name);
/* If no error was seen, finish the snapshot and hand it out (*out owns one
 * reference). Otherwise return the first error's status and fill err. */
xs_status xs_loader_finish(xs_loader *l, xs_snapshot **out, xs_error *err);

#endif
