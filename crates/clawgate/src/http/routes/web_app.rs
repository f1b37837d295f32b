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
    // The page's modules (app.js, the entry, routes to the views; see the import checks below).
    asset!("/app.js", "app.js", "text/javascript; charset=utf-8"),
    asset!("/dom.js", "dom.js", "text/javascript; charset=utf-8"),
    asset!("/api.js", "api.js", "text/javascript; charset=utf-8"),
    asset!("/time.js", "time.js", "text/javascript; charset=utf-8"),
    asset!("/session.js", "session.js", "text/javascript; charset=utf-8"),
    asset!("/webauthn.js", "webauthn.js", "text/javascript; charset=utf-8"),
    asset!("/live.js", "live.js", "text/javascript; charset=utf-8"),
    asset!("/views/sign-in.js", "views/sign-in.js", "text/javascript; charset=utf-8"),
    asset!("/views/requests.js", "views/requests.js", "text/javascript; charset=utf-8"),
    asset!("/views/approve.js", "views/approve.js", "text/javascript; charset=utf-8"),
    asset!("/views/grants.js", "views/grants.js", "text/javascript; charset=utf-8"),
    asset!("/views/decisions.js", "views/decisions.js", "text/javascript; charset=utf-8"),
    asset!("/views/receipts.js", "views/receipts.js", "text/javascript; charset=utf-8"),
    asset!("/views/rules.js", "views/rules.js", "text/javascript; charset=utf-8"),
    asset!("/views/stop.js", "views/stop.js", "text/javascript; charset=utf-8"),
    asset!("/views/keys.js", "views/keys.js", "text/javascript; charset=utf-8"),
    asset!("/views/passkeys.js", "views/passkeys.js", "text/javascript; charset=utf-8"),
    asset!("/views/notifications.js", "views/notifications.js", "text/javascript; charset=utf-8"),
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
const PAGES: &[&str] = &[
    "/",
    "/history",
    "/decisions",
    "/receipts",
    "/keys",
    "/passkeys",
    "/notifications",
    "/grants",
    "/rules",
    "/stop",
];

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
    use clawgate_testkit::layout::find_cycle;
    use std::collections::{BTreeMap, BTreeSet};

    /// The page's scripts by path: every served `.js` file, and `/text-rule.js`, which `router`
    /// answers with the server's own rule.
    fn scripts() -> BTreeMap<&'static str, String> {
        let mut scripts: BTreeMap<&'static str, String> = super::ASSETS
            .iter()
            .filter(|a| a.path.ends_with(".js"))
            .map(|a| (a.path, String::from_utf8_lossy(a.body).into_owned()))
            .collect();
        scripts.insert("/text-rule.js", super::TEXT_RULE.clone());
        scripts
    }

    /// What a module's static imports name, in order: `import … from '…'`, `import '…'` and
    /// `export … from '…'`. Each starts a line (as every module here writes them) and ends at its
    /// `;`; a dynamic `import(…)` loads nothing up front and is not one.
    fn import_specifiers(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let first = line.trim_start();
            let import = ["import ", "import{", "import'", "import\""].iter().any(|p| first.starts_with(p));
            let export = first.strip_prefix("export").map(str::trim_start);
            let reexport = export.is_some_and(|rest| rest.starts_with('{') || rest.starts_with('*'));
            if !import && !reexport {
                continue;
            }
            let mut statement = first.to_owned();
            while !statement.contains(';') {
                let Some(next) = lines.next() else { break };
                statement.push(' ');
                statement.push_str(next.trim());
            }
            let statement = statement.split(';').next().unwrap_or_default();
            if reexport && !statement.contains(" from") {
                continue; // `export { a, b };`: names of this module, nothing loaded
            }
            // The specifier is the statement's last string.
            let quote = statement.trim_end().chars().last().filter(|c| *c == '\'' || *c == '"');
            let quote = quote.unwrap_or_else(|| panic!("no module named in `{statement}`"));
            let inner = &statement.trim_end()[..statement.trim_end().len() - 1];
            let specifier = inner.rsplit(quote).next().unwrap_or_default();
            found.push(specifier.to_owned());
        }
        found
    }

    /// `specifier` resolved against the module at `from`, as a path on this server: only `./`,
    /// `../` and `/` (anything else would be loaded from elsewhere, or not at all).
    fn resolve(from: &str, specifier: &str) -> Result<String, String> {
        let mut parts: Vec<&str> = from.split('/').filter(|p| !p.is_empty()).collect();
        parts.pop(); // the importing file itself
        if specifier.starts_with('/') {
            parts.clear();
        } else if !(specifier.starts_with("./") || specifier.starts_with("../")) {
            return Err(format!("{from} imports {specifier:?}: only relative paths on this server"));
        }
        for part in specifier.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(format!("{from} imports {specifier:?}, above the root"));
                    }
                }
                name => parts.push(name),
            }
        }
        Ok(format!("/{}", parts.join("/")))
    }

    /// Each script and the scripts it imports, by path; fails naming any import of a file the
    /// server does not serve.
    fn import_graph() -> BTreeMap<String, Vec<String>> {
        let scripts = scripts();
        let mut graph = BTreeMap::new();
        for (path, text) in &scripts {
            let mut imports = Vec::new();
            for specifier in import_specifiers(text) {
                let target = resolve(path, &specifier).unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    scripts.contains_key(target.as_str()),
                    "{path} imports {specifier:?}, but {target} is not served: add it to ASSETS"
                );
                imports.push(target);
            }
            graph.insert((*path).to_owned(), imports);
        }
        graph
    }

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
        for page in ["/grants", "/rules", "/stop", "/keys", "/decisions", "/receipts"] {
            assert!(links.contains(&page), "{page} is in the nav");
        }
        for link in links {
            assert!(super::PAGES.contains(&link), "{link} is answered with the page");
        }
        let graph = import_graph();
        assert!(graph.values().flatten().count() > graph.len(), "the imports are read: {graph:?}");
    }

    /// The modules import each other in one direction only: views import the helpers (dom, api,
    /// time, session, webauthn, live), the entry imports the views, and never the other way.
    #[test]
    fn the_modules_import_each_other_without_a_cycle() {
        if let Some(cycle) = find_cycle(&import_graph()) {
            panic!("the web app's modules import each other in a cycle: {}", cycle.join(" → "));
        }
    }

    /// index.html loads the entry module, which loads every module served (but the service
    /// worker, which the page registers), and asks for all of them up front (`modulepreload`),
    /// so the import graph's depth costs no round trips.
    #[test]
    fn the_page_loads_every_module_up_front() {
        let index = String::from_utf8_lossy(super::INDEX);
        let attribute = |tag: &str, name: &str| -> Vec<String> {
            index
                .split(tag)
                .skip(1)
                .filter_map(|rest| rest.split('>').next())
                .filter_map(|attrs| attrs.split(&format!("{name}=\"")).nth(1))
                .filter_map(|value| value.split('"').next())
                .map(str::to_owned)
                .collect()
        };
        let entries = attribute("<script type=\"module\"", "src");
        let [entry] = entries.as_slice() else { panic!("one entry module: {entries:?}") };
        let graph = import_graph();
        let mut reached = BTreeSet::new();
        let mut next = vec![entry.clone()];
        while let Some(module) = next.pop() {
            let imports = graph.get(&module).unwrap_or_else(|| panic!("{module} is served"));
            if reached.insert(module) {
                next.extend(imports.iter().cloned());
            }
        }
        for module in graph.keys().filter(|m| *m != "/sw.js") {
            assert!(reached.contains(module), "{module} is served but nothing imports it");
        }
        let preloaded: BTreeSet<String> =
            attribute("<link rel=\"modulepreload\"", "href").into_iter().collect();
        reached.remove(entry);
        assert_eq!(preloaded, reached, "index.html preloads every module the entry imports, directly or not");
    }

    #[test]
    fn the_import_checks_find_what_they_are_for() {
        let text = [
            "import './text-rule.js';",
            "import { a, b } from '../dom.js';",
            "import {",
            "  c,",
            "  d,",
            "} from \"./views/x.js\";",
            "export { e } from './e.js';",
            "export * from './f.js';",
            "export { g };",
            "// import nothing from './comment.js';",
            "export function h() {",
            "  return import('./later.js');",
            "}",
        ]
        .join("\n");
        assert_eq!(
            import_specifiers(&text),
            ["./text-rule.js", "../dom.js", "./views/x.js", "./e.js", "./f.js"]
        );
        assert_eq!(resolve("/views/a.js", "./b.js"), Ok("/views/b.js".to_owned()));
        assert_eq!(resolve("/views/a.js", "../dom.js"), Ok("/dom.js".to_owned()));
        assert_eq!(resolve("/app.js", "./views/a.js"), Ok("/views/a.js".to_owned()));
        assert_eq!(resolve("/views/a.js", "/api.js"), Ok("/api.js".to_owned()));
        assert!(resolve("/app.js", "../x.js").is_err());
        assert!(resolve("/app.js", "lit").is_err());
    }
}
