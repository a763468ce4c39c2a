/** Time left until `expiresAt`, ticking each second; the agent withdraws the prompt at zero. */
import { useEffect, useState } from 'react';
import { countdown } from '../format';

export function Countdown(props: { expiresAt: string; label: string }) {
  const deadline = Date.parse(props.expiresAt);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const left = deadline - now;
  const urgent = left < 10_000;
  return (
    <p className={`countdown${urgent ? ' urgent' : ''}`} role="timer" aria-label={props.label}>
      {left > 0 ? `${props.label} in ${countdown(left)}` : `${props.label} now`}
    </p>
  );
}
