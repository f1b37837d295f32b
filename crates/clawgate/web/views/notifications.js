// ClawGate's web app, notifications (/notifications): push on this device, turned on or off, or
// why it cannot be; and the service worker (sw.js) that shows them.

import { api, ApiError } from '../api.js';
import { busy, h, main } from '../dom.js';
import { follow } from '../live.js';
import { withTimeout } from '../time.js';
import { fromB64url } from '../webauthn.js';

/** The service worker, registered (null where push cannot work). */
export async function pushRegistration() {
  if (!('serviceWorker' in navigator) || !('PushManager' in window)) return null;
  return navigator.serviceWorker.register('/sw.js');
}

export async function viewNotifications() {
  const state = h('p', { id: 'push-state' });
  const toggle = h('button', { type: 'button', class: 'primary', id: 'push-toggle' });
  const area = h('div', { class: 'card' }, state, toggle);
  const render = async () => {
    state.textContent = 'Checking this device…';
    if ('Notification' in window && Notification.permission === 'denied') {
      // The browser refuses without asking: a button here could not work.
      state.textContent =
        'Notifications are blocked for this site in this browser. To allow them, open the site settings (the icon at the left of the address bar, or the browser’s Settings → Privacy and security → Site settings → Notifications), set Notifications to Allow for this site, then come back to this page.';
      state.dataset.ready = 'blocked';
      toggle.hidden = true;
      return;
    }
    const registration = await withTimeout(pushRegistration(), 5000).catch(() => null);
    if (!registration) {
      state.textContent = 'This browser cannot receive push notifications. On an iPhone, add ClawGate to the Home Screen first (Share → Add to Home Screen) and open it from there.';
      state.dataset.ready = 'unsupported';
      toggle.hidden = true;
      return;
    }
    let subscription;
    try {
      subscription = await withTimeout(registration.pushManager.getSubscription(), 5000);
    } catch {
      state.textContent = 'This browser’s push service does not answer, so notifications cannot be set up here.';
      state.dataset.ready = 'unavailable';
      toggle.hidden = true;
      return;
    }
    toggle.hidden = false;
    state.textContent = subscription
      ? 'Notifications are on for this device: you are told when an agent asks.'
      : 'Notifications are off for this device.';
    state.dataset.ready = subscription ? 'on' : 'off';
    toggle.textContent = subscription ? 'Turn notifications off' : 'Turn notifications on';
    toggle.onclick = () =>
      busy(toggle, area, async () => {
        if (subscription) {
          await api('POST', '/push/unsubscribe', { endpoint: subscription.endpoint }).catch((e) => {
            if (!(e instanceof ApiError && e.status === 404)) throw e;
          });
          await subscription.unsubscribe();
        } else {
          if ((await Notification.requestPermission()) !== 'granted') throw new Error('Notifications were not allowed.');
          const { publicKey } = await api('GET', '/push/vapid-public-key');
          const created = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromB64url(publicKey) });
          await api('POST', '/push/subscribe', created.toJSON());
        }
        await render();
      });
  };
  main.replaceChildren(h('h1', {}, 'Notifications'), area);
  follow(null);
  // Allowed or blocked in the site settings meanwhile: say what holds now.
  navigator.permissions
    ?.query({ name: 'notifications' })
    .then((status) => {
      status.onchange = () => area.isConnected && render().catch(() => {});
    })
    .catch(() => {});
  await render();
}
