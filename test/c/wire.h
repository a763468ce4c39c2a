/*
 * wire.h -- the V1 wire table as the C probes in test/c/ use it, written by
 * hand from docs/protocol.md (offsets from byte 0 of a 376-byte packet).
 * It deliberately does not come from <tlspool/commands.h>: if the header
 * and the daemon were wrong in the same way, the probes would still notice.
 * One table for all the probes, so that they cannot disagree.
 */
#ifndef TLSPOOL_TEST_WIRE_H
#define TLSPOOL_TEST_WIRE_H

#define W_SIZE            376
#define W_REQID           0               /* u16 */
#define W_CBID            2               /* u16 */
#define W_CMD             4               /* u32 */
#define W_DATA            8               /* 368-byte union */

#define W_ERR_ERRNO       (W_DATA + 0)    /* i32 */
#define W_ERR_MESSAGE     (W_DATA + 4)    /* char[128] */
#define W_ERR_MESSAGE_LEN 128

#define W_PING_ID         (W_DATA + 0)    /* char[136] */
#define W_PING_ID_LEN     136

#define W_TLS_FLAGS       (W_DATA + 0)    /* u32 */
#define W_TLS_LOCAL       (W_DATA + 4)    /* u32 */
#define W_TLS_IPPROTO     (W_DATA + 8)    /* u8 */
#define W_TLS_STREAMID    (W_DATA + 10)   /* u16 */
#define W_TLS_LOCALID     (W_DATA + 12)   /* char[128] */
#define W_TLS_REMOTEID    (W_DATA + 140)  /* char[128] */
#define W_ID_LEN          128

#define W_PIN_FLAGS       (W_DATA + 0)    /* u32 */
#define W_PIN_ATTEMPT     (W_DATA + 4)    /* u32 */
#define W_PIN_TIMEOUT     (W_DATA + 8)    /* u32 */
#define W_PIN_PIN         (W_DATA + 12)   /* char[128] */
#define W_PIN_PIN_LEN     128
#define W_PIN_PROMPT      (W_DATA + 140)  /* char[128] */
#define W_PIN_MANUF       (W_DATA + 268)  /* char[33] */
#define W_PIN_MODEL       (W_DATA + 301)  /* char[17] */
#define W_PIN_SERIAL      (W_DATA + 318)  /* char[17] */
#define W_PIN_LABEL       (W_DATA + 335)  /* char[33] */

#define T_ERROR            0x00000001u
#define T_PING             0x00000010u
#define T_STARTTLS_CLIENT  0x00000020u
#define T_STARTTLS_LOCALID 0x00000028u
#define T_PINENTRY         0x00000029u
#define T_UNKNOWN          0x00012345u    /* no such command */

#endif
