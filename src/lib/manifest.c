/* Manifest loading: libyaml events -> a small per-document node tree with
 * positions -> Kubernetes objects validated as the API server does -> the
 * snapshot builder. Node storage is reused from one document to the next,
 * aliases are references (never copies) with their expanded size counted,
 * and duplicate keys and anchors are found through one hash table, so no
 * input makes the loader quadratic or exponential.
 *
 * YAML merge keys (`<<: *base`) are supported for lookups, as go-yaml (and
 * so kubectl) supports them: explicit keys win over merged ones. */
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define XS_TOLERATE_UNREADY                                                    \
  "service.alpha.kubernetes.io/tolerate-unready-endpoints"
#define XS_SERVICE_NAME_LABEL "kubernetes.io/service-name"
#define XS_KEY_TABLE_MIN 256 /* initial slots of the key/anchor table */
#define XS_KIND_MAX 128      /* longest kind a typed List passes to items */
#define XS_SMALL_MAP 8 /* keys checked pairwise before the table is used */

enum { N_SCALAR, N_MAP, N_SEQ, N_ALIAS };

typedef struct node {
  uint8_t kind;
  uint8_t plain;  /* scalar was unquoted */
  uint8_t done;   /* complete: an alias may refer to it */
  uint8_t hashed; /* mapping whose keys are in the key table */
  uint32_t line, col;
  uint32_t val, len;   /* scalar: offset/length in strs */
  int32_t first, last; /* children (map: key, value, key, value ...) */
  int32_t next;
  int32_t target; /* N_ALIAS */
  uint32_t count; /* children */
  uint32_t size;  /* nodes with aliases expanded (saturating) */
} node;

typedef struct anchor {
  uint32_t name, len; /* in strs */
  int32_t node;
} anchor;

/* One table for the current document: mapping keys (owner = the mapping's
 * node, idx = the key's node) and anchors (owner = ANCHOR_OWNER, idx = the
 * anchor). A slot is live only if gen is the document's generation, so a
 * new document clears the table by bumping the generation. */
#define ANCHOR_OWNER (-2)
typedef struct keyslot {
  uint32_t gen;
  uint32_t hash;
  int32_t owner;
  int32_t idx;
} keyslot;

/* The limits a load runs with (xs_load_options.max_*, 0 = the bound). */
typedef struct limits {
  size_t file_size;
  unsigned depth, documents, alias_events, alias_expansion, files;
} limits;

struct xs_loader {
  xs_load_options opts;
  limits lim;
  xs_snapshot *snap;
  xs_error first;
  size_t nerrors;
  size_t ndocuments;
  /* per-document scratch, reused */
  node *nodes;
  size_t nnodes, cap_nodes;
  char *strs;
  size_t nstrs, cap_strs;
  anchor *anchors;
  size_t nanchors, cap_anchors;
  keyslot *keys;
  size_t keys_mask, keys_used;
  uint32_t gen;
  xs_loader_work work;        /* what the lookups cost (xs_loader_work_get) */
  uint64_t alias_nodes;       /* nodes added by aliases in this document */
  const unsigned char *input; /* the source being parsed, for offsets */
  size_t input_len;
  /* first position of each service, for duplicate messages */
  struct pos {
    const char *file;
    uint32_t line, col;
  } * positions;
  size_t cap_positions;
  char **files; /* owned copies of file names used in positions */
  size_t nfiles;
  const char *file; /* current file name */
  /* the directory whose path was last checked (as given, and resolved):
   * the files listed in it are checked from there on */
  char perm_dir[PATH_MAX], perm_real[PATH_MAX];
};

/* ---- diagnostics ----------------------------------------------------------
 */

