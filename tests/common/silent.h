/* Test helper: an upstream DNS server that never answers. */
#ifndef XS_TEST_SILENT_H
#define XS_TEST_SILENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* An upstream that never answers: a UDP socket bound to a free loopback
 * port that nobody reads. Its "127.0.0.1:PORT" goes to server[0..n);
 * returns the socket (the caller closes it), or -1. */
static inline int silent_upstream(char *server, size_t n) {
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
    close(fd);
    return -1;
  }
  snprintf(server, n, "127.0.0.1:%u", ntohs(a.sin_port));
  return fd;
}

#endif
