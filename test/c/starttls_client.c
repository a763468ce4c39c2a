/*
 * starttls_client -- an independent STARTTLS client of the TLS Pool, built
 * from nothing but the byte offsets of docs/protocol.md (like
 * wire_probe.c, it does NOT include <tlspool/commands.h>).
 *
 * Usage: starttls_client SOCKET_PATH PORT REMOTEID [LINE]
 *
 * Connects to the pool, connects TCP to 127.0.0.1:PORT, sends
 * STARTTLS_CLIENT (ipproto 6, no localid, REMOTEID, flags 0) with the TCP
 * socket as SCM_RIGHTS and closes its own copy. Every STARTTLS_LOCALID
 * proposal is accepted by sending it back as it came. Then:
 *   - on ERROR: prints "error: errno N: MESSAGE" and exits 1;
 *   - on STARTTLS_CLIENT: takes the plaintext fd from the ancillary data,
 *     writes LINE (default "hello, pool") and a newline, reads one line
 *     back and prints "reply: THAT LINE"; exits 0.
 * Exit 2 on a usage or local error, or when the pool breaks the protocol.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "wire.h"

#define REQID 0x5151

/* Not a timing assertion: only keeps a silent peer from hanging the client. */
#define HANG_GUARD_MS 30000

typedef unsigned char packet[W_SIZE];

static void die(const char *what)
{
	printf("local error: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void broken(const char *what)
{
	printf("protocol error: %s\n", what);
	exit(2);
}

static void put16(packet p, size_t off, uint16_t v) { memcpy(p + off, &v, sizeof v); }
static void put32(packet p, size_t off, uint32_t v) { memcpy(p + off, &v, sizeof v); }
static uint16_t get16(const packet p, size_t off) { uint16_t v; memcpy(&v, p + off, sizeof v); return v; }
static uint32_t get32(const packet p, size_t off) { uint32_t v; memcpy(&v, p + off, sizeof v); return v; }
static int32_t geti32(const packet p, size_t off) { int32_t v; memcpy(&v, p + off, sizeof v); return v; }

/* The string in a field, or NULL if the field holds no NUL. */
static const char *get_string(const packet p, size_t off, size_t len)
{
	return memchr(p + off, '\0', len) ? (const char *)(p + off) : NULL;
}

static int wait_readable(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	int r;

	do
		r = poll(&pfd, 1, HANG_GUARD_MS);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		die("poll");
	return r > 0;
}

static int connect_pool(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		printf("local error: socket path too long: %s\n", path);
		exit(2);
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket AF_UNIX");
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0)
		die("connect to the pool");
	return fd;
}

static int connect_tcp(unsigned port)
{
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket AF_INET");
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
		die("connect to 127.0.0.1");
	return fd;
}

/* Send one whole packet; pass_fd (unless -1) travels with its first byte. */
static void send_packet(int fd, const packet p, int pass_fd)
{
	size_t off = 0;

	while (off < W_SIZE) {
		struct msghdr msg;
		struct iovec iov;
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl;
		ssize_t n;

		memset(&msg, 0, sizeof msg);
		iov.iov_base = (void *)(p + off);
		iov.iov_len = W_SIZE - off;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		if (pass_fd >= 0) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof ctl);
			msg.msg_control = ctl.buf;
			msg.msg_controllen = sizeof ctl.buf;
			c = CMSG_FIRSTHDR(&msg);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
		}
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("sendmsg to the pool");
		pass_fd = -1;
		off += (size_t)n;
	}
}

/*
 * Read exactly one packet. The first fd that arrives with it is stored in
 * *got_fd (the caller owns it); any further fds are closed.
 */
