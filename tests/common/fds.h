/* Test helper: this process's open descriptors, UDP sockets excepted
 * (c-ares opens and closes its UDP sockets as queries come and go), for
 * tests that check nothing was left open. */
#ifndef XS_TEST_FDS_H
#define XS_TEST_FDS_H

#include <dirent.h>
#include <stdlib.h>
#include <sys/socket.h>

static inline int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  if (d == NULL)
    return -1;
  while ((e = readdir(d)) != NULL) {
    int fd = atoi(e->d_name), type = 0;
    socklen_t len = sizeof(type);
    if (e->d_name[0] == '.' || fd == dirfd(d))
      continue;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
        type == SOCK_DGRAM)
      continue;
    n++;
  }
  closedir(d);
  return n;
}

#endif
