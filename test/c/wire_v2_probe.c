/*
 * wire_v2_probe -- talks V2 to a TLS Pool with nothing but the byte offsets
 * of wire_v2.h (written from docs/protocol.md), never the project header.
 *
 * Usage: wire_v2_probe SOCKET_PATH SCENARIO
 * Scenarios: ping unknown pipelined split early unterminated superfluous
 *            stray-cbid control-unknown starttls-nofd starttls-roles
 * Prints one line per check ("ok: ..." or "FAIL: ...") and exits 0 only if
 * every check passed; 1 on a failed check, 2 on a usage or local error.
 */
#define _POSIX_C_SOURCE 200809L

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

#include "wire_v2.h"

#define PROBE_IDENTITY "20151111api@tlspool.arpa2.net"
#define N_EINVAL 22
/* Not a timing assertion: only keeps a silent daemon from hanging the probe. */
#define HANG_GUARD_MS 20000

typedef unsigned char packet[V_SIZE];

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

static void lost(const char *what)
{
	check(0, "the pool keeps the connection open (%s: %s)", what, errno ? strerror(errno) : "closed");
	printf("%d failed checks\n", failures);
	exit(1);
}

static void put16(unsigned char *p, size_t off, uint16_t v) { memcpy(p + off, &v, sizeof v); }
static void put32(unsigned char *p, size_t off, uint32_t v) { memcpy(p + off, &v, sizeof v); }
static uint16_t get16(const unsigned char *p, size_t off) { uint16_t v; memcpy(&v, p + off, sizeof v); return v; }
static uint32_t get32(const unsigned char *p, size_t off) { uint32_t v; memcpy(&v, p + off, sizeof v); return v; }
static int32_t geti32(const unsigned char *p, size_t off) { int32_t v; memcpy(&v, p + off, sizeof v); return v; }

static void put_string(unsigned char *p, size_t off, size_t len, const char *s)
{
	size_t n = strlen(s);

	if (n >= len) {
		printf("ERROR: string too long for its field: %s\n", s);
		exit(2);
	}
	memcpy(p + off, s, n + 1);
}

static void make(packet p, uint16_t reqid, uint32_t cmd)
{
	memset(p, 0, V_SIZE);
	put16(p, V_REQID, reqid);
	put32(p, V_CMD, cmd);
}

static void make_ping(packet p, uint16_t reqid)
{
	make(p, reqid, VT_PING);
	put_string(p, V_PING_ID, V_PING_ID_LEN, PROBE_IDENTITY);
	put32(p, V_PING_FACILITIES, 0xffffffffu);
}

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
		die("connect");
	return fd;
}

/* One sendmsg of `len` bytes, with `pass` as SCM_RIGHTS when >= 0. */
static void send_bytes(int sock, const void *buf, size_t len, int pass)
{
	struct msghdr msg;
	struct iovec iov;
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl;
	ssize_t n;

	memset(&msg, 0, sizeof msg);
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (pass >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof ctl);
		msg.msg_control = ctl.b;
		msg.msg_controllen = sizeof ctl.b;
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass, sizeof(int));
	}
	n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	if (n != (ssize_t)len)
		die("sendmsg");
}

/*
 * One recvmsg of up to 388 bytes, as the V2 library reads: returns how many
 * came (a V2 answer must come whole in one read). Counts any descriptor.
 */
static ssize_t recv_one(int sock, unsigned char *buf, int *fds_seen)
{
	struct pollfd pfd = { sock, POLLIN, 0 };
	struct msghdr msg;
	struct iovec iov;
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int) * 4)]; } ctl;
	ssize_t n;

	if (poll(&pfd, 1, HANG_GUARD_MS) <= 0)
		lost("no answer");
	memset(&msg, 0, sizeof msg);
	iov.iov_base = buf;
	iov.iov_len = V_SIZE;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.b;
	msg.msg_controllen = sizeof ctl.b;
	n = recvmsg(sock, &msg, 0);
	if (n <= 0)
		lost("recvmsg");
	if (msg.msg_controllen > 0 && fds_seen)
		(*fds_seen)++;
	return n;
}

/* A whole V2 answer in one read. */
static void recv_v2(int sock, packet p, int *fds_seen)
{
	ssize_t n = recv_one(sock, p, fds_seen);

	if (n != V_SIZE) {
		check(0, "an answer is 388 bytes in one read (got %zd)", n);
		printf("%d failed checks\n", failures);
		exit(1);
	}
}

