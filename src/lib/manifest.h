/* Manifest loading: libyaml event parsing of Kubernetes objects into a
 * snapshot builder, with positions for errors and hard limits. */
#ifndef XS_MANIFEST_H
#define XS_MANIFEST_H

#include "registry.h"

typedef struct xs_loader xs_loader;

/* A loader collects objects from several sources into one builder. opts
 * may be NULL. */
xs_status xs_loader_new(const xs_load_options *opts, xs_loader **out);
void xs_loader_free(xs_loader *l);
/* Read a file or a directory (sorted *.yaml, *.yml, *.json). Errors go to
 * the diagnostic callback; the first one is kept for xs_loader_finish. */
xs_status xs_loader_add_path(xs_loader *l, const char *path);
xs_status xs_loader_add_buffer(xs_loader *l, const char *data, size_t len,
                               const char *name);
/* If no error was seen, finish the snapshot and hand it out (*out owns one
 * reference). Otherwise return the first error's status and fill err. */
xs_status xs_loader_finish(xs_loader *l, xs_snapshot **out, xs_error *err);

#endif
