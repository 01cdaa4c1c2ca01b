//! The JSON-RPC 2.0 envelope rules jsonrpsee does not enforce, as two middlewares.
//!
//! [`GuardLayer`] sits in front of jsonrpsee's HTTP handling (WebSocket upgrades pass through
//! untouched). For a `POST` with a JSON content type it:
//! 1. reads the body, at most [`MAX_REQUEST_BYTES`](super::MAX_REQUEST_BYTES): a larger one is a
//!    413 (`request_too_large`), one whose framing is broken (a bad chunk, a cut connection) a
//!    400 (`malformed_body`);
//! 2. parses it: bytes that are not JSON are a 400 (`parse_error`);
//! 3. checks each request's envelope (one request, or each entry of a batch of at most
//!    [`MAX_BATCH`](super::MAX_BATCH)) and answers the broken ones itself, with id `null` when
//!    the id cannot be echoed: jsonrpsee only knows ids that are strings, integers from 0 to
//!    2^64 − 1 or null, and silently drops (an empty HTTP 200) a request whose id is `-1`,
//!    `1.0`, `2^64`, an object or an array, as if it were a notification; a batch's state
//!    proofs share one budget of [`MAX_PROOF_KEYS`](super::MAX_PROOF_KEYS), and the entries
//!    past it are answered `batch_too_large` here;
//! 4. answers a subscription method called over HTTP (`subscription_over_http`), where jsonrpsee
//!    would say "internal error";
//! 5. forwards the rest and merges its own answers into jsonrpsee's batch response;
//! 6. adds `data.reason` to the errors jsonrpsee writes itself (see [`reason_for`]).
//!
//! [`Reasons`] wraps every method call, over HTTP and WebSocket alike, and gives `data.reason`
//! to the errors raised inside jsonrpsee's call path (unknown method, oversized response, too
//! many subscriptions); errors of Phalanx's own handlers carry theirs already.
//!
//! HTTP status: 200 for every JSON-RPC answer about a request (errors included), 400 for a body
//! that is not JSON or cannot be read, 413 for a body over the limit.
//!
//! Not covered: WebSocket frames reach jsonrpsee directly, so over WebSocket a batch has no
//! shared proof budget (each `phalanx_stateProofs` call keeps its own limit), and a frame that is
//! not JSON or a request with an id jsonrpsee cannot echo still gets jsonrpsee's own answer
//! (no `data.reason`) or none. Method errors over WebSocket do carry their reason.

use super::{codes, MAX_BATCH, MAX_PROOF_KEYS, MAX_REQUEST_BYTES, SUBSCRIPTION_METHODS};
use bytes::Bytes;
use futures::future::BoxFuture;
use http::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::{Method, StatusCode};
use http_body::Body as _;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use jsonrpsee::core::BoxError;
use jsonrpsee::server::middleware::rpc::RpcServiceT;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse, MethodResponse};
use jsonrpsee::types::{ErrorObjectOwned, Request};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::task::{Context, Poll};

/// Responses up to this size are checked for errors lacking `data.reason`. Envelope errors are
/// small; a large response is a result (method errors get their reason from [`Reasons`]).
const CHECKED_RESPONSE_BYTES: u64 = 64 * 1024;

/// The stable reason word for a JSON-RPC error code that jsonrpsee raises itself.
pub fn reason_for(code: i32) -> &'static str {
    match code {
        codes::PARSE_ERROR => "parse_error",
        codes::INVALID_REQUEST => "invalid_request",
        codes::METHOD_NOT_FOUND => "method_not_found",
        codes::INVALID_PARAMS => "invalid_params",
        codes::INTERNAL_ERROR | codes::INTERNAL => "internal",
        codes::TOO_MANY_SUBSCRIPTIONS => "too_many_subscriptions",
        codes::REQUEST_TOO_LARGE => "request_too_large",
        codes::RESPONSE_TOO_LARGE => "response_too_large",
        codes::SERVER_BUSY => "server_busy",
        codes::BATCH_TOO_LARGE => "batch_too_large",
        codes::BATCH_RESPONSE_TOO_LARGE => "batch_response_too_large",
        codes::BATCHES_NOT_SUPPORTED => "batches_not_supported",
        codes::SUBSCRIPTION_OVER_HTTP => "subscription_over_http",
        _ => "server_error",
    }
}

