/**
 * "Approve identity": may the pool show one of our identities to this peer?
 * The person picks which identity, how wide the choice reaches (the
 * selectors, most specific first) and how long it is remembered.
 */
import { useState } from 'react';
import type { ApprovalDecision, ApprovalRequest, RuleLifetime } from '../../../src/model/disclosure';
import { application } from '../format';
import { Countdown } from './Countdown';
import { Modal } from './Modal';

const LIFETIMES: ReadonlyArray<{ value: RuleLifetime; label: string }> = [
  { value: 'once', label: 'Once' },
  { value: 'restart', label: 'Until restart' },
  { value: 'forever', label: 'Forever' },
];

/** How a selector reads to a person. */
function describeSelector(s: string): string {
  if (s === '*') return 'anyone (*)';
  if (s.startsWith('.')) return `any name under ${s.slice(1)} (${s})`;
  return s;
}

export function ApprovalDialog(props: {
  request: ApprovalRequest;
  waiting: number;
  onDecide: (d: ApprovalDecision) => Promise<unknown>;
}) {
  const r = props.request;
  const [remote, setRemote] = useState(r.selectors[0] ?? r.remote);
  const [localid, setLocalid] = useState(r.candidates.includes(r.localid) ? r.localid : (r.candidates[0] ?? r.localid));
  const [lifetime, setLifetime] = useState<RuleLifetime>('once');
  const [busy, setBusy] = useState(false);

  const decide = (decision: 'allow' | 'deny', override?: Partial<ApprovalDecision>) => {
    if (busy) return;
    setBusy(true);
    const d: ApprovalDecision = {
      id: r.id,
      decision,
      remote,
      lifetime,
      ...(decision === 'allow' ? { localid } : {}),
      ...override,
    };
    void props.onDecide(d).finally(() => setBusy(false));
  };

  const verb = r.role === 'client' ? 'is connecting to' : 'is accepting a connection from';
  return (
    <Modal title="Approve identity" onEscape={() => decide('deny', { lifetime: 'once' })} className="approval-dialog">
      <p className="lead">
        <strong>{application(r)}</strong> {verb} <strong className="peer">{r.remote}</strong>. Show it one of your
        identities?
      </p>
      <div className="form-grid">
        <label htmlFor={`ap-remote-${r.id}`}>Remote peer</label>
        <select id={`ap-remote-${r.id}`} value={remote} onChange={(e) => setRemote(e.currentTarget.value)}>
          {r.selectors.map((s) => (
            <option key={s} value={s}>
              {describeSelector(s)}
            </option>
          ))}
        </select>
        <label htmlFor={`ap-local-${r.id}`}>Local identity</label>
        <select id={`ap-local-${r.id}`} value={localid} onChange={(e) => setLocalid(e.currentTarget.value)}>
          {r.candidates.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
        <label htmlFor={`ap-life-${r.id}`}>Remember</label>
        <select
          id={`ap-life-${r.id}`}
          value={lifetime}
          onChange={(e) => setLifetime(e.currentTarget.value as RuleLifetime)}
        >
          {LIFETIMES.map((l) => (
            <option key={l.value} value={l.value}>
              {l.label}
            </option>
          ))}
        </select>
      </div>
      <Countdown expiresAt={r.expiresAt} label="Denied automatically" />
      <div className="buttons">
        {props.waiting > 0 && <span className="waiting">{props.waiting} more waiting</span>}
        <button type="button" onClick={() => decide('deny')} disabled={busy}>
          Deny
        </button>
        <button type="button" className="primary" onClick={() => decide('allow')} disabled={busy} autoFocus>
          Allow
        </button>
      </div>
    </Modal>
  );
}
