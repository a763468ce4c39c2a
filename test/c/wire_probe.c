/*
 * wire_probe -- talks to a TLS Pool with nothing but the byte offsets of
 * docs/protocol.md. It deliberately does NOT include <tlspool/commands.h>:
 * if both the header and the daemon were wrong in the same way, this
 * program would still notice.
 *
 * Usage: wire_probe SOCKET_PATH SCENARIO
 * Scenarios: ping unknown pipelined split starttls-nofd starttls-notsock
 *            starttls-udp-nodtls unterminated vanish
 * Prints one line per check ("ok: ..." or "FAIL: ...") and exits 0 only if
 * every check passed; 1 on a failed check, 2 on a usage or local error.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

#define POOL_IDENTITY  "20130710tlspool@openfortress.nl"
#define PROBE_IDENTITY "20260101wireprobe@example.org"

/* Linux <errno.h> values the wire contract names, written as numbers on
 * purpose: they are what travels, whatever this libc calls them. */
#define N_EBADF           9
#define N_EINVAL          22
#define N_ENOSYS          38
#define N_ENOTSOCK        88
#define N_EPROTONOSUPPORT 93

/* Not a timing assertion: only keeps a silent daemon from hanging the probe. */
#define HANG_GUARD_MS 20000

typedef unsigned char packet[W_SIZE];

static int failures;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