/// Gives `error` a `data.reason` if it has none; returns whether it changed. An earlier `data`
/// that is not an object is kept as `data.detail`.
fn tag_error(error: &mut Value) -> bool {
    let Some(object) = error.as_object_mut() else {
        return false;
    };
    let has_reason = object
        .get("data")
        .and_then(|data| data.get("reason"))
        .is_some_and(Value::is_string);
    if has_reason {
        return false;
    }
    let code = object
        .get("code")
        .and_then(Value::as_i64)
        .and_then(|code| i32::try_from(code).ok())
        .unwrap_or(codes::INTERNAL_ERROR);
    let reason = reason_for(code);
    let data = match object.remove("data") {
        Some(Value::Object(mut data)) => {
            data.insert("reason".into(), reason.into());
            Value::Object(data)
        }
        None | Some(Value::Null) => json!({ "reason": reason }),
        Some(detail) => json!({ "reason": reason, "detail": detail }),
    };
    object.insert("data".into(), data);
    true
}

/// Tags every error response in `body` (one response or a batch); `None` if nothing changed.
fn tag_response_body(body: &[u8]) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let changed = match &mut value {
        Value::Array(responses) => responses
            .iter_mut()
            .filter_map(|response| response.get_mut("error"))
            .fold(false, |changed, error| tag_error(error) | changed),
        Value::Object(response) => response.get_mut("error").is_some_and(tag_error),
        _ => false,
    };
    if changed {
        serde_json::to_vec(&value).ok()
    } else {
        None
    }
}

/// A JSON-RPC error response, serialized.
fn error_response(id: &Value, code: i32, message: &str, reason: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "error": { "code": code, "message": message, "data": { "reason": reason } },
        "id": id,
    })
}

fn json_http(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    let mut response = HttpResponse::new(HttpBody::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn answer(status: StatusCode, value: &Value) -> HttpResponse {
    // Serializing a `Value` cannot fail (its map keys are strings).
    json_http(status, serde_json::to_vec(value).unwrap_or_default())
}

/// What a request object's fields look like, without interpreting them yet.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<&'a RawValue>,
    /// `None` when absent (a notification); `Some("null")` for an explicit null id.
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// What to do with one request object.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// Well formed: jsonrpsee handles it.
    Forward,
    /// Broken or not for HTTP: this error response answers it.
    Answer(Value),
}

/// An id jsonrpsee can echo: a string, an integer in `0..2^64`, or null.
fn echoable_id(raw: &RawValue) -> Option<Value> {
    match serde_json::from_str::<Value>(raw.get()).ok()? {
        id @ (Value::Null | Value::String(_)) => Some(id),
        Value::Number(n) if n.is_u64() => Some(Value::Number(n)),
        _ => None,
    }
}

fn describe(raw: &RawValue) -> &'static str {
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::Number(n)) if n.is_i64() => "a negative number",
        Ok(Value::Number(_)) => "a number with a fraction part or past 2^64 - 1",
        Ok(Value::Object(_)) => "an object",
        Ok(Value::Array(_)) => "an array",
        Ok(Value::Bool(_)) => "a boolean",
        _ => "not a valid id",
    }
}

const SHAPE: &str = "a JSON-RPC request is an object with \"jsonrpc\": \"2.0\", a \"method\" \
                     name, optional \"params\" (a list or an object) and an optional \"id\"";

