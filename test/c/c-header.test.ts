/**
 * The C header include/tlspool/commands.h against the wire table.
 *
 * A C program is generated from the TypeScript layout table (layout.ts, the
 * single source of offsets) and the constants (constants.ts); it is compiled
 * against the header and run. It prints one line per check:
 *   ok <what> <detail>     or     FAIL <what> <detail>
 * where <what> is `struct`, `header.<field>`, `<payload>.<field>`,
 * `<payload>` or `macro.<NAME>`. Each test below looks at its own group.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  COMMAND_SIZE,
  DATA_OFFSET,
  DATA_SIZE,
  HEADER,
  PAYLOADS,
  type Field,
  type FieldKind,
} from '../../src/protocol/layout';
import { Cmd, CMD_LOCAL, LocalCmd, PinEntryFlag, StartTlsFlag, TLSPOOL_IDENTITY_V1 } from '../../src/protocol/constants';
import {
  buildDir,
  checkCxxSyntax,
  compileC,
  compileCText,
  describeRun,
  runProgram,
  type BuildDir,
  type RunResult,
} from '../../harness/cbuild';
import * as path from 'node:path';
import * as fs from 'node:fs';

/** The default socket path of a system daemon, from docs/protocol.md "Transport". */
const DEFAULT_SOCKET_PATH = '/var/run/tlspool.sock';

interface Layout {
  commandSize: number;
  dataOffset: number;
  dataSize: number;
  header: readonly Field[];
  payloads: Readonly<Record<string, readonly Field[]>>;
}

const WIRE: Layout = {
  commandSize: COMMAND_SIZE,
  dataOffset: DATA_OFFSET,
  dataSize: DATA_SIZE,
  header: HEADER,
  payloads: PAYLOADS,
};

/** Every macro the header must define, with its value from constants.ts. */
function expectedMacros(): Array<[string, number]> {
  const list: Array<[string, number]> = [];
  for (const [name, value] of Object.entries(Cmd)) list.push([`PIOC_${name}_V1`, value]);
  list.push(['PIOC_LOCAL', CMD_LOCAL]);
  for (const [name, value] of Object.entries(LocalCmd)) list.push([`PIOC_LOCAL_${name}`, value]);
  for (const [name, value] of Object.entries(StartTlsFlag)) list.push([`PIOF_STARTTLS_${name}`, value]);
  for (const [name, value] of Object.entries(PinEntryFlag)) list.push([`PIOF_PINENTRY_${name}`, value]);
  return list;
}

/** The C type a field of this kind and size has in the header, as a pointer type for _Generic. */
function cPointerType(kind: FieldKind, size: number): string {
  switch (kind) {
    case 'u8':
    case 'pad':
      return 'uint8_t *';
    case 'u16':
      return 'uint16_t *';
    case 'u32':
      return 'uint32_t *';
    case 'i32':
      return 'int32_t *';
    case 'string':
      return `char (*)[${size}]`;
  }
}

function alignOf(kind: FieldKind): number {
  return kind === 'u16' ? 2 : kind === 'u32' || kind === 'i32' ? 4 : 1;
}

/** The size a C compiler gives a payload struct: its last byte, rounded up to its alignment. */
function payloadSize(fields: readonly Field[], dataOffset: number): number {
  const end = Math.max(...fields.map((f) => f.offset + f.size)) - dataOffset;
  const align = Math.max(...fields.map((f) => alignOf(f.kind)));
  return Math.ceil(end / align) * align;
}

const cString = (s: string): string => JSON.stringify(s); // ASCII only here

