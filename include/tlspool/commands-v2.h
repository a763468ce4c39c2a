/*
 * tlspool/commands-v2.h -- the V2 wire format of the TLS Pool socket
 * protocol (pool identity 20151111api@tlspool.arpa2.net), served on the
 * same socket as V1 (<tlspool/commands.h>).
 *
 * Every message in either direction is one struct tlspool_command_v2 of
 * exactly 388 bytes: 2-byte packing, integers in host byte order, strings
 * as NUL-terminated text in fixed-size char arrays, unused bytes zero.
 * Write each message with one sendmsg() of all 388 bytes: the pool tells
 * V2 from V1 by the bytes that arrive with the first 376.  Descriptors
 * travel only from client to pool, as SCM_RIGHTS on the message they
 * belong to.
 *
 * Normative source: docs/protocol.md, "V2 beside V1" (a test compiles this
 * header and compares every offset with the hand table test/c/wire_v2.h
 * and the project's layout table).
 */
#ifndef TLSPOOL_COMMANDS_V2_H
#define TLSPOOL_COMMANDS_V2_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TLSPOOL_IDENTITY_V2 "20151111api@tlspool.arpa2.net"

#define TLSPOOL_V2_COMMAND_SIZE  388   /* whole message */
#define TLSPOOL_V2_DATA_SIZE     380   /* the pio_data union, at offset 8 */
#define TLSPOOL_V2_ID_SIZE       128   /* localid, remoteid */
#define TLSPOOL_V2_CTLKEY_SIZE   16
#define TLSPOOL_V2_SERVICE_SIZE  16

/* Command tags in pio_cmd. */
#define PIOC_SUCCESS_V2            0x00000000u
#define PIOC_ERROR_V2              0x00000001u
#define PIOC_PING_V2               0x00000010u
#define PIOC_STARTTLS_V2           0x00000024u
#define PIOC_STARTTLS_LOCALID_V2   0x00000028u
#define PIOC_PINENTRY_V2           0x00000029u
#define PIOC_PLAINTEXT_CONNECT_V2  0x0000002au
#define PIOC_PRNG_V2               0x0000002bu
#define PIOC_INFO_V2               0x0000002cu
#define PIOC_CONTROL_DETACH_V2     0x00000100u
#define PIOC_CONTROL_REATTACH_V2   0x00000101u
#define PIOC_LIDENTRY_REGISTER_V2  0x00000200u
#define PIOC_LIDENTRY_CALLBACK_V2  0x00000201u
#define PIOC_LOCAL_V2              0x80000000u

/* Facilities in pioc_ping.facilities. */
#define PIOF_FACILITY_STARTTLS     0x00000001u
#define PIOF_FACILITY_STARTGSS     0x00000002u
#define PIOF_FACILITY_STARTSSH     0x00000004u
#define PIOF_FACILITY_ALL_CURRENT  0x00000001u

/* Flags in pioc_starttls.flags (V2 meanings; V1 uses other bits). */
#define PIOF_STARTTLS_V2_LOCALROLE_CLIENT        0x00000001u
#define PIOF_STARTTLS_V2_LOCALROLE_SERVER        0x00000002u
#define PIOF_STARTTLS_V2_REMOTEROLE_CLIENT       0x00000004u
#define PIOF_STARTTLS_V2_REMOTEROLE_SERVER       0x00000008u
#define PIOF_STARTTLS_V2_DTLS                    0x00000100u
#define PIOF_STARTTLS_V2_WITHOUT_SNI             0x00000200u
#define PIOF_STARTTLS_V2_IGNORE_CACHES           0x00000400u
#define PIOF_STARTTLS_V2_REQUEST_REMOTEID        0x00000800u
#define PIOF_STARTTLS_V2_IGNORE_REMOTEID         0x00001000u
#define PIOF_STARTTLS_V2_DETACH                  0x00002000u
#define PIOF_STARTTLS_V2_FORK                    0x00004000u
#define PIOF_STARTTLS_V2_DOMAIN_REPRESENTS_USER  0x00008000u
#define PIOF_STARTTLS_V2_LOCALID_CHECK           0x00010000u
#define PIOF_STARTTLS_V2_RENEGOTIATE             0x00020000u
#define PIOF_STARTTLS_V2_LOCALID_ONTHEFLY        0x00040000u

