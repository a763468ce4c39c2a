/**
 * One prompt at a time, the rest counted. PIN prompts come before approvals:
 * a handshake waiting on a token cannot get to its approval question before
 * the token opens. Within each kind, the agent's order (oldest first).
 */
import type { ViewState } from '../state/reducer';
import { useStore } from '../state/context';
import { ApprovalDialog } from './ApprovalDialog';
import { PinDialog } from './PinDialog';

export function PromptQueue(props: { state: ViewState }) {
  const store = useStore();
  const { pinPrompts } = props.state;
  const approvals = [...props.state.approvals].sort((a, b) => Date.parse(a.askedAt) - Date.parse(b.askedAt));
  const waiting = pinPrompts.length + approvals.length - 1;
  if (pinPrompts.length > 0) {
    const p = pinPrompts[0];
    return (
      <PinDialog
        key={`pin-${p.id}-${p.attempt}`}
        prompt={p}
        waiting={waiting}
        // A refusal shows in the dialog, next to the field (not as a notice).
        onAnswer={(pin) => store.api.answerPin({ id: p.id, pin })}
        onCancel={() => store.run('Cancelling the PIN prompt', () => store.api.cancelPin({ id: p.id }))}
      />
    );
  }
  if (approvals.length > 0) {
    const a = approvals[0];
    return (
      <ApprovalDialog
        key={`approval-${a.id}`}
        request={a}
        waiting={waiting}
        onDecide={(d) => store.run('Sending the decision', () => store.api.decideApproval(d))}
      />
    );
  }
  return null;
}