static void diag(xs_loader *l, int warning, xs_status st, uint32_t line,
                 uint32_t col, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void diag(xs_loader *l, int warning, xs_status st, uint32_t line,
                 uint32_t col, const char *fmt, ...) {
  xs_error e;
  va_list ap;
  memset(&e, 0, sizeof(e));
  e.status = warning ? XS_OK : st;
  e.line = line;
  e.column = col;
  snprintf(e.file, sizeof(e.file), "%s", l->file != NULL ? l->file : "");
  va_start(ap, fmt);
  vsnprintf(e.message, sizeof(e.message), fmt, ap);
  va_end(ap);
  if (!warning && l->nerrors++ == 0)
    l->first = e;
  if (l->opts.diag != NULL)
    l->opts.diag(&e, warning, l->opts.diag_arg);
}

#define ERR(l, st, n, ...) diag(l, 0, st, (n)->line, (n)->col, __VA_ARGS__)

static void diag_at_mark(xs_loader *l, xs_status st, const yaml_mark_t *m,
                         const char *fmt, const char *arg) {
  diag(l, 0, st, (uint32_t)m->line + 1, (uint32_t)m->column + 1, fmt, arg);
}

/* ---- node tree ------------------------------------------------------------
 */

static int32_t new_node(xs_loader *l, int kind, const yaml_mark_t *m) {
  node *n;
  if (l->nnodes == l->cap_nodes) {
    size_t ncap = l->cap_nodes ? l->cap_nodes * 2 : 256;
    node *nn;
    if (ncap > INT32_MAX)
      return -1;
    nn = realloc(l->nodes, ncap * sizeof(*nn));
    if (nn == NULL)
      return -1;
    l->nodes = nn;
    l->cap_nodes = ncap;
  }
  n = &l->nodes[l->nnodes];
  memset(n, 0, sizeof(*n));
  n->kind = (uint8_t)kind;
  n->line = (uint32_t)m->line + 1;
  n->col = (uint32_t)m->column + 1;
  n->first = n->last = n->next = n->target = -1;
  n->size = 1;
  return (int32_t)l->nnodes++;
}

static int add_str(xs_loader *l, const char *s, size_t len, uint32_t *off) {
  if (len >= UINT32_MAX || l->nstrs + len + 1 >= UINT32_MAX)
    return -1;
  if (l->cap_strs - l->nstrs < len + 1) {
    size_t ncap = l->cap_strs ? l->cap_strs * 2 : 4096;
    char *ns;
    while (ncap - l->nstrs < len + 1)
      ncap *= 2;
    ns = realloc(l->strs, ncap);
    if (ns == NULL)
      return -1;
    l->strs = ns;
    l->cap_strs = ncap;
  }
  memcpy(l->strs + l->nstrs, s, len);
  l->strs[l->nstrs + len] = '\0';
  *off = (uint32_t)l->nstrs;
  l->nstrs += len + 1;
  return 0;
}

static node *N(xs_loader *l, int32_t i) {
  node *n = i < 0 ? NULL : &l->nodes[i];
  while (n != NULL && n->kind == N_ALIAS)
    n = n->target < 0 ? NULL : &l->nodes[n->target];
  return n;
}

static const char *S(xs_loader *l, const node *n) {
  return l->strs + n->val;
}

static int is_str(xs_loader *l, const node *n, const char *s, size_t len) {
  return n->kind == N_SCALAR && n->len == len && memcmp(S(l, n), s, len) == 0;
}

/* A plain null-like scalar is absent. */
static int is_null(xs_loader *l, const node *n) {
  const char *s;
  if (n == NULL)
    return 1;
  if (n->kind != N_SCALAR || !n->plain)
    return 0;
  s = S(l, n);
  return n->len == 0 || strcmp(s, "null") == 0 || strcmp(s, "~") == 0 ||
         strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static int is_merge_key(xs_loader *l, const node *n) {
  return n != NULL && n->plain && is_str(l, n, "<<", 2);
}

/* The value of key in map (NULL if absent or null). Keys merged in with
 * `<<` count after the explicit ones; merges nest at most XS_MAX_DEPTH. */
static node *get_in(xs_loader *l, const node *map, const char *key,
                    size_t keylen, int depth) {
  int32_t k;
  node *merge = NULL;
  if (map == NULL || map->kind != N_MAP)
    return NULL;
  for (k = map->first; k >= 0; k = l->nodes[l->nodes[k].next].next) {
    node *kn = N(l, k);
    if (kn == NULL || kn->kind != N_SCALAR)
      continue;
    if (is_merge_key(l, kn)) {
      merge = N(l, l->nodes[k].next);
    } else if (is_str(l, kn, key, keylen)) {
      node *v = N(l, l->nodes[k].next);
      return is_null(l, v) ? NULL : v;
    }
  }
  if (merge == NULL || depth >= XS_MAX_DEPTH)
    return NULL;
  if (merge->kind == N_MAP)
    return get_in(l, merge, key, keylen, depth + 1);
  if (merge->kind == N_SEQ)
    for (k = merge->first; k >= 0; k = l->nodes[k].next) {
      node *v = get_in(l, N(l, k), key, keylen, depth + 1);
      if (v != NULL)
        return v;
    }
  return NULL;
}

static node *get(xs_loader *l, const node *map, const char *key) {
  return get_in(l, map, key, strlen(key), 0);
}

/* ---- duplicate keys and anchors -------------------------------------------
 */

static uint32_t hash_str(uint32_t h, const char *s, size_t len) {
  size_t i;
  for (i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 16777619u;
  }
  return h;
}

static const char *slot_str(xs_loader *l, const keyslot *k, size_t *len) {
  if (k->owner == ANCHOR_OWNER) {
    *len = l->anchors[k->idx].len;
    return l->strs + l->anchors[k->idx].name;
  }
  *len = l->nodes[k->idx].len;
  return S(l, &l->nodes[k->idx]);
}

static int keys_grow(xs_loader *l) {
  size_t size = l->keys == NULL ? 0 : l->keys_mask + 1;
  size_t nsize = size == 0 ? XS_KEY_TABLE_MIN : size * 2, i;
  keyslot *nt;
  if ((l->keys_used + 1) * 2 <= size)
    return 0;
  nt = calloc(nsize, sizeof(*nt));
  if (nt == NULL)
    return -1;
  for (i = 0; i < size; i++) {
    size_t j;
    if (l->keys[i].gen != l->gen)
      continue;
    j = l->keys[i].hash & (nsize - 1);
    l->work.moves++;
    while (nt[j].gen == l->gen) {
      j = (j + 1) & (nsize - 1);
      l->work.probes++;
    }
    nt[j] = l->keys[i];
  }
  free(l->keys);
  l->keys = nt;
  l->keys_mask = nsize - 1;
  return 0;
}

/* Find (owner, s) in the table. If absent, insert idx and return -1;
 * if present, return the stored idx and, when replace is set, store idx
 * instead (a redefined anchor). -2 on out of memory. */
static int32_t keys_put(xs_loader *l, int32_t owner, const char *s, size_t len,
                        int32_t idx, int replace) {
  uint32_t h = hash_str(2166136261u ^ (uint32_t)owner, s, len);
  size_t j;
  if (keys_grow(l) != 0)
    return -2;
  l->work.lookups++;
  for (j = h & l->keys_mask; l->keys[j].gen == l->gen;
       j = (j + 1) & l->keys_mask) {
    keyslot *k = &l->keys[j];
    size_t klen;
    const char *ks;
    l->work.probes++;
    if (k->hash != h || k->owner != owner)
      continue;
    ks = slot_str(l, k, &klen);
    if (klen == len && memcmp(ks, s, len) == 0) {
      int32_t old = k->idx;
      if (replace)
        k->idx = idx;
      return old;
    }
  }
  l->keys[j].gen = l->gen;
  l->keys[j].hash = h;
  l->keys[j].owner = owner;
  l->keys[j].idx = idx;
  l->keys_used++;
  return -1;
}

static void new_document(xs_loader *l) {
  l->nnodes = l->nstrs = l->nanchors = 0;
  l->keys_used = 0;
  l->alias_nodes = 0;
  if (++l->gen == 0) { /* wrapped: old slots could look live */
    if (l->keys != NULL)
      memset(l->keys, 0, (l->keys_mask + 1) * sizeof(*l->keys));
    l->gen = 1;
  }
}

/* ---- YAML events to the tree ----------------------------------------------
 */

/* libyaml gives reader errors (bad UTF-8, control characters) as a byte
 * offset; turn it into a 1-based line and column (in characters). */
static void offset_position(const xs_loader *l, size_t offset, uint32_t *line,
                            uint32_t *col) {
  size_t i;
  *line = 1;
  *col = 1;
  if (l->input == NULL)
    return;
  if (offset > l->input_len)
    offset = l->input_len;
  for (i = 0; i < offset; i++) {
    unsigned char c = l->input[i];
    if (c == '\n' ||
        (c == '\r' && (i + 1 >= l->input_len || l->input[i + 1] != '\n'))) {
      (*line)++;
      *col = 1;
    } else if ((c & 0xc0) != 0x80 && c != '\r') {
      (*col)++;
    }
  }
}

static void syntax_error(xs_loader *l, const yaml_parser_t *p) {
  uint32_t line, col;
  if (p->error == YAML_MEMORY_ERROR) {
    diag(l, 0, XS_ENOMEM, 0, 0, "out of memory");
    return;
  }
  if (p->error == YAML_READER_ERROR) {
    offset_position(l, p->problem_offset, &line, &col);
    if (p->problem_value >= 0)
      diag(l, 0, XS_EMANIFEST, line, col, "YAML: %s (0x%02x at byte %zu)",
           p->problem != NULL ? p->problem : "invalid input",
           (unsigned)p->problem_value, p->problem_offset);
    else
      diag(l, 0, XS_EMANIFEST, line, col, "YAML: %s (at byte %zu)",
           p->problem != NULL ? p->problem : "invalid input",
           p->problem_offset);
    return;
  }
  diag(l, 0, XS_EMANIFEST, (uint32_t)p->problem_mark.line + 1,
       (uint32_t)p->problem_mark.column + 1, "YAML: %s%s%s",
       p->problem != NULL ? p->problem : "syntax error",
       p->context != NULL ? " " : "", p->context != NULL ? p->context : "");
}

static int add_anchor(xs_loader *l, const unsigned char *name, int32_t idx) {
  anchor *an;
  int32_t r;
  if (l->nanchors == l->cap_anchors) {
    size_t ncap = l->cap_anchors ? l->cap_anchors * 2 : 16;
    anchor *na = realloc(l->anchors, ncap * sizeof(*na));
    if (na == NULL)
      return -1;
    l->anchors = na;
    l->cap_anchors = ncap;
  }
  an = &l->anchors[l->nanchors];
  if (add_str(l, (const char *)name, strlen((const char *)name), &an->name) !=
      0)
    return -1;
  an->len = (uint32_t)strlen((const char *)name);
  an->node = idx;
  r = keys_put(l, ANCHOR_OWNER, l->strs + an->name, an->len,
               (int32_t)l->nanchors, 1);
  if (r == -2)
    return -1;
  l->nanchors++;
  return 0;
}

static int32_t find_anchor(xs_loader *l, const unsigned char *name) {
  size_t len = strlen((const char *)name);
  /* Probe only: a miss inserts nothing that outlives this call. */
  uint32_t h =
      hash_str(2166136261u ^ (uint32_t)ANCHOR_OWNER, (const char *)name, len);
  size_t j;
  if (l->keys == NULL)
    return -1;
  l->work.lookups++;
  for (j = h & l->keys_mask; l->keys[j].gen == l->gen;
       j = (j + 1) & l->keys_mask) {
    const keyslot *k = &l->keys[j];
    size_t klen;
    const char *ks;
    l->work.probes++;
    if (k->hash != h || k->owner != ANCHOR_OWNER)
      continue;
    ks = slot_str(l, k, &klen);
    if (klen == len && memcmp(ks, name, len) == 0)
      return l->anchors[k->idx].node;
  }
  return -1;
}

/* Add child idx to the open container parent; a key of a mapping is checked
 * for duplicates. Returns 0, or -1 after reporting an error. */
static int link_child(xs_loader *l, int32_t parent_idx, int32_t idx) {
  node *parent = &l->nodes[parent_idx];
  int is_key = parent->kind == N_MAP && parent->count % 2 == 0;
  uint64_t size;
  if (parent->last >= 0)
    l->nodes[parent->last].next = idx;
  else
    parent->first = idx;
  parent->last = idx;
  parent->count++;
  size = (uint64_t)parent->size + l->nodes[idx].size;
  parent->size = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
  if (is_key) {
    node *k = N(l, idx);
    int32_t r = -1, c;
    if (k == NULL || k->kind != N_SCALAR)
      return 0;
    /* Most mappings are small: compare with the earlier keys directly and
     * move a mapping to the hash table once it grows. */
    if (!parent->hashed && parent->count / 2 <= XS_SMALL_MAP) {
      for (c = parent->first; c != idx && r < 0;
           c = l->nodes[l->nodes[c].next].next) {
        const node *kc = N(l, c);
        l->work.probes++;
        if (kc != NULL && is_str(l, kc, S(l, k), k->len))
          r = c;
      }
    } else {
      if (!parent->hashed) {
        for (c = parent->first; c != idx; c = l->nodes[l->nodes[c].next].next) {
          const node *kc = N(l, c);
          if (kc != NULL && kc->kind == N_SCALAR &&
              keys_put(l, parent_idx, S(l, kc), kc->len,
                       (int32_t)(kc - l->nodes), 0) == -2) {
            diag(l, 0, XS_ENOMEM, 0, 0, "out of memory");
            return -1;
          }
        }
        parent->hashed = 1;
      }
      r = keys_put(l, parent_idx, S(l, k), k->len, (int32_t)(k - l->nodes), 0);
    }
    if (r == -2) {
      diag(l, 0, XS_ENOMEM, 0, 0, "out of memory");
      return -1;
    }
    if (r >= 0) {
      char quoted[XS_ERROR_MESSAGE_MAX / 2];
      xs_quote(quoted, sizeof(quoted), S(l, k), k->len);
      ERR(l, XS_EMANIFEST, &l->nodes[idx], "duplicate key %s", quoted);
      return -1;
    }
  }
  return 0;
}

static int32_t new_alias(xs_loader *l, const yaml_event_t *ev) {
  const unsigned char *name = ev->data.alias.anchor;
  int32_t target = find_anchor(l, name), idx;
  if (target < 0) {
    diag_at_mark(l, XS_EMANIFEST, &ev->start_mark,
                 "YAML: unknown alias \"*%s\"", (const char *)name);
    return -2;
  }
  if (!l->nodes[target].done) {
    diag_at_mark(l, XS_EMANIFEST, &ev->start_mark,
                 "YAML: alias \"*%s\" refers to a node that contains it "
                 "(recursive data is not supported)",
                 (const char *)name);
    return -2;
  }
  l->alias_nodes += l->nodes[target].size;
  if (l->alias_nodes > l->lim.alias_expansion) {
    diag(l, 0, XS_ELIMIT, (uint32_t)ev->start_mark.line + 1,
         (uint32_t)ev->start_mark.column + 1,
         "aliases expand the document by more than %u nodes (limit %s)",
         l->lim.alias_expansion,
         l->lim.alias_expansion == XS_MAX_ALIAS_EXPANSION
             ? "XS_MAX_ALIAS_EXPANSION"
             : "max_alias_expansion");
    return -2;
  }
  idx = new_node(l, N_ALIAS, &ev->start_mark);
  if (idx < 0)
    return -1;
  l->nodes[idx].target = target;
  l->nodes[idx].size = l->nodes[target].size;
  l->nodes[idx].done = 1;
  return idx;
}

/* Parse one document into the node tree. Returns the root index, -1 for an
 * empty document, -2 on error (already reported), -3 at stream end. */
static int32_t parse_document(xs_loader *l, yaml_parser_t *p) {
  yaml_event_t ev;
  int32_t stack[XS_MAX_DEPTH + 1];
  int depth = 0;
  int32_t root = -1;
  uint64_t alias_uses = 0;

  new_document(l);
  for (;;) {
    int32_t idx = -1;
    const unsigned char *anchor_name = NULL;
    if (!yaml_parser_parse(p, &ev)) {
      syntax_error(l, p);
      return -2;
    }
    switch (ev.type) {
    case YAML_STREAM_END_EVENT:
      yaml_event_delete(&ev);
      return -3;
    case YAML_DOCUMENT_END_EVENT:
      yaml_event_delete(&ev);
      return root;
    case YAML_SCALAR_EVENT:
      idx = new_node(l, N_SCALAR, &ev.start_mark);
      if (idx >= 0) {
        node *n = &l->nodes[idx];
        n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        n->done = 1;
        n->len = (uint32_t)ev.data.scalar.length;
        if (add_str(l, (const char *)ev.data.scalar.value,
                    ev.data.scalar.length, &n->val) != 0)
          idx = -1;
      }
      anchor_name = ev.data.scalar.anchor;
      break;
    case YAML_ALIAS_EVENT:
      if (++alias_uses > l->lim.alias_events) {
        diag(l, 0, XS_ELIMIT, (uint32_t)ev.start_mark.line + 1,
             (uint32_t)ev.start_mark.column + 1,
             "too many alias uses in one document (limit %u)",
             l->lim.alias_events);
        idx = -2;
      } else {
        idx = new_alias(l, &ev);
      }
      break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
      if (depth >= (int)l->lim.depth) { /* <= XS_MAX_DEPTH: stack's size */
        diag(l, 0, XS_ELIMIT, (uint32_t)ev.start_mark.line + 1,
             (uint32_t)ev.start_mark.column + 1,
             "nesting deeper than %u levels", l->lim.depth);
        idx = -2;
        break;
      }
      idx = new_node(l, ev.type == YAML_MAPPING_START_EVENT ? N_MAP : N_SEQ,
                     &ev.start_mark);
      anchor_name = ev.type == YAML_MAPPING_START_EVENT
                        ? ev.data.mapping_start.anchor
                        : ev.data.sequence_start.anchor;
      break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
      int32_t closed = stack[--depth];
      l->nodes[closed].done = 1;
      if (depth > 0 && link_child(l, stack[depth - 1], closed) != 0)
        idx = -2;
      else
        idx = -3; /* nothing more to do for this event */
      break;
    }
    default:
      idx = -3;
      break;
    }
    if (idx == -3) {
      yaml_event_delete(&ev);
      continue;
    }
    if (idx == -1) {
      yaml_event_delete(&ev);
      diag(l, 0, XS_ENOMEM, 0, 0, "out of memory");
      return -2;
    }
    if (idx == -2 ||
        (anchor_name != NULL && add_anchor(l, anchor_name, idx) != 0)) {
      if (idx != -2)
        diag(l, 0, XS_ENOMEM, 0, 0, "out of memory");
      yaml_event_delete(&ev);
      return -2;
    }
    if (ev.type == YAML_SEQUENCE_START_EVENT ||
        ev.type == YAML_MAPPING_START_EVENT) {
      /* A container is linked to its parent when it closes, so its
       * expanded size is known by then. */
      if (depth == 0)
        root = idx;
      stack[depth++] = idx;
    } else if (depth > 0) {
      if (link_child(l, stack[depth - 1], idx) != 0) {
        yaml_event_delete(&ev);
        return -2;
      }
    } else {
      root = idx;
    }
    yaml_event_delete(&ev);
  }
}

/* ---- typed field access -------------------------------------------------- */

static const char *type_name(xs_loader *l, const node *n) {
  if (n->kind == N_MAP)
    return "object";
  if (n->kind == N_SEQ)
    return "array";
  if (!n->plain)
    return "string";
  (void)l;
  return "scalar";
}

/* A string field; NULL if absent; *bad set on a wrong type. */
static const char *get_str(xs_loader *l, const node *map, const char *key,
                           const char *path, node **out, int *bad) {
  node *v = get(l, map, key);
  if (out != NULL)
    *out = v;
  if (v == NULL)
    return NULL;
  if (v->kind != N_SCALAR) {
    ERR(l, XS_EMANIFEST, v, "%s: Invalid type: expected string, got %s", path,
        type_name(l, v));
    *bad = 1;
    return NULL;
  }
  return S(l, v);
}

static int get_int(xs_loader *l, node *v, const char *path, long *out) {
  char *end;
  const char *s;
  if (v->kind != N_SCALAR) {
    ERR(l, XS_EMANIFEST, v, "%s: Invalid type: expected integer, got %s", path,
        type_name(l, v));
    return 0;
  }
  if (!v->plain) {
    ERR(l, XS_EMANIFEST, v,
        "%s: Invalid type: expected integer, got string \"%s\"", path, S(l, v));
    return 0;
  }
  s = S(l, v);
  errno = 0;
  *out = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno != 0) {
    ERR(l, XS_EMANIFEST, v, "%s: Invalid type: expected integer, got \"%s\"",
        path, s);
    return 0;
  }
  return 1;
}