/* Flags in pioc_lidentry_v2.flags. */
#define PIOF_LIDENTRY_SKIP_DBENTRY       0x00000080u
#define PIOF_LIDENTRY_SKIP_USER          0x00000081u
#define PIOF_LIDENTRY_SKIP_DOMAIN_SAME   0x00000082u
#define PIOF_LIDENTRY_SKIP_DOMAIN_ONEUP  0x00000084u
#define PIOF_LIDENTRY_SKIP_DOMAIN_SUB    0x00000086u
#define PIOF_LIDENTRY_SKIP_NOTROOT       0x00000088u
#define PIOF_LIDENTRY_WANT_DBENTRY       0x00000100u
#define PIOF_LIDENTRY_REGFLAGS           0x00000fffu
#define PIOF_LIDENTRY_DBENTRY            0x00001000u
#define PIOF_LIDENTRY_DBINSERT           0x00002000u
#define PIOF_LIDENTRY_DBAPPEND           0x00004000u
#define PIOF_LIDENTRY_DBREORDER          0x00008000u
#define PIOF_LIDENTRY_NEW                0x00100000u
#define PIOF_LIDENTRY_ONTHEFLY           0x00200000u

/* INFO kinds in pioc_info_v2.info_kind; len 0xFFFF asks for a value. */
#define PIOK_INFO_PEERCERT_SUBJECT                0x52800000u
#define PIOK_INFO_PEERCERT_ISSUER                 0x52800001u
#define PIOK_INFO_PEERCERT_SUBJECTALTNAME         0x52800002u
#define PIOK_INFO_MYCERT_SUBJECT                  0x52800100u
#define PIOK_INFO_MYCERT_ISSUER                   0x52800101u
#define PIOK_INFO_MYCERT_SUBJECTALTNAME           0x52800102u
#define PIOK_INFO_CHANBIND_TLS_UNIQUE             0x59290000u
#define PIOK_INFO_CHANBIND_TLS_SERVER_END_POINT   0x59290001u
/* This pool's own kind, not the original's: RFC 9266 tls-exporter. */
#define PIOK_INFO_CHANBIND_TLS_EXPORTER           0x92660000u
#define PIOK_INFO_QUERY                           0xffffu

/* Error codes in pioc_error_v2.tlserrno: the tlsP table, base plus position.
 * Other values are Linux errno numbers. */
#define E_TLSPOOL_BASE                           (-1167372288L)
#define E_TLSPOOL_OUT_OF_MEMORY                  (E_TLSPOOL_BASE + 0)
#define E_TLSPOOL_ENTANGLED_THREADS              (E_TLSPOOL_BASE + 1)
#define E_TLSPOOL_CLIENT_DISCONNECT              (E_TLSPOOL_BASE + 2)
#define E_TLSPOOL_CLIENT_REFUSES_CALLBACK        (E_TLSPOOL_BASE + 3)
#define E_TLSPOOL_COMMAND_NEEDED                 (E_TLSPOOL_BASE + 4)
#define E_TLSPOOL_SUPERFLUOUS_SOCKET             (E_TLSPOOL_BASE + 5)
#define E_TLSPOOL_CIPHER_SOCKET_NEEDED           (E_TLSPOOL_BASE + 6)
#define E_TLSPOOL_PLAIN_SOCKET_NEEDED            (E_TLSPOOL_BASE + 7)
#define E_TLSPOOL_COMMAND_UNKNOWN                (E_TLSPOOL_BASE + 8)
#define E_TLSPOOL_COMMAND_NOTIMPL                (E_TLSPOOL_BASE + 9)
#define E_TLSPOOL_COMMAND_BAD_CALLBACK_RESPONSE  (E_TLSPOOL_BASE + 10)
#define E_TLSPOOL_FACILITY_STARTTLS              (E_TLSPOOL_BASE + 11)
#define E_TLSPOOL_FACILITY_STARTGSS              (E_TLSPOOL_BASE + 12)
#define E_TLSPOOL_FACILITY_STARTSSH              (E_TLSPOOL_BASE + 13)
#define E_TLSPOOL_CTLKEY_REGISTRATION_FAILED     (E_TLSPOOL_BASE + 14)
#define E_TLSPOOL_CTLKEY_NOT_FOUND               (E_TLSPOOL_BASE + 15)
#define E_TLSPOOL_CTLKEY_NOT_YOURS               (E_TLSPOOL_BASE + 16)
#define E_TLSPOOL_CTLKEY_DETACHED                (E_TLSPOOL_BASE + 17)
#define E_TLSPOOL_CTLKEY_ATTACHED                (E_TLSPOOL_BASE + 18)
#define E_TLSPOOL_RENOGIATE_NOT_FOUND            (E_TLSPOOL_BASE + 19)
#define E_TLSPOOL_RENOGIATE_NOT_INTERRUPTABLE    (E_TLSPOOL_BASE + 20)
#define E_TLSPOOL_RENOGIATE_WOULD_BE_INSECURE    (E_TLSPOOL_BASE + 21)
#define E_TLSPOOL_CONNECTION_HANDLER_SETUP       (E_TLSPOOL_BASE + 22)
#define E_TLSPOOL_CONNECTION_DRIVER_SETUP        (E_TLSPOOL_BASE + 23)
#define E_TLSPOOL_STIRRED_NOT_SHAKEN             (E_TLSPOOL_BASE + 24)
#define E_TLSPOOL_PRNG_UNAVAILABLE               (E_TLSPOOL_BASE + 25)
#define E_TLSPOOL_LIDENTRY_NOT_VACANT            (E_TLSPOOL_BASE + 26)
#define E_TLSPOOL_PINENTRY_NOT_VACANT            (E_TLSPOOL_BASE + 27)
#define E_TLSPOOL_INFOKIND_UNKNOWN               (E_TLSPOOL_BASE + 28)
#define E_TLSPOOL_INFO_NOT_FOUND                 (E_TLSPOOL_BASE + 29)