/// Checks one request object (`entry` is valid JSON).
fn check(entry: &RawValue) -> Verdict {
    let invalid = |id: &Value, message: &str| {
        Verdict::Answer(error_response(
            id,
            codes::INVALID_REQUEST,
            message,
            "invalid_request",
        ))
    };
    let Ok(probe) = serde_json::from_str::<Probe>(entry.get()) else {
        return invalid(&Value::Null, SHAPE);
    };
    let id = match probe.id {
        None => None,
        Some(raw) => match echoable_id(raw) {
            Some(id) => Some(id),
            None => {
                let message = format!(
                    "the id is {}: it must be a string, an integer from 0 to 2^64 - 1, or null",
                    describe(raw)
                );
                return invalid(&Value::Null, &message);
            }
        },
    };
    let echo = id.clone().unwrap_or(Value::Null);
    let version = probe
        .jsonrpc
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok());
    if version.as_deref() != Some("2.0") {
        return invalid(&echo, "\"jsonrpc\" must be \"2.0\"");
    }
    let Some(method) = probe
        .method
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
    else {
        return invalid(&echo, "\"method\" must be a string naming the method");
    };
    if let Some(params) = probe.params {
        if !(params.get().starts_with('[') || params.get().starts_with('{')) {
            return invalid(&echo, "\"params\" must be a list or an object");
        }
    }
    if id.is_some() && SUBSCRIPTION_METHODS.contains(&method.as_str()) {
        return Verdict::Answer(error_response(
            &echo,
            codes::SUBSCRIPTION_OVER_HTTP,
            &format!("{method} is a subscription: call it over WebSocket (ws://) on the same port"),
            "subscription_over_http",
        ));
    }
    Verdict::Forward
}

/// How many state proofs a well-formed request asks for: its keys for `phalanx_stateProofs`
/// (params `[keys]` or `{"keys": keys}`), 1 for `phalanx_stateProof` and `phalanx_masterKey`,
/// 3 for `phalanx_clusterKey` and `phalanx_contractKey`, 0 otherwise. Malformed params count 0: the method refuses them.
fn proof_keys(entry: &RawValue) -> usize {
    let Ok(probe) = serde_json::from_str::<Probe>(entry.get()) else {
        return 0;
    };
    // Decoded as jsonrpsee decodes it (escapes resolved): `"phalanx_stateProof\u0073"` is
    // `phalanx_stateProofs` and must count as one.
    let method = probe
        .method
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok());
    match method.as_deref() {
        Some("phalanx_stateProofs") => {
            let params = probe
                .params
                .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok());
            let keys = match &params {
                Some(Value::Array(list)) => list.first(),
                Some(Value::Object(named)) => named.get("keys"),
                _ => None,
            };
            keys.and_then(Value::as_array).map_or(0, Vec::len)
        }
        Some("phalanx_stateProof" | "phalanx_masterKey") => 1,
        Some("phalanx_clusterKey" | "phalanx_contractKey") => 3,
        _ => 0,
    }
}

/// What the guard makes of a whole body.
#[derive(Debug, PartialEq)]
enum Plan {
    /// Answer without jsonrpsee.
    Answer(StatusCode, Value),
    /// Forward the body as it came.
    Single,
    /// Forward these batch entries (a JSON array) and add `answers` to jsonrpsee's answer.
    Batch {
        forward: String,
        answers: Vec<Value>,
    },
}

