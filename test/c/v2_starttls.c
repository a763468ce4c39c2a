/*
 * v2_starttls -- an independent V2 STARTTLS client of the TLS Pool, built
 * from nothing but the byte offsets of wire_v2.h (never the project header).
 *
 * Usage: v2_starttls SOCKET SCENARIO ARGS...
 *   client PORT REMOTEID     client role to 127.0.0.1:PORT (s_server -rev):
 *                            PLAINTEXT_CONNECT, the control sequence, PRNG,
 *                            INFO, one line through the session
 *   localid-check PORT REMOTEID
 *                            client role with LOCALID_CHECK: the proposal is
 *                            accepted with the plaintext fd attached
 *   renegotiate PORT REMOTEID
 *                            client role to a TLS 1.2 s_server -rev, then
 *                            RENEGOTIATE: same names, new PRNG, data after
 *   server PORT              server role on a connection accepted on PORT
 *                            (an s_client sends a line, gets it upper-cased)
 *   errors PORT              the STARTTLS/PRNG/INFO/CONTROL refusals
 *   reattach KEYHEX          one CONTROL_REATTACH; prints its answer
 * Prints "ok: ..." / "FAIL: ..." lines and "SCENARIO: N failed checks";
 * exits 0 only when every check passed, 2 on a local error.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "wire_v2.h"

#define HANG_GUARD_MS 30000
#define LABEL "EXPERIMENTAL-tlspool-test"

typedef unsigned char packet[V_SIZE];

static int failures;
static const char *pool_path;
static uint16_t next_reqid = 0x700;

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
	printf("ERROR: %s: %s\n", what, errno ? strerror(errno) : "closed");
	exit(2);
}

static void put16(unsigned char *p, size_t off, uint16_t v) { memcpy(p + off, &v, sizeof v); }
static void put32(unsigned char *p, size_t off, uint32_t v) { memcpy(p + off, &v, sizeof v); }
static uint16_t get16(const unsigned char *p, size_t off) { uint16_t v; memcpy(&v, p + off, sizeof v); return v; }
static uint32_t get32(const unsigned char *p, size_t off) { uint32_t v; memcpy(&v, p + off, sizeof v); return v; }
static int32_t geti32(const unsigned char *p, size_t off) { int32_t v; memcpy(&v, p + off, sizeof v); return v; }

static void put_string(unsigned char *p, size_t off, size_t len, const char *s)
{
	if (strlen(s) >= len) {
		printf("ERROR: string too long: %s\n", s);
		exit(2);
	}
	memcpy(p + off, s, strlen(s) + 1);
}

static const char *str_at(const packet p, size_t off)
{
	return memchr(p + off, '\0', V_ID_LEN) ? (const char *)(p + off) : "(unterminated)";
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		die("socket path too long");
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0)
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
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
		die("connect to 127.0.0.1");
	return fd;
}

static void send_packet(int sock, const packet p, int pass)
{
	struct msghdr msg;
	struct iovec iov;
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl;
	ssize_t n;

	memset(&msg, 0, sizeof msg);
	iov.iov_base = (void *)p;
	iov.iov_len = V_SIZE;
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
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != V_SIZE)
		die("sendmsg");
}

static int wait_readable(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	int r;

	do
		r = poll(&pfd, 1, HANG_GUARD_MS);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

/* One whole packet; returns the number of descriptors that came with it (closed). */
static int recv_packet(int sock, packet p)
{
	size_t have = 0;
	int fds = 0;

	while (have < V_SIZE) {
		struct msghdr msg;
		struct iovec iov;
		union { struct cmsghdr h; char b[CMSG_SPACE(4 * sizeof(int))]; } ctl;
		struct cmsghdr *c;
		ssize_t n;

		if (!wait_readable(sock))
			die("no answer from the pool (hang guard)");
		memset(&msg, 0, sizeof msg);
		iov.iov_base = p + have;
		iov.iov_len = V_SIZE - have;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.b;
		msg.msg_controllen = sizeof ctl.b;
		n = recvmsg(sock, &msg, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("recvmsg from the pool");
		for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				int k, nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

				for (k = 0; k < nfd; k++) {
					int got;

					memcpy(&got, CMSG_DATA(c) + k * sizeof(int), sizeof got);
					close(got);
					fds++;
				}
			}
		}
		have += (size_t)n;
	}
	return fds;
}

