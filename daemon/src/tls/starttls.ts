/**
 * STARTTLS_CLIENT and STARTTLS_SERVER. The socket checks run first, so a
 * client learns at once what is wrong with the fd it sent.
 */
import type { Handler } from '../server/request';
import { ProtocolError } from '../server/request';
import { checkStartTlsFd } from './fd-check';

export const starttls: Handler = async (req) => {
  if (!('starttls' in req.packet)) throw new Error('STARTTLS handler got another command');
  checkStartTlsFd(req.packet.starttls, req.fd);
  throw new ProtocolError('ENOSYS', 'this pool cannot run TLS sessions yet');
};
