/** Hardening of this process itself. */
import { addon } from './load';

const native = addon as unknown as { secureProcess(): void };

/** prctl(PR_SET_DUMPABLE, 0): no core dumps of this process, no ptrace by others of its uid. */
export function secureProcess(): void {
  native.secureProcess();
}
