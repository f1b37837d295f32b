//! The web app, mostly in Chromium with a virtual authenticator standing in for Touch ID: signing
//! up, approving and denying, rules, grants and decisions in the page, the daily pages, the warning
//! before a denial that suspends a key; and the first visit, sent to `localhost`.

mod daily_use;
mod decisions_page;
mod first_use;
mod pages;
mod receipts_page;
mod signing;
mod suspension_warnings;
