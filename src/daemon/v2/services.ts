/**
 * The V2 service registrations: PIN entry (in the one PIN registry the V1
 * programs use) and local-identity selection (in the one approval-agent
 * place the desktop agent uses).
 */
import type { V2Packet } from '../../protocol/v2-codec';
import { V2Cmd } from '../../protocol/v2-constants';
import type { PinBroker } from '../pin/broker';
import type { Handler } from '../server/request';
import { type LidEntryDeps, lidEntryHandler } from './lidentry';
import { v2PinEntryHandler } from './pinentry-v2';

export function v2Services(broker: PinBroker, lid: LidEntryDeps): Array<[number, Handler<V2Packet>]> {
  const lidentry = lidEntryHandler(lid);
  return [
    [V2Cmd.PINENTRY, v2PinEntryHandler(broker)],
    [V2Cmd.LIDENTRY_REGISTER, lidentry],
    // A late answer to a question that is over is the program's next registration.
    [V2Cmd.LIDENTRY_CALLBACK, lidentry],
  ];
}
