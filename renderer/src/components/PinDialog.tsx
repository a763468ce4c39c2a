/**
 * "Enter PIN" for one token. The PIN lives only in the input element: it is
 * read on submit, handed to the agent, and the field is cleared at once —
 * never copied into React state, where it would linger in memory and
 * devtools. A PIN the pool cannot take (over PIN_MAX_BYTES bytes in UTF-8,
 * or a NUL) is not sent: the message shows next to the field, which keeps
 * it to be corrected. The agent checks again; what it refuses shows there
 * too.
 */
import { useRef, useState, type FormEvent } from 'react';
import type { PinPromptView } from '../../../src/contract/desktop';
import { PIN_TOO_LONG, pinTextProblem, utf8Length } from '../../../src/protocol/pin';
import { Countdown } from './Countdown';
import { Modal } from './Modal';

export function PinDialog(props: {
  prompt: PinPromptView;
  waiting: number;
  /** Rejects with the agent's reason when it refuses the PIN. */
  onAnswer: (pin: string) => Promise<unknown>;
  onCancel: () => Promise<unknown>;
}) {
  const { prompt } = props;
  const input = useRef<HTMLInputElement>(null);
  const [shown, setShown] = useState(false);
  const [empty, setEmpty] = useState(true);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const problemId = `pin-problem-${prompt.id}`;

  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    const field = input.current;
    if (!field || busy || field.value === '') return;
    const refused = pinTextProblem(field.value);
    if (refused) {
      // Not sent: the field keeps the PIN, for the person to correct it.
      const count = refused === PIN_TOO_LONG ? ` (this one has ${utf8Length(field.value)})` : '';
      setProblem(`${refused[0]!.toUpperCase()}${refused.slice(1)}${count}; correct it and unlock again.`);
      field.focus();
      return;
    }
    const pin = field.value;
    field.value = '';
    setEmpty(true);
    setProblem(null);
    setBusy(true);
    void props
      .onAnswer(pin)
      .catch((err: unknown) => setProblem(`The PIN was not taken: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => setBusy(false));
  };

  const cancel = () => {
    if (input.current) input.current.value = '';
    setBusy(true);
    void props.onCancel().finally(() => setBusy(false));
  };

  return (
    <Modal title="Enter PIN" onEscape={cancel} className="pin-dialog">
      <form onSubmit={submit}>
        <dl className="token-facts">
          <dt>Token</dt>
          <dd>{prompt.tokenLabel}</dd>
          <dt>Manufacturer</dt>
          <dd>{prompt.manufacturer}</dd>
          <dt>Model</dt>
          <dd>{prompt.model}</dd>
          <dt>Serial</dt>
          <dd>{prompt.serial}</dd>
        </dl>
        <p className="prompt-text">{prompt.prompt}</p>
        {prompt.attempt >= 2 && (
          <p className="warning" role="alert">
            The PIN was wrong; attempt {prompt.attempt}
          </p>
        )}
        <div className="pin-row">
          <label htmlFor={`pin-${prompt.id}`}>PIN</label>
          <input
            id={`pin-${prompt.id}`}
            ref={input}
            type={shown ? 'text' : 'password'}
            autoComplete="off"
            autoCapitalize="off"
            spellCheck={false}
            autoFocus
            aria-invalid={problem !== null}
            aria-describedby={problem !== null ? problemId : undefined}
            onChange={(e) => {
              setEmpty(e.currentTarget.value === '');
              setProblem(null);
            }}
          />
          <button
            type="button"
            className="quiet"
            aria-pressed={shown}
            // A mouse click leaves the focus in the field, so Enter still submits.
            onMouseDown={(e) => e.preventDefault()}
            onClick={() => setShown(!shown)}
          >
            {shown ? 'Hide PIN' : 'Show PIN'}
          </button>
        </div>
        {problem !== null && (
          <p id={problemId} className="warning pin-problem" role="alert">
            {problem}
          </p>
        )}
        <Countdown expiresAt={prompt.expiresAt} label="Expires" />
        <div className="buttons">
          {props.waiting > 0 && <span className="waiting">{props.waiting} more waiting</span>}
          <button type="button" onClick={cancel} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy || empty}>
            Unlock
          </button>
        </div>
      </form>
    </Modal>
  );
}