#pragma pack(push, 2)

struct pioc_error_v2 {
	int32_t tlserrno;
	char message[128];
};

struct pioc_ping_v2 {
	char YYYYMMDD_producer[8 + 128];
	uint32_t facilities;
};

struct pioc_starttls_v2 {
	uint32_t flags;
	uint32_t local;
	uint8_t ipproto;          /* 6 TCP, 17 UDP, 132 SCTP */
	uint8_t padding;
	uint16_t streamid;
	char localid[TLSPOOL_V2_ID_SIZE];
	char remoteid[TLSPOOL_V2_ID_SIZE];
	uint8_t ctlkey[TLSPOOL_V2_CTLKEY_SIZE];
	char service[TLSPOOL_V2_SERVICE_SIZE];
	uint32_t timeout;         /* ms; 0 default, 0xFFFFFFFF none */
};

struct pioc_pinentry_v2 {
	uint32_t flags;           /* none defined: 0 */
	uint32_t attempt;         /* failed tries before this prompt */
	uint32_t timeout_us;
	char pin[128];
	char prompt[128];
	char token_manuf[32 + 1 + 3];
	char token_model[16 + 1 + 3];
	char token_serial[16 + 1 + 3];
	char token_label[32 + 1 + 3];
};

struct pioc_lidentry_v2 {
	uint32_t flags;
	uint16_t maxlevels;
	uint32_t timeout;         /* s at registration; UNIX time in callbacks */
	char localid[TLSPOOL_V2_ID_SIZE];
	char remoteid[TLSPOOL_V2_ID_SIZE];
};

struct pioc_control_v2 {
	uint32_t flags;
	uint8_t ctlkey[TLSPOOL_V2_CTLKEY_SIZE];
	char name[128];
};

struct pioc_prng_v2 {
	int16_t in1_len;
	int16_t in2_len;
	int16_t prng_len;
	uint8_t buffer[350];
};

struct pioc_info_v2 {
	uint8_t ctlkey[TLSPOOL_V2_CTLKEY_SIZE];
	uint32_t info_kind;
	uint16_t len;
	uint8_t buffer[334];
};

struct tlspool_command_v2 {
	uint16_t pio_reqid;
	uint16_t pio_cbid;
	uint32_t pio_cmd;
	union {
		struct pioc_error_v2 pioc_error;
		struct pioc_ping_v2 pioc_ping;
		struct pioc_starttls_v2 pioc_starttls;
		struct pioc_pinentry_v2 pioc_pinentry;
		struct pioc_lidentry_v2 pioc_lidentry;
		struct pioc_control_v2 pioc_control;
		struct pioc_prng_v2 pioc_prng;
		struct pioc_info_v2 pioc_info;
		uint8_t raw[TLSPOOL_V2_DATA_SIZE];
	} pio_data;
};

#pragma pack(pop)

#ifdef __cplusplus
}
#endif

#endif
