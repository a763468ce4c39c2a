/**
 * Temporary directories for tests, under os.tmpdir() (scripts/run-tests.js
 * points TMPDIR at a directory of the run's own, and fails the run for what
 * is left in it). A test removes what it made; whatever a helper made for a
 * whole file (a daemon started in before(), restarted on the same directory)
 * is removed when the file's process exits, at the latest.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const made = new Set<string>();
process.once('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** A new empty directory, mode 0700, removed at exit unless removed before. */
export function tempDir(prefix = 'tlspool-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.add(dir);
  return dir;
}

/** Remove a directory from tempDir now, with all it holds. */
export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  made.delete(dir);
}