static int get_bool(xs_loader *l, node *v, const char *path, int *out) {
  const char *s;
  if (v == NULL)
    return 1;
  s = v->kind == N_SCALAR ? S(l, v) : "";
  if (v->kind == N_SCALAR && v->plain &&
      (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)) {
    *out = s[0] == 't';
    return 1;
  }
  ERR(l, XS_EMANIFEST, v, "%s: Invalid type: expected boolean, got \"%s\"",
      path, s);
  return 0;
}

/* ---- objects ------------------------------------------------------------ */

/* Field paths such as "spec.ports[1].port" are built for every port and
 * endpoint, so without printf: a + i + b, then (if c) + j + c. */
static const char *field_path(char *buf, size_t size, const char *a, size_t i,
                              const char *b, size_t j, const char *c) {
  const char *parts[3];
  size_t idx[2], len = 0, p;
  parts[0] = a;
  parts[1] = b;
  parts[2] = c;
  idx[0] = i;
  idx[1] = j;
  for (p = 0; p < 3 && parts[p] != NULL; p++) {
    size_t n = strlen(parts[p]);
    char digits[24];
    size_t nd = 0;
    if (len + n >= size)
      break;
    memcpy(buf + len, parts[p], n);
    len += n;
    if (p == 2 || (p == 1 && c == NULL))
      break;
    do {
      digits[nd++] = (char)('0' + idx[p] % 10);
      idx[p] /= 10;
    } while (idx[p] > 0);
    if (len + nd >= size)
      break;
    while (nd > 0)
      buf[len++] = digits[--nd];
  }
  buf[len] = '\0';
  return buf;
}

typedef struct meta {
  const char *name, *ns;
  node *name_node, *ns_node;
  node *obj;
} meta;

