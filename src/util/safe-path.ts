/**
 * Whether anyone but us and root could change what a path names: the check
 * the pool socket's directory and the state directory go through.
 *
 * A directory is only as safe as the chain of directories above it: whoever
 * can write to an ancestor can rename the directory below it and put their
 * own in its place. So, as OpenSSH does for the files it trusts, every
 * component from / down must belong to root or to us and be writable by its
 * owner only. The one exception is an ancestor with the sticky bit (/tmp,
 * /var/tmp): others may write there, but only the owner of an entry may
 * rename or remove it, and every entry we pass through must be ours or
 * root's anyway. Symbolic links on the way are followed and checked like
 * any other component (their owner can re-point them in a sticky directory),
 * and so is everything on the way to their target.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Failure } from '../model/failure';

/** EACCES: a path others could change; it names the component at fault and the fix, for callers that compose their own sentence. */
export class UnsafePathError extends Failure {
  /**
   * @param message what is wrong, naming the path
   * @param path the component at fault
   * @param fix what a person could do about it, as a phrase ("chmod go-w /x")
   */
  constructor(
    message: string,
    readonly path: string,
    readonly fix: string,
  ) {
    super('EACCES', message);
  }
}

/** The uid whose files we may trust besides root's. */
export function ourUid(): number {
  return process.geteuid!();
}

const mode = (st: fs.Stats) => (st.mode & 0o7777).toString(8);
const OTHERS_WRITE = 0o022;
const STICKY = 0o1000;
const MAX_LINKS = 40; // as the kernel's ELOOP limit

function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

function lstat(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new UnsafePathError(`cannot check ${p}: ${code ?? (e as Error).message}`, p, `make ${path.dirname(p)} searchable by uid ${ourUid()}`);
  }
}

function checkOwner(p: string, st: fs.Stats, uid: number): void {
  if (st.uid !== uid && st.uid !== 0) {
    throw new UnsafePathError(
      `${p} belongs to uid ${st.uid}, not to us (uid ${uid}) or root, so that uid could change what it holds`,
      p,
      `chown ${uid} ${p}`,
    );
  }
}

/** A directory we pass through on the way down. */
function checkAncestor(p: string, st: fs.Stats): void {
  if (!st.isDirectory()) throw new UnsafePathError(`${p} is not a directory`, p, 'choose a path whose parents are directories');
  if ((st.mode & OTHERS_WRITE) !== 0 && (st.mode & STICKY) === 0) {
    throw new UnsafePathError(
      `${p} can be written by others (mode ${mode(st)}) and has no sticky bit, so they could rename what is in it and put their own in its place`,
      p,
      `chmod go-w ${p} (or chmod +t ${p})`,
    );
  }
}

/** The directory itself: nobody else may add, remove or rename entries in it, sticky or not. */
function checkFinal(p: string, st: fs.Stats): void {
  if (!st.isDirectory()) throw new UnsafePathError(`${p} is not a directory`, p, `remove ${p} or choose another path`);
  if ((st.mode & OTHERS_WRITE) !== 0) {
    throw new UnsafePathError(`others can write there (mode ${mode(st)}) and could replace what it holds`, p, `chmod go-w ${p}`);
  }
}

/**
 * Walk `dir` from / the way the kernel resolves it, checking each component.
 * Stops at the first component that does not exist: `missing` is what is
 * left (empty when `dir` exists), `resolved` the directory reached.
 */
function walk(dir: string, uid: number): { resolved: string; missing: string[] } {
  const absolute = dir.startsWith('/') ? dir : `${process.cwd()}/${dir}`;
  const todo = absolute.split('/').filter((c) => c !== '');
  let cur = '/';
  const root = lstat('/')!;
  checkOwner('/', root, uid);
  if (todo.length > 0) checkAncestor('/', root);
  let links = 0;
  while (todo.length > 0) {
    const name = todo.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      cur = path.dirname(cur); // `cur` holds no symbolic links, so this is what the kernel does
      continue;
    }
    const next = join(cur, name);
    const st = lstat(next);
    if (st === undefined) return { resolved: cur, missing: [name, ...todo] };
    checkOwner(next, st, uid);
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new UnsafePathError(`${dir}: too many symbolic links`, next, 'choose a path with fewer symbolic links');
      const target = fs.readlinkSync(next);
      if (target.startsWith('/')) cur = '/';
      todo.unshift(...target.split('/').filter((c) => c !== ''));
      continue;
    }
    // The last component is checked below, as the directory itself.
    if (todo.some((c) => c !== '.')) checkAncestor(next, st);
    cur = next;
  }
  return { resolved: cur, missing: [] };
}

/**
 * Throw an UnsafePathError unless `dir` and every directory above it can be
 * changed by nobody but `uid` and root (see the top of this file). A
 * missing `dir` is created with mode 0700, after the part of the chain that
 * exists has been checked, so nothing is made where others could meddle.
 */
export function ensurePrivateDir(dir: string, uid = ourUid()): void {
  let { resolved, missing } = walk(dir, uid);
  if (missing.length > 0) {
    makeDirs(resolved, missing, dir);
    ({ resolved, missing } = walk(dir, uid));
    if (missing.length > 0) throw new UnsafePathError(`${dir} could not be created`, dir, `create ${dir}`);
  }
  const st = fs.lstatSync(resolved);
  checkOwner(resolved, st, uid);
  checkFinal(resolved, st);
}

/**
 * Make the `missing` components below `from`, one at a time, each 0700.
 * (Not mkdirSync's recursive mode: on Node 20 it never returns for a path
 * below /proc, whose mkdir says ENOENT for ever.)
 */
function makeDirs(from: string, missing: readonly string[], dir: string): void {
  let at = from;
  for (const name of missing) {
    if (name === '.') continue;
    at = name === '..' ? path.dirname(at) : join(at, name);
    if (name === '..') continue;
    try {
      fs.mkdirSync(at, { mode: 0o700 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      throw new UnsafePathError(`${at} could not be created (${code ?? (e as Error).message})`, at, `create ${dir} yourself, or choose another path`);
    }
  }
}

/**
 * A file in a directory that ensurePrivateDir accepted: absent (undefined),
 * or a regular file of ours or root's, not a symbolic link, with no other
 * name (hard link), that nobody else can write. Returns its lstat.
 */
export function checkPrivateFile(file: string, uid = ourUid()): fs.Stats | undefined {
  const st = lstat(file);
  if (st === undefined) return undefined;
  if (st.isSymbolicLink()) {
    throw new UnsafePathError(`${file} is a symbolic link, and it is not followed`, file, `remove the link (move the file it points to into its place, if that file is yours)`);
  }
  if (!st.isFile()) throw new UnsafePathError(`${file} is not a regular file`, file, `move it aside`);
  checkOwner(file, st, uid);
  if ((st.mode & OTHERS_WRITE) !== 0) {
    throw new UnsafePathError(`others can write ${file} (mode ${mode(st)})`, file, `check its contents, then chmod go-w ${file}`);
  }
  if (st.nlink > 1) {
    throw new UnsafePathError(`${file} has ${st.nlink} names (hard links), so it can be changed through another one`, file, `replace it with a copy of its own (cp, then mv)`);
  }
  return st;
}
