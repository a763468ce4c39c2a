/*
 * pinentry_v2_probe -- a V2 PIN entry program (388-byte packets) written
 * from nothing but the hand table wire_v2.h. It registers with the
 * timeout_us given, then answers one prompt per PIN argument in order:
 * "-" answers with an empty PIN (refuse), "ERROR" answers with an ERROR
 * packet. With no PIN argument it prints the first packet the pool sends
 * (an ERROR, when the service is taken) and leaves.
 *
 * Usage: pinentry_v2_probe SOCKET_PATH TIMEOUT_US [PIN...]
 * Prints "registered", per prompt "prompt: attempt=N timeout_us=T label=L
 * manuf=M model=D serial=S reqid=R text=...", per answer "answered", and
 * "error: code N: MESSAGE" for an ERROR. After the last answer it waits up
 * to 2 s and prints "quiet" when nothing came (V2 acknowledges nothing).
 * Exits 0; 1 when the pool sent something it should not; 2 on local errors.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "wire_v2.h"

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

/* One packet, one send, as every V2 client does. */
static int send_packet(int fd, const unsigned char *m) {
	ssize_t n;
	do n = send(fd, m, V_SIZE, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == V_SIZE ? 0 : -1;
}

/* A whole packet within ms milliseconds: 1; nothing came: 0; closed or short: -1. */
static int recv_packet(int fd, unsigned char *m, int ms) {
	size_t done = 0;
	while (done < V_SIZE) {
		struct pollfd p = {fd, POLLIN, 0};
		int r = poll(&p, 1, ms);
		if (r < 0 && errno == EINTR) continue;
		if (r == 0) return done == 0 ? 0 : -1;
		ssize_t n = recv(fd, m + done, V_SIZE - done, 0);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) return -1;
		done += (size_t)n;
	}
	return 1;
}

static void text(const unsigned char *m, int off, int len, char *out) {
	memcpy(out, m + off, (size_t)len);
	out[len - 1] = '\0';
}

static int print_error(const unsigned char *m) {
	char msg[V_ERR_MESSAGE_LEN];
	text(m, V_ERR_MESSAGE, V_ERR_MESSAGE_LEN, msg);
	printf("error: code %d: %s\n", (int)get32(m, V_ERR_CODE), msg);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: pinentry_v2_probe SOCKET_PATH TIMEOUT_US [PIN...]\n");
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
	unsigned char m[V_SIZE];
	memset(m, 0, sizeof(m));
	put32(m, V_CMD, VT_PINENTRY); /* reqid 0, flags 0, empty PIN: a registration */
	put32(m, V_PIN_TIMEOUT, (uint32_t)strtoul(argv[2], NULL, 10));
	if (send_packet(fd, m) < 0) {
		perror("send");
		return 2;
	}
	printf("registered\n");
	fflush(stdout);
	if (argc == 3) {
		int r = recv_packet(fd, m, 30000);
		if (r <= 0) {
			printf("FAIL: no answer to the registration\n");
			return 1;
		}
		if (get32(m, V_CMD) == VT_ERROR) return print_error(m);
		printf("FAIL: expected ERROR, got cmd 0x%08x\n", get32(m, V_CMD));
		return 1;
	}
	for (int i = 3; i < argc; i++) {
		int r = recv_packet(fd, m, 120000);
		if (r <= 0) {
			printf("FAIL: no prompt (%s)\n", r == 0 ? "timeout" : "closed");
			return 1;
		}
		if (get32(m, V_CMD) == VT_ERROR) {
			print_error(m);
			return 1;
		}
		if (get32(m, V_CMD) != VT_PINENTRY || get16(m, V_CBID) == 0) {
			printf("FAIL: expected a PINENTRY prompt, got cmd 0x%08x cbid %u\n", get32(m, V_CMD), get16(m, V_CBID));
			return 1;
		}
		char prompt[128], manuf[36], model[20], serial[20], label[36];
		text(m, V_PIN_PROMPT, 128, prompt);
		text(m, V_PIN_MANUF, 36, manuf);
		text(m, V_PIN_MODEL, 20, model);
		text(m, V_PIN_SERIAL, 20, serial);
		text(m, V_PIN_LABEL, 36, label);
		printf("prompt: attempt=%u timeout_us=%u label=%s manuf=%s model=%s serial=%s reqid=%u text=%s\n",
		       get32(m, V_PIN_ATTEMPT), get32(m, V_PIN_TIMEOUT), label, manuf, model, serial, get16(m, V_REQID), prompt);
		fflush(stdout);
		if (strcmp(argv[i], "ERROR") == 0) {
			uint16_t reqid = get16(m, V_REQID), cbid = get16(m, V_CBID);
			memset(m, 0, sizeof(m));
			put16(m, V_REQID, reqid);
			put16(m, V_CBID, cbid);
			put32(m, V_CMD, VT_ERROR);
			put32(m, V_ERR_CODE, (uint32_t)VE_CLIENT_REFUSES_CALLBACK);
		} else {
			/* The answer: same reqid and cbid, the PIN (or none). */
			memset(m + V_PIN_PIN, 0, 128);
			if (strcmp(argv[i], "-") != 0) memcpy(m + V_PIN_PIN, argv[i], strlen(argv[i]) < 127 ? strlen(argv[i]) : 127);
		}
		int rc = send_packet(fd, m);
		memset(m, 0, sizeof(m));
		if (rc < 0) {
			perror("send");
			return 2;
		}
		printf("answered\n");
		fflush(stdout);
	}
	int r = recv_packet(fd, m, 2000);
	if (r == 0) {
		printf("quiet\n");
	} else if (r > 0) {
		printf("after the last answer: cmd 0x%08x\n", get32(m, V_CMD));
		if (get32(m, V_CMD) == VT_ERROR) print_error(m);
	}
	close(fd);
	return 0;
}