/* The code of an ERROR answer, or 0 for any other answer. */
static int32_t error_code(const packet p)
{
	if (get32(p, V_CMD) != VT_ERROR)
		return 0;
	printf("error: code %d: %.127s\n", geti32(p, V_ERR_CODE), (const char *)(p + V_ERR_MESSAGE));
	return geti32(p, V_ERR_CODE);
}

static void make(packet p, uint32_t cmd)
{
	memset(p, 0, V_SIZE);
	put16(p, V_REQID, next_reqid++);
	put32(p, V_CMD, cmd);
}

static void make_key(unsigned char key[16])
{
	static unsigned counter;
	unsigned i;

	for (i = 0; i < 16; i++)
		key[i] = (unsigned char)(rand() ^ (int)(getpid() >> (i % 4)) ^ (int)counter++);
}

static void make_starttls(packet p, uint32_t flags, const char *localid, const char *remoteid, const unsigned char key[16])
{
	make(p, VT_STARTTLS);
	put32(p, V_TLS_FLAGS, flags);
	p[V_TLS_IPPROTO] = 6;
	put_string(p, V_TLS_LOCALID, V_ID_LEN, localid);
	put_string(p, V_TLS_REMOTEID, V_ID_LEN, remoteid);
	memcpy(p + V_TLS_CTLKEY, key, 16);
	put_string(p, V_TLS_SERVICE, 16, "generic");
}

/* Request/answer with no callbacks; returns the ERROR code or 0. */
static int32_t ask(int sock, packet p, int pass)
{
	send_packet(sock, p, pass);
	recv_packet(sock, p);
	return error_code(p);
}

static int32_t control(int sock, uint32_t cmd, const unsigned char key[16])
{
	packet p;

	make(p, cmd);
	memcpy(p + V_CTL_CTLKEY, key, 16);
	return ask(sock, p, -1);
}

static int32_t prng(int sock, const unsigned char key[16], const char *label, int ctxlen, int outlen, packet p)
{
	size_t l = strlen(label);

	make(p, VT_PRNG);
	put16(p, V_PRNG_IN1_LEN, (uint16_t)l);
	put16(p, V_PRNG_IN2_LEN, (uint16_t)(int16_t)ctxlen);
	put16(p, V_PRNG_LEN, (uint16_t)(int16_t)outlen);
	memcpy(p + V_PRNG_BUFFER, key, 16);
	memcpy(p + V_PRNG_BUFFER + 16, label, l);
	if (ctxlen > 0)
		memcpy(p + V_PRNG_BUFFER + 16 + l, "0123456789abcdef", (size_t)ctxlen);
	return ask(sock, p, -1);
}

static int32_t info(int sock, const unsigned char key[16], uint32_t kind, uint16_t len, packet p)
{
	make(p, VT_INFO);
	memcpy(p + V_INFO_CTLKEY, key, 16);
	put32(p, V_INFO_KIND, kind);
	put16(p, V_INFO_LEN, len);
	return ask(sock, p, -1);
}

static void print_hex(const char *what, const unsigned char *b, size_t n)
{
	size_t i;

	printf("%s: ", what);
	for (i = 0; i < n; i++)
		printf("%02X", b[i]);
	printf("\n");
}

enum answer { PAIR, NOFD, REFUSE, SILENT, LOCALID_FD, LOCALID_REFUSE };

struct outcome {
	int plaintext_connects;
	int localid_proposals;
	char proposal[V_ID_LEN];
	char connect_localid[V_ID_LEN];
	char connect_remoteid[V_ID_LEN];
	int app_fd;		/* our end of the plaintext socketpair, or -1 */
	int final_fds;		/* descriptors the pool sent with the final answer */
};

