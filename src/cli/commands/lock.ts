/** `tlspool lock`: the pool forgets every cached PIN and logs its tokens out. */
import { PoolClient } from '../../client/pool-client';
import { type CommandSpec, helpText, parse } from '../args';
import { clientConfig, poolHelp, poolOptions } from './common';

export const spec = {
  name: 'lock',
  usage: 'lock [--socket PATH]',
  summary: 'Make the pool forget every cached token PIN and log its tokens out; the next use asks for the PIN again.',
  options: { ...poolOptions },
  help: { ...poolHelp },
} satisfies CommandSpec<typeof poolOptions>;

export async function lock(argv: string[]): Promise<number> {
  const args = parse(spec, argv);
  if (!args) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  const config = clientConfig(args.values);
  const client = PoolClient.connect(config.socket);
  try {
    await client.lock();
  } finally {
    client.close();
  }
  process.stdout.write('locked: the pool forgot its PINs and logged its tokens out\n');
  return 0;
}
