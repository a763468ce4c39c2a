/*
 * What relaying one MiB costs a user-space TLS relay before any TLS: the
 * four copies it cannot avoid without kernel TLS (out of the application's
 * plaintext socketpair, into loopback TCP, out of TCP, into the backend's
 * socketpair), in the relay's record-sized chunks, on one thread.
 *
 *     copy-floor [MiB]    prints the relay thread's CPU milliseconds per MiB
 *
 * Three threads: the application writes, the relay copies, the backend
 * reads; only the relay thread's CPU time is counted (the bench counts the
 * application and the backend separately, as the bench process).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { CHUNK = 16384, PLAIN_SNDBUF = 1 << 20 };

static size_t total;
static int app_fd, backend_fd;

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) die("write");
    p += w;
    n -= (size_t)w;
  }
}

static void *application(void *arg) {
  static char buf[65536];
  (void)arg;
  memset(buf, 'x', sizeof buf);
  for (size_t sent = 0; sent < total; sent += sizeof buf) write_all(app_fd, buf, sizeof buf);
  shutdown(app_fd, SHUT_WR);
  return NULL;
}

static void *backend(void *arg) {
  static char buf[65536];
  (void)arg;
  for (;;) {
    ssize_t r = read(backend_fd, buf, sizeof buf);
    if (r < 0) die("read backend");
    if (r == 0) return NULL;
  }
}

static void plain_pair(int sv[2]) {
  int room = PLAIN_SNDBUF;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) die("socketpair");
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &room, sizeof room);
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &room, sizeof room);
}

static void tcp_pair(int *out, int *in) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int one = 1;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0) die("listen");
  if (getsockname(l, (struct sockaddr *)&a, &len) < 0) die("getsockname");
  *out = socket(AF_INET, SOCK_STREAM, 0);
  if (*out < 0 || connect(*out, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  *in = accept(l, NULL, NULL);
  if (*in < 0) die("accept");
  close(l);
  setsockopt(*out, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(*in, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int main(int argc, char **argv) {
  static char buf[CHUNK];
  int front[2], back[2], tcp_out, tcp_in;
  pthread_t app, be;
  struct timespec t0, t1;
  total = (size_t)(argc > 1 ? atoi(argv[1]) : 256) << 20;
  plain_pair(front);
  plain_pair(back);
  tcp_pair(&tcp_out, &tcp_in);
  app_fd = front[1];
  backend_fd = back[1];
  if (pthread_create(&app, NULL, application, NULL) || pthread_create(&be, NULL, backend, NULL)) die("pthread_create");

  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  for (;;) {
    ssize_t r = read(front[0], buf, sizeof buf);
    if (r < 0) die("read application");
    if (r == 0) break;
    write_all(tcp_out, buf, (size_t)r);
    for (ssize_t got = 0; got < r;) {
      ssize_t n = read(tcp_in, buf + got, (size_t)(r - got));
      if (n <= 0) die("read tcp");
      got += n;
    }
    write_all(back[0], buf, (size_t)r);
  }
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
  shutdown(back[0], SHUT_WR);
  pthread_join(app, NULL);
  pthread_join(be, NULL);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  printf("%.3f\n", ms / (double)(total >> 20));
  return 0;
}
