/*
 * bench-sink — the loopback baseline for the broker benchmark
 * (tools/bench-broker.sh): how fast this machine moves bytes through one
 * TCP connection on 127.0.0.1 when nothing is done with them.
 *
 *   bench-sink --bytes N [--write-bytes W] [--to-file PATH]
 *
 * A receiver thread listens on a free loopback port, accepts one
 * connection and reads and discards everything until EOF (with --to-file,
 * it instead appends every read to PATH with write(), created or
 * truncated: the least a broker must do to store what it receives, with
 * no fsync, as a broker acknowledging acks=1 does); the main thread
 * connects and writes N bytes in writes of W bytes (default 16384, the
 * producer's default batch.size), then closes. Prints one line:
 *
 *   sink: bytes 200000000 seconds 0.123 MB/s 1550.4
 *
 * where MB is MiB (as Kafka's perf tools count) and the time runs from the
 * connect to the receiver seeing EOF. This is a benchmark baseline, not a
 * node: it uses sockets and threads directly, on purpose, so that nothing
 * of Sluice sits between the bytes and the kernel.
 *
 * Exit status: 0, 1 on a socket error, 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WRITE_BYTES_DEFAULT 16384u
#define WRITE_BYTES_MAX (16u << 20)
#define READ_BYTES 262144u
#define MIB (1024.0 * 1024.0)

typedef struct sink {
  int listen_fd;
  int file_fd; /* -1, or where --to-file appends what is received */
  uint64_t received_bytes;
  uint64_t eof_ns;
  int err; /* errno of a failure, 0 if none */
} sink;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static void *sink_run(void *arg) {
  sink *s = arg;
  int fd = accept(s->listen_fd, NULL, NULL);
  if (fd < 0) {
    s->err = errno;
    return NULL;
  }
  char *buf = malloc(READ_BYTES);
  if (!buf) {
    s->err = ENOMEM;
    close(fd);
    return NULL;
  }
  for (;;) {
    ssize_t n = read(fd, buf, READ_BYTES);
    if (n > 0) {
      s->received_bytes += (uint64_t)n;
      if (s->file_fd >= 0 && write_all(s->file_fd, buf, (size_t)n) < 0) {
        s->err = errno;
        break;
      }
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      s->err = errno;
    break;
  }
  s->eof_ns = now_ns();
  free(buf);
  close(fd);
  return NULL;
}

static int listen_loopback(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

static int usage(void) {
  fprintf(stderr, "usage: bench-sink --bytes N [--write-bytes W] [--to-file PATH]\n");
  return 2;
}

int main(int argc, char **argv) {
  uint64_t total_bytes = 0;
  uint64_t write_bytes = WRITE_BYTES_DEFAULT;
  const char *file_path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0) {
      printf("usage: bench-sink --bytes N [--write-bytes W] [--to-file PATH]\n"
             "Sends N bytes through one loopback TCP connection and prints "
             "the MB/s;\n--to-file also writes what is received to PATH.\n");
      return 0;
    }
    if (i + 1 < argc && strcmp(argv[i], "--bytes") == 0)
      total_bytes = strtoull(argv[++i], NULL, 10);
    else if (i + 1 < argc && strcmp(argv[i], "--write-bytes") == 0)
      write_bytes = strtoull(argv[++i], NULL, 10);
    else if (i + 1 < argc && strcmp(argv[i], "--to-file") == 0)
      file_path = argv[++i];
    else
      return usage();
  }
  if (total_bytes == 0 || write_bytes == 0 || write_bytes > WRITE_BYTES_MAX)
    return usage();

  sink s = {.listen_fd = -1, .file_fd = -1};
  if (file_path) {
    s.file_fd = open(file_path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (s.file_fd < 0) {
      fprintf(stderr, "bench-sink: %s: %s\n", file_path, strerror(errno));
      return 1;
    }
  }
  uint16_t port = 0;
  s.listen_fd = listen_loopback(&port);
  if (s.listen_fd < 0) {
    perror("bench-sink: listen");
    if (s.file_fd >= 0)
      close(s.file_fd);
    return 1;
  }
  pthread_t thread;
  if (pthread_create(&thread, NULL, sink_run, &s) != 0) {
    fprintf(stderr, "bench-sink: cannot start the receiver\n");
    close(s.listen_fd);
    if (s.file_fd >= 0)
      close(s.file_fd);
    return 1;
  }
  char *buf = malloc(write_bytes);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int rc = 0;
  if (!buf || fd < 0) {
    perror("bench-sink: socket");
    rc = 1;
    goto out_join;
  }
  /* Letters, like perf-produce's payload; the content does not matter. */
  for (uint64_t i = 0; i < write_bytes; i++)
    buf[i] = (char)('A' + i % 26);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons(port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  uint64_t start_ns = now_ns();
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    perror("bench-sink: connect");
    rc = 1;
    goto out_join;
  }
  for (uint64_t sent = 0; sent < total_bytes;) {
    uint64_t n =
        total_bytes - sent < write_bytes ? total_bytes - sent : write_bytes;
    if (write_all(fd, buf, (size_t)n) < 0) {
      perror("bench-sink: write");
      rc = 1;
      break;
    }
    sent += n;
  }
out_join:
  if (fd >= 0)
    close(fd); /* EOF for the receiver */
  if (rc != 0)
    shutdown(s.listen_fd, SHUT_RDWR); /* a receiver still in accept wakes */
  pthread_join(thread, NULL);
  close(s.listen_fd);
  if (s.file_fd >= 0)
    close(s.file_fd);
  free(buf);
  if (rc != 0)
    return rc;
  if (s.err != 0 || s.received_bytes != total_bytes) {
    fprintf(stderr, "bench-sink: received %llu of %llu bytes (%s)\n",
            (unsigned long long)s.received_bytes,
            (unsigned long long)total_bytes, strerror(s.err));
    return 1;
  }
  double seconds = (double)(s.eof_ns - start_ns) / 1e9;
  printf("sink: bytes %llu seconds %.3f MB/s %.1f\n",
         (unsigned long long)total_bytes, seconds,
         seconds > 0 ? (double)total_bytes / MIB / seconds : 0.0);
  return 0;
}
