/**
 * Whether the remote peer of a STARTTLS socket hangs up while the handshake
 * waits for a person (an approval): the engine's thread is then not reading
 * the socket, so nothing else would notice that the peer (curl, a browser)
 * gave up, and the question would stay on screen until its timeout.
 */
import { peerHungUp, type OwnedFd } from '../../addon/ipc';

/** How often the socket is looked at while a person is asked; a poll() that does not wait, so cheap. */
export const HANGUP_POLL_MS = 200;

/** Call `onHangup` once when the peer of `fd` has hung up; returns the function that stops watching. */
export function watchHangup(fd: OwnedFd, onHangup: () => void): () => void {
  const timer = setInterval(() => {
    let hung: boolean;
    try {
      hung = fd.closed || peerHungUp(fd.fd);
    } catch {
      hung = true; // the descriptor is gone
    }
    if (!hung) return;
    clearInterval(timer);
    onHangup();
  }, HANGUP_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