/* metadata.name / metadata.namespace with the API's checks; 0 on error. */
static int read_meta(xs_loader *l, node *obj, int namespaced, int dns1035,
                     meta *m) {
  char msg[XS_ERROR_MESSAGE_MAX];
  node *md = get(l, obj, "metadata");
  int bad = 0;
  memset(m, 0, sizeof(*m));
  m->obj = obj;
  if (md != NULL && md->kind != N_MAP) {
    ERR(l, XS_EMANIFEST, md, "metadata: Invalid type: expected object, got %s",
        type_name(l, md));
    return 0;
  }
  m->name = get_str(l, md, "name", "metadata.name", &m->name_node, &bad);
  if (namespaced)
    m->ns =
        get_str(l, md, "namespace", "metadata.namespace", &m->ns_node, &bad);
  if (bad)
    return 0;
  if (m->name == NULL || m->name_node->len == 0) {
    ERR(l, XS_EMANIFEST, md != NULL ? md : obj,
        "metadata.name: Required value: name or generateName is required");
    bad = 1;
  } else if (dns1035
                 ? !xs_valid_dns1035_label(m->name, m->name_node->len,
                                           "metadata.name", msg, sizeof(msg))
             : namespaced
                 /* Endpoints and EndpointSlice names are subdomains */
                 ? !xs_valid_dns1123_subdomain(m->name, m->name_node->len,
                                               "metadata.name", msg,
                                               sizeof(msg))
                 : !xs_valid_dns1123_label(m->name, m->name_node->len,
                                           "metadata.name", 1, msg,
                                           sizeof(msg))) {
    ERR(l, XS_EMANIFEST, m->name_node, "%s", msg);
    bad = 1;
  }
  if (namespaced) {
    if (m->ns == NULL || m->ns_node->len == 0)
      m->ns = l->opts.default_namespace;
    else if (!xs_valid_dns1123_label(m->ns, m->ns_node->len,
                                     "metadata.namespace", 1, msg,
                                     sizeof(msg))) {
      ERR(l, XS_EMANIFEST, m->ns_node, "%s", msg);
      bad = 1;
    }
  }
  return !bad;
}

static void set_position(xs_loader *l, size_t index, const node *n) {
  if (index >= l->cap_positions) {
    size_t ncap = l->cap_positions ? l->cap_positions * 2 : 256;
    struct pos *np;
    while (ncap <= index)
      ncap *= 2;
    np = realloc(l->positions, ncap * sizeof(*np));
    if (np == NULL)
      return;
    l->positions = np;
    l->cap_positions = ncap;
  }
  l->positions[index].file = l->nfiles ? l->files[l->nfiles - 1] : "";
  l->positions[index].line = n->line;
  l->positions[index].col = n->col;
}

static void load_service(xs_loader *l, node *obj) {
  char msg[XS_ERROR_MESSAGE_MAX], path[64], norm[XS_MAX_NAME + 2];
  xs_port ports[XS_MAX_PORTS];
  xs_service svc;
  meta m;
  node *spec, *n, *ports_n, *type_n, *ann;
  const char *type, *ext, *cip;
  size_t errors_before = l->nerrors;
  int bad = 0, headless = 0, external = 0;
  xs_service *stored;
  xs_status st;
  int32_t k;

  if (!read_meta(l, obj, 1, 1, &m))
    bad = 1;
  memset(&svc, 0, sizeof(svc));
  spec = get(l, obj, "spec");
  if (spec != NULL && spec->kind != N_MAP) {
    ERR(l, XS_EMANIFEST, spec, "spec: Invalid type: expected object, got %s",
        type_name(l, spec));
    return;
  }
  type = get_str(l, spec, "type", "spec.type", &type_n, &bad);
  if (type == NULL || type[0] == '\0')
    type = "ClusterIP";
  /* An unsupported type is reported and checked as a ClusterIP Service,
   * as the API server's other rules still apply to it. */
  svc.type = XS_SVC_CLUSTER_IP;
  if (strcmp(type, "ExternalName") == 0) {
    svc.type = XS_SVC_EXTERNAL;
    external = 1;
  } else if (strcmp(type, "ClusterIP") != 0 && strcmp(type, "NodePort") != 0 &&
             strcmp(type, "LoadBalancer") != 0) {
    ERR(l, XS_EMANIFEST, type_n,
        "spec.type: Unsupported value: \"%s\": supported values: "
        "\"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
        type);
    bad = 1;
  }
  /* clusterIP / clusterIPs */
  cip = get_str(l, spec, "clusterIP", "spec.clusterIP", &n, &bad);
  {
    node *ips = get(l, spec, "clusterIPs");
    const char *list[3];
    node *list_n[3];
    size_t nlist = 0, i;
    if (ips != NULL && ips->kind != N_SEQ) {
      ERR(l, XS_EMANIFEST, ips,
          "spec.clusterIPs: Invalid type: expected array, got %s",
          type_name(l, ips));
      bad = 1;
    } else if (ips != NULL) {
      for (k = ips->first; k >= 0 && nlist < 3; k = l->nodes[k].next) {
        node *it = N(l, k);
        if (it == NULL || it->kind != N_SCALAR) {
          ERR(l, XS_EMANIFEST, &l->nodes[k],
              "spec.clusterIPs[%zu]: Invalid type: expected string", nlist);
          bad = 1;
          break;
        }
        list_n[nlist] = it;
        list[nlist++] = S(l, it);
      }
    }
    if (cip != NULL && cip[0] != '\0') {
      if (nlist == 0) {
        list[0] = cip;
        list_n[0] = n;
        nlist = 1;
      } else if (strcmp(list[0], cip) != 0) {
        ERR(l, XS_EMANIFEST, list_n[0],
            "spec.clusterIPs[0]: Invalid value: \"%s\": must match "
            "clusterIP when clusterIP is set",
            list[0]);
        bad = 1;
      }
    }
    if (external) {
      if (nlist > 0) {
        ERR(l, XS_EMANIFEST, list_n[0],
            "spec.clusterIPs: Forbidden: may not be set for ExternalName "
            "services");
        bad = 1;
      }
    } else if (nlist > 0 && strcmp(list[0], "None") == 0) {
      headless = 1;
      if (nlist > 1) {
        ERR(l, XS_EMANIFEST, list_n[1],
            "spec.clusterIPs[1]: Invalid value: \"%s\": must not be set when "
            "clusterIPs[0] is 'None'",
            list[1]);
        bad = 1;
      }
    } else if (nlist > 2) {
      ERR(l, XS_EMANIFEST, list_n[2],
          "spec.clusterIPs: Invalid value: %zu: may only hold up to 2 values",
          nlist);
      bad = 1;
    } else {
      for (i = 0; i < nlist; i++) {
        if (!xs_addr_parse(list[i], strlen(list[i]), &svc.ips[i])) {
          ERR(l, XS_EMANIFEST, list_n[i],
              "spec.clusterIPs[%zu]: Invalid value: \"%s\": must be a valid "
              "IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
              i, list[i]);
          bad = 1;
        }
      }
      if (!bad && nlist == 2 && svc.ips[0].family == svc.ips[1].family) {
        ERR(l, XS_EMANIFEST, list_n[1],
            "spec.clusterIPs[1]: Invalid value: \"%s\": may specify no more "
            "than one IP for each IP family",
            list[1]);
        bad = 1;
      }
      svc.nips = (uint8_t)nlist;
    }
  }
  if (external) {
    node *fam = get(l, spec, "ipFamilies");
    node *pol = get(l, spec, "ipFamilyPolicy");
    node *en;
    size_t norm_len;
    int ext_bad = 0;
    if (fam != NULL && !(fam->kind == N_SEQ && fam->count == 0)) {
      ERR(l, XS_EMANIFEST, fam,
          "spec.ipFamilies: Forbidden: may not be set for ExternalName "
          "services");
      bad = 1;
    }
    if (pol != NULL) {
      ERR(l, XS_EMANIFEST, pol,
          "spec.ipFamilyPolicy: Forbidden: may not be set for ExternalName "
          "services");
      bad = 1;
    }
    ext = get_str(l, spec, "externalName", "spec.externalName", &en, &ext_bad);
    if (ext_bad) {
      bad = 1;
    } else {
      if (!xs_valid_external_name(ext != NULL ? ext : "",
                                  ext != NULL ? en->len : 0, &norm_len, msg,
                                  sizeof(msg))) {
        ERR(l, XS_EMANIFEST, en != NULL ? en : (spec != NULL ? spec : obj),
            "%s", msg);
        bad = 1;
      } else {
        memcpy(norm, ext, norm_len);
        norm[norm_len] = '\0';
        svc.external_name = norm;
        svc.ip_like = (uint8_t)xs_looks_like_ipv4(norm, norm_len);
        if (svc.ip_like)
          diag(l, 1, XS_OK, en->line, en->col,
               "spec.externalName: \"%s\" looks like an IPv4 address: CoreDNS "
               "answers NXDOMAIN for it (an ExternalName must be a DNS name)",
               ext);
        if (strcmp(norm, "localhost") == 0 ||
            (norm_len > 10 && strcmp(norm + norm_len - 10, ".localhost") == 0))
          diag(l, 1, XS_OK, en->line, en->col,
               "spec.externalName: \"%s\" points at the local host: an alias "
               "to localhost can expose local services (CVE-2021-32783)",
               ext);
      }
    }
  } else if (headless) {
    svc.type = XS_SVC_HEADLESS;
  }
  /* ports */
  ports_n = get(l, spec, "ports");
  if (ports_n != NULL && ports_n->kind != N_SEQ) {
    ERR(l, XS_EMANIFEST, ports_n,
        "spec.ports: Invalid type: expected array, got %s",
        type_name(l, ports_n));
    bad = 1;
  } else if (ports_n != NULL) {
    uint16_t i = 0, j;
    for (k = ports_n->first; k >= 0; k = l->nodes[k].next, i++) {
      node *pn = N(l, k), *pv, *nm;
      const char *pname, *proto;
      long port = 0;
      if (i >= XS_MAX_PORTS) {
        ERR(l, XS_EMANIFEST, &l->nodes[k],
            "spec.ports: Too many: %u: must have at most %d items",
            ports_n->count, XS_MAX_PORTS);
        bad = 1;
        break;
      }
      memset(&ports[i], 0, sizeof(ports[i]));
      if (pn == NULL || pn->kind != N_MAP) {
        ERR(l, XS_EMANIFEST, &l->nodes[k],
            "spec.ports[%u]: Invalid type: expected object", i);
        bad = 1;
        continue;
      }
      field_path(path, sizeof(path), "spec.ports[", i, "].name", 0, NULL);
      pname = get_str(l, pn, "name", path, &nm, &bad);
      if (pname != NULL && pname[0] != '\0') {
        if (!xs_valid_dns1123_label(pname, strlen(pname), path, 0, msg,
                                    sizeof(msg))) {
          ERR(l, XS_EMANIFEST, nm, "%s", msg);
          bad = 1;
        }
        for (j = 0; j < i; j++)
          if (ports[j].name != NULL && strcmp(ports[j].name, pname) == 0) {
            ERR(l, XS_EMANIFEST, nm, "%s: Duplicate value: \"%s\"", path,
                pname);
            bad = 1;
          }
        ports[i].name = pname;
      } else if (ports_n->count > 1) {
        ERR(l, XS_EMANIFEST, pn, "%s: Required value", path);
        bad = 1;
      }
      field_path(path, sizeof(path), "spec.ports[", i, "].port", 0, NULL);
      pv = get(l, pn, "port");
      if (pv == NULL) {
        ERR(l, XS_EMANIFEST, pn, "%s: Required value", path);
        bad = 1;
      } else if (!get_int(l, pv, path, &port)) {
        bad = 1;
      } else if (port < 1 || port > 65535) {
        ERR(l, XS_EMANIFEST, pv,
            "%s: Invalid value: %ld: must be between 1 and 65535, inclusive",
            path, port);
        bad = 1;
      }
      ports[i].port = (uint16_t)port;
      field_path(path, sizeof(path), "spec.ports[", i, "].protocol", 0, NULL);
      proto = get_str(l, pn, "protocol", path, &nm, &bad);
      if (proto == NULL || strcmp(proto, "TCP") == 0)
        ports[i].proto = XS_PROTO_TCP;
      else if (strcmp(proto, "UDP") == 0)
        ports[i].proto = XS_PROTO_UDP;
      else if (strcmp(proto, "SCTP") == 0)
        ports[i].proto = XS_PROTO_SCTP;
      else {
        ERR(l, XS_EMANIFEST, nm,
            "%s: Unsupported value: \"%s\": supported values: \"SCTP\", "
            "\"TCP\", \"UDP\"",
            path, proto);
        bad = 1;
      }
    }
    svc.nports = i;
  }
  if (svc.nports == 0 && svc.type == XS_SVC_CLUSTER_IP) {
    ERR(l, XS_EMANIFEST, spec != NULL ? spec : obj,
        "spec.ports: Required value");
    bad = 1;
  }
  {
    int tolerate = 0;
    node *pn = get(l, spec, "publishNotReadyAddresses");
    if (!get_bool(l, pn, "spec.publishNotReadyAddresses", &tolerate))
      bad = 1;
    ann = get(l, get(l, obj, "metadata"), "annotations");
    if (ann != NULL) {
      node *v = get(l, ann, XS_TOLERATE_UNREADY);
      if (v != NULL && v->kind == N_SCALAR && strcmp(S(l, v), "true") == 0)
        tolerate = 1;
    }
    svc.tolerate_unready = (uint8_t)tolerate;
  }
  if (bad || l->nerrors != errors_before)
    return;
  svc.ns = m.ns;
  svc.name = m.name;
  svc.ports = svc.nports ? ports : NULL;
  st = xs_snapshot_add_service(l->snap, &svc, &stored);
  if (st == XS_EEXIST) {
    const xs_service *first =
        xs_snapshot_find(l->snap, m.ns, strlen(m.ns), m.name, strlen(m.name));
    size_t idx = (size_t)(first - l->snap->services);
    if (first != NULL && idx < l->cap_positions)
      ERR(l, XS_EEXIST, m.name_node,
          "services \"%s\" already exists in namespace \"%s\" (first defined "
          "at %s:%u:%u)",
          m.name, m.ns, l->positions[idx].file, l->positions[idx].line,
          l->positions[idx].col);
    else
      ERR(l, XS_EEXIST, m.name_node,
          "services \"%s\" already exists in namespace \"%s\"", m.name, m.ns);
  } else if (st != XS_OK) {
    ERR(l, st, obj, "%s", xs_strerror(st));
  } else {
    set_position(l, (size_t)(stored - l->snap->services), obj);
  }
}

