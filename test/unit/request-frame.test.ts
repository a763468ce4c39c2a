/**
 * parseRequestFrame (src/desktop/web/request-frame.ts): the WebSocket bridge's
 * parser that takes an answerPin's PIN out of the frame as bytes. It must
 * read every frame exactly as JSON.parse does (the same object, the same
 * errors), give the PIN as the UTF-8 bytes of the string JSON.parse would
 * give, and leave no PIN string in the frame it turns into text.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseRequestFrame } from '../../src/desktop/web/request-frame';

const utf8 = new TextEncoder();

/** JSON.stringify, with some characters of strings spelled as \uXXXX (as JSON allows and JSON.stringify never does). */
function spell(value: unknown, escapeEvery: number): string {
  if (typeof value === 'string') {
    let out = '"';
    let n = 0;
    for (const unit of value.split('')) {
      const plain = JSON.stringify(unit).slice(1, -1);
      out += ++n % escapeEvery === 0 ? `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}` : plain;
    }
    return `${out}"`;
  }
  if (Array.isArray(value)) return `[${value.map((v) => spell(v, escapeEvery)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${spell(k, escapeEvery)} : ${spell(v, escapeEvery)}`).join(' ,\n')}}`;
  }
  return JSON.stringify(value);
}

function frame(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

/** What the bridge got before: JSON.parse of the whole frame, with the PIN then encoded. */
function reference(text: string): unknown {
  const msg = JSON.parse(text) as { params?: { pin?: unknown } };
  if (typeof msg?.params?.pin === 'string') msg.params.pin = utf8.encode(msg.params.pin);
  return msg;
}

const pinText = fc.string({ unit: 'binary', maxLength: 140 });
const request = fc.record(
  {
    id: fc.integer(),
    method: fc.constantFrom('answerPin', 'getState', 'cancelPin'),
    params: fc.record({ id: fc.uuid(), pin: pinText, extra: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: ['pin'], noNullPrototype: true }),
  },
  { noNullPrototype: true },
);

describe('parseRequestFrame', () => {
  test('reads requests as JSON.parse does, the PIN as its UTF-8 bytes, and leaves no PIN in the frame', () => {
    fc.assert(
      fc.property(request, fc.integer({ min: 1, max: 5 }), (req, every) => {
        const text = spell(req, every);
        const f = frame(text);
        const { msg, pin } = parseRequestFrame(f);
        assert.deepEqual(msg, reference(text));
        assert.deepEqual(pin, utf8.encode(req.params.pin));
        // What became text has a number where the PIN was.
        const left = JSON.parse(f.toString('utf8')) as { params: { pin: unknown } };
        assert.equal(left.params.pin, 0);
      }),
      { numRuns: 500 },
    );
  });

  test('any JSON value, and any cut of a request, is accepted or refused exactly as JSON.parse does', () => {
    const cut = request.chain((req) => {
      const text = spell(req, 3);
      return fc.integer({ min: 0, max: text.length }).map((n) => text.slice(0, n));
    });
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), cut), (text) => {
        let expected: unknown;
        try {
          expected = reference(text);
        } catch {
          assert.throws(() => parseRequestFrame(frame(text)), SyntaxError);
          return;
        }
        assert.deepEqual(parseRequestFrame(frame(text)).msg, expected);
      }),
      { numRuns: 1000 },
    );
  });

  test('the last "pin" of the last "params" is the PIN, keys may be escaped, and every PIN string is blanked', () => {
    const f = frame('{"id":1,"params":{"pin":"first"},"method":"answerPin","par\\u0061ms":{"p\\u0069n":"second","pin":"third"}}');
    const { msg, pin } = parseRequestFrame(f);
    assert.deepEqual(pin, utf8.encode('third'));
    assert.deepEqual((msg as { params: unknown }).params, { pin: utf8.encode('third') });
    const text = f.toString('utf8');
    for (const s of ['first', 'second', 'third']) assert.ok(!text.includes(s), `${s} is not left in ${text}`);

    // A "pin" that is not a string is left as it is: answerPin refuses it.
    const other = parseRequestFrame(frame('{"id":2,"method":"answerPin","params":{"pin":"x","pin":12}}'));
    assert.equal(other.pin, undefined);
    assert.deepEqual(other.msg, { id: 2, method: 'answerPin', params: { pin: 12 } });
  });

  test('escapes decode as JSON.parse and TextEncoder do: a NUL, a surrogate pair, a lone surrogate', () => {
    const { pin } = parseRequestFrame(frame('{"params":{"pin":"a\\u0000b\\ud83d\\ude00\\ud800\\n\\"\\\\\\/"}}'));
    assert.deepEqual(pin, utf8.encode('a\u0000b\u{1f600}\ud800\n"\\/'));
  });

  test('a PIN string JSON does not allow (a raw control character, a bad escape) is refused, not blanked into a valid frame', () => {
    for (const text of ['{"params":{"pin":"12\n34"}}', '{"params":{"pin":"12\\x34"}}', '{"params":{"pin":"\\u12"}}', '{"params":{"pin":"12']) {
      assert.throws(() => parseRequestFrame(frame(text)), SyntaxError, text);
    }
  });
});
