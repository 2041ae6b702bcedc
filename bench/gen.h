/* Synthetic cluster manifests for the benchmarks. */
#ifndef XSVC_BENCH_GEN_H
#define XSVC_BENCH_GEN_H

#include <stddef.h>
#include <stdio.h>

#define GEN_NAMESPACES 20

typedef enum gen_mix {
  GEN_MIX_REALISTIC, /* 70% ExternalName, 20% ClusterIP, 10% headless */
  GEN_MIX_EXTERNAL   /* ExternalName only */
} gen_mix;

typedef enum gen_kind { GEN_EXTERNAL, GEN_CLUSTER_IP, GEN_HEADLESS } gen_kind;

/* Service i's kind, namespace and name (buffers of 64 bytes). */
gen_kind gen_service(gen_mix mix, size_t i, char *ns, char *name);

/* Write n Services (plus Namespaces and one EndpointSlice per headless
 * Service) as one multi-document YAML stream. Returns 0 or -1 (I/O). */
int gen_write(FILE *f, size_t n, gen_mix mix);

/* The same into a malloc'd buffer (*len bytes, NUL-terminated); NULL on
 * failure. The caller frees it. */
char *gen_buffer(size_t n, gen_mix mix, size_t *len);

#endif