static void add_endpoint(xs_loader *l, const char *ns, const char *svc,
                         node *ipn, const char *path, const char *hostname,
                         node *hn, const char *host_path, int ready) {
  char msg[XS_ERROR_MESSAGE_MAX];
  xs_endpoint ep;
  xs_status st;
  memset(&ep, 0, sizeof(ep));
  if (ipn == NULL || ipn->kind != N_SCALAR ||
      !xs_addr_parse(S(l, ipn), ipn->len, &ep.addr)) {
    if (ipn != NULL)
      ERR(l, XS_EMANIFEST, ipn,
          "%s: Invalid value: \"%s\": must be a valid IP address, (e.g. "
          "10.9.8.7 or 2001:db8::ffff)",
          path, ipn->kind == N_SCALAR ? S(l, ipn) : "");
    return;
  }
  if (hostname != NULL && hostname[0] != '\0') {
    if (!xs_valid_dns1123_label(hostname, hn->len, host_path, 0, msg,
                                sizeof(msg))) {
      ERR(l, XS_EMANIFEST, hn, "%s", msg);
      return;
    }
    ep.hostname = hostname;
  }
  ep.ready = (uint8_t)ready;
  if ((st = xs_snapshot_add_endpoint(l->snap, ns, svc, &ep)) != XS_OK)
    ERR(l, st, ipn, "%s", xs_strerror(st));
}

static void load_endpoints(xs_loader *l, node *obj) {
  meta m;
  node *subsets;
  int32_t s, a;
  size_t si = 0;
  char path[96], host_path[96];
  if (!read_meta(l, obj, 1, 0, &m))
    return;
  subsets = get(l, obj, "subsets");
  if (subsets == NULL)
    return;
  if (subsets->kind != N_SEQ) {
    ERR(l, XS_EMANIFEST, subsets, "subsets: Invalid type: expected array");
    return;
  }
  for (s = subsets->first; s >= 0; s = l->nodes[s].next, si++) {
    node *sub = N(l, s);
    int pass;
    for (pass = 0; pass < 2; pass++) {
      const char *key = pass == 0 ? "addresses" : "notReadyAddresses";
      node *list = get(l, sub, key);
      size_t ai = 0;
      if (list == NULL || list->kind != N_SEQ)
        continue;
      for (a = list->first; a >= 0; a = l->nodes[a].next, ai++) {
        node *addr = N(l, a), *hn = NULL;
        int bad = 0;
        const char *host;
        snprintf(host_path, sizeof(host_path), "subsets[%zu].%s[%zu].hostname",
                 si, key, ai);
        host = get_str(l, addr, "hostname", host_path, &hn, &bad);
        snprintf(path, sizeof(path), "subsets[%zu].%s[%zu].ip", si, key, ai);
        if (!bad)
          add_endpoint(l, m.ns, m.name, get(l, addr, "ip"), path, host, hn,
                       host_path, pass == 0);
      }
    }
  }
}

