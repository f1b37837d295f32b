// ClawGate's service worker: shows a notification when an agent asks, and opens that request's
// page when the notification is clicked. It caches nothing: approvals must always be live.

importScripts('/text-rule.js');

const REQUEST_ID = /^req_[0-9A-Za-z]{22}$/;

/** Agent text for a notification: the server already marks it; marked again here all the same,
 * with the server's rule (/text-rule.js), so nothing invisible ever reaches the lock screen. */
function plain(text) {
  return text.replace(self.CLAWGATE_MARKED, (c) => `[U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}]`);
}

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const title = typeof data.title === 'string' && data.title ? plain(data.title) : 'Approval requested';
  if (data.type === 'api_key_suspended') {
    event.waitUntil(
      self.registration.showNotification(title, {
        body: 'Its requests were denied again and again. Check the agent, then resume the key if all is well.',
        tag: 'clawgate-key',
        icon: '/icon-192.png',
        data: { url: '/keys' },
      }),
    );
    return;
  }
  const id = typeof data.requestId === 'string' && REQUEST_ID.test(data.requestId) ? data.requestId : null;
  const agent = typeof data.agentId === 'string' ? plain(data.agentId) : null;
  const count = Number.isInteger(data.count) && data.count > 1 ? data.count : 1;
  event.waitUntil(
    self.registration.showNotification(title, {
      body:
        count > 1
          ? 'Open ClawGate to review them.'
          : agent
            ? `${agent} is waiting for your decision.`
            : // The web app's word for an agent without a name (UNNAMED_AGENT in views/requests.js).
              'An unnamed agent is waiting for your decision.',
      // One notification for waiting requests: a newer one replaces it rather than piling up.
      tag: 'clawgate',
      renotify: true,
      requireInteraction: true,
      icon: '/icon-192.png',
      data: { url: id && count === 1 ? `/approve/${id}` : '/' },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const path = event.notification.data && typeof event.notification.data.url === 'string' ? event.notification.data.url : '/';
  const url = new URL(path, self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      for (const w of windows) {
        if (new URL(w.url).origin === self.location.origin && 'focus' in w) {
          return w.navigate(url).then((c) => (c || w).focus());
        }
      }
      return self.clients.openWindow(url);
    }),
  );
});
