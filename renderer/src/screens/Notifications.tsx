/** Whether the browser may tell of a waiting PIN prompt or approval while this tab is hidden, and asking for it. */
import { useState } from 'react';

function current(): NotificationPermission | 'unsupported' {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

export function Notifications() {
  const [permission, setPermission] = useState(current);
  const ask = () => {
    void Notification.requestPermission().then(setPermission, () => setPermission(current()));
  };
  return (
    <div className="field notifications">
      <h2 id="notify-h">Desktop notifications</h2>
      <p className="help">
        {permission === 'granted' && 'On: a PIN prompt or approval that waits while this tab is hidden is also shown as a notification.'}
        {permission === 'denied' && 'Blocked for this page in the browser; allow them in its site settings to be told of prompts while the tab is hidden.'}
        {permission === 'default' && 'Off. The tab title always counts waiting prompts; notifications also reach you while the tab is hidden.'}
        {permission === 'unsupported' && 'This browser has no notifications; the tab title counts waiting prompts.'}
      </p>
      {permission === 'default' && (
        <button type="button" onClick={ask}>
          Allow notifications
        </button>
      )}
    </div>
  );
}
