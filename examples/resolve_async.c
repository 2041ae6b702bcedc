/* Resolve several names at once without blocking: completions are queued
 * and run from a poll() loop, as an event-loop program (epoll, libuv,
 * asyncio) would drive them.
 *
 *   resolve_async MANIFESTS NAMESPACE SERVER NAME...
 *   resolve_async examples/manifests prod 127.0.0.1:5353 my-service
 * httpbin-service.default
 */
#include <poll.h>
#include <stdio.h>
#include <xsvc.h>

static int pending, failures;

static void done(xs_status st, xs_result *r, void *arg) {
  const char *name = arg;
  size_t i;
  pending--;
  if (r == NULL) { /* cancelled or out of memory */
    printf("%s: %s\n", name, xs_strerror(st));
    failures++;
    return;
  }
  printf("%s: %s -> %s\n", name, xs_status_name(st), xs_result_target(r));
  for (i = 0; i < xs_result_address_count(r); i++)
    printf("  %s ttl %u (%s)\n", xs_result_address_text(r, i),
           xs_result_address_ttl(r, i),
           xs_source_name(xs_result_address_source(r, i)));
  failures += st != XS_OK;
  xs_result_free(r);
}

int main(int argc, char **argv) {
  xs_registry *reg = NULL;
  xs_config *cfg = NULL;
  xs_resolver *res = NULL;
  xs_error err;
  int i;

  if (argc < 5) {
    fprintf(stderr, "usage: %s MANIFESTS NAMESPACE SERVER NAME...\n", argv[0]);
    return 2;
  }
  if (xs_registry_load(argv[1], &reg, &err) != XS_OK) {
    fprintf(stderr, "%s:%u:%u: error: %s\n", err.file, err.line, err.column,
            err.message);
    return 2;
  }
  if (xs_config_new(&cfg) != XS_OK ||
      xs_config_set_namespace(cfg, argv[2]) != XS_OK ||
      xs_config_add_server(cfg, argv[3]) != XS_OK ||
      xs_config_set_dispatch(cfg, XS_DISPATCH_QUEUE) != XS_OK ||
      xs_resolver_new(cfg, reg, &res, &err) != XS_OK) {
    fprintf(stderr, "error: bad configuration\n");
    return 2;
  }
  xs_config_free(cfg);
  xs_registry_free(reg);

  for (i = 4; i < argc; i++)
    if (xs_resolve_async(res, argv[i], XS_FAMILY_ANY, done, argv[i], NULL) ==
        XS_OK)
      pending++;
  while (pending > 0) {
    struct pollfd p;
    p.fd = xs_resolver_fd(res);
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 10000) <= 0)
      break; /* nothing for 10 s: give up (pending ones are cancelled) */
    xs_resolver_dispatch(res);
  }
  xs_resolver_free(res); /* runs any callback still pending, cancelled */
  return failures == 0 && pending == 0 ? 0 : 1;
}
