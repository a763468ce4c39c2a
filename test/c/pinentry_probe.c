/*
 * pinentry_probe -- a PIN entry program for the TLS Pool written from
 * nothing but the wire table of docs/protocol.md (its own offsets; it
 * does NOT include <tlspool/commands.h>). It offers PIN entry, waits for
 * one prompt, prints what the pool asked, answers with the PIN given on
 * the command line, and leaves.
 *
 * Usage: pinentry_probe SOCKET_PATH PIN
 * Prints "registered", then "prompt: attempt=N label=L manuf=M model=D
 * serial=S timeout_us=T text=..." and "answered"; exits 0, or 1 when the
 * pool answered the offer with something other than a PINENTRY prompt,
 * 2 on a usage or local error.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "wire.h"

static uint32_t get32(const unsigned char *m, int off) {
	uint32_t v;
	memcpy(&v, m + off, 4);
	return v;
}
static uint16_t get16(const unsigned char *m, int off) {
	uint16_t v;
	memcpy(&v, m + off, 2);
	return v;
}
static void put32(unsigned char *m, int off, uint32_t v) { memcpy(m + off, &v, 4); }
static void put16(unsigned char *m, int off, uint16_t v) { memcpy(m + off, &v, 2); }

static int send_all(int fd, const unsigned char *m) {
	size_t done = 0;
	while (done < W_SIZE) {
		ssize_t n = send(fd, m + done, W_SIZE - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) return -1;
		done += (size_t)n;
	}
	return 0;
}

static int recv_all(int fd, unsigned char *m) {
	size_t done = 0;
	while (done < W_SIZE) {
		ssize_t n = recv(fd, m + done, W_SIZE - done, 0);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) return -1;
		done += (size_t)n;
	}
	return 0;
}

/* A field of the prompt as text, never trusting its NUL. */
static void field(const unsigned char *m, int off, int len, char *out) {
	memcpy(out, m + off, (size_t)len);
	out[len - 1] = '\0';
}

int main(int argc, char **argv) {
	if (argc != 3 || strlen(argv[2]) >= W_PIN_PIN_LEN) {
		fprintf(stderr, "usage: pinentry_probe SOCKET_PATH PIN\n");
		return 2;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strncpy(sa.sun_path, argv[1], sizeof(sa.sun_path) - 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		return 2;
	}
	unsigned char m[W_SIZE];
	memset(m, 0, sizeof(m));
	put16(m, W_REQID, 4711);
	put32(m, W_CMD, T_PINENTRY); /* empty PIN: an offer; flags 0: exclusive */
	if (send_all(fd, m) < 0) {
		perror("send");
		return 2;
	}
	printf("registered\n");
	fflush(stdout);
	if (recv_all(fd, m) < 0) {
		fprintf(stderr, "the pool closed the connection\n");
		return 2;
	}
	if (get32(m, W_CMD) != T_PINENTRY || get16(m, W_REQID) != 4711 || get16(m, W_CBID) == 0) {
		char msg[128];
		field(m, W_ERR_MESSAGE, 128, msg);
		printf("FAIL: expected a PINENTRY prompt, got cmd 0x%08x cbid %u errno %d (%s)\n", get32(m, W_CMD),
		       get16(m, W_CBID), (int)get32(m, W_ERR_ERRNO), msg);
		return 1;
	}
	char prompt[128], manuf[33], model[17], serial[17], label[33];
	field(m, W_PIN_PROMPT, 128, prompt);
	field(m, W_PIN_MANUF, 33, manuf);
	field(m, W_PIN_MODEL, 17, model);
	field(m, W_PIN_SERIAL, 17, serial);
	field(m, W_PIN_LABEL, 33, label);
	printf("prompt: attempt=%u label=%s manuf=%s model=%s serial=%s timeout_us=%u text=%s\n", get32(m, W_PIN_ATTEMPT), label,
	       manuf, model, serial, get32(m, W_PIN_TIMEOUT), prompt);
	fflush(stdout);

	/* The answer: same reqid and cbid, the PIN; the rest as it came. */
	memset(m + W_PIN_PIN, 0, W_PIN_PIN_LEN);
	memcpy(m + W_PIN_PIN, argv[2], strlen(argv[2]));
	int rc = send_all(fd, m);
	memset(m, 0, sizeof(m));
	if (rc < 0) {
		perror("send");
		return 2;
	}
	printf("answered\n");
	fflush(stdout);
	close(fd);
	return 0;
}
