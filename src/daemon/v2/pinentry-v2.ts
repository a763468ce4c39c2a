/**
 * V2 PINENTRY: a V2 PIN entry program in the one registry the V1 programs
 * use (pin/broker.ts). Its registration is held until a token needs a PIN;
 * the prompt goes out in the V2 layout (36/20/20/36-byte token fields,
 * `attempt` counting failed tries, 0 on the first); the answer carries the
 * PIN, or an empty PIN to refuse, and is the program's next registration.
 * An ERROR answer refuses and unregisters, with no acknowledgement. The
 * exclusivity refusal is E_TLSPOOL_PINENTRY_NOT_VACANT. Every registration
 * is exclusive: V2 defines no SHARED flag. PINs are bytes, wiped after use.
 */
import { fitString } from '../../protocol/codec';
import type { V2Packet } from '../../protocol/v2-codec';
import { V2Cmd } from '../../protocol/v2-constants';
import { TlspFailure } from '../../protocol/v2-errors';
import { v2Field } from '../../protocol/v2-layout';
import type { Handler } from '../server/request';
import type { PinBroker, PromptJob } from '../pin/broker';
import type { PinEntryRegistration } from '../pin/registration';
import { Failure } from '../../model/failure';

const size = (name: string) => v2Field('pioc_pinentry', name).size;

/** The prompt in the V2 layout; `registeredUs` is what the program said it needs (0: not said). */
export function v2PromptPacket(reqid: number, job: PromptJob, registeredUs: number): V2Packet {
  const t = job.need.token;
  const waitUs = registeredUs > 0 ? Math.min(job.timeoutUs, registeredUs) : job.timeoutUs;
  return {
    reqid,
    cbid: 0,
    cmd: V2Cmd.PINENTRY,
    pinentry: {
      flags: 0,
      // V2 counts the tries that failed before this prompt.
      attempt: Math.max(0, job.need.attempt - 1),
      timeout_us: Math.min(Math.round(waitUs), 0xffffffff),
      pin: new Uint8Array(0),
      prompt: fitString(job.prompt, size('prompt')),
      token_manuf: fitString(t.manufacturer, size('token_manuf')),
      token_model: fitString(t.model, size('token_model')),
      token_serial: fitString(t.serial, size('token_serial')),
      token_label: fitString(t.label, size('token_label')),
    },
  };
}

function registerV2(broker: PinBroker, client: Parameters<PinBroker['register']>[0]): PinEntryRegistration {
  try {
    return broker.register(client, false);
  } catch (e) {
    if (e instanceof Failure && e.code === 'EBUSY') throw new TlspFailure('E_TLSPOOL_PINENTRY_NOT_VACANT', e.message);
    throw e;
  }
}

export function v2PinEntryHandler(broker: PinBroker): Handler<V2Packet> {
  return async (req) => {
    if (!('pinentry' in req.packet)) throw new Error('V2 PINENTRY handler got another command');
    const offer = req.packet.pinentry;
    offer.pin.fill(0); // a registration carries no PIN; if it does, it has no use
    let registeredUs = offer.timeout_us;
    const reg = registerV2(broker, req.client);
    try {
      for (;;) {
        const job = await reg.next(req.signal);
        let answer: V2Packet;
        try {
          answer = await req.callback(v2PromptPacket(req.packet.reqid, job, registeredUs));
        } catch (e) {
          job.answer({ kind: 'gone' });
          throw e;
        }
        reg.lastAnswerAt = Date.now();
        if (answer.cmd === V2Cmd.ERROR) {
          // Refused, and no longer registered; V2 programs expect no answer to this.
          job.answer({ kind: 'cancel' });
          return { packet: answer, quiet: true };
        }
        if (!('pinentry' in answer) || answer.cmd !== V2Cmd.PINENTRY) {
          job.answer({ kind: 'stop' });
          throw new TlspFailure('E_TLSPOOL_COMMAND_BAD_CALLBACK_RESPONSE', 'answer a PINENTRY prompt with PINENTRY (empty pin to refuse)');
        }
        const pin = answer.pinentry.pin;
        if (answer.pinentry.timeout_us > 0) registeredUs = answer.pinentry.timeout_us;
        job.answer(pin.byteLength > 0 ? { kind: 'pin', pin } : { kind: 'cancel' });
      }
    } finally {
      broker.unregister(reg);
    }
  };
}
