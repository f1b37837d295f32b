//! The web app: a few static files compiled into the binary (nothing fetched at run time, no
//! npm at build time) and the page routes that all answer with `index.html`.

use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::{Arc, LazyLock};

use crate::http::error::ApiError;
use crate::state::AppState;

/// Scripts and styles only from this server; no inline script, no framing, no plugins.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $file:literal, $type:literal) => {
        Asset { path: $path, content_type: $type, body: include_bytes!(concat!("../../../web/", $file)) }
    };
}

const ASSETS: &[Asset] = &[
    asset!("/app.js", "app.js", "text/javascript; charset=utf-8"),
    asset!("/pages.js", "pages.js", "text/javascript; charset=utf-8"),
    asset!("/decisions.js", "decisions.js", "text/javascript; charset=utf-8"),
    asset!("/style.css", "style.css", "text/css; charset=utf-8"),
    asset!("/sw.js", "sw.js", "text/javascript; charset=utf-8"),
    asset!("/manifest.webmanifest", "manifest.webmanifest", "application/manifest+json"),
    asset!("/icon.svg", "icon.svg", "image/svg+xml"),
    asset!("/icon-192.png", "icon-192.png", "image/png"),
    asset!("/icon-512.png", "icon-512.png", "image/png"),
];

const INDEX: &[u8] = include_bytes!("../../../web/index.html");

/// Which characters of agent text the page and the service worker show as code points: the
/// server's own rule, generated once, so the page and push notifications cannot drift apart.
static TEXT_RULE: LazyLock<String> = LazyLock::new(crate::domain::text::page_script);

/// Paths the page itself routes; each is answered with `index.html`.
const PAGES: &[&str] =
    &["/", "/history", "/decisions", "/keys", "/passkeys", "/notifications", "/grants", "/rules", "/stop"];

fn respond(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    // Always revalidated, so an upgrade of the server is an upgrade of the page.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn page() -> Response {
    respond("text/html; charset=utf-8", INDEX)
}

/// The page, or, when it was opened at a loopback address while passkeys belong to `localhost`
/// (the default), a redirect there first: a passkey made or used at `127.0.0.1` fails, and a
/// session made there is not `localhost`'s, so nothing is created under the wrong name.
fn page_at(app: &AppState, headers: &HeaderMap, uri: &OriginalUri) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let name =
        host.rsplit_once(':').filter(|(n, port)| !n.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    let name = name.map_or(host, |(n, _)| n).trim_start_matches('[').trim_end_matches(']');
    let loopback = name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !(loopback && app.settings.rp_id == "localhost") {
        return page();
    }
    let origin = app.settings.rp_origin.origin().ascii_serialization();
    let target = format!("{origin}{}", uri.0.path_and_query().map_or("/", |p| p.as_str()));
    match HeaderValue::from_str(&target) {
        Ok(location) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, location)]).into_response(),
        Err(_) => page(),
    }
}

async fn approval_page(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Response {
    match crate::domain::ids::RequestId::parse(&id) {
        Some(_) => page_at(&app, &headers, &uri),
        None => ApiError::not_found("page").into_response(),
    }
}

async fn any_page(State(app): State<Arc<AppState>>, headers: HeaderMap, uri: OriginalUri) -> Response {
    page_at(&app, &headers, &uri)
}

pub fn router() -> Router<Arc<AppState>> {
    let mut router = Router::new().route("/approve/{id}", get(approval_page)).route(
        "/text-rule.js",
        get(|| async { respond("text/javascript; charset=utf-8", TEXT_RULE.as_bytes()) }),
    );
    for path in PAGES {
        router = router.route(path, get(any_page));
    }
    for asset in ASSETS {
        router =
            router.route(asset.path, get(move || async move { respond(asset.content_type, asset.body) }));
    }
    router
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        let index = String::from_utf8_lossy(super::INDEX);
        assert!(!index.contains("http://") && !index.contains("https://"), "no external resources");
        assert!(!index.contains("<script>"), "no inline script: the CSP forbids it");
        for asset in super::ASSETS.iter().filter(|a| a.content_type.starts_with("text/")) {
            let text = String::from_utf8_lossy(asset.body);
            assert!(!text.contains("innerHTML"), "{} builds DOM from text nodes only", asset.path);
            assert!(!text.contains("eval("), "{}", asset.path);
        }
    }

    /// Every link in the page's nav opens a page the server answers, and every module the page
    /// imports is served.
    #[test]
    fn every_nav_link_and_module_is_served() {
        let index = String::from_utf8_lossy(super::INDEX);
        let links: Vec<&str> = index
            .split("href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|href| href.starts_with('/') && !href.contains('.'))
            .collect();
        for page in ["/grants", "/rules", "/stop", "/keys", "/decisions"] {
            assert!(links.contains(&page), "{page} is in the nav");
        }
        for link in links {
            assert!(super::PAGES.contains(&link), "{link} is answered with the page");
        }
        for asset in super::ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = String::from_utf8_lossy(asset.body);
            for import in text.split("from './").skip(1).filter_map(|rest| rest.split('\'').next()) {
                let path = format!("/{import}");
                assert!(super::ASSETS.iter().any(|a| a.path == path), "{} imports {path}", asset.path);
            }
        }
    }
}
