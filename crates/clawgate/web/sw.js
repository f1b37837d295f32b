// ClawGate's service worker: shows a notification when an agent asks, and opens that request's
// page when the notification is clicked. It caches nothing: approvals must always be live.

const REQUEST_ID = /^req_[0-9A-Za-z]{22}$/;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const id = typeof data.requestId === 'string' && REQUEST_ID.test(data.requestId) ? data.requestId : null;
  const agent = typeof data.agentId === 'string' ? data.agentId : null;
  const title = typeof data.title === 'string' && data.title ? data.title : 'Approval requested';
  event.waitUntil(
    self.registration.showNotification(title, {
      body: agent ? `${agent} is waiting for your decision.` : 'An agent is waiting for your decision.',
      tag: id || 'clawgate',
      renotify: true,
      requireInteraction: true,
      icon: '/icon-192.png',
      data: { url: id ? `/approve/${id}` : '/' },
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
