/* xsvc: the command-line front end. Thin by design: it parses flags, calls
 * the public API (xsvc.h only) and prints. Exit codes: 0 success, 1 the
 * name does not exist or has no address of the family (nxdomain/nodata),
 * 2 usage or manifest error, 3 any other failure. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "xsvc.h"

#define EXIT_ANSWERED 0
#define EXIT_NEGATIVE 1
#define EXIT_USAGE 2
#define EXIT_FAILED 3

#define CLI_MAX_TTL 3600

static const char usage_main[] =
    "usage: xsvc COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  check -f PATH [-f PATH]... [-n NS]   validate Kubernetes manifests\n"
    "  resolve [OPTIONS] NAME               resolve NAME as a pod would\n"
    "  connect [OPTIONS] NAME:PORT          open a TCP connection through it\n"
    "  serve [OPTIONS]                      a cluster DNS server on loopback\n"
    "  help [COMMAND]                       show help\n"
    "\n"
    "  xsvc --version                       print the version\n"
    "\n"
    "exit status: 0 success, 1 nxdomain/nodata, 2 usage or manifest error,\n"
    "3 other failure (loop, timeout, servfail, refused, error)\n";

static const char usage_check[] =
    "usage: xsvc check -f PATH [-f PATH]... [-n NS]\n"
    "\n"
    "Load Kubernetes manifests (files or directories of *.yaml, *.yml,\n"
    "*.json) exactly as the library does and report every problem as\n"
    "PATH:LINE:COL: error|warning: MESSAGE on stderr.\n"
    "\n"
    "  -f, --file PATH        manifest file or directory (repeatable)\n"
    "  -n, --namespace NS     namespace for objects without one (default)\n"
    "      --allow-insecure-permissions\n"
    "                         load manifests that group or others may write\n"
    "  -h, --help             show this help\n"
    "\n"
    "exit status: 0 valid (warnings allowed), 2 invalid or usage error\n";

static const char usage_resolve[] =
    "usage: xsvc resolve [OPTIONS] NAME\n"
    "\n"
    "Resolve NAME as a pod in namespace NS would: search list and ndots,\n"
    "in-cluster answers from the manifests, external targets upstream.\n"
    "\n"
    "  -f, --file PATH            manifest file or directory (repeatable)\n"
    "  -n, --namespace NS         client namespace, also the namespace of\n"
    "                             objects without one (default)\n"
    "      --cluster-domain D     cluster domain (cluster.local)\n"
    "      --ndots N              ndots, 0..15 (5)\n"
    "      --search D             extra host search domain (repeatable)\n"
    "  -t, --type A|AAAA|ANY      address family; ANY asks both (ANY)\n"
    "      --server HOST[:PORT]   upstream DNS server (repeatable;\n"
    "                             default: /etc/resolv.conf)\n"
    "      --timeout MS           per-attempt upstream timeout (2000)\n"
    "      --attempts N           attempts per server (2)\n"
    "      --ttl S                TTL of registry records, 0..3600 (5)\n"
    "      --strict               RFC 6604 answers instead of CoreDNS ones\n"
    "      --json                 print one JSON object\n"
    "      --allow-insecure-permissions\n"
    "                             load manifests others may write\n"
    "      --deny CIDR            refuse addresses in CIDR (repeatable)\n"
    "      --allow CIDR           lift a denied range, e.g. 127.0.0.0/8 or\n"
    "                             ::1 for loopback (repeatable; the most\n"
    "                             specific range decides)\n"
    "      --allow-target SUFFIX  aliases may only point at SUFFIX or below\n"
    "                             (repeatable)\n"
    "  -h, --help                 show this help\n"
    "\n"
    "Denied by default: loopback, unspecified, link-local, cloud metadata,\n"
    "multicast and broadcast addresses, also inside IPv6 forms.\n"
    "\n"
    "exit status: 0 ok, 1 nxdomain/nodata, 2 usage or manifest error,\n"
    "3 loop, timeout, servfail, refused or other error\n";

static const char usage_connect[] =
    "usage: xsvc connect [OPTIONS] NAME:PORT\n"
    "\n"
    "Resolve NAME as xsvc resolve does and open a TCP connection to it the\n"
    "way Happy Eyeballs v2 does (RFC 8305); print the address connected to,\n"
    "the chain and the time taken, then close it. PORT is a number or the\n"
    "name of a port in the Service's spec.ports.\n"
    "\n"
    "  -f, --file PATH, -n, --namespace NS, --cluster-domain D, --ndots N,\n"
    "  --search D, --server HOST[:PORT], --timeout MS, --attempts N,\n"
    "  --allow-insecure-permissions, --deny CIDR, --allow CIDR,\n"
    "  --allow-target SUFFIX              as for xsvc resolve\n"
    "      --connect-timeout MS   the whole connection, 1..600000 (5000)\n"
    "      --attempt-delay MS     between connection attempts, 10..10000 "
    "(250)\n"
    "  -4 / -6                    try IPv4 / IPv6 addresses first (-6)\n"
    "  -h, --help                 show this help\n"
    "\n"
    "exit status: 0 connected, 1 nxdomain/nodata, 2 usage or manifest error,\n"
    "3 refused, timed out, denied by policy or other error\n";

static const char usage_serve[] =
    "usage: xsvc serve [OPTIONS]\n"
    "\n"
    "Serve DNS as the cluster's CoreDNS would, from the manifests: the\n"
    "cluster zone (and its reverse zones) authoritatively; ExternalName\n"
    "targets and other names' A/AAAA through the upstream servers given\n"
    "(none given: other names are REFUSED). Forwarded replies lose the\n"
    "addresses the policy denies and what upstream says about names in\n"
    "the cluster and reverse zones. Prints the address it listens on;\n"
    "reloads the manifests on SIGHUP, and with --watch whenever they\n"
    "change (a failed load keeps the old ones, and says why); stops\n"
    "cleanly on SIGINT or SIGTERM.\n"
    "\n"
    "Limits: UDP replies at most 1232 octets (TC beyond: retry over TCP);\n"
    "TCP: 16 connections, 4 per client address (IPv6: per /64), each\n"
    "closed after 2 s idle, or when a message is not whole 1 s after its\n"
    "first octet, or a reply is not taken within 1 s.\n"
    "\n"
    "  -f, --file PATH, -n, --namespace NS, --cluster-domain D, --ttl S,\n"
    "  --strict, --timeout MS, --attempts N, --allow-insecure-permissions,\n"
    "  --deny CIDR, --allow CIDR, --allow-target SUFFIX\n"
    "                             as for xsvc resolve (the policy applies\n"
    "                             to forwarded answers)\n"
    "      --listen HOST:PORT     address to serve on (127.0.0.1:5353; port\n"
    "                             0 picks a free one); repeatable: one\n"
    "                             server per address\n"
    "      --cache S              as CoreDNS's `cache S`: every reply's\n"
    "                             records carry one TTL (the smallest,\n"
    "                             clamped to [5, S]), replies kept that\n"
    "                             long (1..86400; default: no cache)\n"
    "      --reply-cache N        with --cache: replies kept (16384; 0:\n"
    "                             none, each answered anew)\n"
    "      --fallthrough WHERE    pass the registry's NXDOMAIN to the\n"
    "                             upstream servers, as CoreDNS's\n"
    "                             fallthrough: all, cluster, or reverse\n"
    "                             (in-addr.arpa ip6.arpa, as kubeadm)\n"
    "      --upstream HOST[:PORT] upstream DNS server (repeatable; same as\n"
    "                             --server)\n"
    "      --watch                reload when a manifest file or directory\n"
    "                             changes (inotify; edits, renames, files\n"
    "                             added or removed, ConfigMap volume\n"
    "                             updates), after 50 ms without changes\n"
    "      --metrics HOST:PORT    serve Prometheus metrics over HTTP at\n"
    "                             http://HOST:PORT/metrics (port 0 picks a\n"
    "                             free one; the address is printed); each\n"
    "                             connection has 2 s for its request and\n"
    "                             reply, 16 at once\n"
    "      --allow-from CIDR      answer clients from CIDR (ADDRESS[/PREFIX];\n"
    "                             repeatable; the list replaces the default:\n"
    "                             loopback only, 127.0.0.0/8 and ::1, on any\n"
    "                             --listen address); others get REFUSED over\n"
    "                             UDP, and TCP connections from them are\n"
    "                             closed unread\n"
    "  -h, --help                 show this help\n"
    "\n"
    "exit status: 0 stopped by a signal, 2 usage or manifest error,\n"
    "3 cannot listen or watch\n";

typedef struct diag_counts {
  unsigned errors;
  unsigned warnings;
} diag_counts;

/* `FILE:LINE:COL: SEVERITY: MESSAGE`, dropping the parts that are unknown. */
static void print_diag(const xs_error *d, const char *severity) {
  const char *msg = d->message[0] != '\0' ? d->message : xs_strerror(d->status);
  if (d->file[0] == '\0')
    fprintf(stderr, "xsvc: %s: %s\n", severity, msg);
  else if (d->line == 0)
    fprintf(stderr, "%s: %s: %s\n", d->file, severity, msg);
  else if (d->column == 0)
    fprintf(stderr, "%s:%u: %s: %s\n", d->file, d->line, severity, msg);
  else
    fprintf(stderr, "%s:%u:%u: %s: %s\n", d->file, d->line, d->column, severity,
            msg);
}

