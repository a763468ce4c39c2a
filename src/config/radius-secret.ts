/**
 * A RADIUS shared secret from its file: the first line, which only we (or
 * root) own and others cannot read or write. The daemon checks the file at
 * start and on SIGHUP (checks.ts) and reads it again for each request, into
 * a buffer the caller wipes once the exchange is over. No message here ever
 * holds a byte of the file.
 * (Opened non-blocking: a FIFO in its place is refused, not waited on.)
 */
import * as fs from 'node:fs';
import { Failure } from '../model/failure';
import { whyUnreadable } from './paths';

/** More than any secret needs; a larger file is not a secret file. */
const MAX_BYTES = 4096;

/** Why `st` may not hold a secret, or undefined when it may. */
function unsafe(file: string, st: fs.Stats): Failure | undefined {
  if (!st.isFile()) return new Failure('EINVAL', `${file} is not a regular file`);
  const uid = process.geteuid!();
  if (st.uid !== uid && st.uid !== 0) return new Failure('EACCES', `${file} belongs to uid ${st.uid}, not to us (uid ${uid}) or root; chown it`);
  if (st.mode & 0o007) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    return new Failure('EACCES', `others may read or write ${file} (mode ${mode}); chmod o-rwx ${file}`);
  }
  if (st.size > MAX_BYTES) return new Failure('EFBIG', `${file} is over ${MAX_BYTES} bytes: not a secret file`);
  return undefined;
}

/** The first line of `raw` (the same memory), or a Failure when it is empty. */
function firstLine(file: string, raw: Buffer): Buffer {
  let end = raw.indexOf(0x0a);
  if (end < 0) end = raw.length;
  if (end > 0 && raw[end - 1] === 0x0d) end--;
  if (end === 0) throw new Failure('EINVAL', `${file} holds no secret: its first line is empty`);
  return raw.subarray(0, end);
}

function cannotRead(file: string, e: unknown): Failure {
  if (e instanceof Failure) return e;
  const code = (e as NodeJS.ErrnoException).code;
  return new Failure(code === 'ENOENT' ? 'ENOENT' : 'EACCES', `cannot read ${file}: ${whyUnreadable(e)}`);
}

/** Check a secret file (its owner, mode and first line) without keeping what it holds. */
export function checkSecretFile(file: string): void {
  let raw: Buffer | undefined;
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const problem = unsafe(file, fs.fstatSync(fd));
      if (problem) throw problem;
      raw = fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    firstLine(file, raw);
  } catch (e) {
    throw cannotRead(file, e);
  } finally {
    raw?.fill(0);
  }
}

/**
 * The secret, read off the event loop. The caller owns the buffer and wipes
 * it (fill(0)) when done; the bytes after the first line are wiped here.
 */
export async function readSecret(file: string): Promise<Buffer> {
  let raw: Buffer | undefined;
  try {
    const handle = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const problem = unsafe(file, await handle.stat());
      if (problem) throw problem;
      raw = await handle.readFile();
    } finally {
      await handle.close();
    }
    const secret = firstLine(file, raw);
    raw.fill(0, secret.length);
    return secret;
  } catch (e) {
    raw?.fill(0);
    throw cannotRead(file, e);
  }
}
