/*
 * tlspool/commands.h -- the V1 wire format of the TLS Pool socket protocol.
 *
 * An application talks to the TLS Pool over an AF_UNIX SOCK_STREAM socket.
 * Every message in either direction is one struct tlspool_command of
 * exactly 376 bytes, integers in host byte order, strings as NUL-terminated
 * text inside fixed-size char arrays, unused bytes zero.  A file descriptor
 * travels as SCM_RIGHTS on the sendmsg() that carries its message.
 *
 * Normative source: docs/protocol.md (the layout tables there give every
 * offset used below; a test compiles this header and compares them all).
 */
#ifndef TLSPOOL_COMMANDS_H
#define TLSPOOL_COMMANDS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Semantics version V1 and its producer; every PING response carries it. */
#define TLSPOOL_IDENTITY_V1 "20130710tlspool@openfortress.nl"

/* Where a system-wide pool listens unless configured otherwise.  A per-user
 * pool listens at $XDG_RUNTIME_DIR/tlspool.sock (TLSPOOL_SOCKET_NAME). */
#define TLSPOOL_DEFAULT_SOCKET_PATH "/var/run/tlspool.sock"
#define TLSPOOL_SOCKET_NAME         "tlspool.sock"

/* Wire sizes. */
#define TLSPOOL_COMMAND_SIZE   376   /* whole message */
#define TLSPOOL_PIO_DATA_SIZE  368   /* the pio_data union, at offset 8 */
#define TLSPOOL_MESSAGE_SIZE   128   /* pioc_error.message */
#define TLSPOOL_PRODUCER_SIZE  136   /* pioc_ping.YYYYMMDD_producer */
#define TLSPOOL_ID_SIZE        128   /* localid, remoteid */
#define TLSPOOL_PIN_SIZE       128   /* pioc_pinentry.pin */
#define TLSPOOL_PROMPT_SIZE    128   /* pioc_pinentry.prompt */

/* Command tags, carried in pio_cmd (wire table "Command tags"). */
#define PIOC_SUCCESS_V1          0x00000000u  /* pool -> client */
#define PIOC_ERROR_V1            0x00000001u  /* both directions */
#define PIOC_PING_V1             0x00000010u  /* both, same payload */
#define PIOC_STARTTLS_CLIENT_V1  0x00000020u  /* request and response carry an fd */
#define PIOC_STARTTLS_SERVER_V1  0x00000021u  /* request and response carry an fd */
#define PIOC_STARTTLS_LOCALID_V1 0x00000028u  /* pool proposes, client answers */
#define PIOC_PINENTRY_V1         0x00000029u  /* both directions */
#define PIOC_LOCAL               0x80000000u  /* bit marking local extensions */

/* This pool's local extensions (README, "Tokens and PINs"); payload
 * pioc_pinentry.  LOCK: forget every cached PIN, log every token out
 * (answered with SUCCESS).  TOKEN_STATE: the token named by the token_*
 * fields; answered with the same packet, flags bit 0x1 set when unlocked.
 * LOOP_STATS: the daemon's event-loop delay as JSON in prompt (microseconds);
 * request flags bit 0x1 resets it after reading. */
#define PIOC_LOCAL_LOCK          0x80000001u
#define PIOC_LOCAL_TOKEN_STATE   0x80000002u
#define PIOC_LOCAL_LOOP_STATS    0x80000003u

/* Flags in pioc_starttls.flags (wire table "Flags").  Unknown bits are
 * ignored by the pool; a requirement it cannot meet yields an ERROR. */
#define PIOF_STARTTLS_DTLS              0x00000001u
#define PIOF_STARTTLS_REQUIRE_DNSSEC    0x00000010u
#define PIOF_STARTTLS_REQUIRE_LDAP_CERT 0x00000020u
#define PIOF_STARTTLS_REQUIRE_LDAP_DANE 0x00000040u
#define PIOF_STARTTLS_SKIP_EXT_AUTHN    0x00000080u
#define PIOF_STARTTLS_BYPASS_EXT_AUTHZ  0x00000100u
#define PIOF_STARTTLS_SEND_SNI          0x00000200u
#define PIOF_STARTTLS_IGNORE_CACHES     0x00000400u
#define PIOF_STARTTLS_REQUEST_REMOTEID  0x00000800u
#define PIOF_STARTTLS_IGNORE_REMOTEID   0x00001000u

/* Flags in pioc_pinentry.flags.  Without SHARED, a PIN entry program
 * claims PIN entry for itself alone. */
#define PIOF_PINENTRY_SHARED            0x00000001u

/* pio_data.pioc_error: offsets 0 and 4 within pio_data. */
struct pioc_error {
	int32_t tlserrno;        /* a Linux <errno.h> value */
	char message[128];       /* text for a person */
};

/* pio_data.pioc_ping: the sender's identity, "YYYYMMDD" then a domain or
 * user@domain.  Requests carry the client's, responses the pool's. */
struct pioc_ping {
	char YYYYMMDD_producer[136];
};

/* pio_data.pioc_starttls: offsets 0, 4, 8, 9, 10, 12, 140; ends at 268. */
struct pioc_starttls {
	uint32_t flags;          /* PIOF_STARTTLS_* */
	uint32_t local;          /* locally defined bits */
	uint8_t ipproto;         /* 6 TCP, 17 UDP, 132 SCTP */
	uint8_t padding;         /* send zero */
	uint16_t streamid;       /* SCTP stream to run (D)TLS over */
	char localid[128];       /* domain or user@domain, "" if unknown */
	char remoteid[128];      /* domain or user@domain, "" if unknown */
};

/* pio_data.pioc_pinentry: offsets 0, 4, 8, 12, 140, 268, 301, 318, 335;
 * ends at 368, filling the union.  Token strings are PKCS #11 fields with
 * their trailing spaces removed. */
struct pioc_pinentry {
	uint32_t flags;          /* PIOF_PINENTRY_* */
	uint32_t attempt;        /* 1 on the first try */
	uint32_t timeout_us;     /* how long the PIN entry program may take */
	char pin[128];           /* "" offers PIN entry, or refuses */
	char prompt[128];        /* text from the pool to show the user */
	char token_manuf[33];
	char token_model[17];
	char token_serial[17];
	char token_label[33];
};

/* One message on the socket. */
struct tlspool_command {
	uint16_t pio_reqid;      /* offset 0: chosen by the client, copied back */
	uint16_t pio_cbid;       /* offset 2: callback id for follow-ups, else 0 */
	uint32_t pio_cmd;        /* offset 4: PIOC_* tag */
	union {                  /* offset 8: 368 bytes */
		struct pioc_error pioc_error;
		struct pioc_ping pioc_ping;
		struct pioc_starttls pioc_starttls;
		struct pioc_pinentry pioc_pinentry;
		uint8_t pioc_bytes[TLSPOOL_PIO_DATA_SIZE];
	} pio_data;
};

/* The wire contract: 376 bytes, no more and no less. */
#if defined(__cplusplus) && __cplusplus >= 201103L
static_assert(sizeof(struct tlspool_command) == 376,
	"struct tlspool_command must be exactly 376 bytes on the wire");
#elif !defined(__cplusplus) && defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct tlspool_command) == 376,
	"struct tlspool_command must be exactly 376 bytes on the wire");
#else
typedef char tlspool_command_is_376_bytes[
	(sizeof(struct tlspool_command) == 376) ? 1 : -1];
#endif

#ifdef __cplusplus
}
#endif

#endif /* TLSPOOL_COMMANDS_H */
