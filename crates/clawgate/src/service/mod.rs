//! Services: the rules between `http` (which parses and answers) and `store` (which owns the
//! SQL). A service reads the clock, decides, shapes the transaction (which store calls, in what
//! order) and tells whoever must know (events, Web Push); it returns domain results or its own
//! error enum, which `http::error` maps to status codes and messages.

pub mod accounts;
pub mod approvals;
pub mod ceremonies;
pub mod decisions;
pub mod gate;
pub mod grants;
pub mod health;
pub mod keys;
pub mod passkeys;
pub mod policy;
pub mod push_subscriptions;
pub mod receipts;
pub mod rules;
pub mod stop;
pub mod tokens;

use crate::clock::Clock;
use crate::config::{Secret, Settings};
use crate::events::Events;
use crate::metrics::Metrics;
use crate::push::PushSender;
use crate::store::Db;
use crate::tokens::approval::ApprovalSigner;
use crate::tokens::session::SessionKeys;
use std::sync::Arc;
use webauthn_rs::Webauthn;

/// What the services share, handed to each once, when the state is built: the store, the
/// clock, the event hub, Web Push, the token signer, the counters and the API-key secret.
#[derive(Clone)]
pub struct Shared {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub events: Arc<Events>,
    pub push: Arc<PushSender>,
    pub signer: Arc<ApprovalSigner>,
    pub metrics: Arc<Metrics>,
    pub api_key_secret: Arc<Secret>,
}

/// What only the identity services hold, beside [`Shared`]: the WebAuthn relying party (the
/// ceremonies) and the session signing keys (accounts).
pub struct IdentityKeys {
    pub webauthn: Webauthn,
    pub sessions: SessionKeys,
}

/// Every service, built once with the state; a handler takes a clone of the one it calls (each
/// is a few shared handles).
#[derive(Clone)]
pub struct Services {
    pub accounts: accounts::Accounts,
    pub approvals: approvals::Approvals,
    pub ceremonies: ceremonies::Ceremonies,
    pub decisions: decisions::Decisions,
    pub gate: gate::Gate,
    pub grants: grants::Grants,
    pub health: health::Health,
    pub keys: keys::Keys,
    pub passkeys: passkeys::Passkeys,
    pub policy: policy::Policies,
    pub push_subscriptions: push_subscriptions::PushSubscriptions,
    pub receipts: receipts::Receipts,
    pub rules: rules::Rules,
    pub stop: stop::Stop,
    pub tokens: tokens::Tokens,
}

impl Services {
    pub fn new(shared: &Shared, settings: &Settings, identity: IdentityKeys) -> Self {
        let approvals = approvals::Approvals::new(shared, settings);
        let rules = rules::Rules::new(shared);
        let ceremonies = ceremonies::Ceremonies::new(shared, Arc::new(identity.webauthn), approvals.clone());
        let accounts = accounts::Accounts::new(
            shared,
            Arc::new(identity.sessions),
            settings.registration_mode,
            ceremonies.clone(),
        );
        Self {
            passkeys: passkeys::Passkeys::new(shared, accounts.clone(), ceremonies.clone()),
            push_subscriptions: push_subscriptions::PushSubscriptions::new(shared),
            receipts: receipts::Receipts::new(shared),
            decisions: decisions::Decisions::new(shared, approvals.clone()),
            gate: gate::Gate::new(shared, approvals.clone(), rules.clone()),
            policy: policy::Policies::new(shared, rules.clone()),
            grants: grants::Grants::new(shared),
            health: health::Health::new(shared),
            keys: keys::Keys::new(shared),
            stop: stop::Stop::new(shared),
            tokens: tokens::Tokens::new(shared),
            accounts,
            approvals,
            ceremonies,
            rules,
        }
    }
}