static void die(const char *what)
{
	printf("ERROR: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* The pool dropped the connection under us: that is the pool's failure. */
static void lost(const char *what)
{
	check(0, "the pool keeps the connection open (%s: %s)", what, strerror(errno));
	printf("%d failed checks\n", failures);
	exit(1);
}

/* ---- Bytes in host order at an offset. ---- */
static void put16(packet p, size_t off, uint16_t v) { memcpy(p + off, &v, sizeof v); }
static void put32(packet p, size_t off, uint32_t v) { memcpy(p + off, &v, sizeof v); }
static uint16_t get16(const packet p, size_t off) { uint16_t v; memcpy(&v, p + off, sizeof v); return v; }
static uint32_t get32(const packet p, size_t off) { uint32_t v; memcpy(&v, p + off, sizeof v); return v; }
static int32_t geti32(const packet p, size_t off) { int32_t v; memcpy(&v, p + off, sizeof v); return v; }

static void put_string(packet p, size_t off, size_t len, const char *s)
{
	size_t n = strlen(s);

	if (n >= len) {
		printf("ERROR: string too long for its field: %s\n", s);
		exit(2);
	}
	memcpy(p + off, s, n + 1);
}

/* The string in a field, or NULL if the field holds no NUL. */
static const char *get_string(const packet p, size_t off, size_t len)
{
	return memchr(p + off, '\0', len) ? (const char *)(p + off) : NULL;
}

static void make_ping(packet p, uint16_t reqid, const char *identity)
{
	memset(p, 0, W_SIZE);
	put16(p, W_REQID, reqid);
	put32(p, W_CMD, T_PING);
	put_string(p, W_PING_ID, W_PING_ID_LEN, identity);
}

static void make_starttls_client(packet p, uint16_t reqid, uint8_t ipproto, uint32_t flags)
{
	memset(p, 0, W_SIZE);
	put16(p, W_REQID, reqid);
	put32(p, W_CMD, T_STARTTLS_CLIENT);
	put32(p, W_TLS_FLAGS, flags);
	put32(p, W_TLS_LOCAL, 0);
	p[W_TLS_IPPROTO] = ipproto;
	put16(p, W_TLS_STREAMID, 0);
	put_string(p, W_TLS_LOCALID, 128, "");
	put_string(p, W_TLS_REMOTEID, 128, "example.com");
}

/* ---- The socket. ---- */
static int connect_pool(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		printf("ERROR: socket path too long: %s\n", path);
		exit(2);
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0)
		die("connect to the pool");
	return fd;
}

/*
 * Send len bytes with one sendmsg() call, with pass_fd (unless -1) as
 * SCM_RIGHTS; returns how many bytes that call took (the caller decides
 * whether a short write matters).
 */
static size_t send_once(int fd, const void *buf, size_t len, int pass_fd)
{
	struct msghdr msg;
	struct iovec iov;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	ssize_t n;

	memset(&msg, 0, sizeof msg);
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
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
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
		lost("sendmsg");
	if (n < 0)
		die("sendmsg");
	return (size_t)n;
}

/* Send all of len bytes; an fd goes with the first byte. */
static void send_all(int fd, const void *buf, size_t len, int pass_fd)
{
	const unsigned char *p = buf;

	while (len > 0) {
		size_t n = send_once(fd, p, len, pass_fd);
		pass_fd = -1;
		p += n;
		len -= n;
	}
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Read exactly one 376-byte packet (in as many pieces as the stream
 * delivers). Any fd that arrives is closed and counted in *fds_seen.
 * Returns 1 on success, 0 if the pool closed the connection or stayed
 * silent past the hang guard (reported as a failed check).
 */
static int recv_packet(int fd, packet p, int *fds_seen)
{
	size_t have = 0;

	while (have < W_SIZE) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		struct msghdr msg;
		struct iovec iov;
		union {
			char buf[CMSG_SPACE(4 * sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct cmsghdr *c;
		ssize_t n;
		int r;

		r = poll(&pfd, 1, HANG_GUARD_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("poll");
		if (r == 0) {
			check(0, "a response arrives (none after %d s, %zu of %d bytes read)",
			      HANG_GUARD_MS / 1000, have, W_SIZE);
			return 0;
		}
		memset(&msg, 0, sizeof msg);
		iov.iov_base = p + have;
		iov.iov_len = W_SIZE - have;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof ctl.buf;
		n = recvmsg(fd, &msg, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ECONNRESET)
			lost("recvmsg");
		if (n < 0)
			die("recvmsg");
		if (n == 0) {
			check(0, "a response arrives (the pool closed the connection after %zu of %d bytes)",
			      have, W_SIZE);
			return 0;
		}
		for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				size_t k, nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				for (k = 0; k < nfd; k++) {
					int got;
					memcpy(&got, CMSG_DATA(c) + k * sizeof(int), sizeof got);
					close(got);
					if (fds_seen)
						(*fds_seen)++;
				}
			}
		}
		have += (size_t)n;
	}
	return 1;
}

static const char *cmd_name(uint32_t cmd)
{
	switch (cmd) {
	case 0x00000000u: return "SUCCESS";
	case T_ERROR: return "ERROR";
	case T_PING: return "PING";
	case T_STARTTLS_CLIENT: return "STARTTLS_CLIENT";
	case 0x00000021u: return "STARTTLS_SERVER";
	case 0x00000028u: return "STARTTLS_LOCALID";
	case 0x00000029u: return "PINENTRY";
	default: return "unknown";
	}
}

/* Checks on a PING response to reqid, carrying the pool's identity. */
static void expect_ping(const packet p, uint16_t reqid)
{
	const char *id = get_string(p, W_PING_ID, W_PING_ID_LEN);
	uint32_t cmd = get32(p, W_CMD);

	check(cmd == T_PING, "response is PING (command 0x%08lx %s)", (unsigned long)cmd, cmd_name(cmd));
	if (cmd == T_ERROR) {
		const char *m = get_string(p, W_ERR_MESSAGE, W_ERR_MESSAGE_LEN);
		printf("  the pool said ERROR errno %ld: %s\n", (long)geti32(p, W_ERR_ERRNO),
		       m ? m : "(message without NUL)");
	}
	check(get16(p, W_REQID) == reqid, "reqid %u copied (got %u)", (unsigned)reqid, (unsigned)get16(p, W_REQID));
	check(get16(p, W_CBID) == 0, "cbid is 0 (got %u)", (unsigned)get16(p, W_CBID));
	check(id != NULL, "pool identity is NUL-terminated within its %d bytes", W_PING_ID_LEN);
	if (id) {
		check(strcmp(id, POOL_IDENTITY) == 0, "pool identity is \"%s\" (got \"%s\")", POOL_IDENTITY, id);
		printf("pool identity: %s\n", id);
	}
}

/* Checks on an ERROR response to reqid with the given errno. */
static void expect_error(const packet p, uint16_t reqid, int32_t want_errno, const char *want_name)
{
	uint32_t cmd = get32(p, W_CMD);
	int32_t e = geti32(p, W_ERR_ERRNO);
	const char *m = get_string(p, W_ERR_MESSAGE, W_ERR_MESSAGE_LEN);

	check(cmd == T_ERROR, "response is ERROR (command 0x%08lx %s)", (unsigned long)cmd, cmd_name(cmd));
	check(get16(p, W_REQID) == reqid, "reqid %u copied (got %u)", (unsigned)reqid, (unsigned)get16(p, W_REQID));
	check(get16(p, W_CBID) == 0, "cbid is 0 (got %u)", (unsigned)get16(p, W_CBID));
	if (cmd != T_ERROR)
		return;
	check(e == want_errno, "tlserrno is %s (%ld) (got %ld)", want_name, (long)want_errno, (long)e);
	check(m != NULL, "message is NUL-terminated within its %d bytes", W_ERR_MESSAGE_LEN);
	if (m)
		check(m[0] != '\0', "message is not empty");
	printf("error: errno %ld: %s\n", (long)e, m ? m : "(no NUL)");
}

/* Send one PING on a connection and check its answer. */
static void ping_roundtrip(int fd, uint16_t reqid)
{
	packet p;

	make_ping(p, reqid, PROBE_IDENTITY);
	send_all(fd, p, W_SIZE, -1);
	if (recv_packet(fd, p, NULL))
		expect_ping(p, reqid);
}

/* ---- Scenarios. ---- */

static void scenario_ping(const char *path)
{
	int fd = connect_pool(path);

	ping_roundtrip(fd, 7);
	close(fd);
}

static void scenario_unknown(const char *path)
{
	int fd = connect_pool(path);
	packet p;

	memset(p, 0, W_SIZE);
	put16(p, W_REQID, 0xbeef);
	put32(p, W_CMD, T_UNKNOWN);
	send_all(fd, p, W_SIZE, -1);
	if (recv_packet(fd, p, NULL))
		expect_error(p, 0xbeef, N_ENOSYS, "ENOSYS");
	/* The connection survives an unknown command. */
	ping_roundtrip(fd, 0xbef0);
	close(fd);
}

#define PIPELINED 300

static void scenario_pipelined(const char *path)
{
	static unsigned char burst[PIPELINED * W_SIZE];
	unsigned seen[PIPELINED + 1];
	unsigned i, answered = 0, wrong_cmd = 0, wrong_id = 0, out_of_range = 0, twice = 0, missing;
	int fd = connect_pool(path);
	size_t took;
	packet p;

	memset(seen, 0, sizeof seen);
	for (i = 0; i < PIPELINED; i++)
		make_ping(burst + i * W_SIZE, (uint16_t)(i + 1), PROBE_IDENTITY);
	took = send_once(fd, burst, sizeof burst, -1);
	printf("one write() took %zu of %zu bytes\n", took, sizeof burst);
	if (took < sizeof burst)
		send_all(fd, burst + took, sizeof burst - took, -1);

	for (i = 0; i < PIPELINED; i++) {
		uint16_t id;
		const char *s;

		if (!recv_packet(fd, p, NULL))
			break;
		answered++;
		id = get16(p, W_REQID);
		s = get_string(p, W_PING_ID, W_PING_ID_LEN);
		if (get32(p, W_CMD) != T_PING)
			wrong_cmd++;
		if (s == NULL || strcmp(s, POOL_IDENTITY) != 0)
			wrong_id++;
		if (id < 1 || id > PIPELINED)
			out_of_range++;
		else if (seen[id]++)
			twice++;
	}
	check(answered == PIPELINED, "%d responses arrive (got %u)", PIPELINED, answered);
	check(wrong_cmd == 0, "every response is PING (%u are not)", wrong_cmd);
	check(wrong_id == 0, "every response carries the pool identity (%u do not)", wrong_id);
	check(out_of_range == 0, "every reqid is one we sent (%u are not)", out_of_range);
	check(twice == 0, "no reqid is answered twice (%u were)", twice);
	for (i = 1, missing = 0; i <= PIPELINED; i++)
		if (!seen[i])
			missing++;
	check(missing == 0, "every reqid 1..%d is answered (%u are not)", PIPELINED, missing);

	/* Nothing more is queued: the next response is the one to this PING. */
	ping_roundtrip(fd, PIPELINED + 1);
	close(fd);
}

static void scenario_split(const char *path)
{
	int fd = connect_pool(path);
	packet p;

	make_ping(p, 0x0a0b, PROBE_IDENTITY);
	/* Cut inside the header, and inside the identity string. */
	send_all(fd, p, 3, -1);
	pause_ms(50);
	send_all(fd, p + 3, 17, -1);
	pause_ms(50);
	send_all(fd, p + 20, W_SIZE - 20, -1);
	if (recv_packet(fd, p, NULL))
		expect_ping(p, 0x0a0b);
	/* Exactly one response: the next one answers this second PING. */
	ping_roundtrip(fd, 0x0a0c);
	close(fd);
}

/* Send a STARTTLS_CLIENT with fd (or none) and expect ERROR want_errno. */
static void starttls_expect_error(const char *path, uint16_t reqid, uint8_t ipproto, int pass_fd,
				  int32_t want_errno, const char *want_name)
{
	int fd = connect_pool(path);
	int fds_back = 0;
	packet p;

	make_starttls_client(p, reqid, ipproto, 0);
	send_all(fd, p, W_SIZE, pass_fd);
	if (recv_packet(fd, p, &fds_back)) {
		expect_error(p, reqid, want_errno, want_name);
		check(fds_back == 0, "the ERROR carries no fd (got %d)", fds_back);
	}
	/* The connection still serves. */
	ping_roundtrip(fd, (uint16_t)(reqid + 1));
	close(fd);
}

static void scenario_starttls_nofd(const char *path)
{
	starttls_expect_error(path, 0x2001, 6, -1, N_EBADF, "EBADF");
}

static void scenario_starttls_notsock(const char *path)
{
	int devnull = open("/dev/null", O_RDWR);

	if (devnull < 0)
		die("open /dev/null");
	starttls_expect_error(path, 0x2002, 6, devnull, N_ENOTSOCK, "ENOTSOCK");
	close(devnull); /* our copy, as the contract asks after an ERROR */
}

static void scenario_starttls_udp_nodtls(const char *path)
{
	struct sockaddr_in peer;
	socklen_t len = sizeof peer;
	int target, udp;

	/* A bound UDP socket to connect to, so the address really exists. */
	target = socket(AF_INET, SOCK_DGRAM, 0);
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	if (target < 0 || udp < 0)
		die("socket AF_INET SOCK_DGRAM");
	memset(&peer, 0, sizeof peer);
	peer.sin_family = AF_INET;
	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	peer.sin_port = 0;
	if (bind(target, (struct sockaddr *)&peer, sizeof peer) < 0)
		die("bind UDP 127.0.0.1");
	if (getsockname(target, (struct sockaddr *)&peer, &len) < 0)
		die("getsockname");
	if (connect(udp, (struct sockaddr *)&peer, sizeof peer) < 0)
		die("connect UDP");
	printf("UDP socket connected to 127.0.0.1:%u\n", (unsigned)ntohs(peer.sin_port));
	starttls_expect_error(path, 0x2003, 17, udp, N_EPROTONOSUPPORT, "EPROTONOSUPPORT");
	close(udp);
	close(target);
}

static void scenario_unterminated(const char *path)
{
	int fd = connect_pool(path);
	packet p;

	make_ping(p, 0x0055, PROBE_IDENTITY);
	memset(p + W_PING_ID, 'A', W_PING_ID_LEN); /* no NUL anywhere in the field */
	send_all(fd, p, W_SIZE, -1);
	if (recv_packet(fd, p, NULL))
		expect_error(p, 0x0055, N_EINVAL, "EINVAL");
	/* The connection survives one bad message. */
	ping_roundtrip(fd, 0x0056);
	close(fd);
}

static void scenario_vanish(const char *path)
{
	int devnull = open("/dev/null", O_RDWR);
	int fd;
	packet p;

	if (devnull < 0)
		die("open /dev/null");

	/* 100 bytes of a PING, then gone. */
	fd = connect_pool(path);
	make_ping(p, 0x0101, PROBE_IDENTITY);
	send_all(fd, p, 100, -1);
	close(fd);
	printf("client 1 sent 100 of %d bytes of a PING and closed\n", W_SIZE);

	/* 100 bytes of a STARTTLS_CLIENT with an fd attached, then gone. */
	fd = connect_pool(path);
	make_starttls_client(p, 0x0102, 6, 0);
	send_all(fd, p, 100, devnull);
	close(fd);
	close(devnull);
	printf("client 2 sent 100 of %d bytes of a STARTTLS_CLIENT with an fd and closed\n", W_SIZE);

	/* The pool still serves new connections. */
	fd = connect_pool(path);
	ping_roundtrip(fd, 0x0103);
	ping_roundtrip(fd, 0x0104);
	close(fd);
}

static const struct {
	const char *name;
	void (*run)(const char *path);
} scenarios[] = {
	{ "ping", scenario_ping },
	{ "unknown", scenario_unknown },
	{ "pipelined", scenario_pipelined },
	{ "split", scenario_split },
	{ "starttls-nofd", scenario_starttls_nofd },
	{ "starttls-notsock", scenario_starttls_notsock },
	{ "starttls-udp-nodtls", scenario_starttls_udp_nodtls },
	{ "unterminated", scenario_unterminated },
	{ "vanish", scenario_vanish },
};

int main(int argc, char **argv)
{
	size_t i;

	if (argc == 3) {
		for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
			if (strcmp(argv[2], scenarios[i].name) == 0) {
				scenarios[i].run(argv[1]);
				printf("%s: %d failed checks\n", scenarios[i].name, failures);
				return failures ? 1 : 0;
			}
		}
	}
	fprintf(stderr, "usage: wire_probe SOCKET_PATH SCENARIO\nscenarios:");
	for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
		fprintf(stderr, " %s", scenarios[i].name);
	fprintf(stderr, "\n");
	return 2;
}
