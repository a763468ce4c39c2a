/** Loads the compiled addon once, with an error that says how to build it. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../util/package-root';
import { Failure } from '../model/failure';

function load(): Record<string, unknown> {
  const file = path.join(packageRoot(), 'native', 'build', 'Release', 'tlspool_native.node');
  if (!fs.existsSync(file)) {
    throw new Failure('ELIBACC', `the native addon is not built (${file}); run: npm run setup`);
  }
  return require(file) as Record<string, unknown>;
}

export const addon = load();
