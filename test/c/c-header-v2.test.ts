/**
 * The public V2 C header, include/tlspool/commands-v2.h: compiled with the
 * C compiler, every field's offset and size must be those of the layout
 * table (src/protocol/v2-layout.ts, the table docs/protocol.md shows) and of
 * the independent hand table test/c/wire_v2.h; its tags and tlsP codes
 * must be the daemon's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { V2_COMMAND_SIZE, V2_PAYLOADS } from '../../src/protocol/v2-layout';
import { V2Cmd } from '../../src/protocol/v2-constants';
import { Tlsp } from '../../src/protocol/v2-errors';
import { buildDir, C_SOURCE_DIR, compileCText, describeRun, runProgram, type BuildDir } from '../../harness/cbuild';

/** The hand table's name for a header field, where it has one. */
const HAND: Record<string, string> = {
  'pioc_error.tlserrno': 'V_ERR_CODE', 'pioc_error.message': 'V_ERR_MESSAGE',
  'pioc_ping.YYYYMMDD_producer': 'V_PING_ID', 'pioc_ping.facilities': 'V_PING_FACILITIES',
  'pioc_starttls.flags': 'V_TLS_FLAGS', 'pioc_starttls.local': 'V_TLS_LOCAL', 'pioc_starttls.ipproto': 'V_TLS_IPPROTO',
  'pioc_starttls.streamid': 'V_TLS_STREAMID', 'pioc_starttls.localid': 'V_TLS_LOCALID', 'pioc_starttls.remoteid': 'V_TLS_REMOTEID',
  'pioc_starttls.ctlkey': 'V_TLS_CTLKEY', 'pioc_starttls.service': 'V_TLS_SERVICE', 'pioc_starttls.timeout': 'V_TLS_TIMEOUT',
  'pioc_pinentry.flags': 'V_PIN_FLAGS', 'pioc_pinentry.attempt': 'V_PIN_ATTEMPT', 'pioc_pinentry.timeout_us': 'V_PIN_TIMEOUT',
  'pioc_pinentry.pin': 'V_PIN_PIN', 'pioc_pinentry.prompt': 'V_PIN_PROMPT', 'pioc_pinentry.token_manuf': 'V_PIN_MANUF',
  'pioc_pinentry.token_model': 'V_PIN_MODEL', 'pioc_pinentry.token_serial': 'V_PIN_SERIAL', 'pioc_pinentry.token_label': 'V_PIN_LABEL',
  'pioc_lidentry.flags': 'V_LID_FLAGS', 'pioc_lidentry.maxlevels': 'V_LID_MAXLEVELS', 'pioc_lidentry.timeout': 'V_LID_TIMEOUT',
  'pioc_lidentry.localid': 'V_LID_LOCALID', 'pioc_lidentry.remoteid': 'V_LID_REMOTEID',
  'pioc_control.flags': 'V_CTL_FLAGS', 'pioc_control.ctlkey': 'V_CTL_CTLKEY', 'pioc_control.name': 'V_CTL_NAME',
  'pioc_prng.in1_len': 'V_PRNG_IN1_LEN', 'pioc_prng.in2_len': 'V_PRNG_IN2_LEN', 'pioc_prng.prng_len': 'V_PRNG_LEN', 'pioc_prng.buffer': 'V_PRNG_BUFFER',
  'pioc_info.ctlkey': 'V_INFO_CTLKEY', 'pioc_info.info_kind': 'V_INFO_KIND', 'pioc_info.len': 'V_INFO_LEN', 'pioc_info.buffer': 'V_INFO_BUFFER',
};

const TAGS: Record<string, keyof typeof V2Cmd> = Object.fromEntries(Object.keys(V2Cmd).map((k) => [`PIOC_${k}_V2`, k as keyof typeof V2Cmd]));

function program(): string {
  const lines = ['#include <stddef.h>', '#include <stdio.h>', '#include <tlspool/commands-v2.h>', '#include "wire_v2.h"', '#define AT(p, f) (offsetof(struct tlspool_command_v2, pio_data) + offsetof(struct p##_v2, f))', 'int main(void) {'];
  lines.push('  printf("size %zu\\n", sizeof(struct tlspool_command_v2));');
  lines.push('  printf("hand-size %d\\n", V_SIZE);');
  for (const [payload, fields] of Object.entries(V2_PAYLOADS)) {
    for (const f of fields) {
      if (f.kind === 'pad') continue;
      lines.push(`  printf("field ${payload}.${f.name} %zu %zu\\n", AT(${payload}, ${f.name}), sizeof(((struct ${payload}_v2 *)0)->${f.name}));`);
      const hand = HAND[`${payload}.${f.name}`];
      if (hand) lines.push(`  printf("hand ${payload}.${f.name} %d\\n", ${hand});`);
    }
  }
  for (const tag of Object.keys(TAGS)) lines.push(`  printf("tag ${tag} %u\\n", ${tag});`);
  for (const name of Object.keys(Tlsp)) lines.push(`  printf("code ${name} %ld\\n", (long)${name});`);
  lines.push('  return 0;', '}');
  return lines.join('\n') + '\n';
}

describe('the public V2 C header', () => {
  let dir: BuildDir;
  let out: string;
  before(async () => {
    dir = buildDir();
    const exe = compileCText('header_v2_check.c', program(), dir, { includes: [C_SOURCE_DIR] });
    const r = await runProgram(exe, []);
    assert.equal(r.code, 0, describeRun('header_v2_check', r));
    out = r.stdout;
  });
  after(() => dir.remove());

  const value = (kind: string, name: string): string[] => {
    const m = new RegExp(`^${kind} ${name.replace(/\./g, '\\.')} (.*)$`, 'm').exec(out);
    assert.ok(m, `${kind} ${name} is printed`);
    return m[1]!.split(' ');
  };

  test('struct tlspool_command_v2 is 388 bytes, as the hand table says', () => {
    assert.equal(Number(out.match(/^size (\d+)$/m)?.[1]), V2_COMMAND_SIZE);
    assert.equal(Number(out.match(/^hand-size (\d+)$/m)?.[1]), V2_COMMAND_SIZE);
  });

  test('every field has the offset and size of the layout table, and the hand table agrees on the offset', () => {
    let checked = 0;
    for (const [payload, fields] of Object.entries(V2_PAYLOADS)) {
      for (const f of fields) {
        if (f.kind === 'pad') continue;
        const [offset, size] = value('field', `${payload}.${f.name}`).map(Number);
        assert.deepEqual({ offset, size }, { offset: f.offset, size: f.size }, `${payload}.${f.name}`);
        if (HAND[`${payload}.${f.name}`]) assert.equal(Number(value('hand', `${payload}.${f.name}`)[0]), f.offset, `hand table: ${payload}.${f.name}`);
        checked++;
      }
    }
    assert.ok(checked >= 38, `${checked} fields checked`);
  });

  test('the command tags and tlsP error codes are the ones the daemon uses', () => {
    for (const [macro, name] of Object.entries(TAGS)) assert.equal(Number(value('tag', macro)[0]), V2Cmd[name], macro);
    for (const [name, code] of Object.entries(Tlsp)) assert.equal(Number(value('code', name)[0]), code, name);
  });
});
