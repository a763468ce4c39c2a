/**
 * The daemon's live events for a CLI command, from the control socket
 * (`events.subscribe`): for what the pool socket does not tell a client,
 * such as an approval its STARTTLS waits for, or that a PIN was right.
 * Undefined when the control socket cannot be reached (another user's
 * daemon, or none): the command then goes on without.
 */
import { ControlClient } from '../client/control-client';
import type { PoolEvent } from '../model/events';

export interface PoolEvents {
  readonly control: ControlClient;
  close(): void;
}

export async function subscribePoolEvents(controlSocket: string, onEvent: (e: PoolEvent, control: ControlClient) => void): Promise<PoolEvents | undefined> {
  let control: ControlClient;
  try {
    control = await ControlClient.connect(controlSocket);
  } catch {
    return undefined;
  }
  control.on('event', (e) => onEvent(e, control));
  try {
    await control.call('events.subscribe', {});
  } catch {
    control.close();
    return undefined;
  }
  return { control, close: () => control.close() };
}
