// ClawGate's web app, time as the page says it: by the server's clock (phones' clocks drift),
// and no wait without an end.

import { serverNow } from './api.js';

/** `promise`, or a rejection after `ms` milliseconds: nothing in the page waits forever. */
export function withTimeout(promise, ms) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), ms))]);
}

export function timeLeft(expiresAt) {
  const ms = Date.parse(expiresAt) - serverNow();
  if (ms <= 0) return 'expired';
  const s = Math.ceil(ms / 1000);
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min left`;
  return s >= 60 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s left` : `${s} s left`;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

/** How long ago `iso` was, by the server's clock: "less than a minute ago", "4 minutes ago". */
export function ago(iso) {
  const minutes = Math.floor((serverNow() - Date.parse(iso)) / 60000);
  if (!(minutes >= 1)) return 'less than a minute ago';
  if (minutes < 60) return `${minutes} ${minutes === 1 ? 'minute' : 'minutes'} ago`;
  const hours = Math.floor(minutes / 60);
  return `${hours} ${hours === 1 ? 'hour' : 'hours'} ago`;
}