/** The C program that compares commands.h with a layout and the constants. */
function layoutProgram(layout: Layout): string {
  const out: string[] = [];
  const num = (what: string, expr: string, want: number, detail: string) =>
    out.push(`\tcheck_num(${cString(what)}, ${cString(detail)}, (unsigned long)(${expr}), ${want >>> 0}UL);`);
  const type = (what: string, member: string, ptrType: string) =>
    out.push(
      `\tcheck_true(${cString(what)}, ${cString(`has type ${ptrType.replace(/ ?\*$/, '').replace(' (*)', '')}`)}, ` +
        `_Generic(&M(${member}), ${ptrType}: 1, default: 0));`,
    );
  const field = (group: string, member: string, f: Field) => {
    const what = `${group}.${f.name}`;
    num(what, `offsetof(TC, ${member})`, f.offset, 'offsetof');
    num(what, `sizeof M(${member})`, f.size, 'sizeof');
    type(what, member, cPointerType(f.kind, f.size));
  };

  num('struct', 'sizeof(TC)', layout.commandSize, 'sizeof(struct tlspool_command)');
  num('struct', 'offsetof(TC, pio_data)', layout.dataOffset, 'offsetof pio_data');
  num('struct', 'sizeof M(pio_data)', layout.dataSize, 'sizeof pio_data');
  for (const f of layout.header) field('header', f.name, f);
  for (const [payload, fields] of Object.entries(layout.payloads)) {
    num(payload, `sizeof M(pio_data.${payload})`, payloadSize(fields, layout.dataOffset), 'sizeof (no fields beyond the table)');
    for (const f of fields) field(payload, `pio_data.${payload}.${f.name}`, f);
  }
  for (const [name, value] of expectedMacros()) {
    out.push(`#ifdef ${name}`);
    num(`macro.${name}`, name, value, 'value');
    out.push('#else', `\tcheck_true(${cString(`macro.${name}`)}, "is defined", 0);`, '#endif');
  }
  for (const [name, value] of [
    ['TLSPOOL_IDENTITY_V1', TLSPOOL_IDENTITY_V1],
    ['TLSPOOL_DEFAULT_SOCKET_PATH', DEFAULT_SOCKET_PATH],
  ] as const) {
    out.push(`#ifdef ${name}`);
    out.push(`\tcheck_str(${cString(`macro.${name}`)}, ${name}, ${cString(value)});`);
    out.push('#else', `\tcheck_true(${cString(`macro.${name}`)}, "is defined", 0);`, '#endif');
  }

  return `/* Generated by test/c/c-header.test.ts from layout.ts and constants.ts. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <tlspool/commands.h>

typedef struct tlspool_command TC;
/* A member of struct tlspool_command, for sizeof and _Generic (never evaluated). */
#define M(member) (((TC *)0)->member)

static int failures;

static void check_num(const char *what, const char *detail, unsigned long got, unsigned long want)
{
	if (got == want) {
		printf("ok %s %s = %lu\\n", what, detail, got);
	} else {
		printf("FAIL %s %s is %lu in commands.h, but the wire table says %lu\\n", what, detail, got, want);
		failures++;
	}
}

static void check_true(const char *what, const char *detail, int ok)
{
	if (ok)
		printf("ok %s %s\\n", what, detail);
	else
		printf("FAIL %s in commands.h does not hold: %s\\n", what, detail);
	if (!ok)
		failures++;
}

static void check_str(const char *what, const char *got, const char *want)
{
	int ok = strcmp(got, want) == 0;
	printf("%s %s is \\"%s\\"%s%s%s\\n", ok ? "ok" : "FAIL", what, got,
	       ok ? "" : ", but the wire contract says \\"", ok ? "" : want, ok ? "" : "\\"");
	if (!ok)
		failures++;
}

int main(void)
{
${out.join('\n')}
	printf("%d failures\\n", failures);
	return failures ? 1 : 0;
}
`;
}

/** The same offsets as C++ static_asserts, to prove the header is C++ friendly. */
function cxxProgram(layout: Layout): string {
  const lines: string[] = [];
  const all: Array<[string, Field]> = [
    ...layout.header.map((f): [string, Field] => [f.name, f]),
    ...Object.entries(layout.payloads).flatMap(([p, fs]) => fs.map((f): [string, Field] => [`pio_data.${p}.${f.name}`, f])),
  ];
  for (const [member, f] of all) {
    lines.push(`static_assert(offsetof(tlspool_command, ${member}) == ${f.offset}, "offsetof ${member}");`);
    lines.push(`static_assert(sizeof(((tlspool_command *)0)->${member}) == ${f.size}, "sizeof ${member}");`);
  }
  return `// Generated by test/c/c-header.test.ts: commands.h used from C++.
#include <cstddef>
#include <cstring>
#include <tlspool/commands.h>

static_assert(sizeof(tlspool_command) == ${layout.commandSize}, "sizeof tlspool_command");
${lines.join('\n')}

// A C++ client fills a command the same way a C client does.
int fill_ping(tlspool_command *cmd)
{
	std::memset(cmd, 0, sizeof *cmd);
	cmd->pio_reqid = 1;
	cmd->pio_cmd = PIOC_PING_V1;
	std::strcpy(cmd->pio_data.pioc_ping.YYYYMMDD_producer, TLSPOOL_IDENTITY_V1);
	return cmd->pio_data.pioc_starttls.flags & PIOF_STARTTLS_DTLS ? 1 : 0;
}
`;
}

interface Line {
  ok: boolean;
  what: string;
  text: string;
}

function parse(r: RunResult): Line[] {
  return r.stdout
    .split('\n')
    .map((l) => /^(ok|FAIL) (\S+) ?(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ ok: m[1] === 'ok', what: m[2]!, text: m[0] }));
}

/** Lines of one group: exactly `what`, or `what.<field>`. */
function group(lines: Line[], what: string): Line[] {
  return lines.filter((l) => l.what === what || l.what.startsWith(`${what}.`));
}

