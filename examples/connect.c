/* Connect to a Service by name through xs_connect (Happy Eyeballs over the
 * alias's addresses) and fetch a path over HTTP/1.1, with the Host header
 * set to the alias's final target, as TLS SNI would be.
 *
 *   connect MANIFESTS NAMESPACE SERVER NAME:PORT PATH [ALLOW-CIDR...]
 *   connect examples/manifests default 127.0.0.1:5353 httpbin-service:8080
 * /uuid 127.0.0.0/8
 *
 * The resolver's policy denies loopback (and metadata, link-local, ...)
 * addresses by default, so that an alias cannot be turned against the
 * application's host; ALLOW-CIDR lifts a range, as the demo's stand-in
 * for httpbin.org on 127.0.0.1 needs.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xsvc.h>

int main(int argc, char **argv) {
  xs_registry *reg = NULL;
  xs_config *cfg = NULL;
  xs_resolver *res = NULL;
  xs_connect_info info;
  xs_error err;
  xs_status st;
  char req[1024], buf[4096];
  ssize_t n;
  int fd = -1, rc = 2, len, i;

  if (argc < 6) {
    fprintf(stderr,
            "usage: %s MANIFESTS NAMESPACE SERVER NAME:PORT PATH "
            "[ALLOW-CIDR...]\n",
            argv[0]);
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
  for (i = 6; i < argc; i++)
    if (xs_config_allow_range(cfg, argv[i]) != XS_OK) {
      fprintf(stderr, "invalid range %s\n", argv[i]);
      goto done;
    }
  if (xs_resolver_new(cfg, reg, &res, &err) != XS_OK) {
    fprintf(stderr, "resolver: %s\n", err.message);
    goto done;
  }
  st = xs_connect(res, argv[4], 0, 5000, &fd, &info);
  if (st != XS_OK) {
    fprintf(stderr, "connect %s: %s: %s\n", argv[4], xs_strerror(st),
            info.message);
    rc = 1;
    goto done;
  }
  printf("connected to %s port %u for %s (%u ms)\n", info.address, info.port,
         info.target, info.elapsed_ms);
  /* info.target is the name the server's certificate and virtual host
   * carry: the ExternalName's target, never an upstream CNAME's. */
  len = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                 argv[5], info.target);
  if (len < 0 || (size_t)len >= sizeof(req) ||
      write(fd, req, (size_t)len) != len) {
    fprintf(stderr, "cannot send the request\n");
    rc = 1;
    goto done;
  }
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    fwrite(buf, 1, (size_t)n, stdout);
  rc = n == 0 ? 0 : 1;
done:
  if (fd >= 0)
    close(fd);
  xs_resolver_free(res);
  xs_config_free(cfg);
  xs_registry_free(reg);
  return rc;
}
