/* Resolve a name as a pod in a namespace would, from manifests plus an
 * upstream DNS server, and print the chain and the addresses.
 *
 *   resolve MANIFESTS NAMESPACE SERVER NAME
 *   resolve examples/manifests prod 127.0.0.1:5353 my-service
 */
#include <stdio.h>
#include <xsvc.h>

int main(int argc, char **argv) {
  xs_registry *reg = NULL;
  xs_config *cfg = NULL;
  xs_resolver *res = NULL;
  xs_result *result = NULL;
  xs_error err;
  xs_status st;
  size_t i;
  int rc = 2;

  if (argc != 5) {
    fprintf(stderr, "usage: %s MANIFESTS NAMESPACE SERVER NAME\n", argv[0]);
    return 2;
  }
  if (xs_registry_load(argv[1], &reg, &err) != XS_OK) {
    fprintf(stderr, "%s:%u:%u: error: %s\n", err.file, err.line, err.column,
            err.message);
    return 2;
  }
  if (xs_config_new(&cfg) != XS_OK ||
      xs_config_set_namespace(cfg, argv[2]) != XS_OK ||
      xs_config_add_server(cfg, argv[3]) != XS_OK) {
    fprintf(stderr, "invalid namespace or server\n");
    goto done;
  }
  if (xs_resolver_new(cfg, reg, &res, &err) != XS_OK) {
    fprintf(stderr, "resolver: %s\n", err.message);
    goto done;
  }
  st = xs_resolve(res, argv[4], XS_FAMILY_ANY, &result);
  if (result == NULL) {
    fprintf(stderr, "resolve: %s\n", xs_strerror(st));
    goto done;
  }
  printf("%s (as a pod in %s): %s\n", argv[4], argv[2], xs_status_name(st));
  for (i = 0; i < xs_result_chain_count(result); i++)
    printf("  %s %u IN CNAME %s  (%s)\n", xs_result_chain_name(result, i),
           xs_result_chain_ttl(result, i), xs_result_chain_target(result, i),
           xs_source_name(xs_result_chain_source(result, i)));
  for (i = 0; i < xs_result_address_count(result); i++)
    printf("  %s %u IN %s %s  (%s)\n", xs_result_final_name(result),
           xs_result_address_ttl(result, i),
           xs_result_address_family(result, i) == 4 ? "A" : "AAAA",
           xs_result_address_text(result, i),
           xs_source_name(xs_result_address_source(result, i)));
  /* The name to check the peer against is the alias's target (or the name
   * asked), not where upstream CNAMEs led: that is only the final name. */
  printf("  connect to %s (use it for TLS SNI and the Host header)\n",
         xs_result_target(result));
  rc = st == XS_OK ? 0 : 1;
done:
  xs_result_free(result);
  xs_resolver_free(res);
  xs_config_free(cfg);
  xs_registry_free(reg);
  return rc;
}
