/*
 * wire_v2.h -- the V2 wire table as the C probes in test/c/ use it, written
 * by hand from docs/protocol.md (offsets from byte 0 of a 388-byte packet,
 * 2-byte packing, host byte order). Like wire.h it does not come from the
 * project's header, so that a header and a daemon wrong in the same way
 * are still caught.
 */
#ifndef TLSPOOL_TEST_WIRE_V2_H
#define TLSPOOL_TEST_WIRE_V2_H

#define V_SIZE            388
#define V_REQID           0               /* u16 */
#define V_CBID            2               /* u16 */
#define V_CMD             4               /* u32 */

#define V_ERR_CODE        8               /* i32 */
#define V_ERR_MESSAGE     12              /* char[128] */
#define V_ERR_MESSAGE_LEN 128

#define V_PING_ID         8               /* char[136] */
#define V_PING_ID_LEN     136
#define V_PING_FACILITIES 144             /* u32 */

#define V_TLS_FLAGS       8               /* u32 */
#define V_TLS_LOCAL       12              /* u32 */
#define V_TLS_IPPROTO     16              /* u8 */
#define V_TLS_STREAMID    18              /* u16 */
#define V_TLS_LOCALID     20              /* char[128] */
#define V_TLS_REMOTEID    148             /* char[128] */
#define V_TLS_CTLKEY      276             /* u8[16] */
#define V_TLS_SERVICE     292             /* char[16] */
#define V_TLS_TIMEOUT     308             /* u32 */
#define V_ID_LEN          128

#define V_PIN_FLAGS       8
#define V_PIN_ATTEMPT     12
#define V_PIN_TIMEOUT     16
#define V_PIN_PIN         20              /* char[128] */
#define V_PIN_PROMPT      148             /* char[128] */
#define V_PIN_MANUF       276             /* char[36] */
#define V_PIN_MODEL       312             /* char[20] */
#define V_PIN_SERIAL      332             /* char[20] */
#define V_PIN_LABEL       352             /* char[36] */

#define V_LID_FLAGS       8               /* u32 */
#define V_LID_MAXLEVELS   12              /* u16 */
#define V_LID_TIMEOUT     14              /* u32 */
#define V_LID_LOCALID     18              /* char[128] */
#define V_LID_REMOTEID    146             /* char[128] */

#define V_CTL_FLAGS       8               /* u32 */
#define V_CTL_CTLKEY      12              /* u8[16] */
#define V_CTL_NAME        28              /* char[128] */

#define V_PRNG_IN1_LEN    8               /* i16 */
#define V_PRNG_IN2_LEN    10              /* i16 */
#define V_PRNG_LEN        12              /* i16 */
#define V_PRNG_BUFFER     14              /* u8[350] */

#define V_INFO_CTLKEY     8               /* u8[16] */
#define V_INFO_KIND       24              /* u32 */
#define V_INFO_LEN        28              /* u16 */
#define V_INFO_BUFFER     30              /* u8[334] */

#define VT_SUCCESS           0x00000000u
#define VT_ERROR             0x00000001u
#define VT_PING              0x00000010u
#define VT_STARTTLS          0x00000024u
#define VT_STARTTLS_LOCALID  0x00000028u
#define VT_PINENTRY          0x00000029u
#define VT_PLAINTEXT_CONNECT 0x0000002au
#define VT_PRNG              0x0000002bu
#define VT_INFO              0x0000002cu
#define VT_CONTROL_DETACH    0x00000100u
#define VT_CONTROL_REATTACH  0x00000101u
#define VT_LIDENTRY_REGISTER 0x00000200u
#define VT_LIDENTRY_CALLBACK 0x00000201u
#define VT_UNKNOWN           0x00012345u

#define VF_LOCALROLE_CLIENT  0x00000001u
#define VF_LOCALROLE_SERVER  0x00000002u
#define VF_REMOTEROLE_CLIENT 0x00000004u
#define VF_REMOTEROLE_SERVER 0x00000008u
#define VF_DTLS              0x00000100u
#define VF_WITHOUT_SNI       0x00000200u
#define VF_IGNORE_REMOTEID   0x00001000u
#define VF_DETACH            0x00002000u
#define VF_FORK              0x00004000u
#define VF_LOCALID_CHECK     0x00010000u
#define VF_RENEGOTIATE       0x00020000u

/* The tlsP table: base -1167372288 plus the position. */
#define VE_BASE                    (-1167372288)
#define VE_CLIENT_REFUSES_CALLBACK (VE_BASE + 3)
#define VE_SUPERFLUOUS_SOCKET      (VE_BASE + 5)
#define VE_CIPHER_SOCKET_NEEDED    (VE_BASE + 6)
#define VE_PLAIN_SOCKET_NEEDED     (VE_BASE + 7)
#define VE_COMMAND_UNKNOWN         (VE_BASE + 8)
#define VE_COMMAND_NOTIMPL         (VE_BASE + 9)
#define VE_BAD_CALLBACK_RESPONSE   (VE_BASE + 10)
#define VE_CTLKEY_REGISTRATION     (VE_BASE + 14)
#define VE_CTLKEY_NOT_FOUND        (VE_BASE + 15)
#define VE_CTLKEY_NOT_YOURS        (VE_BASE + 16)
#define VE_CTLKEY_DETACHED         (VE_BASE + 17)
#define VE_CTLKEY_ATTACHED         (VE_BASE + 18)
#define VE_RENOGIATE_NOT_FOUND     (VE_BASE + 19)
#define VE_STIRRED_NOT_SHAKEN      (VE_BASE + 24)
#define VE_PRNG_UNAVAILABLE        (VE_BASE + 25)
#define VE_PINENTRY_NOT_VACANT     (VE_BASE + 27)
#define VE_INFOKIND_UNKNOWN        (VE_BASE + 28)
#define VE_INFO_NOT_FOUND          (VE_BASE + 29)

#define V_POOL_IDENTITY "20151111api@tlspool.arpa2.net"

#endif
