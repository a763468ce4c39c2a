/**
 * A modal dialog on the native <dialog> (showModal): the page behind is
 * inert, focus stays inside, and screen readers announce it by its heading.
 * Escape goes to `onEscape` instead of silently closing the element, so a
 * prompt is always answered through the agent.
 */
import { useEffect, useId, useRef, type ReactNode } from 'react';

export function Modal(props: { title: string; onEscape: () => void; className?: string; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  const headingId = useId();
  const onEscape = useRef(props.onEscape);
  onEscape.current = props.onEscape;

  useEffect(() => {
    const d = ref.current!;
    let mounted = true;
    if (!d.open) d.showModal();
    const onCancel = (e: Event) => {
      e.preventDefault();
      onEscape.current();
    };
    // Chrome may refuse to cancel a repeated Escape; reopen, the prompt is still pending.
    const onClose = () => {
      if (mounted && !d.open) d.showModal();
    };
    d.addEventListener('cancel', onCancel);
    d.addEventListener('close', onClose);
    return () => {
      mounted = false;
      d.removeEventListener('cancel', onCancel);
      d.removeEventListener('close', onClose);
      if (d.open) d.close();
    };
  }, []);

  return (
    <dialog
      ref={ref}
      aria-labelledby={headingId}
      className={`modal ${props.className ?? ''}`}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          onEscape.current();
        }
      }}
    >
      <h2 id={headingId}>{props.title}</h2>
      {props.children}
    </dialog>
  );
}
