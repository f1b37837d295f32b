//! Sub-states: parts of [`AppState`] a handler extracts with `State<_>` (axum `FromRef`), so it
//! sees only what its service needs rather than the whole shared state.

use crate::service::accounts::Accounts;
use crate::service::approvals::Approvals;
use crate::service::ceremonies::Ceremonies;
use crate::service::gate::Gate;
use crate::service::grants::Grants;
use crate::service::keys::Keys;
use crate::service::passkeys::Passkeys;
use crate::service::push_subscriptions::PushSubscriptions;
use crate::service::rules::Rules;
use crate::service::stop::Stop;
use crate::service::tokens::Tokens;
use crate::state::AppState;
use axum::extract::FromRef;
use std::sync::Arc;

impl FromRef<Arc<AppState>> for Approvals {
    fn from_ref(app: &Arc<AppState>) -> Self {
        app.services.approvals.clone()
    }
}

impl FromRef<Arc<AppState>> for Keys {
    fn from_ref(app: &Arc<AppState>) -> Self {
        app.services.keys.clone()
    }
}

impl FromRef<Arc<AppState>> for Rules {
    fn from_ref(app: &Arc<AppState>) -> Self {
        app.services.rules.clone()
    }
}

impl FromRef<Arc<AppState>> for Gate {
    fn from_ref(app: &Arc<AppState>) -> Self {
        app.services.gate.clone()
    }
}

impl FromRef<Arc<AppState>> for Stop {
    fn from_ref(app: &Arc<AppState>) -> Self {
        app.services.stop.clone()
    }
}

impl FromRef<Arc<AppState>> for Grants {
    fn from_ref(app: &Arc<AppState>) -> Self {
        app.services.grants.clone()
    }
}

impl FromRef<Arc<AppState>> for Tokens {
    fn from_ref(app: &Arc<AppState>) -> Self {
        app.services.tokens.clone()
    }
}

impl FromRef<Arc<AppState>> for crate::service::decisions::Decisions {
    fn from_ref(app: &Arc<AppState>) -> Self {
        app.services.decisions.clone()
    }
}

impl FromRef<Arc<AppState>> for Accounts {
    fn from_ref(app: &Arc<AppState>) -> Self {
        app.services.accounts.clone()
    }
}

impl FromRef<Arc<AppState>> for Ceremonies {
    fn from_ref(app: &Arc<AppState>) -> Self {
        app.services.ceremonies.clone()
    }
}

impl FromRef<Arc<AppState>> for Passkeys {
    fn from_ref(app: &Arc<AppState>) -> Self {
        app.services.passkeys.clone()
    }
}

impl FromRef<Arc<AppState>> for PushSubscriptions {
    fn from_ref(app: &Arc<AppState>) -> Self {
        app.services.push_subscriptions.clone()
    }
}