static void recv_packet(int fd, packet p, int *got_fd)
{
	size_t have = 0;

	*got_fd = -1;
	while (have < W_SIZE) {
		struct msghdr msg;
		struct iovec iov;
		union {
			char buf[CMSG_SPACE(4 * sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct cmsghdr *c;
		ssize_t n;

		if (!wait_readable(fd))
			broken("no response from the pool (hang guard)");
		memset(&msg, 0, sizeof msg);
		iov.iov_base = p + have;
		iov.iov_len = W_SIZE - have;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof ctl.buf;
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("recvmsg from the pool");
		if (n == 0)
			broken("the pool closed the connection");
		if (msg.msg_flags & MSG_CTRUNC)
			broken("ancillary data truncated");
		for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
			size_t k, nfd;

			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (k = 0; k < nfd; k++) {
				int received;

				memcpy(&received, CMSG_DATA(c) + k * sizeof(int), sizeof received);
				if (*got_fd < 0)
					*got_fd = received;
				else
					close(received);
			}
		}
		have += (size_t)n;
	}
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("write to the plaintext fd");
		buf += n;
		len -= (size_t)n;
	}
}

/* Read up to the first newline (not stored) into line; returns its length. */
static size_t read_line(int fd, char *line, size_t cap)
{
	size_t len = 0;

	for (;;) {
		char ch;
		ssize_t n;

		if (!wait_readable(fd))
			broken("no reply on the plaintext fd (hang guard)");
		n = read(fd, &ch, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read from the plaintext fd");
		if (n == 0) {
			printf("the peer closed after %zu bytes without a newline\n", len);
			exit(2);
		}
		if (ch == '\n')
			break;
		if (ch != '\r' && len + 1 < cap)
			line[len++] = ch;
	}
	line[len] = '\0';
	return len;
}

int main(int argc, char **argv)
{
	const char *line = argc > 4 ? argv[4] : "hello, pool";
	char reply[1024];
	packet p;
	unsigned long port;
	char *end;
	int pool, tcp, plain;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: starttls_client SOCKET_PATH PORT REMOTEID [LINE]\n");
		return 2;
	}
	port = strtoul(argv[2], &end, 10);
	if (*end != '\0' || port == 0 || port > 65535) {
		fprintf(stderr, "starttls_client: bad port %s\n", argv[2]);
		return 2;
	}
	if (strlen(argv[3]) >= W_ID_LEN) {
		fprintf(stderr, "starttls_client: remote id too long\n");
		return 2;
	}

	pool = connect_pool(argv[1]);
	tcp = connect_tcp((unsigned)port);

	memset(p, 0, W_SIZE);
	put16(p, W_REQID, REQID);
	put16(p, W_CBID, 0);
	put32(p, W_CMD, T_STARTTLS_CLIENT);
	put32(p, W_TLS_FLAGS, 0);
	put32(p, W_TLS_LOCAL, 0);
	p[W_TLS_IPPROTO] = 6;
	put16(p, W_TLS_STREAMID, 0);
	p[W_TLS_LOCALID] = '\0';
	memcpy(p + W_TLS_REMOTEID, argv[3], strlen(argv[3]) + 1);
	send_packet(pool, p, tcp);
	close(tcp); /* the pool has its own copy now */
	printf("sent STARTTLS_CLIENT for %s to 127.0.0.1:%lu\n", argv[3], port);

	for (;;) {
		uint32_t cmd;
		int fd;

		recv_packet(pool, p, &fd);
		cmd = get32(p, W_CMD);
		if (get16(p, W_REQID) != REQID) {
			if (fd >= 0)
				close(fd);
			broken("a response with a reqid we never sent");
		}
		if (cmd == T_STARTTLS_LOCALID && get16(p, W_CBID) != 0) {
			const char *proposal = get_string(p, W_TLS_LOCALID, W_ID_LEN);

			if (fd >= 0)
				close(fd);
			if (proposal == NULL)
				broken("a STARTTLS_LOCALID proposal without NUL in localid");
			printf("localid proposal: %s (accepted)\n", proposal);
			/* Accept: the packet goes back as it came, reqid and cbid included. */
			send_packet(pool, p, -1);
			continue;
		}
		if (cmd == T_ERROR) {
			const char *m = get_string(p, W_ERR_MESSAGE, W_ERR_MESSAGE_LEN);

			if (fd >= 0)
				close(fd);
			printf("error: errno %ld: %s\n", (long)geti32(p, W_ERR_ERRNO), m ? m : "(message without NUL)");
			close(pool);
			return 1;
		}
		if (cmd != T_STARTTLS_CLIENT) {
			if (fd >= 0)
				close(fd);
			printf("unexpected command 0x%08lx\n", (unsigned long)cmd);
			broken("the final response is neither STARTTLS_CLIENT nor ERROR");
		}
		if (fd < 0)
			broken("STARTTLS_CLIENT response without a file descriptor");
		plain = fd;
		break;
	}
	{
		const char *lid = get_string(p, W_TLS_LOCALID, W_ID_LEN);
		const char *rid = get_string(p, W_TLS_REMOTEID, W_ID_LEN);

		printf("established: localid \"%s\" remoteid \"%s\"\n", lid ? lid : "(no NUL)", rid ? rid : "(no NUL)");
	}
	close(pool);

	write_all(plain, line, strlen(line));
	write_all(plain, "\n", 1);
	read_line(plain, reply, sizeof reply);
	printf("reply: %s\n", reply);
	fflush(stdout);
	close(plain);
	return 0;
}
