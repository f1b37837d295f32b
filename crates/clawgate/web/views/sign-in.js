// ClawGate's web app, signing in: with a passkey (an email only for passkeys that need it), or
// a new account with its first passkey.

import { api, newPage } from '../api.js';
import { busy, h, main } from '../dom.js';
import { follow, stopListening } from '../live.js';
import { signedIn } from '../session.js';
import { addPasskey, signInWithPasskey } from '../webauthn.js';

const NO_EMAIL_HINT =
  'The passkey prompt was cancelled, or no passkey here can sign in without an email: some passkeys (such as those on many security keys) need the account named first. Enter your email above and try again.';

/**
 * The sign-in page (shown instead of any page while no one is signed in). `start` runs once
 * signed in: it finds out who, and shows the page asked for.
 */
export function viewSignIn(start) {
  newPage(); // also when shown without a render (the session ended): earlier answers stay out
  stopListening();
  follow(null);
  const email = h('input', { id: 'signin-email', type: 'email', autocomplete: 'username webauthn', placeholder: 'you@example.com' });
  const signIn = h('button', { type: 'submit', class: 'primary', id: 'signin' }, 'Sign in with passkey');
  const signInForm = h(
    'form',
    { class: 'card', 'aria-labelledby': 'signin-title' },
    h('h2', { id: 'signin-title' }, 'Sign in'),
    h('label', { for: 'signin-email' }, 'Email (optional)'),
    email,
    h('p', {}, signIn),
  );
  signInForm.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(signIn, signInForm, async () => {
      signIn.textContent = 'Waiting for your passkey…';
      const typed = email.value.trim();
      try {
        await signInWithPasskey(typed);
      } catch (error) {
        // Without an email the authenticator must find the passkey by itself, which a passkey
        // that is not discoverable (some security keys) cannot do: say what to do instead.
        if (!typed && error && error.name === 'NotAllowedError') {
          email.focus();
          throw new Error(NO_EMAIL_HINT);
        }
        throw error;
      }
      await start();
    });
  });

  const newEmail = h('input', { id: 'signup-email', type: 'email', required: true, autocomplete: 'email', placeholder: 'you@example.com' });
  const signUp = h('button', { type: 'submit', class: 'primary', id: 'signup' }, 'Create account with a passkey');
  const signUpForm = h(
    'form',
    { class: 'card', 'aria-labelledby': 'signup-title' },
    h('h2', { id: 'signup-title' }, 'New here?'),
    h('p', { class: 'muted small' }, 'Your account is protected by a passkey on this device (Face ID, Touch ID, Windows Hello or a security key). There is no password.'),
    h('label', { for: 'signup-email' }, 'Email'),
    newEmail,
    h('p', {}, signUp),
  );
  let registered = false;
  signUpForm.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(signUp, signUpForm, async () => {
      if (!registered) {
        await api('POST', '/auth/register', { email: newEmail.value.trim() });
        registered = true;
      }
      signUp.textContent = 'Creating your passkey…';
      await addPasskey();
      await start();
    }).then(() => {
      if (registered && !signedIn()) signUp.textContent = 'Try creating the passkey again';
    });
  });
  main.replaceChildren(
    h('h1', {}, 'Approve what your agents do'),
    h('p', { class: 'muted' }, 'When an agent asks to do something that needs your yes, it shows up here. You approve with a passkey, or deny.'),
    signInForm,
    signUpForm,
  );
  main.focus();
}
