//! Sub-states: the services a handler extracts with `State<_>` (axum `FromRef`), so it sees only
//! the service it calls rather than the whole shared state. Each is a clone of the one built with
//! the state (a few shared handles).

use crate::service::accounts::Accounts;
use crate::service::approvals::Approvals;
use crate::service::ceremonies::Ceremonies;
use crate::service::decisions::Decisions;
use crate::service::gate::Gate;
use crate::service::grants::Grants;
use crate::service::health::Health;
use crate::service::keys::Keys;
use crate::service::passkeys::Passkeys;
use crate::service::push_subscriptions::PushSubscriptions;
use crate::service::receipts::Receipts;
use crate::service::rules::Rules;
use crate::service::stop::Stop;
use crate::service::tokens::Tokens;
use crate::state::AppState;
use axum::extract::FromRef;
use std::sync::Arc;

/// `State<Service>` for each service, taken from `AppState.services.<field>`.
macro_rules! service_states {
    ($($service:ty => $field:ident),* $(,)?) => {
        $(
            impl FromRef<Arc<AppState>> for $service {
                fn from_ref(app: &Arc<AppState>) -> Self {
                    app.services.$field.clone()
                }
            }
        )*
    };
}

service_states! {
    Approvals => approvals,
    Keys => keys,
    Rules => rules,
    Gate => gate,
    Stop => stop,
    Grants => grants,
    Health => health,
    Tokens => tokens,
    Decisions => decisions,
    Accounts => accounts,
    Ceremonies => ceremonies,
    Passkeys => passkeys,
    PushSubscriptions => push_subscriptions,
    Receipts => receipts,
}