static void expect_error(int sock, uint16_t reqid, int32_t code, const char *what)
{
	packet p;
	int fds = 0;
	const char *msg;

	recv_v2(sock, p, &fds);
	check(get32(p, V_CMD) == VT_ERROR, "%s: answered by ERROR (tag 0x%x)", what, get32(p, V_CMD));
	check(get16(p, V_REQID) == reqid && get16(p, V_CBID) == 0, "%s: reqid %u copied, cbid 0", what, reqid);
	check(geti32(p, V_ERR_CODE) == code, "%s: code %d (got %d)", what, code, geti32(p, V_ERR_CODE));
	msg = memchr(p + V_ERR_MESSAGE, 0, V_ERR_MESSAGE_LEN) ? (const char *)p + V_ERR_MESSAGE : NULL;
	check(msg && *msg, "%s: a message is given: %s", what, msg ? msg : "(no NUL)");
	if (msg)
		printf("error: code %d: %s\n", geti32(p, V_ERR_CODE), msg);
	check(fds == 0, "%s: no descriptor comes with the answer", what);
}

static void expect_ping(int sock, uint16_t reqid, const char *what)
{
	packet p;
	int fds = 0;
	size_t i, len;
	int zero = 1;

	recv_v2(sock, p, &fds);
	check(get32(p, V_CMD) == VT_PING, "%s: answered by PING (tag 0x%x)", what, get32(p, V_CMD));
	check(get16(p, V_REQID) == reqid && get16(p, V_CBID) == 0, "%s: reqid %u copied, cbid 0", what, reqid);
	check(memchr(p + V_PING_ID, 0, V_PING_ID_LEN) && strcmp((const char *)p + V_PING_ID, V_POOL_IDENTITY) == 0,
	      "%s: the pool's V2 identity", what);
	len = strlen((const char *)p + V_PING_ID);
	for (i = len; i < V_PING_ID_LEN; i++)
		zero &= p[V_PING_ID + i] == 0;
	check(zero, "%s: the identity field is zero after its NUL", what);
	check(get32(p, V_PING_FACILITIES) == 0x1u, "%s: facilities ~0 come back as STARTTLS only (0x%x)", what,
	      get32(p, V_PING_FACILITIES));
	check(fds == 0, "%s: no descriptor comes with the answer", what);
	printf("pool identity: %s\n", (const char *)p + V_PING_ID);
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void scenario_pipelined(int sock)
{
	enum { N = 100 };
	static unsigned char many[N * V_SIZE];
	int seen[N + 1] = { 0 };
	int i, all = 1;

	for (i = 0; i < N; i++)
		make_ping(many + i * V_SIZE, (uint16_t)(i + 1));
	send_bytes(sock, many, sizeof many, -1);
	for (i = 0; i < N; i++) {
		packet p;

		recv_v2(sock, p, NULL);
		if (get32(p, V_CMD) == VT_PING && get16(p, V_REQID) >= 1 && get16(p, V_REQID) <= N)
			seen[get16(p, V_REQID)]++;
	}
	for (i = 1; i <= N; i++)
		all &= seen[i] == 1;
	check(all, "%d pipelined V2 PINGs in one write get one 388-byte PING each", N);
}

static void scenario_early(int sock)
{
	unsigned char p[V_SIZE];
	int round;

	for (round = 1; round <= 2; round++) {
		ssize_t n;

		make(p, (uint16_t)(40 + round), VT_CONTROL_DETACH);
		send_bytes(sock, p, 376, -1);
		n = recv_one(sock, p, NULL);
		check(n == 376, "early V2 request %d: answered in 376 bytes (got %zd)", round, n);
		check(get32(p, V_CMD) == VT_ERROR && geti32(p, V_ERR_CODE) == VE_COMMAND_NOTIMPL,
		      "early V2 request %d: ERROR COMMAND_NOTIMPL (tag 0x%x code %d)", round, get32(p, V_CMD), geti32(p, V_ERR_CODE));
		check(get16(p, V_REQID) == 40 + round, "early V2 request %d: reqid copied", round);
		if (memchr(p + V_ERR_MESSAGE, 0, V_ERR_MESSAGE_LEN))
			printf("error: code %d: %s\n", geti32(p, V_ERR_CODE), (const char *)p + V_ERR_MESSAGE);
	}
}

static void starttls_request(packet p, uint16_t reqid, uint32_t flags)
{
	make(p, reqid, VT_STARTTLS);
	put32(p, V_TLS_FLAGS, flags);
	p[V_TLS_IPPROTO] = 6;
	put_string(p, V_TLS_REMOTEID, V_ID_LEN, "example.com");
	memset(p + V_TLS_CTLKEY, 0x5a, 16);
	put_string(p, V_TLS_SERVICE, 16, "generic");
}

static void scenario_roles(int sock)
{
	static const uint32_t bad[] = { 0x0, 0x1, 0x5, 0xa, 0xf };
	size_t i;
	packet p;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char what[64];
		int tcp[2];

		/* A connected stream socket, so that only the roles are wrong. */
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, tcp) < 0)
			die("socketpair");
		starttls_request(p, (uint16_t)(60 + i), bad[i]);
		send_bytes(sock, p, V_SIZE, tcp[0]);
		close(tcp[0]);
		snprintf(what, sizeof what, "STARTTLS with roles 0x%x", bad[i]);
		expect_error(sock, (uint16_t)(60 + i), VE_COMMAND_NOTIMPL, what);
		close(tcp[1]);
	}
}