fn plan(body: &[u8]) -> Plan {
    let parse_error = |message: &str| {
        Plan::Answer(
            StatusCode::BAD_REQUEST,
            error_response(&Value::Null, codes::PARSE_ERROR, message, "parse_error"),
        )
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return parse_error("the request body is not UTF-8 text");
    };
    let Ok(whole) = serde_json::from_str::<&RawValue>(text) else {
        return parse_error("the request body is not valid JSON");
    };
    if !whole.get().starts_with('[') {
        return match check(whole) {
            Verdict::Forward => Plan::Single,
            Verdict::Answer(error) => Plan::Answer(StatusCode::OK, error),
        };
    }
    let Ok(entries) = serde_json::from_str::<Vec<&RawValue>>(whole.get()) else {
        return parse_error("the request body is not valid JSON");
    };
    if entries.is_empty() {
        return Plan::Answer(
            StatusCode::OK,
            error_response(
                &Value::Null,
                codes::INVALID_REQUEST,
                "an empty batch: send at least one request",
                "invalid_request",
            ),
        );
    }
    if entries.len() > MAX_BATCH as usize {
        return Plan::Answer(
            StatusCode::OK,
            error_response(
                &Value::Null,
                codes::BATCH_TOO_LARGE,
                &format!(
                    "a batch holds at most {MAX_BATCH} requests and this one holds {}: split it",
                    entries.len()
                ),
                "batch_too_large",
            ),
        );
    }
    let mut forward = Vec::new();
    let mut answers = Vec::new();
    // State proofs are the costly answers: a batch shares one budget of MAX_PROOF_KEYS, as one
    // `phalanx_stateProofs` call does, so a batch can't ask for MAX_BATCH times as many.
    let mut proofs = 0;
    for entry in entries {
        match check(entry) {
            Verdict::Forward => {
                let asked = proof_keys(entry);
                if asked > 0 && proofs + asked > MAX_PROOF_KEYS {
                    let id = serde_json::from_str::<Probe>(entry.get())
                        .ok()
                        .and_then(|p| p.id)
                        .and_then(echoable_id)
                        .unwrap_or(Value::Null);
                    answers.push(error_response(
                        &id,
                        codes::BATCH_TOO_LARGE,
                        &format!(
                            "a batch proves at most {MAX_PROOF_KEYS} storage keys in all and \
                             this request would bring it to {}: send it in another request",
                            proofs + asked
                        ),
                        "batch_too_large",
                    ));
                } else {
                    proofs += asked;
                    forward.push(entry.get());
                }
            }
            Verdict::Answer(error) => answers.push(error),
        }
    }
    if forward.is_empty() {
        return Plan::Answer(StatusCode::OK, Value::Array(answers));
    }
    Plan::Batch {
        forward: format!("[{}]", forward.join(",")),
        answers,
    }
}

/// `answers` appended to a batch response body `[…]` (or standing alone if jsonrpsee had
/// nothing to say, every forwarded entry being a notification).
fn merge(body: &[u8], answers: &[Value]) -> Option<Vec<u8>> {
    let extra: Vec<String> = answers.iter().map(Value::to_string).collect();
    let extra = extra.join(",");
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Some(format!("[{extra}]").into_bytes());
    }
    let inner = trimmed.strip_prefix(b"[")?.strip_suffix(b"]")?;
    let mut merged = Vec::with_capacity(trimmed.len() + extra.len() + 1);
    merged.push(b'[');
    merged.extend_from_slice(inner);
    if !inner.trim_ascii().is_empty() {
        merged.push(b',');
    }
    merged.extend_from_slice(extra.as_bytes());
    merged.push(b']');
    Some(merged)
}

/// What answers `GET /metrics`: the text of a scrape.
pub type Scrape = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

/// The [`tower::Layer`] that puts [`Guard`] in front of jsonrpsee's HTTP service.
#[derive(Clone, Default)]
pub struct GuardLayer {
    scrape: Option<Scrape>,
}

impl GuardLayer {
    /// A guard that also answers `GET /metrics` with `scrape`'s text and serves the dashboard
    /// ([`super::dashboard`]) at `GET /`.
    pub fn with_metrics(scrape: Scrape) -> GuardLayer {
        GuardLayer {
            scrape: Some(scrape),
        }
    }
}

impl std::fmt::Debug for GuardLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardLayer")
            .field("metrics", &self.scrape.is_some())
            .finish()
    }
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            scrape: self.scrape.clone(),
        }
    }
}