static void on_diag(const xs_error *diag, int is_warning, void *arg) {
  diag_counts *counts = arg;
  if (is_warning)
    counts->warnings++;
  else
    counts->errors++;
  print_diag(diag, is_warning ? "warning" : "error");
}

/* Load paths; every problem is printed. On failure nothing is returned. */
static xs_status load_manifests(const char *const *paths, size_t npaths,
                                const char *default_ns, int insecure_ok,
                                diag_counts *counts, xs_registry **out) {
  xs_load_options opts;
  xs_error err;
  xs_status st;

  xs_load_options_init(&opts);
  if (default_ns != NULL)
    opts.default_namespace = default_ns;
  opts.diag = on_diag;
  opts.diag_arg = counts;
  opts.allow_insecure_permissions = insecure_ok;
  memset(&err, 0, sizeof(err));
  st = xs_registry_load_paths(paths, npaths, &opts, out, &err);
  if (st != XS_OK && counts->errors == 0) {
    /* The callback saw nothing (e.g. an invalid option): say why here. */
    if (err.status == XS_OK)
      err.status = st;
    print_diag(&err, "error");
    counts->errors++;
  }
  return st;
}

/* getopt_long prints "<argv[0]>: unrecognized option"; make that read
 * "xsvc check: ..." by naming the subcommand's argv[0]. */
static char prog_check[] = "xsvc check";
static char prog_resolve[] = "xsvc resolve";
static char prog_connect[] = "xsvc connect";
static char prog_serve[] = "xsvc serve";

enum { OPT_INSECURE = 300 };

