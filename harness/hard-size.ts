/**
 * One place that sizes the hardening suite (test/hard). `TLSPOOL_HARD=full`
 * (what `npm run test:hard` sets) gives the sizes the acceptance asks for;
 * anything else gives the CI size that runs inside `npm test`, small enough
 * for all hard tests together to take about a minute and a half on a
 * two-core machine.
 */
export const FULL = process.env.TLSPOOL_HARD === 'full';

export interface HardSize {
  /** What the sizes are called in test names and output. */
  readonly label: 'full' | 'ci';
  /** Packets the fuzzer sends, and how many go on one connection. */
  readonly fuzzPackets: number;
  readonly fuzzBatch: number;
  /** Clients of the load test, and STARTTLS requests each makes in turn. */
  readonly loadClients: number;
  readonly loadPerClient: number;
  /** How many load clients run at once. */
  readonly loadParallel: number;
  /** Unmeasured rounds of the same load first, to reach the daemon's high-water mark (more at CI size, where a round is short). */
  readonly loadWarmupRounds: number;
  /** How long the soak test keeps traffic going. */
  readonly soakMs: number;
  /** Live relayed connections when the daemon is killed. */
  readonly crashConnections: number;
}

export const HARD: HardSize = FULL
  ? {
      label: 'full',
      fuzzPackets: 1_000_000,
      fuzzBatch: 1000,
      loadClients: 1000,
      loadPerClient: 10,
      loadParallel: 50,
      loadWarmupRounds: 1,
      soakMs: 240_000,
      crashConnections: 100,
    }
  : {
      label: 'ci',
      fuzzPackets: 40_000,
      fuzzBatch: 500,
      loadClients: 50,
      loadPerClient: 4,
      loadParallel: 25,
      loadWarmupRounds: 4,
      soakMs: 35_000,
      crashConnections: 20,
    };

/** A hang guard for one hard test: generous at either size, never a timing assertion. */
export function guardMs(ciMs: number, fullMs: number): { timeout: number } {
  return { timeout: FULL ? fullMs : ciMs };
}
