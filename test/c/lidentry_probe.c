/*
 * lidentry_probe -- a V2 local-identity selection program (LIDENTRY),
 * written from nothing but the hand table wire_v2.h. It registers with
 * FLAGS and a 300 s timeout, answers every database-entry callback as it
 * came, and answers QUESTIONS questions with CHOICE as the local identity
 * ("-": none; "ERROR": an ERROR packet; "CLOSE": hang up instead) and the
 * remote identity it was asked about, adding DBAPPEND when REMEMBER is
 * "remember". Then it stays registered HOLD_MS milliseconds and leaves.
 *
 * Usage: lidentry_probe SOCKET_PATH FLAGS CHOICE REMEMBER QUESTIONS HOLD_MS
 * Prints "registered", "dbentry: maxlevels=N flags=0xF remoteid=R
 * localid=L", "question: maxlevels=N flags=0xF deadline_ok=Y|N reqid=Q
 * remoteid=R localid=L", "answered", and "error: code N: MESSAGE".
 * Exits 0; 1 when the pool sent something unexpected; 2 on local errors.
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
#include <time.h>
#include <unistd.h>

#include "wire_v2.h"

#define VLF_DBENTRY  0x00001000u
#define VLF_DBAPPEND 0x00004000u

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

static int send_packet(int fd, const unsigned char *m) {
	ssize_t n;
	do n = send(fd, m, V_SIZE, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == V_SIZE ? 0 : -1;
}

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

static void print_error(const unsigned char *m) {
	char msg[V_ERR_MESSAGE_LEN];
	text(m, V_ERR_MESSAGE, V_ERR_MESSAGE_LEN, msg);
	printf("error: code %d: %s\n", (int)get32(m, V_ERR_CODE), msg);
	fflush(stdout);
}

int main(int argc, char **argv) {
	if (argc != 7) {
		fprintf(stderr, "usage: lidentry_probe SOCKET_PATH FLAGS CHOICE REMEMBER QUESTIONS HOLD_MS\n");
		return 2;
	}
	const char *choice = argv[3];
	int remember = strcmp(argv[4], "remember") == 0;
	int questions = atoi(argv[5]), hold = atoi(argv[6]);
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
	put32(m, V_CMD, VT_LIDENTRY_REGISTER);
	put32(m, V_LID_FLAGS, (uint32_t)strtoul(argv[2], NULL, 0));
	put32(m, V_LID_TIMEOUT, 300);
	if (send_packet(fd, m) < 0) {
		perror("send");
		return 2;
	}
	printf("registered\n");
	fflush(stdout);
	int asked = 0;
	for (;;) {
		int r = recv_packet(fd, m, asked >= questions ? hold : 120000);
		if (r == 0 && asked >= questions) break;
		if (r <= 0) {
			printf("FAIL: no callback (%s)\n", r == 0 ? "timeout" : "closed");
			return 1;
		}
		uint32_t cmd = get32(m, V_CMD), flags = get32(m, V_LID_FLAGS);
		if (cmd == VT_ERROR) {
			print_error(m);
			return asked >= questions ? 0 : 1;
		}
		if (cmd != VT_LIDENTRY_CALLBACK || get16(m, V_CBID) == 0) {
			printf("FAIL: expected LIDENTRY_CALLBACK, got cmd 0x%08x cbid %u\n", cmd, get16(m, V_CBID));
			return 1;
		}
		char local[V_ID_LEN], remote[V_ID_LEN];
		text(m, V_LID_LOCALID, V_ID_LEN, local);
		text(m, V_LID_REMOTEID, V_ID_LEN, remote);
		if (flags & VLF_DBENTRY) {
			printf("dbentry: maxlevels=%u flags=0x%x remoteid=%s localid=%s\n", get16(m, V_LID_MAXLEVELS), flags, remote, local);
			fflush(stdout);
			if (send_packet(fd, m) < 0) return 2;
			continue;
		}
		time_t now = time(NULL);
		uint32_t deadline = get32(m, V_LID_TIMEOUT);
		int deadline_ok = deadline > (uint32_t)now && deadline <= (uint32_t)now + 400;
		printf("question: maxlevels=%u flags=0x%x deadline_ok=%s reqid=%u remoteid=%s localid=%s\n", get16(m, V_LID_MAXLEVELS), flags,
		       deadline_ok ? "Y" : "N", get16(m, V_REQID), remote, local);
		fflush(stdout);
		asked++;
		if (strcmp(choice, "CLOSE") == 0) {
			close(fd);
			printf("closed\n");
			return 0;
		}
		if (strcmp(choice, "ERROR") == 0) {
			uint16_t reqid = get16(m, V_REQID), cbid = get16(m, V_CBID);
			memset(m, 0, sizeof(m));
			put16(m, V_REQID, reqid);
			put16(m, V_CBID, cbid);
			put32(m, V_CMD, VT_ERROR);
			put32(m, V_ERR_CODE, (uint32_t)VE_CLIENT_REFUSES_CALLBACK);
		} else {
			memset(m + V_LID_LOCALID, 0, V_ID_LEN);
			if (strcmp(choice, "-") != 0) memcpy(m + V_LID_LOCALID, choice, strlen(choice) < V_ID_LEN ? strlen(choice) : V_ID_LEN - 1);
			if (remember) put32(m, V_LID_FLAGS, flags | VLF_DBAPPEND);
		}
		if (send_packet(fd, m) < 0) return 2;
		printf("answered\n");
		fflush(stdout);
	}
	close(fd);
	return 0;
}
