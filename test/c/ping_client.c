/*
 * ping_client -- the smallest TLS Pool client, written against
 * <tlspool/commands.h>: connect, PING with our identity, print the pool's.
 *
 * Usage: ping_client SOCKET_PATH
 * Exit 0 when the pool answered our PING with a PING; non-zero otherwise.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <tlspool/commands.h>

#define CLIENT_IDENTITY "20260101pingclient@example.org"
#define CLIENT_REQID 0x1234

static int connect_pool(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		fprintf(stderr, "ping_client: socket path too long: %s\n", path);
		return -1;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("ping_client: socket");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		fprintf(stderr, "ping_client: connect %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Write all of a command; a stream socket may take it in parts. */
static int send_command(int fd, const struct tlspool_command *cmd)
{
	const unsigned char *p = (const unsigned char *)cmd;
	size_t left = sizeof *cmd;

	while (left > 0) {
		ssize_t n = send(fd, p, left, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "ping_client: send: %s\n", strerror(errno));
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	return 0;
}

/* Read one whole command; a stream socket may deliver it in parts. */
static int recv_command(int fd, struct tlspool_command *cmd)
{
	unsigned char *p = (unsigned char *)cmd;
	size_t have = 0;

	while (have < sizeof *cmd) {
		ssize_t n = recv(fd, p + have, sizeof *cmd - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "ping_client: recv: %s\n", strerror(errno));
			return -1;
		}
		if (n == 0) {
			fprintf(stderr, "ping_client: the pool closed the connection after %zu of %zu bytes\n",
				have, sizeof *cmd);
			return -1;
		}
		have += (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct tlspool_command cmd;
	char identity[sizeof cmd.pio_data.pioc_ping.YYYYMMDD_producer + 1];
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: ping_client SOCKET_PATH\n");
		return 2;
	}
	fd = connect_pool(argv[1]);
	if (fd < 0)
		return 1;

	memset(&cmd, 0, sizeof cmd);
	cmd.pio_reqid = CLIENT_REQID;
	cmd.pio_cbid = 0;
	cmd.pio_cmd = PIOC_PING_V1;
	strcpy(cmd.pio_data.pioc_ping.YYYYMMDD_producer, CLIENT_IDENTITY);
	if (send_command(fd, &cmd) < 0 || recv_command(fd, &cmd) < 0) {
		close(fd);
		return 1;
	}
	close(fd);

	if (cmd.pio_reqid != CLIENT_REQID) {
		fprintf(stderr, "ping_client: response has reqid 0x%04x, we sent 0x%04x\n",
			(unsigned)cmd.pio_reqid, (unsigned)CLIENT_REQID);
		return 1;
	}
	if (cmd.pio_cmd == PIOC_ERROR_V1) {
		cmd.pio_data.pioc_error.message[sizeof cmd.pio_data.pioc_error.message - 1] = '\0';
		fprintf(stderr, "ping_client: the pool answered ERROR %d: %s\n",
			(int)cmd.pio_data.pioc_error.tlserrno, cmd.pio_data.pioc_error.message);
		return 1;
	}
	if (cmd.pio_cmd != PIOC_PING_V1) {
		fprintf(stderr, "ping_client: the pool answered command 0x%08lx, expected PING 0x%08lx\n",
			(unsigned long)cmd.pio_cmd, (unsigned long)PIOC_PING_V1);
		return 1;
	}
	if (memchr(cmd.pio_data.pioc_ping.YYYYMMDD_producer, '\0',
		   sizeof cmd.pio_data.pioc_ping.YYYYMMDD_producer) == NULL) {
		fprintf(stderr, "ping_client: the pool's identity has no terminating NUL\n");
		return 1;
	}
	strcpy(identity, cmd.pio_data.pioc_ping.YYYYMMDD_producer);
	printf("pool identity: %s\n", identity);
	if (strcmp(identity, TLSPOOL_IDENTITY_V1) == 0)
		printf("the pool speaks semantics V1\n");
	return 0;
}
