/* Builds against an installed xsvc and resolves an in-cluster name. */
#include <stdio.h>
#include <string.h>
#include <xsvc.h>

int main(void) {
  xs_registry *reg;
  xs_resolver *res;
  xs_config *cfg;
  xs_result *r;
  xs_error err;
  const char *ip[] = {"10.96.0.20"};
  int ok;
  if (xs_registry_new(&reg) != XS_OK ||
      xs_registry_add_cluster_ip(reg, "prod", "backend", ip, 1, &err) !=
          XS_OK ||
      xs_config_new(&cfg) != XS_OK ||
      xs_config_set_namespace(cfg, "prod") != XS_OK ||
      xs_config_add_server(cfg, "127.0.0.1:9") != XS_OK ||
      xs_resolver_new(cfg, reg, &res, &err) != XS_OK)
    return 1;
  xs_resolve(res, "backend", XS_FAMILY_IPV4, &r);
  ok = xs_result_status(r) == XS_OK &&
       strcmp(xs_result_address_text(r, 0), "10.96.0.20") == 0 &&
       strcmp(xs_version(), XSVC_VERSION_STRING) == 0;
  printf("%s %s\n", xs_version(), ok ? xs_result_address_text(r, 0) : "FAIL");
  xs_result_free(r);
  xs_resolver_free(res);
  xs_config_free(cfg);
  xs_registry_free(reg);
  return ok ? 0 : 1;
}