static void load_endpoint_slice(xs_loader *l, node *obj) {
  meta m;
  node *labels, *eps, *svc_n;
  const char *svc;
  int32_t e, a;
  size_t ei = 0;
  int bad = 0;
  char path[96], host_path[96];
  const char *type;
  node *type_n;
  if (!read_meta(l, obj, 1, 0, &m))
    return;
  /* FQDN slices carry names, not addresses: nothing for DNS records. */
  type = get_str(l, obj, "addressType", "addressType", &type_n, &bad);
  if (bad || (type != NULL && strcmp(type, "FQDN") == 0))
    return;
  labels = get(l, get(l, obj, "metadata"), "labels");
  svc = get_str(l, labels, XS_SERVICE_NAME_LABEL, "metadata.labels", &svc_n,
                &bad);
  if (svc == NULL || bad)
    return; /* not tied to a service: nothing for DNS */
  eps = get(l, obj, "endpoints");
  if (eps == NULL || eps->kind != N_SEQ)
    return;
  for (e = eps->first; e >= 0; e = l->nodes[e].next, ei++) {
    node *ep = N(l, e), *addrs, *cond, *hn = NULL;
    const char *host;
    int ready = 1;
    size_t ai = 0;
    field_path(host_path, sizeof(host_path), "endpoints[", ei, "].hostname", 0,
               NULL);
    host = get_str(l, ep, "hostname", host_path, &hn, &bad);
    cond = get(l, ep, "conditions");
    field_path(path, sizeof(path), "endpoints[", ei, "].conditions.ready", 0,
               NULL);
    if (!get_bool(l, get(l, cond, "ready"), path, &ready) || bad)
      continue;
    addrs = get(l, ep, "addresses");
    if (addrs == NULL || addrs->kind != N_SEQ)
      continue;
    for (a = addrs->first; a >= 0; a = l->nodes[a].next, ai++) {
      field_path(path, sizeof(path), "endpoints[", ei, "].addresses[", ai, "]");
      add_endpoint(l, m.ns, svc, N(l, a), path, host, hn, host_path, ready);
    }
  }
}

/* One object, or each item of a List. Items of a typed list (ServiceList
 * from the API, whose items carry no kind) take the list's kind minus
 * "List" and its apiVersion. */
static void load_object(xs_loader *l, node *obj, int depth,
                        const char *item_kind, const char *item_api) {
  node *kind_n, *api_n;
  const char *kind, *api;
  size_t kind_len;
  int bad = 0;
  if (obj == NULL || is_null(l, obj))
    return;
  if (obj->kind != N_MAP) {
    ERR(l, XS_EMANIFEST, obj,
        "expected a Kubernetes object (a mapping), got %s", type_name(l, obj));
    return;
  }
  kind = get_str(l, obj, "kind", "kind", &kind_n, &bad);
  api = get_str(l, obj, "apiVersion", "apiVersion", &api_n, &bad);
  if (bad)
    return;
  if ((kind == NULL || kind[0] == '\0') && item_kind != NULL)
    kind = item_kind;
  if ((api == NULL || api[0] == '\0') && item_api != NULL)
    api = item_api;
  if (kind == NULL || kind[0] == '\0') {
    ERR(l, XS_EMANIFEST, obj, "Object 'Kind' is missing");
    return;
  }
  if (api == NULL || api[0] == '\0') {
    ERR(l, XS_EMANIFEST, obj, "Object 'apiVersion' is missing");
    return;
  }
  kind_len = strlen(kind);
  if (kind_len >= 4 && strcmp(kind + kind_len - 4, "List") == 0 && depth == 0) {
    node *items = get(l, obj, "items");
    char base[XS_KIND_MAX];
    const char *ikind = NULL;
    int32_t k;
    if (items == NULL)
      return;
    if (items->kind != N_SEQ) {
      ERR(l, XS_EMANIFEST, items, "items: Invalid type: expected array");
      return;
    }
    if (kind_len > 4 && kind_len - 4 < sizeof(base)) {
      memcpy(base, kind, kind_len - 4);
      base[kind_len - 4] = '\0';
      ikind = base;
    }
    for (k = items->first; k >= 0; k = l->nodes[k].next)
      load_object(l, N(l, k), depth + 1, ikind, ikind != NULL ? api : NULL);
    return;
  }
  if (strcmp(kind, "Service") == 0 && strcmp(api, "v1") == 0)
    load_service(l, obj);
  else if (strcmp(kind, "Endpoints") == 0 && strcmp(api, "v1") == 0)
    load_endpoints(l, obj);
  else if (strcmp(kind, "EndpointSlice") == 0 &&
           strcmp(api, "discovery.k8s.io/v1") == 0)
    load_endpoint_slice(l, obj);
  else if (strcmp(kind, "Namespace") == 0 && strcmp(api, "v1") == 0) {
    meta m;
    if (read_meta(l, obj, 0, 0, &m) &&
        xs_snapshot_add_namespace(l->snap, m.name, strlen(m.name)) == NULL)
      ERR(l, XS_ENOMEM, obj, "out of memory");
  } else
    l->snap->skipped++;
}

/* ---- sources --------------------------------------------------------------
 */

/* 1 if opts (as its caller was compiled) has field: a caller built against
 * an older header has a shorter struct. */
#define HAS_FIELD(opts, field)                                                 \
  ((opts)->struct_size >=                                                      \
   offsetof(xs_load_options, field) + sizeof((opts)->field))

/* A limit from the options: 0 is the bound, above it is refused. */
static int take_limit(size_t given, size_t bound, const char *field,
                      const char *bound_name, size_t *out, xs_error *err) {
  if (given > bound) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0,
                 "%s %zu is above %s (%zu): a load can only tighten it", field,
                 given, bound_name, bound);
    return 0;
  }
  *out = given == 0 ? bound : given;
  return 1;
}

static int take_limits(const xs_load_options *opts, limits *lim,
                       xs_error *err) {
  size_t v[6] = {0, 0, 0, 0, 0, 0}, got[6];
  static const size_t bound[6] = {XS_MAX_FILE_SIZE,       XS_MAX_DEPTH,
                                  XS_MAX_DOCUMENTS,       XS_MAX_ALIAS_EVENTS,
                                  XS_MAX_ALIAS_EXPANSION, XS_MAX_FILES};
  static const char *const field[6] = {
      "max_file_size",    "max_depth",           "max_documents",
      "max_alias_events", "max_alias_expansion", "max_files"};
  static const char *const bound_name[6] = {
      "XS_MAX_FILE_SIZE",    "XS_MAX_DEPTH",           "XS_MAX_DOCUMENTS",
      "XS_MAX_ALIAS_EVENTS", "XS_MAX_ALIAS_EXPANSION", "XS_MAX_FILES"};
  size_t i;
  if (opts != NULL) {
    v[0] = HAS_FIELD(opts, max_file_size) ? opts->max_file_size : 0;
    v[1] = HAS_FIELD(opts, max_depth) ? opts->max_depth : 0;
    v[2] = HAS_FIELD(opts, max_documents) ? opts->max_documents : 0;
    v[3] = HAS_FIELD(opts, max_alias_events) ? opts->max_alias_events : 0;
    v[4] = HAS_FIELD(opts, max_alias_expansion) ? opts->max_alias_expansion : 0;
    v[5] = HAS_FIELD(opts, max_files) ? opts->max_files : 0;
  }
  for (i = 0; i < 6; i++)
    if (!take_limit(v[i], bound[i], field[i], bound_name[i], &got[i], err))
      return 0;
  lim->file_size = got[0];
  lim->depth = (unsigned)got[1];
  lim->documents = (unsigned)got[2];
  lim->alias_events = (unsigned)got[3];
  lim->alias_expansion = (unsigned)got[4];
  lim->files = (unsigned)got[5];
  return 1;
}

xs_status xs_loader_new(const xs_load_options *opts, xs_loader **out,
                        xs_error *err) {
  xs_loader *l = calloc(1, sizeof(*l));
  if (l == NULL) {
    xs_error_set(err, XS_ENOMEM, NULL, 0, 0, "out of memory");
    return XS_ENOMEM;
  }
  xs_load_options_init(&l->opts);
  if (opts != NULL) {
    if (opts->default_namespace != NULL)
      l->opts.default_namespace = opts->default_namespace;
    l->opts.diag = opts->diag;
    l->opts.diag_arg = opts->diag_arg;
    if (HAS_FIELD(opts, allow_insecure_permissions))
      l->opts.allow_insecure_permissions = opts->allow_insecure_permissions;
  }
  if (!take_limits(opts, &l->lim, err)) {
    free(l);
    return XS_EINVAL;
  }
  if (!xs_valid_dns1123_label(l->opts.default_namespace,
                              strlen(l->opts.default_namespace), "namespace", 1,
                              NULL, 0)) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "invalid default namespace");
    free(l);
    return XS_EINVAL;
  }
  l->snap = xs_snapshot_new();
  if (l->snap == NULL) {
    xs_error_set(err, XS_ENOMEM, NULL, 0, 0, "out of memory");
    free(l);
    return XS_ENOMEM;
  }
  *out = l;
  return XS_OK;
}