/// Enforces the envelope rules on HTTP requests (see the module docs), and answers
/// `GET /metrics` (read-only: the scrape takes no input).
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    scrape: Option<Scrape>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Guard<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("inner", &self.inner).finish()
    }
}

/// The `GET /metrics` answer.
fn metrics_response(text: String) -> HttpResponse {
    let mut response = HttpResponse::new(HttpBody::from(text.into_bytes()));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

impl<S> tower::Service<HttpRequest> for Guard<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<HttpResponse, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest) -> Self::Future {
        // Plain GETs (not WebSocket upgrades) of the metrics and the dashboard's files.
        if request.method() == Method::GET && !request.headers().contains_key(http::header::UPGRADE)
        {
            if let (Some(scrape), "/metrics") = (&self.scrape, request.uri().path()) {
                let text = scrape();
                return Box::pin(async move { Ok(metrics_response(text)) });
            }
            if self.scrape.is_some() {
                if let Some(response) = super::dashboard::asset(request.uri().path()) {
                    return Box::pin(async move { Ok(response) });
                }
            }
        }
        let is_json_post = request.method() == Method::POST
            && jsonrpsee::server::http::content_type_is_json(&request);
        if !is_json_post {
            // WebSocket upgrades, wrong methods and content types: jsonrpsee's own answers.
            return Box::pin(self.inner.call(request));
        }
        // The ready service goes with this call; the clone waits for the next `poll_ready`.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(guard(inner, request))
    }
}

fn too_large() -> HttpResponse {
    let message =
        format!("the request is larger than the {MAX_REQUEST_BYTES} bytes this node accepts");
    let mut response = answer(
        StatusCode::PAYLOAD_TOO_LARGE,
        &error_response(
            &Value::Null,
            codes::REQUEST_TOO_LARGE,
            &message,
            "request_too_large",
        ),
    );
    // The rest of the body is never read: the connection cannot carry another request.
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn guard<S>(mut inner: S, request: HttpRequest) -> Result<HttpResponse, BoxError>
where
    S: tower::Service<HttpRequest, Response = HttpResponse, Error = BoxError>,
{
    let (mut parts, body) = request.into_parts();
    let announced = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|length| length > u64::from(MAX_REQUEST_BYTES)) {
        return Ok(too_large());
    }
    let body = match Limited::new(body, MAX_REQUEST_BYTES as usize)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Ok(too_large()),
        Err(e) => {
            tracing::debug!(error = %e, "unreadable RPC request body");
            let mut response = answer(
                StatusCode::BAD_REQUEST,
                &error_response(
                    &Value::Null,
                    codes::PARSE_ERROR,
                    "the request body could not be read: its HTTP framing is broken \
                     (e.g. a malformed chunk)",
                    "malformed_body",
                ),
            );
            // The connection's framing is lost: nothing more can be read from it.
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return Ok(response);
        }
    };
    let (forward, answers) = match plan(&body) {
        Plan::Answer(status, value) => return Ok(answer(status, &value)),
        Plan::Single => (body, Vec::new()),
        Plan::Batch { forward, answers } => (Bytes::from(forward), answers),
    };
    parts.headers.remove(TRANSFER_ENCODING);
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(forward.len()));
    let request = HttpRequest::from_parts(parts, HttpBody::new(Full::new(forward)));
    let response = inner.call(request).await?;

    let small = response
        .body()
        .size_hint()
        .upper()
        .is_some_and(|size| size <= CHECKED_RESPONSE_BYTES);
    if answers.is_empty() && !small {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    let merged = if answers.is_empty() {
        None
    } else {
        merge(&body, &answers)
    };
    let checked = merged.as_deref().unwrap_or(&body);
    let tagged = if checked.len() as u64 <= CHECKED_RESPONSE_BYTES && mentions_error(checked) {
        tag_response_body(checked)
    } else {
        None
    };
    let body = match tagged.or(merged) {
        Some(changed) => HttpBody::from(changed),
        None => HttpBody::new(Full::new(body)),
    };
    let mut response = HttpResponse::from_parts(parts, body);
    response.headers_mut().remove(CONTENT_LENGTH);
    Ok(response)
}

