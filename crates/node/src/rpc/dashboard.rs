//! The dashboard: a page the node serves at `GET /` on its RPC port, with its script and
//! style (`/dashboard.js`, `/dashboard.css`), embedded in the binary so it works offline and
//! needs no build step. The page reads everything from this node's JSON-RPC and follows new
//! blocks over the `phalanx_subscribeFinalized` WebSocket.
//!
//! Read-only and bounded like the RPC: three fixed files, no input. Every value the page shows
//! is set as text, never HTML (names, descriptions and endpoints are attacker-controlled), and
//! the Content-Security-Policy allows scripts from this origin only, so even a value that
//! slipped through as markup could not run.

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use jsonrpsee::server::{HttpBody, HttpResponse};

const INDEX: &str = include_str!("../dashboard/index.html");
const SCRIPT: &str = include_str!("../dashboard/dashboard.js");
const STYLE: &str = include_str!("../dashboard/dashboard.css");

/// No inline script or style, nothing from elsewhere, no framing.
/// Trusted Types are required, so the browser itself refuses any HTML string the script might
/// assign (it assigns none: everything is `textContent`).
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
     require-trusted-types-for 'script'";

/// The dashboard file at `path`, if it is one.
pub fn asset(path: &str) -> Option<HttpResponse> {
    let (body, kind) = match path {
        "/" | "/index.html" => (INDEX, "text/html; charset=utf-8"),
        "/dashboard.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/dashboard.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return None,
    };
    let mut response = HttpResponse::new(HttpBody::from(body.as_bytes().to_vec()));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert("content-security-policy", HeaderValue::from_static(POLICY));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_files_are_served_with_a_strict_policy_and_nothing_else() {
        for (path, kind) in [
            ("/", "text/html"),
            ("/dashboard.js", "text/javascript"),
            ("/dashboard.css", "text/css"),
        ] {
            let response = asset(path).expect(path);
            let headers = response.headers();
            assert!(headers[CONTENT_TYPE]
                .to_str()
                .expect("ascii")
                .starts_with(kind));
            let policy = headers["content-security-policy"].to_str().expect("ascii");
            assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe"));
        }
        assert!(asset("/../Cargo.toml").is_none());
        assert!(asset("/dashboard.js.map").is_none());
        // The script never writes HTML: values go in as text.
        assert!(!SCRIPT.contains("innerHTML") && !SCRIPT.contains("insertAdjacentHTML"));
        assert!(!SCRIPT.contains("eval("));
    }
}