void xs_loader_work_get(const xs_loader *l, xs_loader_work *out) {
  *out = l->work;
}

void xs_loader_limits_get(const xs_loader *l, xs_load_options *out) {
  out->max_file_size = l->lim.file_size;
  out->max_depth = l->lim.depth;
  out->max_documents = l->lim.documents;
  out->max_alias_events = l->lim.alias_events;
  out->max_alias_expansion = l->lim.alias_expansion;
  out->max_files = l->lim.files;
}

void xs_loader_free(xs_loader *l) {
  size_t i;
  if (l == NULL)
    return;
  xs_snapshot_unref(l->snap);
  free(l->nodes);
  free(l->strs);
  free(l->anchors);
  free(l->keys);
  free(l->positions);
  for (i = 0; i < l->nfiles; i++)
    free(l->files[i]);
  free(l->files);
  free(l);
}

static int remember_file(xs_loader *l, const char *name) {
  char **nf = realloc(l->files, (l->nfiles + 1) * sizeof(*nf));
  if (nf == NULL)
    return -1;
  l->files = nf;
  nf[l->nfiles] = strdup(name);
  if (nf[l->nfiles] == NULL)
    return -1;
  l->file = nf[l->nfiles++];
  return 0;
}

xs_status xs_loader_add_buffer(xs_loader *l, const char *data, size_t len,
                               const char *name) {
  yaml_parser_t parser;
  size_t before = l->nerrors;
  if (l == NULL || (data == NULL && len > 0))
    return XS_EINVAL;
  if (remember_file(l, name != NULL ? name : "<buffer>") != 0)
    return XS_ENOMEM;
  if (len > l->lim.file_size) {
    diag(l, 0, XS_ELIMIT, 0, 0, "file is larger than %zu bytes",
         l->lim.file_size);
    return XS_ELIMIT;
  }
  if (!yaml_parser_initialize(&parser))
    return XS_ENOMEM;
  yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
  l->input = (const unsigned char *)data;
  l->input_len = len;
  for (;;) {
    int32_t root = parse_document(l, &parser);
    if (root == -3 || root == -2)
      break;
    if (++l->ndocuments > l->lim.documents) {
      diag(l, 0, XS_ELIMIT, 0, 0, "more than %u documents", l->lim.documents);
      break;
    }
    if (root >= 0)
      load_object(l, N(l, root), 0, NULL, NULL);
  }
  yaml_parser_delete(&parser);
  l->input = NULL;
  l->input_len = 0;
  return l->nerrors == before ? XS_OK : l->first.status;
}

/* Who may be trusted with a manifest or a directory on its way: root and
 * the user loading it (OpenSSH's StrictModes rule). A directory others
 * may write is fine when it is sticky (/tmp): there they can add entries
 * of their own, which fail the owner check, but not replace ours. Fills
 * why and returns 1 when obj (lstat of path; path NULL: the manifest file
 * itself, named by the error's file) is not to be trusted. */
static int untrusted(const char *path, const struct stat *obj, char *why,
                     size_t whylen) {
  unsigned me = (unsigned)geteuid();
  const char *what = S_ISDIR(obj->st_mode)   ? "directory"
                     : S_ISLNK(obj->st_mode) ? "symbolic link"
                                             : "file";
  const char *sep = path != NULL ? " " : "";
  if (path == NULL)
    path = "";
  if (obj->st_uid != 0 && obj->st_uid != me) {
    snprintf(why, whylen,
             "%s%s%s is owned by uid %u, neither root nor the user loading "
             "it (uid %u): its owner can repoint an alias; change the owner "
             "or allow insecure permissions",
             what, sep, path, (unsigned)obj->st_uid, me);
    return 1;
  }
  if (S_ISLNK(obj->st_mode) || (obj->st_mode & (S_IWGRP | S_IWOTH)) == 0 ||
      (S_ISDIR(obj->st_mode) && (obj->st_mode & S_ISVTX)))
    return 0;
  snprintf(why, whylen,
           "%s%s%s is writable by %s (mode %04o): whoever can write it can "
           "repoint an alias; remove that permission (chmod go-w) or allow "
           "insecure permissions",
           what, sep, path, (obj->st_mode & S_IWOTH) ? "others" : "group",
           (unsigned)(obj->st_mode & 07777));
  return 1;
}

#define XS_PATH_LINKS 40 /* symbolic links followed on one path (Linux's) */

/* Resolve path as the kernel does, one component at a time, from real (a
 * resolved, already checked directory; "" for the root, which is checked
 * too), and check every directory a name is looked up in and every
 * symbolic link followed: the route realpath takes, so the directories a
 * ConfigMap's links (x.yaml -> ..data/x.yaml, ..data -> ..2024_01_01)
 * lead to are the ones checked. The last component, when not a directory,
 * is left to the caller (it checks the file it opened). real[PATH_MAX]
 * becomes the resolved path. 0: trusted; 1: not (why says what); -1: the
 * path cannot be followed (errno). */
static int walk_path(char *real, const char *path, char *why, size_t whylen) {
  char unwalked[2 * PATH_MAX], link[PATH_MAX];
  size_t rlen = strlen(real);
  const char *p;
  struct stat st;
  int links = 0;
  if (rlen == 0) {
    if (lstat("/", &st) != 0)
      return -1;
    if (untrusted("/", &st, why, whylen))
      return 1;
  }
  if (snprintf(unwalked, sizeof(unwalked), "%s", path) >=
      (int)sizeof(unwalked)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  p = unwalked;
  for (;;) {
    size_t n;
    while (*p == '/')
      p++;
    if (*p == '\0')
      return 0;
    n = strcspn(p, "/");
    if (n == 1 && p[0] == '.') {
      p += n;
      continue;
    }
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      while (rlen > 0 && real[rlen - 1] != '/')
        rlen--;
      if (rlen > 0)
        rlen--; /* the parent: checked on the way down */
      real[rlen] = '\0';
      p += n;
      continue;
    }
    if (rlen + 1 + n >= PATH_MAX) {
      errno = ENAMETOOLONG;
      return -1;
    }
    real[rlen] = '/';
    memcpy(real + rlen + 1, p, n);
    real[rlen + 1 + n] = '\0';
    p += n;
    if (lstat(real, &st) != 0)
      return -1;
    if (S_ISLNK(st.st_mode)) {
      ssize_t len;
      if (untrusted(real, &st, why, whylen))
        return 1;
      if (++links > XS_PATH_LINKS) {
        errno = ELOOP;
        return -1;
      }
      len = readlink(real, link, sizeof(link) - 1);
      if (len < 0)
        return -1;
      link[len] = '\0';
      /* the rest of the path now follows the link's target */
      if ((size_t)len + 1 + strlen(p) >= sizeof(unwalked)) {
        errno = ENAMETOOLONG;
        return -1;
      }
      memmove(unwalked + len + 1, p, strlen(p) + 1);
      memcpy(unwalked, link, (size_t)len);
      unwalked[len] = '/';
      p = unwalked;
      if (link[0] == '/')
        rlen = 0;
      real[rlen] = '\0';
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      if (untrusted(real, &st, why, whylen))
        return 1;
      rlen += 1 + n;
      continue;
    }
    while (*p == '/')
      p++;
    if (*p != '\0') {
      errno = ENOTDIR;
      return -1;
    }
    return 0;
  }
}

/* A manifest file (st: fstat of the opened file) or a directory given as
 * a path (st: its stat) that someone other than root or this user could
 * change, directly or through a directory or link on its path: refused
 * unless the caller opted out. A directory's resolved path is kept, so
 * the files listed in it are checked from there (one lstat each, plus
 * their links) rather than from the root again. */