static int make_pair(int *app)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	*app = sv[0];
	return sv[1];
}

/* Send STARTTLS in p and answer callbacks as `how` says; p ends up holding the final answer. */
static int32_t run_starttls(int sock, packet p, int cryptfd, enum answer how, struct outcome *o)
{
	memset(o, 0, sizeof *o);
	o->app_fd = -1;
	send_packet(sock, p, cryptfd);
	for (;;) {
		int fds = recv_packet(sock, p);
		uint32_t cmd = get32(p, V_CMD);
		int give = -1;

		if (get16(p, V_CBID) == 0) {
			o->final_fds = fds;
			return error_code(p);
		}
		if (cmd == VT_STARTTLS_LOCALID) {
			o->localid_proposals++;
			snprintf(o->proposal, sizeof o->proposal, "%s", str_at(p, V_TLS_LOCALID));
			if (how == LOCALID_REFUSE) {
				put32(p, V_CMD, VT_ERROR);
				memset(p + 8, 0, V_SIZE - 8);
			} else if (how == LOCALID_FD)
				give = make_pair(&o->app_fd);
		} else if (cmd == VT_PLAINTEXT_CONNECT) {
			o->plaintext_connects++;
			snprintf(o->connect_localid, V_ID_LEN, "%s", str_at(p, V_TLS_LOCALID));
			snprintf(o->connect_remoteid, V_ID_LEN, "%s", str_at(p, V_TLS_REMOTEID));
			if (how == SILENT)
				continue;
			if (how == REFUSE) {
				put32(p, V_CMD, VT_ERROR);
				memset(p + 8, 0, V_SIZE - 8);
			} else if (how == PAIR)
				give = make_pair(&o->app_fd);
		}
		send_packet(sock, p, give);
		if (give >= 0)
			close(give);
	}
}

