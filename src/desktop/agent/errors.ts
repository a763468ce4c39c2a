/**
 * Errors the agent gives a UI: a stable code (an errno name) and a message
 * that says what to do. The transports pass both through unchanged.
 */
export class AgentError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AgentError';
  }
}

/** The code of any error the agent may meet: ours, the control client's errno, the pool client's. */
export function errorCode(e: unknown): string | undefined {
  const err = e as { code?: unknown; errno?: unknown };
  if (typeof err?.code === 'string') return err.code;
  if (typeof err?.errno === 'string') return err.errno;
  return undefined;
}