function assertGroupClean(lines: Line[], what: string, expectedChecks: number): void {
  const mine = group(lines, what);
  const failed = mine.filter((l) => !l.ok).map((l) => l.text);
  assert.deepEqual(failed, [], `commands.h differs from the wire table:\n${failed.join('\n')}`);
  assert.equal(mine.length, expectedChecks, `expected ${expectedChecks} checks of ${what}, saw:\n${mine.map((l) => l.text).join('\n')}`);
}

describe('C header tlspool/commands.h matches the wire table', () => {
  let dir: BuildDir;
  let run: RunResult;
  let lines: Line[];

  before(async () => {
    dir = buildDir();
    const exe = compileCText('layout_check.c', layoutProgram(WIRE), dir);
    run = await runProgram(exe, []);
    lines = parse(run);
  });
  after(() => dir?.remove());

  test('the generated layout check compiles with -Wall -Wextra -Werror and passes every check', () => {
    assert.equal(run.code, 0, describeRun('layout_check', run));
    assert.ok(lines.length > 0);
    assert.deepEqual(lines.filter((l) => !l.ok).map((l) => l.text), []);
  });

  test('struct tlspool_command is 376 bytes with pio_data (368 bytes) at offset 8', () => {
    assertGroupClean(lines, 'struct', 3);
  });

  test('the header fields pio_reqid, pio_cbid, pio_cmd sit at offsets 0, 2, 4', () => {
    for (const f of HEADER) assertGroupClean(lines, `header.${f.name}`, 3);
  });

  for (const [payload, fields] of Object.entries(PAYLOADS)) {
    test(`every field of ${payload} has the wire offset, size and type`, () => {
      // 3 checks per field (offsetof, sizeof, type) plus the payload's size.
      assertGroupClean(lines, payload, 3 * fields.length + 1);
    });
  }

  test('every command tag and flag macro has the value of constants.ts', () => {
    for (const [name] of expectedMacros()) assertGroupClean(lines, `macro.${name}`, 1);
  });

  test('TLSPOOL_IDENTITY_V1 and the default socket path are the documented strings', () => {
    assertGroupClean(lines, 'macro.TLSPOOL_IDENTITY_V1', 1);
    assertGroupClean(lines, 'macro.TLSPOOL_DEFAULT_SOCKET_PATH', 1);
  });
});

describe('the layout check itself catches a difference', () => {
  let dir: BuildDir;
  before(() => (dir = buildDir()));
  after(() => dir?.remove());

  test('a table that moves pioc_starttls.streamid makes the check fail naming that field', async () => {
    const moved: Layout = {
      ...WIRE,
      payloads: {
        ...WIRE.payloads,
        pioc_starttls: PAYLOADS.pioc_starttls.map((f) => (f.name === 'streamid' ? { ...f, offset: f.offset + 2 } : f)),
      },
    };
    const r = await runProgram(compileCText('layout_moved.c', layoutProgram(moved), dir), []);
    assert.notEqual(r.code, 0, describeRun('layout_moved', r));
    const failed = parse(r).filter((l) => !l.ok);
    assert.deepEqual(
      failed.map((l) => l.what),
      ['pioc_starttls.streamid'],
      `expected exactly the moved field to fail:\n${r.stdout}`,
    );
    assert.match(failed[0]!.text, /offsetof is 18 in commands\.h, but the wire table says 20/);
  });

  test('a table that gives a field another type makes the check fail naming that field', async () => {
    const retyped: Layout = {
      ...WIRE,
      payloads: {
        ...WIRE.payloads,
        pioc_error: PAYLOADS.pioc_error.map((f) => (f.name === 'tlserrno' ? { ...f, kind: 'u32' as const } : f)),
      },
    };
    const r = await runProgram(compileCText('layout_retyped.c', layoutProgram(retyped), dir), []);
    assert.notEqual(r.code, 0, describeRun('layout_retyped', r));
    assert.deepEqual(
      parse(r).filter((l) => !l.ok).map((l) => l.text),
      ['FAIL pioc_error.tlserrno in commands.h does not hold: has type uint32_t'],
    );
  });
});

describe('the header is usable from C and C++', () => {
  let dir: BuildDir;
  before(() => (dir = buildDir()));
  after(() => dir?.remove());

  test('as C++11 (g++ -fsyntax-only), with every offset as a static_assert', () => {
    checkCxxSyntax('layout_check.cc', cxxProgram(WIRE), dir);
  });

  test('as C++98 and C99, on its own', () => {
    checkCxxSyntax('include98.cc', '#include <tlspool/commands.h>\n', dir, { flags: ['-std=c++98'] });
    const c99 = path.join(dir.dir, 'include99.c');
    fs.writeFileSync(c99, '#include <tlspool/commands.h>\nint main(void) { return sizeof(struct tlspool_command) == 376 ? 0 : 1; }\n');
    compileC(c99, dir, { flags: ['-std=c99'] });
  });
});
