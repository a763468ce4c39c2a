/** Writing the man pages to a directory in the man1/ man5/ layout that man(1) reads (MANPATH). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot, packageVersion } from '../../util/package-root';
import { COMMANDS } from '../registry';
import { configPage, type PageInfo, tlspoolPage } from './pages';

export function pageInfo(env: NodeJS.ProcessEnv = process.env): PageInfo {
  const epoch = env.SOURCE_DATE_EPOCH && /^\d+$/.test(env.SOURCE_DATE_EPOCH) ? Number(env.SOURCE_DATE_EPOCH) * 1000 : Date.now();
  return { version: packageVersion(), date: new Date(epoch).toISOString().slice(0, 10) };
}

/** The pages, by their path below a man directory. */
export function manPages(info: PageInfo = pageInfo()): Record<string, string> {
  const configuration = fs.readFileSync(path.join(packageRoot(), 'docs', 'configuration.md'), 'utf8');
  return {
    'man1/tlspool.1': tlspoolPage(COMMANDS, info),
    'man5/tlspool.conf.5': configPage(configuration, info),
  };
}

/** Write them below `dir`; returns the files written. */
export function writeManPages(dir: string): string[] {
  return Object.entries(manPages()).map(([name, text]) => {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    return file;
  });
}