static int usage_error(const char *usage, const char *fmt, const char *arg) {
  if (fmt != NULL) {
    fputs("xsvc: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
  }
  fputs(usage, stderr);
  return EXIT_USAGE;
}

static int parse_int(const char *s, long min, long max, int *out) {
  char *end;
  long v;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
    return 0;
  *out = (int)v;
  return 1;
}

/* ---- check ----------------------------------------------------------------
 */

static int cmd_check(int argc, char **argv) {
  static const struct option longopts[] = {
      {"file", required_argument, NULL, 'f'},
      {"namespace", required_argument, NULL, 'n'},
      {"help", no_argument, NULL, 'h'},
      {"allow-insecure-permissions", no_argument, NULL, OPT_INSECURE},
      {NULL, 0, NULL, 0}};
  const char **paths;
  const char *ns = NULL;
  int insecure_ok = 0;
  size_t npaths = 0, nservices, nskipped;
  diag_counts counts = {0, 0};
  xs_registry *reg = NULL;
  int c, rc;

  paths = calloc((size_t)argc + 1, sizeof(*paths));
  if (paths == NULL) {
    fputs("xsvc: out of memory\n", stderr);
    return EXIT_FAILED;
  }
  argv[0] = prog_check;
  while ((c = getopt_long(argc, argv, "f:n:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'f':
      paths[npaths++] = optarg;
      break;
    case 'n':
      ns = optarg;
      break;
    case 'h':
      fputs(usage_check, stdout);
      free(paths);
      return EXIT_ANSWERED;
    case OPT_INSECURE:
      insecure_ok = 1;
      break;
    default:
      free(paths);
      return usage_error(usage_check, NULL, NULL);
    }
  }
  if (optind < argc) {
    rc = usage_error(usage_check, "check: unexpected argument '%s'",
                     argv[optind]);
    free(paths);
    return rc;
  }
  if (npaths == 0) {
    free(paths);
    return usage_error(usage_check, "check: no manifest given (-f PATH)%s", "");
  }
  if (load_manifests(paths, npaths, ns, insecure_ok, &counts, &reg) != XS_OK) {
    fprintf(stderr, "xsvc: invalid: %u error(s), %u warning(s)\n",
            counts.errors, counts.warnings);
    free(paths);
    return EXIT_USAGE;
  }
  nservices = xs_registry_service_count(reg);
  nskipped = xs_registry_skipped_count(reg);
  printf("ok: %zu service%s, %zu skipped object(s)", nservices,
         nservices == 1 ? "" : "s", nskipped);
  if (counts.warnings > 0)
    printf(", %u warning(s)", counts.warnings);
  putchar('\n');
  xs_registry_free(reg);
  free(paths);
  return EXIT_ANSWERED;
}

/* ---- resolve: output ------------------------------------------------------
 */

/* The --json status vocabulary; anything else the library names is an
 * "error" for the CLI's consumers. */
static const char *status_word(xs_status st) {
  static const char *const known[] = {"ok",      "nxdomain", "nodata",
                                      "loop",    "timeout",  "servfail",
                                      "refused", "policy"};
  const char *name = xs_status_name(st);
  size_t i;
  for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if (strcmp(name, known[i]) == 0)
      return known[i];
  return "error";
}

static int exit_code_of(const char *word) {
  if (strcmp(word, "ok") == 0)
    return EXIT_ANSWERED;
  if (strcmp(word, "nxdomain") == 0 || strcmp(word, "nodata") == 0)
    return EXIT_NEGATIVE;
  return EXIT_FAILED;
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s) {
  size_t n, i;
  unsigned cp;
  if (s[0] < 0xc2 || s[0] > 0xf4)
    return 0;
  n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
  cp = s[0] & (0x7f >> n);
  for (i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
      (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return n;
}

/* A JSON string; invalid UTF-8 becomes U+FFFD so the output always parses. */
static void json_string(FILE *f, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  fputc('"', f);
  while (*p != '\0') {
    unsigned char ch = *p;
    if (ch == '"' || ch == '\\') {
      fputc('\\', f);
      fputc(ch, f);
      p++;
    } else if (ch == '\n') {
      fputs("\\n", f);
      p++;
    } else if (ch == '\t') {
      fputs("\\t", f);
      p++;
    } else if (ch == '\r') {
      fputs("\\r", f);
      p++;
    } else if (ch < 0x20 || ch == 0x7f) {
      fprintf(f, "\\u%04x", ch);
      p++;
    } else if (ch < 0x80) {
      fputc(ch, f);
      p++;
    } else {
      size_t n = utf8_len(p);
      if (n == 0) {
        fputs("\\ufffd", f);
        p++;
      } else {
        fwrite(p, 1, n, f);
        p += n;
      }
    }
  }
  fputc('"', f);
}

typedef struct query_info {
  const char *name;
  const char *ns;
  const char *type;
} query_info;

static void print_json(const query_info *q, const xs_result *r,
                       const char *word) {
  size_t i, n;
  FILE *f = stdout;

  fputs("{\"query\":", f);
  json_string(f, q->name);
  fputs(",\"namespace\":", f);
  json_string(f, q->ns);
  fputs(",\"type\":", f);
  json_string(f, q->type);
  fputs(",\"status\":", f);
  json_string(f, word);
  fputs(",\"message\":", f);
  json_string(f, xs_strerror(xs_result_status(r)));
  fputs(",\"name\":", f);
  json_string(f, xs_result_name(r));
  fputs(",\"target\":", f); /* for TLS and Host */
  json_string(f, xs_result_target(r));
  fputs(",\"final_name\":", f); /* where the addresses are */
  json_string(f, xs_result_final_name(r));
  fprintf(f, ",\"ttl\":%u,\"candidates\":[", xs_result_ttl(r));
  n = xs_result_candidate_count(r);
  for (i = 0; i < n; i++) {
    if (i > 0)
      fputc(',', f);
    json_string(f, xs_result_candidate(r, i));
  }
  fputs("],\"chain\":[", f);
  n = xs_result_chain_count(r);
  for (i = 0; i < n; i++) {
    fputs(i > 0 ? ",{\"name\":" : "{\"name\":", f);
    json_string(f, xs_result_chain_name(r, i));
    fputs(",\"target\":", f);
    json_string(f, xs_result_chain_target(r, i));
    fprintf(f, ",\"ttl\":%u,\"source\":", xs_result_chain_ttl(r, i));
    json_string(f, xs_source_name(xs_result_chain_source(r, i)));
    fputc('}', f);
  }
  fputs("],\"addresses\":[", f);
  n = xs_result_address_count(r);
  for (i = 0; i < n; i++) {
    fputs(i > 0 ? ",{\"address\":" : "{\"address\":", f);
    json_string(f, xs_result_address_text(r, i));
    fprintf(f, ",\"family\":\"%s\",\"ttl\":%u,\"source\":",
            xs_result_address_family(r, i) == 6 ? "ipv6" : "ipv4",
            xs_result_address_ttl(r, i));
    json_string(f, xs_source_name(xs_result_address_source(r, i)));
    fputc('}', f);
  }
  fputs("]}\n", f);
}

/* Sources seen in the answer, in order of first appearance, "a+b". */
static void sources_text(const xs_result *r, char *buf, size_t size) {
  int seen[4] = {0, 0, 0, 0};
  size_t i, n = xs_result_chain_count(r), m = xs_result_address_count(r);
  buf[0] = '\0';
  for (i = 0; i < n + m; i++) {
    xs_source s = i < n ? xs_result_chain_source(r, i)
                        : xs_result_address_source(r, i - n);
    if ((unsigned)s < 4 && !seen[s]) {
      seen[s] = 1;
      if (buf[0] != '\0')
        strncat(buf, "+", size - strlen(buf) - 1);
      strncat(buf, xs_source_name(s), size - strlen(buf) - 1);
    }
  }
}

static void print_text(const query_info *q, const xs_result *r,
                       const char *word) {
  size_t i, n;
  char sources[64];
  const char *answered = xs_result_name(r);

  printf(";; status: %s (%s), query \"%s\", namespace %s, type %s\n", word,
         xs_strerror(xs_result_status(r)), q->name, q->ns, q->type);
  n = xs_result_chain_count(r);
  for (i = 0; i < n; i++)
    printf("%s\t%u\tIN\tCNAME\t%s\n", xs_result_chain_name(r, i),
           xs_result_chain_ttl(r, i), xs_result_chain_target(r, i));
  n = xs_result_address_count(r);
  for (i = 0; i < n; i++)
    printf("%s\t%u\tIN\t%s\t%s\n", xs_result_final_name(r),
           xs_result_address_ttl(r, i),
           xs_result_address_family(r, i) == 6 ? "AAAA" : "A",
           xs_result_address_text(r, i));
  fputs(";; candidates:", stdout);
  n = xs_result_candidate_count(r);
  for (i = 0; i < n; i++)
    printf(" %s", xs_result_candidate(r, i));
  if (n == 0)
    fputs(" none", stdout);
  putchar('\n');
  sources_text(r, sources, sizeof(sources));
  printf(";; answer from %s (source %s, ttl %u)\n",
         answered[0] != '\0' ? answered : "none",
         sources[0] != '\0' ? sources : "none", xs_result_ttl(r));
}

/* ---- resolve --------------------------------------------------------------
 */

enum {
  OPT_CLUSTER_DOMAIN = 256,
  OPT_NDOTS,
  OPT_SEARCH,
  OPT_SERVER,
  OPT_TIMEOUT,
  OPT_ATTEMPTS,
  OPT_TTL,
  OPT_STRICT,
  OPT_JSON,
  OPT_CONNECT_TIMEOUT,
  OPT_ATTEMPT_DELAY,
  OPT_LISTEN,
  OPT_UPSTREAM,
  OPT_CACHE,
  OPT_REPLY_CACHE,
  OPT_FALLTHROUGH,
  OPT_WATCH,
  OPT_METRICS,
  OPT_DENY,
  OPT_ALLOW,
  OPT_ALLOW_TARGET,
  OPT_ALLOW_FROM
};

/* One policy option (--deny, --allow, --allow-target), in order given. */
typedef struct policy_arg {
  int kind; /* OPT_DENY, OPT_ALLOW, OPT_ALLOW_TARGET */
  const char *text;
} policy_arg;

typedef struct resolve_opts {
  const char **paths;
  size_t npaths;
  const char *ns;
  const char *domain;
  const char **searches;
  size_t nsearches;
  const char **servers;
  size_t nservers;
  int ndots, timeout_ms, attempts, ttl; /* -1: library default */
  int strict, json, insecure_ok;
  int connect, connect_timeout_ms, attempt_delay_ms, prefer;
  int serve;
  const char **listens;
  size_t nlistens;
  int cache_ttl;           /* serve --cache; -1: none */
  int reply_cache;         /* serve --reply-cache; -1: the library's default */
  unsigned fallthrough;    /* serve --fallthrough */
  int watch;               /* serve --watch */
  const char *metrics;     /* serve --metrics HOST:PORT */
  const char **allow_from; /* serve --allow-from CIDR (repeatable) */
  size_t nallow_from;
  policy_arg *policy;
  size_t npolicy;
  xs_family family;
  const char *type;
  const char *name;
} resolve_opts;

static int parse_resolve(int argc, char **argv, resolve_opts *o) {
  static const struct option longopts[] = {
      {"file", required_argument, NULL, 'f'},
      {"namespace", required_argument, NULL, 'n'},
      {"type", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},
      {"cluster-domain", required_argument, NULL, OPT_CLUSTER_DOMAIN},
      {"ndots", required_argument, NULL, OPT_NDOTS},
      {"search", required_argument, NULL, OPT_SEARCH},
      {"server", required_argument, NULL, OPT_SERVER},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {"attempts", required_argument, NULL, OPT_ATTEMPTS},
      {"ttl", required_argument, NULL, OPT_TTL},
      {"strict", no_argument, NULL, OPT_STRICT},
      {"json", no_argument, NULL, OPT_JSON},
      {"allow-insecure-permissions", no_argument, NULL, OPT_INSECURE},
      {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
      {"attempt-delay", required_argument, NULL, OPT_ATTEMPT_DELAY},
      {"listen", required_argument, NULL, OPT_LISTEN},
      {"upstream", required_argument, NULL, OPT_UPSTREAM},
      {"cache", required_argument, NULL, OPT_CACHE},
      {"reply-cache", required_argument, NULL, OPT_REPLY_CACHE},
      {"fallthrough", required_argument, NULL, OPT_FALLTHROUGH},
      {"watch", no_argument, NULL, OPT_WATCH},
      {"metrics", required_argument, NULL, OPT_METRICS},
      {"deny", required_argument, NULL, OPT_DENY},
      {"allow", required_argument, NULL, OPT_ALLOW},
      {"allow-target", required_argument, NULL, OPT_ALLOW_TARGET},
      {"allow-from", required_argument, NULL, OPT_ALLOW_FROM},
      {NULL, 0, NULL, 0}};
  const char *usage = o->serve     ? usage_serve
                      : o->connect ? usage_connect
                                   : usage_resolve;
  int c;

  argv[0] = o->serve ? prog_serve : o->connect ? prog_connect : prog_resolve;
  while ((c = getopt_long(argc, argv, o->connect ? "f:n:h46" : "f:n:t:h",
                          longopts, NULL)) != -1) {
    if (!o->connect && (c == OPT_CONNECT_TIMEOUT || c == OPT_ATTEMPT_DELAY))
      return usage_error(usage, NULL, NULL);
    if (o->connect &&
        (c == 't' || c == OPT_JSON || c == OPT_STRICT || c == OPT_TTL))
      return usage_error(usage, NULL, NULL);
    switch (c) {
    case 'f':
      o->paths[o->npaths++] = optarg;
      break;
    case 'n':
      o->ns = optarg;
      break;
    case 't':
      if (strcasecmp(optarg, "A") == 0) {
        o->family = XS_FAMILY_IPV4;
        o->type = "A";
      } else if (strcasecmp(optarg, "AAAA") == 0) {
        o->family = XS_FAMILY_IPV6;
        o->type = "AAAA";
      } else if (strcasecmp(optarg, "ANY") == 0) {
        o->family = XS_FAMILY_ANY;
        o->type = "ANY";
      } else {
        return usage_error(usage,
                           o->connect
                               ? "connect: invalid type '%s' (A, AAAA or ANY)"
                               : "resolve: invalid type '%s' (A, AAAA or ANY)",
                           optarg);
      }
      break;
    case 'h':
      fputs(usage, stdout);
      return EXIT_ANSWERED;
    case OPT_CLUSTER_DOMAIN:
      o->domain = optarg;
      break;
    case OPT_NDOTS:
      if (!parse_int(optarg, 0, 15, &o->ndots))
        return usage_error(usage,
                           o->connect ? "connect: invalid --ndots '%s' (0..15)"
                                      : "resolve: invalid --ndots '%s' (0..15)",
                           optarg);
      break;
    case OPT_SEARCH:
      o->searches[o->nsearches++] = optarg;
      break;
    case OPT_SERVER:
      o->servers[o->nservers++] = optarg;
      break;
    case OPT_TIMEOUT:
      if (!parse_int(optarg, 1, 60000, &o->timeout_ms))
        return usage_error(
            usage,
            o->connect ? "connect: invalid --timeout '%s' (1..60000 ms)"
                       : "resolve: invalid --timeout '%s' (1..60000 ms)",
            optarg);
      break;
    case OPT_ATTEMPTS:
      if (!parse_int(optarg, 1, 10, &o->attempts))
        return usage_error(usage,
                           o->connect
                               ? "connect: invalid --attempts '%s' (1..10)"
                               : "resolve: invalid --attempts '%s' (1..10)",
                           optarg);
      break;
    case OPT_TTL:
      if (!parse_int(optarg, INT_MIN, INT_MAX, &o->ttl) || o->ttl < 0 ||
          o->ttl > CLI_MAX_TTL) {
        /* CoreDNS's wording for the same mistake. */
        return usage_error(usage,
                           o->connect
                               ? "connect: ttl must be in range [0, 3600]: %s"
                               : "resolve: ttl must be in range [0, 3600]: %s",
                           optarg);
      }
      break;
    case OPT_STRICT:
      o->strict = 1;
      break;
    case OPT_JSON:
      o->json = 1;
      break;
    case OPT_INSECURE:
      o->insecure_ok = 1;
      break;
    case OPT_LISTEN:
      o->listens[o->nlistens++] = optarg;
      break;
    case OPT_CACHE:
      if (!o->serve)
        return usage_error(usage, NULL, NULL);
      if (!parse_int(optarg, 1, (int)XS_SERVER_CACHE_TTL_MAX, &o->cache_ttl))
        return usage_error(
            usage, "serve: cache TTL must be in range [1, 86400]: %s", optarg);
      break;
    case OPT_REPLY_CACHE:
      if (!o->serve)
        return usage_error(usage, NULL, NULL);
      if (!parse_int(optarg, 0, (int)XS_SERVER_REPLY_CACHE_MAX,
                     &o->reply_cache))
        return usage_error(usage, "serve: invalid --reply-cache '%s'", optarg);
      break;
    case OPT_FALLTHROUGH:
      if (!o->serve)
        return usage_error(usage, NULL, NULL);
      if (strcmp(optarg, "all") == 0)
        o->fallthrough = XS_FALLTHROUGH_ALL;
      else if (strcmp(optarg, "cluster") == 0)
        o->fallthrough = XS_FALLTHROUGH_CLUSTER;
      else if (strcmp(optarg, "reverse") == 0)
        o->fallthrough = XS_FALLTHROUGH_REVERSE;
      else
        return usage_error(
            usage, "serve: invalid --fallthrough '%s' (all, cluster, reverse)",
            optarg);
      break;
    case OPT_UPSTREAM:
      o->servers[o->nservers++] = optarg;
      break;
    case OPT_WATCH:
      if (!o->serve)
        return usage_error(usage, NULL, NULL);
      o->watch = 1;
      break;
    case OPT_METRICS:
      if (!o->serve)
        return usage_error(usage, NULL, NULL);
      o->metrics = optarg;
      break;
    case OPT_ALLOW_FROM:
      if (!o->serve)
        return usage_error(usage, NULL, NULL);
      o->allow_from[o->nallow_from++] = optarg;
      break;
    case '4':
    case '6':
      o->prefer = c - '0';
      break;
    case OPT_DENY:
    case OPT_ALLOW:
    case OPT_ALLOW_TARGET:
      o->policy[o->npolicy].kind = c;
      o->policy[o->npolicy++].text = optarg;
      break;
    case OPT_CONNECT_TIMEOUT:
      if (!parse_int(optarg, 1, 600000, &o->connect_timeout_ms))
        return usage_error(usage, "connect: invalid --connect-timeout '%s'",
                           optarg);
      break;
    case OPT_ATTEMPT_DELAY:
      if (!parse_int(optarg, 10, 10000, &o->attempt_delay_ms))
        return usage_error(usage, "connect: invalid --attempt-delay '%s'",
                           optarg);
      break;
    default:
      return usage_error(usage, NULL, NULL);
    }
  }
  if (o->serve) {
    if (optind < argc)
      return usage_error(usage, "serve: unexpected argument '%s'",
                         argv[optind]);
    return -1;
  }
  if (optind >= argc)
    return usage_error(usage,
                       o->connect ? "connect: no NAME given%s"
                                  : "resolve: no NAME given%s",
                       "");
  if (optind + 1 < argc)
    return usage_error(usage,
                       o->connect ? "connect: unexpected argument '%s'"
                                  : "resolve: unexpected argument '%s'",
                       argv[optind + 1]);
  o->name = argv[optind];
  return -1;
}

/* Apply the options to cfg; on failure print why and return 0. */
static int configure(const resolve_opts *o, xs_config *cfg) {
  size_t i;
  if (o->ns != NULL && xs_config_set_namespace(cfg, o->ns) != XS_OK) {
    fprintf(stderr, "xsvc: invalid namespace '%s'\n", o->ns);
    return 0;
  }
  if (o->domain != NULL &&
      xs_config_set_cluster_domain(cfg, o->domain) != XS_OK) {
    fprintf(stderr, "xsvc: invalid cluster domain '%s'\n", o->domain);
    return 0;
  }
  if (o->ndots >= 0 && xs_config_set_ndots(cfg, o->ndots) != XS_OK) {
    fprintf(stderr, "xsvc: invalid ndots %d\n", o->ndots);
    return 0;
  }
  for (i = 0; i < o->nsearches; i++)
    if (xs_config_add_search(cfg, o->searches[i]) != XS_OK) {
      fprintf(stderr, "xsvc: invalid search domain '%s'\n", o->searches[i]);
      return 0;
    }
  if (o->ttl >= 0 && xs_config_set_ttl(cfg, o->ttl) != XS_OK) {
    fprintf(stderr, "xsvc: ttl must be in range [0, 3600]: %d\n", o->ttl);
    return 0;
  }
  if (o->strict && xs_config_set_mode(cfg, XS_MODE_STRICT) != XS_OK) {
    fputs("xsvc: strict mode is not available\n", stderr);
    return 0;
  }
  for (i = 0; i < o->nservers; i++)
    if (xs_config_add_server(cfg, o->servers[i]) != XS_OK) {
      fprintf(stderr, "xsvc: invalid server '%s' (HOST[:PORT], at most 8)\n",
              o->servers[i]);
      return 0;
    }
  if (o->timeout_ms >= 0 &&
      xs_config_set_timeout_ms(cfg, o->timeout_ms) != XS_OK) {
    fprintf(stderr, "xsvc: invalid timeout %d\n", o->timeout_ms);
    return 0;
  }
  if (o->attempts >= 0 && xs_config_set_attempts(cfg, o->attempts) != XS_OK) {
    fprintf(stderr, "xsvc: invalid attempts %d\n", o->attempts);
    return 0;
  }
  for (i = 0; i < o->npolicy; i++) {
    const policy_arg *p = &o->policy[i];
    xs_status st =
        p->kind == OPT_DENY    ? xs_config_add_denied_range(cfg, p->text)
        : p->kind == OPT_ALLOW ? xs_config_allow_range(cfg, p->text)
                               : xs_config_add_allowed_target(cfg, p->text);
    if (st != XS_OK) {
      fprintf(stderr, "xsvc: invalid --%s '%s' (%s)\n",
              p->kind == OPT_DENY    ? "deny"
              : p->kind == OPT_ALLOW ? "allow"
                                     : "allow-target",
              p->text,
              st == XS_ELIMIT               ? "at most 64 ranges or 32 suffixes"
              : p->kind == OPT_ALLOW_TARGET ? "a DNS name"
                                            : "ADDRESS[/PREFIX]");
      return 0;
    }
  }
  return 1;
}

/* connect: the connection made (or why not) and the chain behind it. */
static int do_connect(const resolve_opts *o, xs_resolver *res) {
  xs_connect_info info;
  xs_result *r = NULL;
  xs_status st;
  char host[300];
  const char *colon = strrchr(o->name, ':');
  size_t i, hlen;
  int fd = -1;
  if (colon == NULL || colon == o->name || colon[1] == '\0' ||
      (hlen = (size_t)(colon - o->name)) >= sizeof(host))
    return usage_error(usage_connect, "connect: '%s' is not NAME:PORT",
                       o->name);
  memcpy(host, o->name, hlen);
  host[hlen] = '\0';
  st = xs_connect(res, o->name, 0,
                  o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000, &fd,
                  &info);
  if (st != XS_OK) {
    fprintf(stderr, "xsvc: connect %s: %s%s%s (%u attempt%s, %u ms)\n", o->name,
            xs_strerror(st), info.message[0] != '\0' ? ": " : "", info.message,
            info.attempts, info.attempts == 1 ? "" : "s", info.elapsed_ms);
    return st == XS_ENOTFOUND || st == XS_ENODATA ? EXIT_NEGATIVE
           : st == XS_EINVAL                      ? EXIT_USAGE
                                                  : EXIT_FAILED;
  }
  close(fd);
  printf("connected to %s port %u (IPv%d) in %u ms, %u attempt%s\n",
         info.address, info.port, info.family, info.elapsed_ms, info.attempts,
         info.attempts == 1 ? "" : "s");
  printf("target: %s\n", info.target);
  /* the chain, as resolved (now from the cache) */
  if (xs_resolve(res, host, XS_FAMILY_ANY, &r) == XS_OK)
    for (i = 0; i < xs_result_chain_count(r); i++)
      printf("chain: %s -> %s (ttl %u, %s)\n", xs_result_chain_name(r, i),
             xs_result_chain_target(r, i), xs_result_chain_ttl(r, i),
             xs_source_name(xs_result_chain_source(r, i)));
  xs_result_free(r);
  return fflush(stdout) == 0 ? EXIT_ANSWERED : EXIT_FAILED;
}

/* ---- serve: metrics over HTTP ---------------------------------------------
 */

/* A minimal HTTP/1.1 endpoint for Prometheus: one thread, one request per
 * connection (Connection: close), GET /metrics only. Sockets are
 * non-blocking and served side by side, METRICS_CONNS at once (more wait
 * in the listen backlog); each connection has METRICS_TIMEOUT_MS from its
 * accept for its request and the whole reply, however slowly it sends or
 * reads, then it is closed. */
#define METRICS_REQUEST_MAX 8192
#define METRICS_TIMEOUT_MS 2000
#define METRICS_CONNS 16

typedef struct metrics_conn {
  int fd; /* -1: a free slot */
  unsigned long long deadline;
  char req[METRICS_REQUEST_MAX + 1];
  size_t got;
  char *out; /* the reply, once the request is read */
  size_t out_len, out_sent;
} metrics_conn;

typedef struct metrics_http {
  int fd;      /* listening socket */
  int stop[2]; /* a pipe: written to stop the thread */
  pthread_t thread;
  char address[80]; /* "HOST:PORT" as bound */
  metrics_conn *conns;
} metrics_http;

static unsigned long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000u +
         (unsigned long long)ts.tv_nsec / 1000000u;
}

/* The whole response (head, and body unless head_only) on the heap. */
static char *http_response(const char *status, const char *type,
                           const char *extra, const char *body, size_t len,
                           int head_only, size_t *out_len) {
  char hdr[512], *out;
  int n = snprintf(hdr, sizeof(hdr),
                   "HTTP/1.1 %s\r\nContent-Type: %s\r\n%sContent-Length: "
                   "%zu\r\nConnection: close\r\n\r\n",
                   status, type, extra, len);
  size_t total;
  if (n <= 0 || (size_t)n >= sizeof(hdr))
    return NULL;
  total = (size_t)n + (head_only ? 0 : len);
  if ((out = malloc(total)) == NULL)
    return NULL;
  memcpy(out, hdr, (size_t)n);
  if (!head_only)
    memcpy(out + n, body, len);
  *out_len = total;
  return out;
}

/* The whole text (it may grow between the size and the copy). */
static char *metrics_text(size_t *len) {
  size_t cap = 0;
  char *buf = NULL;
  for (;;) {
    size_t need = xs_stats_prometheus(buf, cap);
    char *nb;
    if (buf != NULL && need < cap) {
      *len = need;
      return buf;
    }
    cap = need + 1024;
    if ((nb = realloc(buf, cap)) == NULL) {
      free(buf);
      return NULL;
    }
    buf = nb;
  }
}

/* The response to the request c has read (NULL: out of memory). */
static char *metrics_answer(metrics_conn *c, size_t *len) {
  char method[16], path[256];
  int head;
  c->req[c->got] = '\0';
  if (sscanf(c->req, "%15s %255s HTTP/", method, path) != 2)
    return http_response("400 Bad Request", "text/plain", "", "bad request\n",
                         12, 0, len);
  head = strcmp(method, "HEAD") == 0;
  if (strcmp(method, "GET") != 0 && !head)
    return http_response("405 Method Not Allowed", "text/plain",
                         "Allow: GET, HEAD\r\n", "method not allowed\n", 19, 0,
                         len);
  path[strcspn(path, "?")] = '\0';
  if (strcmp(path, "/metrics") == 0) {
    size_t tlen;
    char *text = metrics_text(&tlen), *out;
    if (text == NULL)
      return http_response("500 Internal Server Error", "text/plain", "",
                           "out of memory\n", 14, head, len);
    out = http_response("200 OK", "text/plain; version=0.0.4; charset=utf-8",
                        "", text, tlen, head, len);
    free(text);
    return out;
  }
  return http_response("404 Not Found", "text/plain", "",
                       "not found: try /metrics\n", 24, head, len);
}

static void metrics_close(metrics_conn *c) {
  close(c->fd);
  c->fd = -1;
  free(c->out);
  c->out = NULL;
}

/* What poll said about c: read the request, then write the reply. */
static void metrics_step(metrics_conn *c) {
  if (c->out == NULL) {
    ssize_t n = recv(c->fd, c->req + c->got, METRICS_REQUEST_MAX - c->got,
                     MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return;
    if (n <= 0) {
      metrics_close(c);
      return;
    }
    c->got += (size_t)n;
    c->req[c->got] = '\0';
    if (c->got < METRICS_REQUEST_MAX && strstr(c->req, "\r\n\r\n") == NULL &&
        strstr(c->req, "\n\n") == NULL)
      return; /* the head is not whole yet */
    if ((c->out = metrics_answer(c, &c->out_len)) == NULL) {
      metrics_close(c);
      return;
    }
    c->out_sent = 0;
  }
  while (c->out_sent < c->out_len) {
    ssize_t w = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (w <= 0)
      break;
    c->out_sent += (size_t)w;
  }
  metrics_close(c); /* all written, or the client went */
}

static void *metrics_run(void *arg) {
  metrics_http *m = arg;
  for (;;) {
    struct pollfd p[2 + METRICS_CONNS];
    int idx[METRICS_CONNS], np = 2, i, free_slot = -1, wait = -1;
    unsigned long long now = mono_ms();
    p[0].fd = m->stop[0];
    p[0].events = POLLIN;
    for (i = 0; i < METRICS_CONNS; i++) {
      metrics_conn *c = &m->conns[i];
      if (c->fd >= 0 && now >= c->deadline)
        metrics_close(c); /* out of time, whatever it was doing */
      if (c->fd < 0) {
        if (free_slot < 0)
          free_slot = i;
        continue;
      }
      if (wait < 0 || (int)(c->deadline - now) < wait)
        wait = (int)(c->deadline - now);
      idx[np - 2] = i;
      p[np].fd = c->fd;
      p[np++].events = c->out == NULL ? POLLIN : POLLOUT;
    }
    /* with every slot taken, new clients wait in the backlog */
    p[1].fd = free_slot >= 0 ? m->fd : -1;
    p[1].events = POLLIN;
    for (i = 0; i < np; i++)
      p[i].revents = 0;
    if (poll(p, (nfds_t)np, wait) < 0 && errno != EINTR)
      break;
    if (p[0].revents != 0)
      break;
    for (i = 2; i < np; i++)
      if (p[i].revents != 0)
        metrics_step(&m->conns[idx[i - 2]]);
    if (p[1].revents & POLLIN) {
      int c = accept4(m->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c >= 0) {
        m->conns[free_slot].fd = c;
        m->conns[free_slot].deadline = mono_ms() + METRICS_TIMEOUT_MS;
        m->conns[free_slot].got = 0;
        m->conns[free_slot].out = NULL;
      }
    }
  }
  return NULL;
}

/* Listen on "HOST:PORT" or "[V6]:PORT" and start the thread: 1. On failure
 * prints why and returns 0 (cannot listen) or -1 (not HOST:PORT). */
static int metrics_start(const char *where, metrics_http *m) {
  char host[64];
  const char *port, *colon = strrchr(where, ':');
  struct addrinfo hints, *ai = NULL;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  char hbuf[64], pbuf[8];
  int one = 1, rc, i;
  size_t hl;
  m->fd = m->stop[0] = m->stop[1] = -1;
  m->conns = NULL;
  if (colon == NULL || colon == where || colon[1] == '\0')
    goto bad;
  port = colon + 1;
  hl = (size_t)(colon - where);
  if (where[0] == '[') {
    if (hl < 3 || where[hl - 1] != ']')
      goto bad;
    where++;
    hl -= 2;
  }
  if (hl >= sizeof(host))
    goto bad;
  memcpy(host, where, hl);
  host[hl] = '\0';
  memset(&hints, 0, sizeof(hints));
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  if (getaddrinfo(host, port, &hints, &ai) != 0)
    goto bad;
  m->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (m->fd < 0 ||
      (m->conns = calloc(METRICS_CONNS, sizeof(*m->conns))) == NULL)
    goto fail;
  for (i = 0; i < METRICS_CONNS; i++)
    m->conns[i].fd = -1;
  (void)setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(m->fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(m->fd, 16) != 0 ||
      getsockname(m->fd, (struct sockaddr *)&ss, &sl) != 0 ||
      getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof(hbuf), pbuf,
                  sizeof(pbuf), NI_NUMERICHOST | NI_NUMERICSERV) != 0 ||
      pipe(m->stop) != 0)
    goto fail;
  snprintf(m->address, sizeof(m->address), "%s%s%s:%s",
           ss.ss_family == AF_INET6 ? "[" : "", hbuf,
           ss.ss_family == AF_INET6 ? "]" : "", pbuf);
  if ((rc = pthread_create(&m->thread, NULL, metrics_run, m)) != 0) {
    errno = rc;
    goto fail;
  }
  freeaddrinfo(ai);
  return 1;
bad:
  fprintf(stderr, "xsvc: serve: invalid --metrics '%s' (HOST:PORT)\n", where);
  if (ai != NULL)
    freeaddrinfo(ai);
  return -1;
fail:
  fprintf(stderr, "xsvc: serve: cannot serve metrics on %s: %s\n", where,
          strerror(errno));
  if (m->fd >= 0)
    close(m->fd);
  if (m->stop[0] >= 0) {
    close(m->stop[0]);
    close(m->stop[1]);
  }
  free(m->conns);
  freeaddrinfo(ai);
  return 0;
}

static void metrics_stop(metrics_http *m) {
  char c = 1;
  int i;
  if (write(m->stop[1], &c, 1) != 1) {
    /* a pipe with room: cannot fail */
  }
  pthread_join(m->thread, NULL);
  for (i = 0; i < METRICS_CONNS; i++)
    if (m->conns[i].fd >= 0)
      metrics_close(&m->conns[i]);
  free(m->conns);
  close(m->fd);
  close(m->stop[0]);
  close(m->stop[1]);
}

/* ---- serve -----------------------------------------------------------------
 */

static void on_watch_reload(const xs_reload_report *rep, void *arg) {
  (void)arg;
  if (rep->status == XS_OK)
    printf("watch: reloaded: %zu service(s): %s\n", rep->services,
           rep->summary);
  else
    printf("watch: reload failed: %s: still serving the previous manifests\n",
           rep->summary);
  fflush(stdout);
}

/* serve: until SIGINT or SIGTERM; SIGHUP (and with --watch, a change to the
 * manifests) reloads them into reg (a load that fails changes nothing). */
static int do_serve(const resolve_opts *o, xs_resolver *res, xs_registry *reg) {
  static const char *const fallback[] = {"127.0.0.1:5353"};
  const char *const *where = o->nlistens > 0 ? o->listens : fallback;
  size_t n = o->nlistens > 0 ? o->nlistens : 1, i;
  xs_server **srv = calloc(n, sizeof(*srv));
  xs_server_options so;
  xs_load_options lo;
  xs_watch *watch = NULL;
  metrics_http metrics;
  xs_error err;
  sigset_t set;
  int sig = 0, rc = EXIT_ANSWERED, metrics_on = 0;
  if (srv == NULL) {
    fputs("xsvc: out of memory\n", stderr);
    return EXIT_FAILED;
  }
  if (o->watch && (reg == NULL || o->npaths == 0)) {
    free(srv);
    return usage_error(usage_serve, "serve: --watch needs -f PATH%s", "");
  }
  xs_load_options_init(&lo);
  if (o->ns != NULL)
    lo.default_namespace = o->ns;
  lo.allow_insecure_permissions = o->insecure_ok;
  memset(&err, 0, sizeof(err));
  xs_server_options_init(&so);
  if (o->cache_ttl > 0)
    so.cache_ttl = (unsigned)o->cache_ttl;
  if (o->reply_cache >= 0)
    so.reply_cache = (size_t)o->reply_cache;
  so.fallthrough = o->fallthrough;
  so.allow_from = o->allow_from;
  so.allow_count = o->nallow_from;
  for (i = 0; i < n; i++) {
    if (xs_server_start_opts(res, where[i], &so, &srv[i], &err) != XS_OK) {
      fprintf(stderr, "xsvc: serve: %s\n", err.message);
      while (i > 0)
        xs_server_stop(srv[--i]);
      free(srv);
      return err.status == XS_EINVAL ? EXIT_USAGE : EXIT_FAILED;
    }
    printf("listening on %s\n", xs_server_address(srv[i]));
  }
  if (o->metrics != NULL) {
    int started = metrics_start(o->metrics, &metrics);
    if (started != 1) {
      rc = started < 0 ? EXIT_USAGE : EXIT_FAILED;
      goto stop;
    }
    metrics_on = 1;
    printf("metrics on http://%s/metrics\n", metrics.address);
  }
  if (o->watch) {
    xs_watch_options wo;
    xs_watch_options_init(&wo);
    wo.load = &lo;
    wo.on_reload = on_watch_reload;
    if (xs_watch_start(reg, o->paths, o->npaths, &wo, &watch, &err) != XS_OK) {
      fprintf(stderr, "xsvc: serve: cannot watch %s: %s\n",
              err.file[0] != '\0' ? err.file : "the manifests", err.message);
      rc = EXIT_FAILED;
      goto stop;
    }
    printf("watching %zu path(s)\n", o->npaths);
  }
  fflush(stdout);
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
    diag_counts counts = {0, 0};
    xs_reload_report rep;
    xs_load_options hup = lo;
    if (reg == NULL || o->npaths == 0)
      continue;
    hup.diag = on_diag;
    hup.diag_arg = &counts;
    if (xs_registry_reload(reg, o->paths, o->npaths, &hup, &rep) == XS_OK) {
      printf("reloaded: %zu service(s)\n", rep.services);
    } else {
      if (counts.errors == 0) { /* the callback saw nothing: say why */
        print_diag(&rep.error, "error");
        counts.errors++;
      }
      printf("reload failed (%u error(s)): still serving the previous "
             "manifests\n",
             counts.errors);
    }
    fflush(stdout);
  }
stop:
  xs_watch_stop(watch);
  if (metrics_on)
    metrics_stop(&metrics);
  for (i = 0; i < n; i++)
    xs_server_stop(srv[i]);
  free(srv);
  return rc;
}

static int cmd_resolve(int argc, char **argv, int connect) {
  resolve_opts o;
  diag_counts counts = {0, 0};
  xs_config *cfg = NULL;
  xs_registry *reg = NULL;
  xs_resolver *res = NULL;
  xs_result *result = NULL;
  xs_error err;
  xs_status st;
  query_info q;
  const char *word;
  int rc;

  memset(&o, 0, sizeof(o));
  o.connect = connect == 1;
  o.serve = connect == 2;
  if (o.serve) { /* signals are taken by sigwait, in every thread */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
  }
  o.ndots = o.timeout_ms = o.attempts = o.ttl = o.cache_ttl = o.reply_cache =
      -1;
  o.family = XS_FAMILY_ANY;
  o.type = "ANY";
  /* Each list holds at most one entry per argument. */
  o.paths = calloc((size_t)argc + 1, sizeof(*o.paths));
  o.searches = calloc((size_t)argc + 1, sizeof(*o.searches));
  o.servers = calloc((size_t)argc + 1, sizeof(*o.servers));
  o.listens = calloc((size_t)argc + 1, sizeof(*o.listens));
  o.policy = calloc((size_t)argc + 1, sizeof(*o.policy));
  o.allow_from = calloc((size_t)argc + 1, sizeof(*o.allow_from));
  if (o.paths == NULL || o.searches == NULL || o.servers == NULL ||
      o.listens == NULL || o.policy == NULL || o.allow_from == NULL) {
    fputs("xsvc: out of memory\n", stderr);
    rc = EXIT_FAILED;
    goto done;
  }
  if ((rc = parse_resolve(argc, argv, &o)) >= 0)
    goto done;

  if (xs_config_new(&cfg) != XS_OK) {
    fputs("xsvc: out of memory\n", stderr);
    rc = EXIT_FAILED;
    goto done;
  }
  if (!configure(&o, cfg)) {
    rc = EXIT_USAGE;
    goto done;
  }
  if ((o.attempt_delay_ms > 0 &&
       xs_config_set_connect_attempt_delay(cfg, o.attempt_delay_ms) != XS_OK) ||
      (o.prefer != 0 && xs_config_set_connect_prefer(cfg, o.prefer) != XS_OK)) {
    fputs("xsvc: invalid connect option\n", stderr);
    rc = EXIT_USAGE;
    goto done;
  }
  if (o.npaths > 0 && load_manifests(o.paths, o.npaths, o.ns, o.insecure_ok,
                                     &counts, &reg) != XS_OK) {
    rc = EXIT_USAGE;
    goto done;
  }
  memset(&err, 0, sizeof(err));
  st = xs_resolver_new(cfg, reg, &res, &err);
  if (st != XS_OK) {
    fprintf(stderr, "xsvc: cannot create resolver: %s\n",
            err.message[0] != '\0' ? err.message : xs_strerror(st));
    rc = st == XS_EINVAL ? EXIT_USAGE : EXIT_FAILED;
    goto done;
  }
  if (o.connect) {
    rc = do_connect(&o, res);
    goto done;
  }
  if (o.serve) {
    rc = do_serve(&o, res, reg);
    goto done;
  }
  st = xs_resolve(res, o.name, o.family, &result);
  if (result == NULL) {
    fprintf(stderr, "xsvc: resolve failed: %s\n", xs_strerror(st));
    rc = EXIT_FAILED;
    goto done;
  }
  q.name = o.name;
  q.ns = o.ns != NULL ? o.ns : "default";
  q.type = o.type;
  word = status_word(xs_result_status(result));
  if (o.json)
    print_json(&q, result, word);
  else
    print_text(&q, result, word);
  rc = exit_code_of(word);
  if (fflush(stdout) != 0) {
    fputs("xsvc: cannot write the output\n", stderr);
    rc = EXIT_FAILED;
  }

done:
  xs_result_free(result);
  xs_resolver_free(res);
  xs_registry_free(reg);
  xs_config_free(cfg);
  free(o.paths);
  free(o.searches);
  free(o.servers);
  free(o.listens);
  free(o.policy);
  free(o.allow_from);
  return rc;
}

/* ---- main -----------------------------------------------------------------
 */

static void print_version(void) {
  printf("xsvc %s (libxsvc %s)\n", XSVC_VERSION_STRING, xs_version());
}

static int cmd_help(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage_main, stdout);
    return EXIT_ANSWERED;
  }
  if (strcmp(argv[1], "check") == 0)
    fputs(usage_check, stdout);
  else if (strcmp(argv[1], "resolve") == 0)
    fputs(usage_resolve, stdout);
  else if (strcmp(argv[1], "connect") == 0)
    fputs(usage_connect, stdout);
  else if (strcmp(argv[1], "serve") == 0)
    fputs(usage_serve, stdout);
  else
    return usage_error(usage_main, "help: unknown command '%s'", argv[1]);
  return EXIT_ANSWERED;
}

int main(int argc, char **argv) {
  const char *cmd;
  if (argc < 2)
    return usage_error(usage_main, NULL, NULL);
  cmd = argv[1];
  if (strcmp(cmd, "check") == 0)
    return cmd_check(argc - 1, argv + 1);
  if (strcmp(cmd, "resolve") == 0)
    return cmd_resolve(argc - 1, argv + 1, 0);
  if (strcmp(cmd, "connect") == 0)
    return cmd_resolve(argc - 1, argv + 1, 1);
  if (strcmp(cmd, "serve") == 0)
    return cmd_resolve(argc - 1, argv + 1, 2);
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "--help") == 0)
    return cmd_help(argc - 1, argv + 1);
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    print_version();
    return EXIT_ANSWERED;
  }
  if (cmd[0] == '-')
    return usage_error(usage_main, "unknown option '%s'", cmd);
  return usage_error(usage_main, "unknown command '%s'", cmd);
}