/* Write a line to the plaintext side (unless empty) and read one line back. */
static void line_through(int fd, const char *line, char *back, size_t size)
{
	size_t have = 0;

	if (*line && write(fd, line, strlen(line)) != (ssize_t)strlen(line))
		die("write plaintext");
	while (have + 1 < size && (have == 0 || back[have - 1] != '\n')) {
		ssize_t n;

		if (!wait_readable(fd))
			die("no plaintext came (hang guard)");
		n = read(fd, back + have, size - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	back[have] = '\0';
}

static void client(unsigned port, const char *remoteid, int localid_check)
{
	int sock = connect_unix(pool_path), tcp = connect_tcp(port);
	unsigned char key[16];
	struct outcome o;
	char back[256];
	packet p;
	int32_t code;

	make_key(key);
	make_starttls(p, VF_LOCALROLE_CLIENT | VF_REMOTEROLE_SERVER | (localid_check ? VF_LOCALID_CHECK : 0), "", remoteid, key);
	code = run_starttls(sock, p, tcp, localid_check ? LOCALID_FD : PAIR, &o);
	close(tcp);
	check(code == 0 && get32(p, V_CMD) == VT_STARTTLS, "the final answer is STARTTLS (code %d)", code);
	if (code != 0)
		return;
	check(get16(p, V_CBID) == 0 && o.final_fds == 0, "the final answer has cbid 0 and no descriptor");
	check(memcmp(p + V_TLS_CTLKEY, key, 16) == 0, "the ctlkey comes back unchanged");
	check(strcmp(str_at(p, V_TLS_REMOTEID), remoteid) == 0, "remoteid is the authenticated %s", remoteid);
	printf("established: localid \"%s\" remoteid \"%s\"\n", str_at(p, V_TLS_LOCALID), str_at(p, V_TLS_REMOTEID));
	if (localid_check) {
		check(o.localid_proposals >= 1, "a STARTTLS_LOCALID proposal came: %s", o.proposal);
		check(o.plaintext_connects == 0, "no PLAINTEXT_CONNECT after a LOCALID answer with the plaintext fd");
		check(strcmp(str_at(p, V_TLS_LOCALID), o.proposal) == 0, "localid is the accepted proposal");
	} else {
		check(o.plaintext_connects == 1, "one PLAINTEXT_CONNECT");
		check(o.localid_proposals == 0, "no STARTTLS_LOCALID without LOCALID_CHECK");
		check(strcmp(o.connect_remoteid, remoteid) == 0, "PLAINTEXT_CONNECT names the remoteid");
		/* The control sequence of the original test client. */
		check(control(sock, VT_CONTROL_REATTACH, key) == VE_CTLKEY_ATTACHED, "REATTACH while attached: ATTACHED");
		check(control(sock, VT_CONTROL_DETACH, key) == 0, "DETACH: SUCCESS");
		check(control(sock, VT_CONTROL_DETACH, key) == VE_CTLKEY_DETACHED, "DETACH again: DETACHED");
		check(control(sock, VT_CONTROL_REATTACH, key) == 0, "REATTACH: SUCCESS");
		check(control(sock, VT_CONTROL_REATTACH, key) == VE_CTLKEY_ATTACHED, "REATTACH again: ATTACHED");
		check(prng(sock, key, LABEL, -1, 32, p) == 0, "PRNG without context");
		print_hex("prng", p + V_PRNG_BUFFER, 32);
		check(prng(sock, key, LABEL, 16, 32, p) == 0, "PRNG with a 16-byte context");
		check(info(sock, key, 0x52800000u, 0xffff, p) == 0 && get16(p, V_INFO_LEN) > 0 && p[V_INFO_BUFFER] == 0x30,
		      "INFO PEERCERT_SUBJECT is a DER Name (%u bytes)", get16(p, V_INFO_LEN));
	}
	line_through(o.app_fd, "hello, v2\n", back, sizeof back);
	printf("reply: %s", back);
	close(o.app_fd);
	close(sock);
}

/* A TLS 1.2 session, then RENEGOTIATE on its ctlkey: the same names come back, PRNG changes, data still flows. */
static void renegotiate(unsigned port, const char *remoteid)
{
	int sock = connect_unix(pool_path), tcp = connect_tcp(port);
	unsigned char key[16], before[32];
	uint32_t roles = VF_LOCALROLE_CLIENT | VF_REMOTEROLE_SERVER;
	struct outcome o;
	char back[256], localid[V_ID_LEN];
	packet p;
	int32_t code;

	make_key(key);
	make_starttls(p, roles, "", remoteid, key);
	code = run_starttls(sock, p, tcp, PAIR, &o);
	close(tcp);
	check(code == 0, "STARTTLS (code %d)", code);
	if (code != 0)
		return;
	snprintf(localid, sizeof localid, "%s", str_at(p, V_TLS_LOCALID));
	line_through(o.app_fd, "before\n", back, sizeof back);
	check(strcmp(back, "erofeb\n") == 0, "a line before: %s", back);
	check(prng(sock, key, LABEL, -1, 32, p) == 0, "PRNG before");
	memcpy(before, p + V_PRNG_BUFFER, 32);

	/* As the original library sends it: the request's tlsdata again, RENEGOTIATE set, no descriptor. */
	make_starttls(p, roles | VF_RENEGOTIATE, localid, remoteid, key);
	send_packet(sock, p, -1);
	check(recv_packet(sock, p) == 0, "no descriptor with the RENEGOTIATE answer");
	check(error_code(p) == 0 && get32(p, V_CMD) == VT_STARTTLS && get16(p, V_CBID) == 0, "RENEGOTIATE is answered by STARTTLS (code %d)", error_code(p));
	check(memcmp(p + V_TLS_CTLKEY, key, 16) == 0, "with the same ctlkey");
	check(strcmp(str_at(p, V_TLS_REMOTEID), remoteid) == 0 && strcmp(str_at(p, V_TLS_LOCALID), localid) == 0, "and the same names");
	check(prng(sock, key, LABEL, -1, 32, p) == 0 && memcmp(before, p + V_PRNG_BUFFER, 32) != 0, "PRNG after differs (new keys)");

	make_starttls(p, roles | VF_RENEGOTIATE, localid, remoteid, key);
	check(ask(sock, p, o.app_fd) == VE_SUPERFLUOUS_SOCKET, "RENEGOTIATE with a descriptor: SUPERFLUOUS_SOCKET");
	line_through(o.app_fd, "after\n", back, sizeof back);
	check(strcmp(back, "retfa\n") == 0, "a line after: %s", back);
	close(o.app_fd);
	close(sock);
}

static void server(unsigned port)
{
	struct sockaddr_in sin;
	int one = 1, lsn = socket(AF_INET, SOCK_STREAM, 0), tcp, sock, i;
	unsigned char key[16];
	struct outcome o;
	char back[256];
	packet p;
	int32_t code;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(lsn, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (lsn < 0 || bind(lsn, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lsn, 1) < 0)
		die("listen");
	printf("listening\n");
	fflush(stdout);
	if (!wait_readable(lsn) || (tcp = accept(lsn, NULL, NULL)) < 0)
		die("accept");
	close(lsn);
	sock = connect_unix(pool_path);
	make_key(key);
	make_starttls(p, VF_LOCALROLE_SERVER | VF_REMOTEROLE_CLIENT | VF_IGNORE_REMOTEID, "", "", key);
	code = run_starttls(sock, p, tcp, PAIR, &o);
	close(tcp);
	check(code == 0 && get32(p, V_CMD) == VT_STARTTLS, "the final answer is STARTTLS (code %d)", code);
	if (code != 0)
		return;
	printf("established: localid \"%s\" remoteid \"%s\"\n", str_at(p, V_TLS_LOCALID), str_at(p, V_TLS_REMOTEID));
	check(strcmp(o.connect_localid, str_at(p, V_TLS_LOCALID)) == 0, "PLAINTEXT_CONNECT names the local identity used");
	check(info(sock, key, 0x52800100u, 0xffff, p) == 0 && get16(p, V_INFO_LEN) > 0, "INFO MYCERT_SUBJECT answers");
	line_through(o.app_fd, "", back, sizeof back);
	for (i = 0; back[i]; i++)
		back[i] = (char)toupper((unsigned char)back[i]);
	printf("received: %s", back);
	if (write(o.app_fd, back, strlen(back)) < 0)
		die("write");
	close(o.app_fd);
	close(sock);
}

/* One STARTTLS client-role request to PORT, answered as `how` says; returns its code. */
static int32_t try_client(int sock, unsigned port, uint32_t flags, const unsigned char key[16], enum answer how, uint32_t timeout, struct outcome *o)
{
	packet p;
	int tcp = connect_tcp(port);
	int32_t code;

	make_starttls(p, flags, "", "server.example.test", key);
	put32(p, V_TLS_TIMEOUT, timeout);
	code = run_starttls(sock, p, tcp, how, o);
	close(tcp);
	return code;
}

#define CLIENT_ROLE (VF_LOCALROLE_CLIENT | VF_REMOTEROLE_SERVER)

static void errors(unsigned port)
{
	int sock = connect_unix(pool_path), other = connect_unix(pool_path), tcp;
	unsigned char key[16], unknown[16];
	struct outcome o;
	packet p;

	make_key(key);
	make_key(unknown);
	make_starttls(p, CLIENT_ROLE, "", "server.example.test", key);
	check(ask(sock, p, -1) == VE_CIPHER_SOCKET_NEEDED, "STARTTLS without a descriptor: CIPHER_SOCKET_NEEDED");
	tcp = connect_tcp(port);
	make_starttls(p, VF_LOCALROLE_CLIENT | VF_REMOTEROLE_CLIENT, "", "server.example.test", key);
	check(ask(sock, p, tcp) == VE_COMMAND_NOTIMPL, "roles 0x5 name no role: COMMAND_NOTIMPL");
	make_starttls(p, 0xf, "", "server.example.test", key);
	check(ask(sock, p, tcp) == VE_COMMAND_NOTIMPL, "roles 0xf (peer-to-peer): COMMAND_NOTIMPL");
	close(tcp);
	check(try_client(sock, port, CLIENT_ROLE, key, NOFD, 0, &o) == VE_PLAIN_SOCKET_NEEDED, "PLAINTEXT_CONNECT answered without a descriptor: PLAIN_SOCKET_NEEDED");
	check(try_client(sock, port, CLIENT_ROLE, key, REFUSE, 0, &o) == VE_BAD_CALLBACK_RESPONSE, "PLAINTEXT_CONNECT answered by ERROR: BAD_CALLBACK_RESPONSE");
	check(try_client(sock, port, CLIENT_ROLE | VF_LOCALID_CHECK, key, LOCALID_REFUSE, 0, &o) == VE_STIRRED_NOT_SHAKEN && o.localid_proposals == 1,
	      "STARTTLS_LOCALID answered by ERROR: STIRRED_NOT_SHAKEN");
	check(try_client(sock, port, CLIENT_ROLE, key, SILENT, 2000, &o) == VE_CLIENT_REFUSES_CALLBACK, "PLAINTEXT_CONNECT never answered: CLIENT_REFUSES_CALLBACK");

	/* A live session under `key`. */
	check(try_client(sock, port, CLIENT_ROLE, key, PAIR, 0, &o) == 0, "a session is established");
	check(try_client(sock, port, CLIENT_ROLE, key, PAIR, 0, &o) == VE_CTLKEY_REGISTRATION, "a second session with its ctlkey: CTLKEY_REGISTRATION_FAILED");
	tcp = connect_tcp(port);
	make_starttls(p, CLIENT_ROLE | VF_RENEGOTIATE, "", "server.example.test", key);
	check(ask(sock, p, tcp) == VE_SUPERFLUOUS_SOCKET, "RENEGOTIATE with a descriptor: SUPERFLUOUS_SOCKET");
	close(tcp);
	make_starttls(p, CLIENT_ROLE | VF_RENEGOTIATE, "", "server.example.test", unknown);
	check(ask(sock, p, -1) == VE_RENOGIATE_NOT_FOUND, "RENEGOTIATE an unknown ctlkey: RENOGIATE_NOT_FOUND");
	make_starttls(p, CLIENT_ROLE | VF_RENEGOTIATE, "", "server.example.test", key);
	check(ask(other, p, -1) == VE_RENOGIATE_NOT_FOUND, "RENEGOTIATE from another connection: RENOGIATE_NOT_FOUND");
	make_starttls(p, CLIENT_ROLE | VF_RENEGOTIATE, "", "server.example.test", key);
	check(ask(sock, p, -1) == VE_BASE + 21, "RENEGOTIATE a TLS 1.3 session: RENOGIATE_WOULD_BE_INSECURE");

	check(prng(sock, key, "", -1, 32, p) == VE_PRNG_UNAVAILABLE, "PRNG with an empty label: PRNG_UNAVAILABLE");
	check(prng(sock, key, LABEL, -1, 351, p) == VE_PRNG_UNAVAILABLE, "PRNG of 351 bytes: PRNG_UNAVAILABLE");
	check(prng(sock, key, "master secret", -1, 32, p) == VE_PRNG_UNAVAILABLE, "PRNG with the label 'master secret': PRNG_UNAVAILABLE");
	check(prng(sock, key, "my own label", -1, 32, p) == VE_PRNG_UNAVAILABLE, "PRNG with an unregistered label: PRNG_UNAVAILABLE");
	check(prng(sock, key, "EXPERIMENTAL", -1, 32, p) == VE_PRNG_UNAVAILABLE, "PRNG with the bare prefix EXPERIMENTAL: PRNG_UNAVAILABLE");
	check(prng(sock, unknown, LABEL, -1, 32, p) == VE_CTLKEY_NOT_FOUND, "PRNG for an unknown ctlkey: CTLKEY_NOT_FOUND");
	check(prng(other, key, LABEL, -1, 32, p) == VE_CTLKEY_NOT_FOUND, "PRNG from another connection: CTLKEY_NOT_FOUND");
	check(prng(sock, key, "ttls keying material", 16, 32, p) == 0, "PRNG with a registered label");

	check(info(sock, key, 0x52801234u, 0xffff, p) == VE_INFOKIND_UNKNOWN, "INFO of an unknown kind: INFOKIND_UNKNOWN");
	check(info(sock, key, 0x52800000u, 400, p) == VE_COMMAND_NOTIMPL, "INFO with len 400: COMMAND_NOTIMPL");
	check(info(sock, key, 0x52800000u, 3, p) == VE_INFO_NOT_FOUND, "INFO PEERCERT_SUBJECT given a value: INFO_NOT_FOUND");
	check(info(sock, key, 0x52800002u, 0xffff, p) == VE_INFO_NOT_FOUND, "INFO PEERCERT_SUBJECTALTNAME as a query: INFO_NOT_FOUND");
	check(info(sock, key, 0x59290000u, 0xffff, p) == VE_INFO_NOT_FOUND, "INFO tls-unique under TLS 1.3: INFO_NOT_FOUND");
	check(info(sock, unknown, 0x52800000u, 0xffff, p) == VE_CTLKEY_NOT_FOUND, "INFO for an unknown ctlkey: CTLKEY_NOT_FOUND");

	check(control(sock, VT_CONTROL_DETACH, unknown) == VE_CTLKEY_NOT_FOUND, "DETACH an unknown ctlkey: CTLKEY_NOT_FOUND");
	check(control(other, VT_CONTROL_REATTACH, unknown) == VE_CTLKEY_NOT_FOUND, "REATTACH an unknown ctlkey: CTLKEY_NOT_FOUND");
	check(control(other, VT_CONTROL_DETACH, key) == VE_CTLKEY_NOT_YOURS, "DETACH from another connection: CTLKEY_NOT_YOURS");
	close(o.app_fd);
	close(other);
	close(sock);
}

static int unhex(const char *s, unsigned char key[16])
{
	unsigned i, v;

	if (strlen(s) != 32)
		return 0;
	for (i = 0; i < 16; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return 0;
		key[i] = (unsigned char)v;
	}
	return 1;
}

int main(int argc, char **argv)
{
	const char *scenario = argc > 2 ? argv[2] : "";
	unsigned char key[16];

	setvbuf(stdout, NULL, _IOLBF, 0);
	srand((unsigned)getpid());
	pool_path = argc > 1 ? argv[1] : "";
	if (!strcmp(scenario, "client") && argc == 5)
		client((unsigned)atoi(argv[3]), argv[4], 0);
	else if (!strcmp(scenario, "localid-check") && argc == 5)
		client((unsigned)atoi(argv[3]), argv[4], 1);
	else if (!strcmp(scenario, "renegotiate") && argc == 5)
		renegotiate((unsigned)atoi(argv[3]), argv[4]);
	else if (!strcmp(scenario, "server") && argc == 4)
		server((unsigned)atoi(argv[3]));
	else if (!strcmp(scenario, "errors") && argc == 4)
		errors((unsigned)atoi(argv[3]));
	else if (!strcmp(scenario, "reattach") && argc == 4 && unhex(argv[3], key)) {
		int sock = connect_unix(pool_path);

		printf("reattach: code %d\n", control(sock, VT_CONTROL_REATTACH, key));
		close(sock);
	} else {
		printf("usage: v2_starttls SOCKET client|localid-check|renegotiate PORT REMOTEID | server PORT | errors PORT | reattach KEYHEX\n");
		return 2;
	}
	printf("%s: %d failed checks\n", scenario, failures);
	return failures ? 1 : 0;
}
