/**
 * For a command whose STARTTLS may wait for a person (`tlspool tunnel`): the
 * pool asks its approval agent before it shows a local identity that no
 * disclosure rule covers, and the handshake waits for the answer, up to
 * `disclosure.approval_timeout`. Without a word the command would seem to
 * hang. This subscribes to the daemon's events on the control socket and
 * says, for the questions asked on behalf of this process (the requester's
 * pid is ours): that it waits, for what, where to answer, and how it was
 * decided. Without the control socket (another user's daemon) it says
 * nothing, and the STARTTLS still ends as the agent or the timeout decides.
 */
import type { ApprovalRequest } from '../model/disclosure';
import { describeProgram } from '../util/program';
import { subscribePoolEvents } from './pool-events';

export interface ApprovalNotices {
  close(): void;
}

export async function approvalNotices(controlSocket: string, say: (line: string) => void, pid = process.pid): Promise<ApprovalNotices | undefined> {
  const asked = new Map<string, ApprovalRequest>();
  return subscribePoolEvents(controlSocket, (e, control) => {
    if (e.type === 'approval-asked' && e.approval.requester.pid === pid) {
      const a = e.approval;
      asked.set(a.id, a);
      void control.call('status', {}).then(
        (s) => {
          const agent = s.approvalAgent;
          const where = agent ? describeProgram(agent.pid, agent.executable) : 'the approval agent';
          const seconds = Math.max(0, Math.round((Date.parse(a.expiresAt) - Date.parse(a.askedAt)) / 1000));
          say(
            `waiting for approval to show ${a.localid} to ${a.remote}: answer in ${where} within ${seconds} s, or it is denied ` +
              `(remembered answers: tlspool rules list)`,
          );
        },
        () => undefined,
      );
    } else if (e.type === 'approval-decided') {
      const a = asked.get(e.id);
      if (!a) return;
      asked.delete(e.id);
      const how = e.by === 'agent' ? 'by the approval agent' : e.by === 'timeout' ? 'as nobody answered in time' : 'as the handshake went away';
      say(`${e.decision === 'allow' ? 'allowed' : 'denied'} ${how}: showing ${e.localid ?? a.localid} to ${a.remote}`);
    }
  });
}
