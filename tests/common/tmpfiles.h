/* Temporary manifest files for reload and watch tests: a private directory,
 * files written in place or through a rename, and removal of the whole
 * tree. Header-only: static functions for one test program. */
#ifndef XS_TEST_TMPFILES_H
#define XS_TEST_TMPFILES_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A new directory (mode 0755: the loader refuses group/other-writable
 * ones) from template "/tmp/xsvc-...-XXXXXX", changed in place. 0 or -1. */
static inline int tmp_dir(char *template) {
  if (mkdtemp(template) == NULL)
    return -1;
  return chmod(template, 0755);
}

/* Write text to path in place (truncate, write, close). 0 or -1. */
static inline int tmp_write(const char *path, const char *text) {
  size_t len = strlen(text), off = 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  while (off < len) {
    ssize_t n = write(fd, text + off, len - off);
    if (n <= 0) {
      close(fd);
      return -1;
    }
    off += (size_t)n;
  }
  return close(fd);
}

/* Write text to path as editors do: a temporary file beside it, renamed
 * over it. 0 or -1. */
static inline int tmp_write_rename(const char *path, const char *text) {
  char tmp[4200];
  if (snprintf(tmp, sizeof(tmp), "%s.tmp~", path) >= (int)sizeof(tmp) ||
      tmp_write(tmp, text) != 0)
    return -1;
  return rename(tmp, path);
}

/* rm -rf path (no symlinks followed). */
static inline void tmp_remove(const char *path) {
  struct stat st;
  DIR *d;
  struct dirent *e;
  if (lstat(path, &st) != 0)
    return;
  if (!S_ISDIR(st.st_mode)) {
    unlink(path);
    return;
  }
  if ((d = opendir(path)) != NULL) {
    while ((e = readdir(d)) != NULL) {
      char sub[4200];
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      if (snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) <
          (int)sizeof(sub))
        tmp_remove(sub);
    }
    closedir(d);
  }
  rmdir(path);
}

/* An ExternalName Service manifest. */
static inline void tmp_external(char *buf, size_t size, const char *ns,
                                const char *name, const char *target) {
  snprintf(buf, size,
           "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n"
           "  namespace: %s\nspec:\n  type: ExternalName\n"
           "  externalName: %s\n",
           name, ns, target);
}

#endif
