/* Synthetic manifests shaped like a real cluster's: labels on every object,
 * ports on most Services, EndpointSlices with hostnames for headless ones. */
#include "gen.h"

#include <stdlib.h>

gen_kind gen_service(gen_mix mix, size_t i, char *ns, char *name) {
  gen_kind kind = GEN_EXTERNAL;
  static const char *const prefix[] = {"ext", "api", "sts"};
  if (mix == GEN_MIX_REALISTIC) {
    size_t r = i % 10;
    kind = r < 7 ? GEN_EXTERNAL : r < 9 ? GEN_CLUSTER_IP : GEN_HEADLESS;
  }
  snprintf(ns, 64, "team-%02zu", i % GEN_NAMESPACES);
  snprintf(name, 64, "%s-%06zu", prefix[kind], i);
  return kind;
}

static void write_external(FILE *f, size_t i, const char *ns,
                           const char *name) {
  fprintf(f,
          "---\n"
          "apiVersion: v1\n"
          "kind: Service\n"
          "metadata:\n"
          "  name: %s\n"
          "  namespace: %s\n"
          "  labels:\n"
          "    app.kubernetes.io/name: %s\n"
          "    app.kubernetes.io/part-of: team-%02zu\n"
          "spec:\n"
          "  type: ExternalName\n"
          "  externalName: db-%zu.eu-west-%zu.rds.example.com\n",
          name, ns, name, i % GEN_NAMESPACES, i, i % 3);
  if (i % 2 == 0)
    fprintf(f, "  ports:\n"
               "    - name: pg\n"
               "      protocol: TCP\n"
               "      port: 5432\n");
}

static void write_cluster_ip(FILE *f, size_t i, const char *ns,
                             const char *name, int headless) {
  fprintf(f,
          "---\n"
          "apiVersion: v1\n"
          "kind: Service\n"
          "metadata:\n"
          "  name: %s\n"
          "  namespace: %s\n"
          "  labels:\n"
          "    app.kubernetes.io/name: %s\n"
          "    app.kubernetes.io/part-of: team-%02zu\n"
          "spec:\n"
          "  type: ClusterIP\n",
          name, ns, name, i % GEN_NAMESPACES);
  if (headless)
    fprintf(f, "  clusterIP: None\n");
  else
    fprintf(f, "  clusterIP: 10.%zu.%zu.%zu\n", 96 + (i >> 16) % 32,
            (i >> 8) & 255, i & 255);
  fprintf(f,
          "  selector:\n"
          "    app.kubernetes.io/name: %s\n"
          "  ports:\n"
          "    - name: http\n"
          "      protocol: TCP\n"
          "      port: 80\n"
          "      targetPort: 8080\n"
          "    - name: grpc\n"
          "      protocol: TCP\n"
          "      port: 9090\n",
          name);
}

static void write_slice(FILE *f, size_t i, const char *ns, const char *name) {
  int e;
  fprintf(f,
          "---\n"
          "apiVersion: discovery.k8s.io/v1\n"
          "kind: EndpointSlice\n"
          "metadata:\n"
          "  name: %s-abcde\n"
          "  namespace: %s\n"
          "  labels:\n"
          "    kubernetes.io/service-name: %s\n"
          "addressType: IPv4\n"
          "ports:\n"
          "  - name: http\n"
          "    protocol: TCP\n"
          "    port: 8080\n"
          "endpoints:\n",
          name, ns, name);
  for (e = 0; e < 3; e++)
    fprintf(f,
            "  - addresses: [\"10.244.%zu.%zu\"]\n"
            "    hostname: %s-%d\n"
            "    conditions:\n"
            "      ready: true\n",
            (i >> 8) & 255, (i & 255) ^ (size_t)e, name, e);
}

int gen_write(FILE *f, size_t n, gen_mix mix) {
  size_t i;
  char ns[64], name[64];
  for (i = 0; i < GEN_NAMESPACES; i++)
    fprintf(f,
            "---\n"
            "apiVersion: v1\n"
            "kind: Namespace\n"
            "metadata:\n"
            "  name: team-%02zu\n",
            i);
  for (i = 0; i < n; i++) {
    switch (gen_service(mix, i, ns, name)) {
    case GEN_EXTERNAL:
      write_external(f, i, ns, name);
      break;
    case GEN_CLUSTER_IP:
      write_cluster_ip(f, i, ns, name, 0);
      break;
    case GEN_HEADLESS:
      write_cluster_ip(f, i, ns, name, 1);
      write_slice(f, i, ns, name);
      break;
    }
  }
  return ferror(f) ? -1 : 0;
}

char *gen_buffer(size_t n, gen_mix mix, size_t *len) {
  char *buf = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&buf, &size);
  if (f == NULL)
    return NULL;
  if (gen_write(f, n, mix) != 0) {
    fclose(f);
    free(buf);
    return NULL;
  }
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  *len = size;
  return buf;
}