/// Whether `body` may hold an error response (a cheap scan before parsing it).
fn mentions_error(body: &[u8]) -> bool {
    body.windows(7).any(|window| window == b"\"error\"")
}

/// The jsonrpsee call middleware that gives `data.reason` to errors raised in its call path,
/// and times every call (`phalanx_rpc_request_duration_seconds{method}`; a method this node
/// does not serve is counted as `other`, so made-up names can't grow the label set).
#[derive(Clone)]
pub struct Reasons<S> {
    inner: S,
    timing: Option<(
        std::sync::Arc<crate::metrics::NodeMetrics>,
        std::sync::Arc<std::collections::HashSet<String>>,
    )>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Reasons<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reasons")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S> Reasons<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Reasons {
            inner,
            timing: None,
        }
    }

    /// Wraps `inner`, timing each call of one of `methods` into `metrics`.
    pub fn timed(
        inner: S,
        metrics: std::sync::Arc<crate::metrics::NodeMetrics>,
        methods: std::sync::Arc<std::collections::HashSet<String>>,
    ) -> Self {
        Reasons {
            inner,
            timing: Some((metrics, methods)),
        }
    }
}

impl<'a, S> RpcServiceT<'a> for Reasons<S>
where
    S: RpcServiceT<'a> + Send + Sync,
    S::Future: 'a,
{
    type Future = BoxFuture<'a, MethodResponse>;

    fn call(&self, request: Request<'a>) -> Self::Future {
        let id = request.id.clone().into_owned();
        let timing = self.timing.clone().map(|(metrics, methods)| {
            let method = request.method_name();
            let label = if methods.contains(method) {
                method.to_string()
            } else {
                "other".to_string()
            };
            (metrics, label, std::time::Instant::now())
        });
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await;
            if let Some((metrics, method, start)) = timing {
                metrics.rpc_call(&method, start.elapsed());
            }
            if !response.is_error() || !response.is_method_call() {
                return response;
            }
            let Ok(mut value) = serde_json::from_str::<Value>(response.as_result()) else {
                return response;
            };
            let Some(error) = value.get_mut("error") else {
                return response;
            };
            if !tag_error(error) {
                return response;
            }
            let Ok(error) = serde_json::from_value::<ErrorObjectOwned>(error.take()) else {
                return response;
            };
            let extensions = response.extensions().clone();
            MethodResponse::error(id, error).with_extensions(extensions)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).expect("valid json")
    }

    fn reason(verdict: &Verdict) -> (i64, Value, String) {
        match verdict {
            Verdict::Answer(v) => (
                v["error"]["code"].as_i64().expect("code"),
                v["id"].clone(),
                v["error"]["data"]["reason"]
                    .as_str()
                    .expect("reason")
                    .to_string(),
            ),
            Verdict::Forward => (0, Value::Null, "forward".into()),
        }
    }

    #[test]
    fn ids_jsonrpsee_cannot_echo_are_refused_with_a_null_id() {
        for id in [
            "-1",
            "1.0",
            "18446744073709551616",
            "{\"a\":1}",
            "[1]",
            "true",
        ] {
            let request = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"phalanx_status"}}"#);
            assert_eq!(
                reason(&check(raw(&request))),
                (-32600, Value::Null, "invalid_request".into()),
                "id {id}"
            );
        }
        for id in ["0", "18446744073709551615", "\"x\"", "null"] {
            let request = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"phalanx_status"}}"#);
            assert_eq!(check(raw(&request)), Verdict::Forward, "id {id}");
        }
        // A notification (no id) goes through.
        assert_eq!(
            check(raw(r#"{"jsonrpc":"2.0","method":"phalanx_status"}"#)),
            Verdict::Forward
        );
    }

    #[test]
    fn broken_envelopes_echo_the_id_when_it_is_valid() {
        for request in [
            r#"{"jsonrpc":"1.0","id":7,"method":"m"}"#,
            r#"{"id":7,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":7,"method":5}"#,
            r#"{"jsonrpc":"2.0","id":7,"method":"m","params":3}"#,
        ] {
            assert_eq!(
                reason(&check(raw(request))),
                (-32600, json!(7), "invalid_request".into()),
                "{request}"
            );
        }
        assert_eq!(
            reason(&check(raw(
                r#"{"jsonrpc":"2.0","id":7,"id":8,"method":"m"}"#
            ))),
            (-32600, Value::Null, "invalid_request".into())
        );
        assert_eq!(
            reason(&check(raw("42"))),
            (-32600, Value::Null, "invalid_request".into())
        );
        assert_eq!(
            reason(&check(raw(
                r#"{"jsonrpc":"2.0","id":"s","method":"phalanx_subscribeFinalized"}"#
            ))),
            (1006, json!("s"), "subscription_over_http".into())
        );
    }

    #[test]
    fn a_batch_shares_one_budget_of_state_proofs() {
        let keys = |n: usize| {
            let list: Vec<String> = (0..n).map(|i| format!("\"0x{i:04x}\"")).collect();
            format!("[{}]", list.join(","))
        };
        let call = |id: usize, n: usize| {
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"phalanx_stateProofs","params":[{}]}}"#,
                keys(n)
            )
        };
        // Two calls of 600 keys: the second would pass 1,024 and is answered here.
        let body = format!("[{},{}]", call(1, 600), call(2, 600));
        match plan(body.as_bytes()) {
            Plan::Batch { forward, answers } => {
                assert_eq!(forward, format!("[{}]", call(1, 600)));
                assert_eq!(answers.len(), 1);
                assert_eq!(answers[0]["id"], 2);
                assert_eq!(answers[0]["error"]["data"]["reason"], "batch_too_large");
            }
            other => panic!("expected a split batch, got {other:?}"),
        }
        // Named params count too; so do single-proof methods, up to the budget exactly.
        let named = format!(
            r#"{{"jsonrpc":"2.0","id":3,"method":"phalanx_stateProofs","params":{{"keys":{}}}}}"#,
            keys(1_021)
        );
        let one = r#"{"jsonrpc":"2.0","id":4,"method":"phalanx_clusterKey","params":[0]}"#;
        let over = r#"{"jsonrpc":"2.0","id":5,"method":"phalanx_stateProof","params":["0x00"]}"#;
        let status = r#"{"jsonrpc":"2.0","id":6,"method":"phalanx_status"}"#;
        let body = format!("[{named},{one},{over},{status}]");
        match plan(body.as_bytes()) {
            Plan::Batch { forward, answers } => {
                assert_eq!(forward, format!("[{named},{one},{status}]"));
                assert_eq!(answers.len(), 1);
                assert_eq!(answers[0]["id"], 5);
            }
            other => panic!("expected a split batch, got {other:?}"),
        }
        // 256 calls of 1,024 keys each (262,144 proofs of work) would forward only the first.
        let flood: Vec<String> = (0..MAX_BATCH as usize).map(|i| call(i, 1_024)).collect();
        match plan(format!("[{}]", flood.join(",")).as_bytes()) {
            Plan::Batch { forward, answers } => {
                assert_eq!(forward, format!("[{}]", call(0, 1_024)));
                assert_eq!(answers.len(), MAX_BATCH as usize - 1);
            }
            other => panic!("expected a split batch, got {other:?}"),
        }
        // An escaped method name is the same method to jsonrpsee, so it counts the same.
        let escaped = |id: usize| {
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"phalanx_stateProof\u0073","params":[{}]}}"#,
                keys(1_024)
            )
        };
        match plan(format!("[{},{}]", escaped(1), escaped(2)).as_bytes()) {
            Plan::Batch { forward, answers } => {
                assert_eq!(forward, format!("[{}]", escaped(1)));
                assert_eq!(answers.len(), 1);
            }
            other => panic!("expected a split batch, got {other:?}"),
        }
        // A single request is never split: the method's own limit applies.
        assert_eq!(plan(call(7, 1_024).as_bytes()), Plan::Single);
    }

    #[test]
    fn batches_are_split_into_forwarded_entries_and_own_answers() {
        let body =
            br#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","id":-1,"method":"b"}]"#;
        match plan(body) {
            Plan::Batch { forward, answers } => {
                assert_eq!(forward, r#"[{"jsonrpc":"2.0","id":1,"method":"a"}]"#);
                assert_eq!(answers.len(), 1);
                assert_eq!(answers[0]["error"]["data"]["reason"], "invalid_request");
            }
            other => panic!("expected a split batch, got {other:?}"),
        }
        assert!(
            matches!(plan(b"[]"), Plan::Answer(StatusCode::OK, v) if v["error"]["code"] == -32600)
        );
        assert!(
            matches!(plan(b"{\"jsonrpc\""), Plan::Answer(StatusCode::BAD_REQUEST, v) if v["error"]["data"]["reason"] == "parse_error")
        );
        assert!(matches!(
            plan(b"\xff"),
            Plan::Answer(StatusCode::BAD_REQUEST, _)
        ));
        let big = format!("[{}]", vec!["1"; MAX_BATCH as usize + 1].join(","));
        assert!(
            matches!(plan(big.as_bytes()), Plan::Answer(StatusCode::OK, v) if v["error"]["data"]["reason"] == "batch_too_large")
        );
        let all_bad = format!("[{}]", ["1"; 3].join(","));
        assert!(
            matches!(plan(all_bad.as_bytes()), Plan::Answer(StatusCode::OK, Value::Array(a)) if a.len() == 3)
        );
    }

    #[test]
    fn merged_batches_stay_json_arrays() {
        let extra = [json!({"id": null})];
        let merged = merge(br#"[{"id":1}]"#, &extra).expect("merges");
        assert_eq!(merged, br#"[{"id":1},{"id":null}]"#);
        assert_eq!(merge(b"", &extra).expect("merges"), br#"[{"id":null}]"#);
        assert_eq!(merge(b"[]", &extra).expect("merges"), br#"[{"id":null}]"#);
        assert_eq!(merge(br#"{"error":{}}"#, &extra), None);
    }

    #[test]
    fn errors_without_a_reason_get_one_and_keep_their_detail() {
        let tagged = tag_response_body(
            br#"{"jsonrpc":"2.0","error":{"code":-32008,"message":"Response is too big","data":"Exceeded max limit of 10"},"id":1}"#,
        )
        .expect("tagged");
        let tagged: Value = serde_json::from_slice(&tagged).expect("json");
        assert_eq!(
            tagged["error"]["data"],
            json!({"reason": "response_too_large", "detail": "Exceeded max limit of 10"})
        );
        let batch = tag_response_body(
            br#"[{"jsonrpc":"2.0","result":1,"id":1},{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":2}]"#,
        )
        .expect("tagged");
        let batch: Value = serde_json::from_slice(&batch).expect("json");
        assert_eq!(batch[1]["error"]["data"]["reason"], "method_not_found");
        assert_eq!(batch[0]["result"], 1);
        // Already tagged: untouched.
        assert_eq!(
            tag_response_body(
                br#"{"jsonrpc":"2.0","error":{"code":1004,"message":"m","data":{"reason":"not_found"}},"id":1}"#
            ),
            None
        );
    }
}