static int insecure(xs_loader *l, const char *path, const struct stat *st) {
  char why[XS_ERROR_MESSAGE_MAX], real[PATH_MAX];
  const char *rest = path;
  size_t dl = strlen(l->perm_dir);
  int rc;
  if (l->opts.allow_insecure_permissions)
    return 0;
  real[0] = '\0';
  if (!S_ISDIR(st->st_mode)) {
    if (untrusted(NULL, st, why, sizeof(why)))
      goto refuse;
    if (dl > 0 && strncmp(path, l->perm_dir, dl) == 0 &&
        (path[dl] == '/' || l->perm_dir[dl - 1] == '/') &&
        strchr(path + dl + 1, '/') == NULL) {
      memcpy(real, l->perm_real, strlen(l->perm_real) + 1);
      rest = path + dl;
    }
  }
  if (rest == path && path[0] != '/') {
    /* a relative path continues from the working directory, whose
     * resolved name getcwd gives: walk it from the root too */
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
      goto fail;
    if ((rc = walk_path(real, cwd, why, sizeof(why))) != 0)
      goto checked;
  }
  rc = walk_path(real, rest, why, sizeof(why));
checked:
  if (rc < 0)
    goto fail;
  if (rc > 0)
    goto refuse;
  if (S_ISDIR(st->st_mode) && strlen(path) < sizeof(l->perm_dir)) {
    memcpy(l->perm_dir, path, strlen(path) + 1);
    memcpy(l->perm_real, real, strlen(real) + 1);
  }
  return 0;
fail: /* what cannot be checked is refused as well */
  remember_file(l, path);
  diag(l, 0, XS_EPOLICY, 0, 0, "cannot check the permissions on its path: %s",
       strerror(errno));
  return 1;
refuse:
  remember_file(l, path);
  diag(l, 0, XS_EPOLICY, 0, 0, "%s", why);
  return 1;
}

/* Read one file in a single buffer and parse it. Only regular files are
 * read (O_NONBLOCK so a FIFO named on the command line cannot hang us);
 * the size is checked with fstat before anything is allocated. */
static xs_status add_file(xs_loader *l, const char *path) {
  struct stat st;
  char *buf = NULL;
  size_t got = 0;
  xs_status s;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 || fstat(fd, &st) != 0) {
    s = XS_EIO;
    remember_file(l, path);
    diag(l, 0, s, 0, 0, "cannot read: %s", strerror(errno));
    goto done;
  }
  if (!S_ISREG(st.st_mode)) {
    s = XS_EIO;
    remember_file(l, path);
    diag(l, 0, s, 0, 0, "cannot read: not a regular file");
    goto done;
  }
  if (insecure(l, path, &st)) {
    s = XS_EPOLICY;
    goto done;
  }
  if ((uint64_t)st.st_size > (uint64_t)l->lim.file_size) {
    s = XS_ELIMIT;
    remember_file(l, path);
    diag(l, 0, s, 0, 0, "file is larger than %zu bytes", l->lim.file_size);
    goto done;
  }
  buf = malloc((size_t)st.st_size + 1);
  if (buf == NULL) {
    s = XS_ENOMEM;
    remember_file(l, path);
    diag(l, 0, s, 0, 0, "out of memory");
    goto done;
  }
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      s = XS_EIO;
      remember_file(l, path);
      diag(l, 0, s, 0, 0, "cannot read: %s", strerror(errno));
      goto done;
    }
    if (n == 0)
      break; /* the file shrank: parse what is there */
    got += (size_t)n;
  }
  close(fd);
  fd = -1;
  s = xs_loader_add_buffer(l, buf, got, path);
done:
  if (fd >= 0)
    close(fd);
  free(buf);
  return s;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int wanted(const char *name) {
  size_t n = strlen(name);
  if (name[0] == '.')
    return 0;
  return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
         (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
         (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

xs_status xs_loader_add_path(xs_loader *l, const char *path) {
  struct stat st;
  DIR *d;
  struct dirent *e;
  char **names = NULL;
  size_t n = 0, cap = 0, i;
  xs_status s = XS_OK;
  if (l == NULL || path == NULL)
    return XS_EINVAL;
  if (stat(path, &st) != 0) {
    remember_file(l, path);
    diag(l, 0, XS_EIO, 0, 0, "cannot read: %s", strerror(errno));
    return XS_EIO;
  }
  if (!S_ISDIR(st.st_mode))
    return add_file(l, path);
  if (insecure(l, path, &st))
    return XS_EPOLICY;
  d = opendir(path);
  if (d == NULL) {
    remember_file(l, path);
    diag(l, 0, XS_EIO, 0, 0, "cannot read directory: %s", strerror(errno));
    return XS_EIO;
  }
  while ((e = readdir(d)) != NULL) {
    char full[4096];
    struct stat fst;
    if (!wanted(e->d_name))
      continue;
    snprintf(full, sizeof(full), "%s%s%s", path,
             path[strlen(path) - 1] == '/' ? "" : "/", e->d_name);
    if (stat(full, &fst) != 0 || !S_ISREG(fst.st_mode))
      continue;
    if (n == l->lim.files) {
      remember_file(l, path);
      diag(l, 0, XS_ELIMIT, 0, 0, "more than %u manifest files", l->lim.files);
      s = XS_ELIMIT;
      break;
    }
    if (n == cap) {
      char **nn;
      cap = cap ? cap * 2 : 32;
      nn = realloc(names, cap * sizeof(*nn));
      if (nn == NULL) {
        s = XS_ENOMEM;
        break;
      }
      names = nn;
    }
    names[n] = strdup(full);
    if (names[n] == NULL) {
      s = XS_ENOMEM;
      break;
    }
    n++;
  }
  closedir(d);
  if (s == XS_OK) {
    qsort(names, n, sizeof(*names), by_name);
    for (i = 0; i < n; i++) {
      xs_status fs = add_file(l, names[i]);
      if (fs != XS_OK && s == XS_OK)
        s = fs;
    }
  }
  for (i = 0; i < n; i++)
    free(names[i]);
  free(names);
  return s;
}

xs_status xs_loader_finish(xs_loader *l, xs_snapshot **out, xs_error *err) {
  xs_status st;
  if (l->nerrors > 0) {
    if (err != NULL)
      *err = l->first;
    return l->first.status;
  }
  st = xs_snapshot_finish(l->snap);
  if (st != XS_OK) {
    xs_error_set(err, st, NULL, 0, 0, "%s", xs_strerror(st));
    return st;
  }
  *out = l->snap;
  l->snap = NULL;
  return XS_OK;
}

/* ---- public entry points --------------------------------------------------
 */

void xs_load_options_init_size(xs_load_options *opts, size_t size) {
  xs_load_options d;
  if (opts == NULL || size < sizeof(d.struct_size))
    return;
  if (size > sizeof(d))
    size = sizeof(d);
  memset(&d, 0, sizeof(d));
  d.struct_size = (unsigned)size;
  d.default_namespace = "default";
  memcpy(opts, &d, size);
}

/* The exported function is the 0.1 ABI: its callers (binaries built
 * against 0.1.0, FFI bindings calling it by name) allocated 0.1's struct,
 * which ended with allow_insecure_permissions. */
void(xs_load_options_init)(xs_load_options *opts) {
  xs_load_options_init_size(
      opts, offsetof(xs_load_options, allow_insecure_permissions) +
                sizeof(opts->allow_insecure_permissions));
}

static xs_status first_failure(xs_status a, xs_status b) {
  return a != XS_OK ? a : b;
}

static xs_status load(const char *const *paths, size_t npaths, const char *data,
                      size_t len, const char *name, const xs_load_options *opts,
                      xs_registry **out, xs_error *err) {
  xs_loader *l;
  xs_snapshot *snap = NULL;
  xs_status st, added = XS_OK;
  size_t i;
  if (out == NULL || (paths == NULL && npaths > 0)) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "invalid argument");
    return XS_EINVAL;
  }
  st = xs_loader_new(opts, &l, err);
  if (st != XS_OK)
    return st;
  if (paths != NULL)
    for (i = 0; i < npaths; i++)
      added = first_failure(added, xs_loader_add_path(l, paths[i]));
  else
    added = xs_loader_add_buffer(l, data, len, name);
  /* a failure no diagnostic reported (out of memory before or between
   * parses) must not finish as an empty, successful load */
  if (added != XS_OK && l->nerrors == 0)
    diag(l, 0, added, 0, 0, "%s", xs_strerror(added));
  st = xs_loader_finish(l, &snap, err);
  xs_loader_free(l);
  if (st != XS_OK)
    return st;
  st = xs_registry_from_snapshot(snap, out);
  if (st != XS_OK) {
    xs_snapshot_unref(snap);
    xs_error_set(err, st, NULL, 0, 0, "%s", xs_strerror(st));
  }
  return st;
}

xs_status xs_registry_load_paths(const char *const *paths, size_t npaths,
                                 const xs_load_options *opts, xs_registry **out,
                                 xs_error *err) {
  if (paths == NULL || npaths == 0) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "no manifest path given");
    return XS_EINVAL;
  }
  return load(paths, npaths, NULL, 0, NULL, opts, out, err);
}

xs_status xs_registry_load(const char *path, xs_registry **out, xs_error *err) {
  return xs_registry_load_paths(&path, path != NULL ? 1 : 0, NULL, out, err);
}

xs_status xs_registry_load_buffer(const char *data, size_t len,
                                  const char *name, const xs_load_options *opts,
                                  xs_registry **out, xs_error *err) {
  if (data == NULL && len > 0) {
    xs_error_set(err, XS_EINVAL, NULL, 0, 0, "invalid argument");
    return XS_EINVAL;
  }
  return load(NULL, 0, data != NULL ? data : "", len, name, opts, out, err);
}