int main(int argc, char **argv)
{
	packet p;
	int sock;
	const char *s;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SOCKET_PATH SCENARIO\n", argv[0]);
		return 2;
	}
	s = argv[2];
	sock = connect_pool(argv[1]);
	if (strcmp(s, "ping") == 0) {
		make_ping(p, 7);
		send_bytes(sock, p, V_SIZE, -1);
		expect_ping(sock, 7, "PING");
	} else if (strcmp(s, "unknown") == 0) {
		make(p, 9, VT_UNKNOWN);
		send_bytes(sock, p, V_SIZE, -1);
		expect_error(sock, 9, VE_COMMAND_UNKNOWN, "an unknown tag");
		make_ping(p, 10);
		send_bytes(sock, p, V_SIZE, -1);
		expect_ping(sock, 10, "PING after it");
	} else if (strcmp(s, "pipelined") == 0) {
		scenario_pipelined(sock);
	} else if (strcmp(s, "split") == 0) {
		/* A V2-only first packet written in two pieces, the second a little later. */
		make(p, 21, VT_CONTROL_DETACH);
		memset(p + V_CTL_CTLKEY, 0x77, 16);
		send_bytes(sock, p, 376, -1);
		pause_ms(50);
		send_bytes(sock, p + 376, V_SIZE - 376, -1);
		expect_error(sock, 21, VE_CTLKEY_NOT_FOUND, "CONTROL_DETACH written in two pieces");
		make_ping(p, 22);
		send_bytes(sock, p, V_SIZE, -1);
		expect_ping(sock, 22, "PING after it");
	} else if (strcmp(s, "early") == 0) {
		scenario_early(sock);
	} else if (strcmp(s, "unterminated") == 0) {
		make(p, 31, VT_PING);
		memset(p + V_PING_ID, 'x', V_PING_ID_LEN);
		send_bytes(sock, p, V_SIZE, -1);
		expect_error(sock, 31, N_EINVAL, "a PING whose identity has no NUL");
		make_ping(p, 32);
		send_bytes(sock, p, V_SIZE, -1);
		expect_ping(sock, 32, "PING after it");
	} else if (strcmp(s, "superfluous") == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null < 0)
			die("open /dev/null");
		make_ping(p, 33);
		send_bytes(sock, p, V_SIZE, null);
		close(null);
		expect_error(sock, 33, VE_SUPERFLUOUS_SOCKET, "a PING with a descriptor");
		make_ping(p, 34);
		send_bytes(sock, p, V_SIZE, -1);
		expect_ping(sock, 34, "PING after it");
	} else if (strcmp(s, "stray-cbid") == 0) {
		make_ping(p, 35);
		put16(p, V_CBID, 77);
		send_bytes(sock, p, V_SIZE, -1);
		expect_ping(sock, 35, "a PING with a cbid no callback has");
	} else if (strcmp(s, "control-unknown") == 0) {
		make(p, 36, VT_CONTROL_DETACH);
		memset(p + V_CTL_CTLKEY, 0x42, 16);
		send_bytes(sock, p, V_SIZE, -1);
		expect_error(sock, 36, VE_CTLKEY_NOT_FOUND, "CONTROL_DETACH of an unknown ctlkey");
		make(p, 37, VT_CONTROL_REATTACH);
		memset(p + V_CTL_CTLKEY, 0x42, 16);
		send_bytes(sock, p, V_SIZE, -1);
		expect_error(sock, 37, VE_CTLKEY_NOT_FOUND, "CONTROL_REATTACH of an unknown ctlkey");
	} else if (strcmp(s, "starttls-nofd") == 0) {
		starttls_request(p, 50, VF_LOCALROLE_CLIENT | VF_REMOTEROLE_SERVER);
		send_bytes(sock, p, V_SIZE, -1);
		expect_error(sock, 50, VE_CIPHER_SOCKET_NEEDED, "STARTTLS without a descriptor");
	} else if (strcmp(s, "starttls-roles") == 0) {
		scenario_roles(sock);
	} else {
		fprintf(stderr, "unknown scenario %s\n", s);
		return 2;
	}
	close(sock);
	printf("%s: %d failed checks\n", s, failures);
	return failures ? 1 : 0;
}
