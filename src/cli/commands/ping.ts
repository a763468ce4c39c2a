import { PoolClient } from '../../client/pool-client';
import { badValue, type CommandSpec, helpText, parse } from '../args';
import { clientConfig, poolHelp, poolOptions } from './common';
import { pingV2 } from './ping-v2';

export const spec = {
  name: 'ping',
  usage: 'ping [--socket PATH] [--config FILE] [--count N] [--json]',
  summary: "Ask the pool who it is, and show its identity, the round-trip time, and the protocols it speaks.",
  options: { ...poolOptions, count: { type: 'string', short: 'c' }, json: { type: 'boolean' } },
  help: { ...poolHelp, count: 'number of PINGs to send (default 1)', json: 'print one JSON object per PING' },
} satisfies CommandSpec<typeof poolOptions & { count: { type: 'string'; short: 'c' }; json: { type: 'boolean' } }>;

export async function ping(argv: string[]): Promise<number> {
  const args = parse(spec, argv);
  if (!args) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  const count = Number(args.values.count ?? 1);
  if (!Number.isInteger(count) || count < 1) throw badValue('ping', `--count must be a positive integer, got "${args.values.count}"`);
  const config = clientConfig(args.values);
  const client = PoolClient.connect(config.socket);
  try {
    let v1 = '';
    for (let i = 0; i < count; i++) {
      const { identity, rttMs } = await client.ping();
      v1 = identity;
      if (args.values.json) {
        process.stdout.write(JSON.stringify({ socket: config.socket, identity, rtt_ms: Number(rttMs.toFixed(3)) }) + '\n');
      } else {
        process.stdout.write(`${identity} at ${config.socket}: round trip ${rttMs.toFixed(3)} ms\n`);
      }
    }
    const v2 = await pingV2(config.socket);
    if (args.values.json) {
      process.stdout.write(JSON.stringify({ socket: config.socket, protocols: { v1: { identity: v1 }, v2 } }) + '\n');
    } else {
      const second = 'identity' in v2 ? `V2 ${v2.identity} (facilities: ${v2.facilities.join(', ') || 'none'})` : `V2 not spoken (${v2.error})`;
      process.stdout.write(`protocols: V1 ${v1}; ${second}\n`);
    }
  } finally {
    client.close();
  }
  return 0;
}
