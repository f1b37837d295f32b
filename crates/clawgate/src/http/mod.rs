//! Where requests enter: the router, its middleware, and the OpenAPI document built from the
//! same route declarations (so the document cannot drift from what is served).

pub mod ceremony_shapes;
pub mod cookies;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod rate_limit;
pub mod routes;
pub mod storage_watch;
pub mod substates;

use crate::state::AppState;
use axum::Router;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

/// Largest request body accepted (OWASP API4: bounded input).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "clawgate",
        description = "A human-in-the-loop gate for AI agent actions. Agents ask with an API key; a person approves with a passkey; the agent receives an Ed25519-signed approval token.\n\nErrors always have the shape `{\"error\": {\"code\", \"message\"}}`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "api-keys", description = "Agent API keys"),
        (name = "passkeys", description = "Passkey registration, sign-in and approval ceremonies"),
        (name = "approvals", description = "Approval requests"),
        (name = "tokens", description = "Approval token verification"),
        (name = "push", description = "Web Push"),
        (name = "rules", description = "A person's rule set: which agent calls pass, ask or are refused"),
        (name = "gate", description = "For agents: one decision per tool call, by rule, standing grant or a person"),
        (name = "stop", description = "The kill switch: stop every agent at once"),
        (name = "grants", description = "Standing grants: calls a person allowed ahead of time with a passkey, listed and revoked"),
        (name = "decisions", description = "Every decision about a person's keys: by rule, grant, the person, Stop all agents or expiry"),
        (name = "audit", description = "A person's chain of receipts (every decision and security-relevant change, with the passkey's evidence) and signed checkpoints of it, for `clawgate audit verify`"),
        (name = "health", description = "Health"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A person's session token (from register, passkey sign-in or passkey registration)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ag_…")
                    .description(Some("An agent API key"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "apiKeyHeader",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// Every route and the document that describes them.
pub fn api() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(routes::open()).merge(routes::rate_limited())
}

/// Answers any operation can give besides its own: the body was not JSON, too large or of another
/// type (400, 413, 415), or the database is unavailable (503). Documented once
/// here so that the document matches what the server does.
fn add_common_responses(doc: &mut utoipa::openapi::OpenApi) {
    // The routes behind the per-IP limiter, taken from the router itself.
    let (_, limited) = routes::rate_limited().split_for_parts();
    let limited: Vec<String> = limited.paths.paths.into_keys().collect();
    use utoipa::openapi::{RefOr, Response, path::Operation};
    let error = |description: &str| -> RefOr<Response> {
        let content = utoipa::openapi::ContentBuilder::new()
            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
            .build();
        RefOr::T(Response::builder().description(description).content("application/json", content).build())
    };
    let add = |op: &mut Operation, code: &str, description: &str| {
        op.responses.responses.entry(code.to_owned()).or_insert_with(|| error(description));
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
        for op in ops.into_iter().flatten() {
            if limited.contains(path) {
                add(op, "429", "Too many attempts from this address or for this account (see Retry-After)");
            }
            // Once an account has a passkey, an email-only session can only sign out.
            let session =
                serde_json::to_value(&op.security).is_ok_and(|s| s.to_string().contains("\"session\""));
            if session && path != "/api/v1/auth/logout" {
                add(
                    op,
                    "403",
                    "An email-only session of an account that has a passkey (`step_up_required`): sign in with the passkey",
                );
            }
            if op.request_body.is_some() {
                add(op, "400", "The body is not valid JSON or not the expected shape");
                add(op, "413", "The body is larger than 64 KiB");
                add(op, "415", "The body is not sent as `application/json`");
            }
            add(
                op,
                "503",
                "The database is unavailable (see Retry-After); a change sent just now may or may not have been saved",
            );
        }
    }
}

/// The OpenAPI document, as served at `/api/v1/openapi.json`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api().split_for_parts();
    add_common_responses(&mut doc);
    doc.paths.paths.insert(
        "/api/v1/openapi.json".to_owned(),
        utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .summary(Some("This document"))
                .tag("health")
                .response("200", utoipa::openapi::Response::new("The OpenAPI document")),
        ),
    );
    doc
}

pub fn router(state: Arc<AppState>) -> Router {
    let limited = routes::rate_limited()
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit::limit_auth));
    let (routes, _) = OpenApiRouter::new().merge(routes::open()).merge(limited).split_for_parts();
    let doc = Arc::new(openapi_document());
    let routes = routes
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .merge(routes::web_app::router())
        .layer(axum::middleware::from_fn_with_state(state.clone(), storage_watch::watch_writes));
    middleware::wrap(routes, &state).with_state(state)
}
