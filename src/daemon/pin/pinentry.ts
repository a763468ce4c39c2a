/**
 * PINENTRY, as docs/protocol.md's conversation says: an offer (empty
 * `pin`) stays pending until the pool needs a PIN; the pool then answers it
 * with a prompt (a fresh cbid), and the program's reply carries the PIN and
 * is, at the same time, its next offer. An empty PIN cancels. An ERROR in
 * reply unregisters the program and is answered with SUCCESS. A program that
 * disconnects is unregistered; its outstanding prompt goes to the next
 * program, or fails.
 */
import { type Packet, fitString } from '../../protocol/codec';
import { Cmd, PinEntryFlag } from '../../protocol/constants';
import { field } from '../../protocol/layout';
import type { Handler } from '../server/request';
import type { PinBroker, PromptJob } from './broker';
import { Failure } from '../../model/failure';

function promptPacket(reqid: number, flags: number, job: PromptJob): Packet {
  const t = job.need.token;
  return {
    reqid,
    cbid: 0,
    cmd: Cmd.PINENTRY,
    pinentry: {
      flags,
      attempt: job.need.attempt,
      timeout_us: Math.min(job.timeoutUs, 0xffffffff),
      pin: new Uint8Array(0),
      prompt: fitString(job.prompt, field('pioc_pinentry', 'prompt').size),
      token_manuf: fitString(t.manufacturer, field('pioc_pinentry', 'token_manuf').size),
      token_model: fitString(t.model, field('pioc_pinentry', 'token_model').size),
      token_serial: fitString(t.serial, field('pioc_pinentry', 'token_serial').size),
      token_label: fitString(t.label, field('pioc_pinentry', 'token_label').size),
    },
  };
}

export function pinEntryHandler(broker: PinBroker): Handler {
  return async (req) => {
    if (!('pinentry' in req.packet)) throw new Error('PINENTRY handler got another command');
    const offer = req.packet.pinentry;
    offer.pin.fill(0); // an offer carries no PIN; if it does, it has no use
    const flags = offer.flags & PinEntryFlag.SHARED;
    const reg = broker.register(req.client, flags !== 0);
    try {
      for (;;) {
        const job = await reg.next(req.signal);
        let answer: Packet;
        try {
          answer = await req.callback(promptPacket(req.packet.reqid, flags, job));
        } catch (e) {
          job.answer({ kind: 'gone' });
          throw e;
        }
        reg.lastAnswerAt = Date.now();
        if (answer.cmd === Cmd.ERROR) {
          job.answer({ kind: 'stop' });
          return { packet: { reqid: req.packet.reqid, cbid: 0, cmd: Cmd.SUCCESS } };
        }
        if (!('pinentry' in answer) || answer.cmd !== Cmd.PINENTRY) {
          job.answer({ kind: 'stop' });
          throw new Failure('EINVAL', 'the answer to a PINENTRY prompt must be a PINENTRY (or an ERROR to stop)');
        }
        const pin = answer.pinentry.pin;
        job.answer(pin.byteLength > 0 ? { kind: 'pin', pin } : { kind: 'cancel' });
      }
    } finally {
      broker.unregister(reg);
    }
  };
}
