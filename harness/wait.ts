/** Bounded waiting for something observable; the bound only guards against hangs. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 15000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Wait until the value stops changing and equals `expected`, or fail with the last value seen. */
export async function waitForValue<T>(what: string, probe: () => T, expected: T, timeoutMs = 15000): Promise<void> {
  let last: T = probe();
  try {
    await waitFor(what, () => ((last = probe()) === expected ? true : undefined), timeoutMs);
  } catch {
    throw new Error(`${what}: expected ${String(expected)}, still ${String(last)}`);
  }
}
