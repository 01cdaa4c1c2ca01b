//! The host's side of queries: admission (per-address rate, concurrency, queue), the enclave's
//! query desk run on blocking threads, deposit proofs fetched when the desk asks, and the
//! contracts' outbound HTTP performed for the enclave (an ocall: the host sees it all).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use phalanx_contract::{HttpError, HttpRequest, HttpResponse};
use phalanx_primitives::AccountId;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::enclave::desk::{Answered, Ocalls, QueryDesk, QueryError};

/// Most queries waiting for a turn in the enclave; more are answered `503` at once.
pub const QUERY_QUEUE: usize = 64;
/// Longest an outbound HTTP request of a query may take, whatever the contract asks.
pub const MAX_OCALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest outbound HTTP response a query may read, whatever the contract asks.
pub const MAX_OCALL_RESPONSE_BYTES: usize = 1 << 20;
/// Most outbound HTTP requests one query may make.
pub const MAX_OCALLS_PER_QUERY: usize = 4;
/// Longest a query waits for the host to prove its caller's deposit.
const DEPOSIT_WAIT: Duration = Duration::from_secs(8);
/// Deposit proofs one client address may cause per second (bursts of twice as many).
const PROOFS_PER_SECOND_PER_IP: f64 = 5.0;
/// Most time all the outbound HTTP of one query may take together.
pub const MAX_OCALL_TIME_PER_QUERY: Duration = Duration::from_secs(8);
/// Least time between two fresh proofs of a caller's deposit when it was too small.
const RENEW_SHORT_DEPOSIT: Duration = Duration::from_secs(1);
/// Most client addresses (and callers) tracked by the rate limiter (idle ones are dropped
/// first).
const MAX_TRACKED_ADDRESSES: usize = 10_000;

/// A query's answer for the HTTP client: the sealed bytes, or a status, a reason and a message.
pub type QueryResult = Result<Vec<u8>, (StatusCode, &'static str, String)>;

/// A request to the host loop: prove these callers' deposits to the enclave.
#[derive(Debug)]
pub struct DepositJob {
    /// Whose deposit.
    pub caller: AccountId,
    /// Told once the proof was handed to the enclave (or could not be).
    pub done: oneshot::Sender<Result<(), String>>,
}

/// Contract code for queries, by contract id (untrusted copies: the enclave checks the hash).
pub type CodeCache = Arc<RwLock<HashMap<[u8; 32], Arc<Vec<u8>>>>>;

/// A place in the query queue, given back when dropped.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn enter(waiting: &'a AtomicUsize) -> Option<Self> {
        if waiting.fetch_add(1, Ordering::SeqCst) >= QUERY_QUEUE {
            waiting.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Queued(waiting))
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One token bucket per client address.
#[derive(Debug)]
struct Buckets {
    per_second: f64,
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

impl Buckets {
    /// Takes one token from `ip`'s bucket (refilled at `per_second`, holding twice that).
    fn take(&mut self, ip: IpAddr, now: Instant) -> bool {
        let capacity = self.per_second * 2.0;
        if self.buckets.len() >= MAX_TRACKED_ADDRESSES && !self.buckets.contains_key(&ip) {
            let per_second = self.per_second;
            self.buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_second < capacity
            });
            if self.buckets.len() >= MAX_TRACKED_ADDRESSES {
                return false;
            }
        }
        let (tokens, at) = self.buckets.entry(ip).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Everything the query endpoint needs, shared by its handlers.
pub struct QueryService {
    desk: QueryDesk,
    code: CodeCache,
    deposits: mpsc::Sender<DepositJob>,
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    /// Deposit proofs each client address may cause.
    proofs: Mutex<Buckets>,
    rate: Option<Mutex<Buckets>>,
    /// When each caller's short deposit was last proven again.
    renewed: Mutex<HashMap<AccountId, Instant>>,
    /// The outbound client, and whether it may reach private addresses.
    http: Option<(reqwest::Client, bool)>,
}

impl std::fmt::Debug for QueryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryService").finish_non_exhaustive()
    }
}

fn refused(status: StatusCode, reason: &'static str, message: impl Into<String>) -> QueryResult {
    Err((status, reason, message.into()))
}

impl QueryService {
    /// A service over `desk`, running at most `concurrency` queries at once, each address
    /// limited to `per_ip` a second (0: no limit), with outbound HTTP if `outbound_http` (to
    /// private and loopback addresses too only if `allow_private`).
    pub fn new(
        desk: QueryDesk,
        code: CodeCache,
        deposits: mpsc::Sender<DepositJob>,
        concurrency: usize,
        per_ip: u32,
        outbound_http: bool,
        allow_private: bool,
    ) -> Self {
        let http = outbound_http
            .then(|| {
                ocall_client(allow_private)
                    .map_err(|e| tracing::warn!(error = %e, "no HTTP client: contracts' outbound requests will fail"))
                    .ok()
            })
            .flatten();
        QueryService {
            desk,
            code,
            deposits,
            running: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            proofs: Mutex::new(Buckets {
                per_second: PROOFS_PER_SECOND_PER_IP,
                buckets: HashMap::new(),
            }),
            rate: (per_ip > 0).then(|| {
                Mutex::new(Buckets {
                    per_second: f64::from(per_ip),
                    buckets: HashMap::new(),
                })
            }),
            renewed: Mutex::new(HashMap::new()),
            http: http.map(|client| (client, allow_private)),
        }
    }

    /// Answers one POSTed query from `from`.
    pub async fn answer(self: &Arc<Self>, from: IpAddr, body: Vec<u8>) -> QueryResult {
        if let Some(rate) = &self.rate {
            let allowed = rate
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(from, Instant::now());
            if !allowed {
                return refused(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many queries from this address; slow down",
                );
            }
        }
        let contract = match phalanx_primitives::decode_strict::<
            phalanx_primitives::contract::SealedQuery,
        >(&body, phalanx_primitives::contract::MAX_QUERY_BYTES)
        {
            Ok(sealed) => sealed.contract,
            Err(e) => {
                return refused(
                    StatusCode::BAD_REQUEST,
                    "malformed",
                    format!("the body is not a SCALE SealedQuery: {e}"),
                )
            }
        };
        let code = self
            .code
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&contract)
            .cloned();
        let Some(code) = code else {
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                format!(
                    "this worker has not loaded contract {} (not its cluster's, or not yet)",
                    hex::encode(contract)
                ),
            );
        };
        // Admission: a bounded queue in front of a bounded number of running queries. The
        // count is given back however this request ends (answered, or dropped by its client).
        let queued = Queued::enter(&self.waiting).ok_or((
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many queries are waiting for this worker; try again shortly".to_string(),
        ))?;
        let body = Arc::new(body);
        let mut proved = false;
        let mut queued = Some(queued);
        loop {
            // Each pass holds a running slot until its blocking task ends, even if this
            // request is dropped meanwhile.
            let Ok(slot) = Arc::clone(&self.running).acquire_owned().await else {
                return refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "the worker is stopping",
                );
            };
            drop(queued.take());
            match self.run(Arc::clone(&body), Arc::clone(&code), slot).await {
                Ok(answered) => {
                    // One line per query is too many for an operator's log at this rate.
                    tracing::debug!(
                        contract = %hex::encode(contract),
                        caller = %answered.caller.to_address(),
                        fuel = answered.fuel_used,
                        charged = answered.charged,
                        "answered a query"
                    );
                    return Ok(answered.sealed);
                }
                Err(QueryError::InsufficientDeposit { caller, .. })
                    if !proved && self.may_renew(caller, from) =>
                {
                    // The caller may have just paid in: one fresh proof before refusing (at
                    // most every RENEW_SHORT_DEPOSIT per caller, so an unfunded caller can't
                    // make this host prove on every query).
                    proved = true;
                    if let Err(e) = self.prove_deposit(caller).await {
                        tracing::debug!(error = %e, "could not renew a short deposit's proof");
                    }
                }
                Err(QueryError::NeedDeposit(caller)) if !proved && self.may_prove(from) => {
                    proved = true;
                    if let Err(e) = self.prove_deposit(caller).await {
                        return refused(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "deposit_unknown",
                            format!("this worker could not check the caller's query deposit on chain: {e}; try again shortly"),
                        );
                    }
                }
                Err(QueryError::WrongCode) => {
                    // A bad copy: dropped, fetched again on the next round.
                    self.code
                        .write()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&contract);
                    return refused(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not_ready",
                        QueryError::WrongCode.to_string(),
                    );
                }
                Err(e) => {
                    let (status, reason) = status_of(&e);
                    return refused(status, reason, e.to_string());
                }
            }
        }
    }

    /// One pass through the desk on a blocking thread, holding `slot` until it ends.
    async fn run(
        &self,
        body: Arc<Vec<u8>>,
        code: Arc<Vec<u8>>,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<Answered, QueryError> {
        let desk = self.desk.clone();
        let mut ocalls = HostOcalls {
            client: self.http.clone(),
            runtime: tokio::runtime::Handle::current(),
            made: 0,
            deadline: None,
        };
        tokio::task::spawn_blocking(move || {
            let answered = desk.answer(&body, &code, &mut ocalls);
            drop(slot);
            answered
        })
        .await
        .unwrap_or_else(|e| Err(QueryError::Malformed(format!("the query task failed: {e}"))))
    }

    /// Whether a query from `from` may make this host prove a deposit now: proofs cost the
    /// host an RPC call and an ecall, and an account costs nothing to make, so each address
    /// gets a few a second.
    fn may_prove(&self, from: IpAddr) -> bool {
        self.proofs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(from, Instant::now())
    }

    /// Whether a short deposit of `caller`'s may be proven again now (and notes that it was).
    fn may_renew(&self, caller: AccountId, from: IpAddr) -> bool {
        let now = Instant::now();
        let mut renewed = self.renewed.lock().unwrap_or_else(PoisonError::into_inner);
        if renewed.len() >= MAX_TRACKED_ADDRESSES {
            renewed.retain(|_, at| now.duration_since(*at) < RENEW_SHORT_DEPOSIT);
        }
        match renewed.get(&caller) {
            Some(at) if now.duration_since(*at) < RENEW_SHORT_DEPOSIT => false,
            _ if renewed.len() >= MAX_TRACKED_ADDRESSES => false,
            _ => {
                renewed.insert(caller, now);
                drop(renewed);
                self.may_prove(from)
            }
        }
    }

    /// Asks the host loop to prove `caller`'s deposit and waits for it.
    async fn prove_deposit(&self, caller: AccountId) -> Result<(), String> {
        let (done, proven) = oneshot::channel();
        self.deposits
            .try_send(DepositJob { caller, done })
            .map_err(|_| "the host is busy".to_string())?;
        match tokio::time::timeout(DEPOSIT_WAIT, proven).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the host stopped".into()),
            Err(_) => Err("timed out".into()),
        }
    }
}

/// The HTTP status and reason a refused query is answered with.
fn status_of(e: &QueryError) -> (StatusCode, &'static str) {
    match e {
        QueryError::Replayed => (StatusCode::CONFLICT, "replayed"),
        QueryError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        QueryError::NotReady(_) | QueryError::UnknownContract(_) | QueryError::WrongCode => {
            (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
        }
        QueryError::NeedDeposit(_) => (StatusCode::SERVICE_UNAVAILABLE, "deposit_unknown"),
        QueryError::InsufficientDeposit { .. } => {
            (StatusCode::PAYMENT_REQUIRED, "insufficient_deposit")
        }
        QueryError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed"),
        QueryError::NoKey(_) => (StatusCode::BAD_REQUEST, "no_key"),
        QueryError::Expired { .. } => (StatusCode::BAD_REQUEST, "expired"),
        QueryError::TooLong { .. } => (StatusCode::BAD_REQUEST, "too_long"),
        QueryError::NotOpened => (StatusCode::BAD_REQUEST, "not_opened"),
        QueryError::BadSignature => (StatusCode::BAD_REQUEST, "bad_signature"),
    }
}

/// The client for contracts' outbound HTTP: no redirects (each hop would be a request the
/// caps don't count), no proxy from the environment, and unless `allow_private`, names that
/// resolve to loopback, private or link-local addresses fail, so a contract can't reach the
/// operator's own network (its node's RPC, a cloud metadata service).
fn ocall_client(allow_private: bool) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(MAX_OCALL_TIMEOUT);
    if !allow_private {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    builder.build()
}

/// Whether `ip` is on the public internet (not loopback, private, link-local, shared,
/// unspecified, broadcast or multicast).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || (a == 192 && b == 0 && c == 0))
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            // IPv4 inside IPv6 (mapped, compatible, NAT64, 6to4) is judged as that IPv4.
            if let Some(v4) = v6.to_ipv4() {
                if !v6.is_loopback() && !v6.is_unspecified() {
                    return is_public(IpAddr::V4(v4));
                }
            }
            if segments[0] == 0x64 && segments[1] == 0xff9b {
                let [.., a, b, c, d] = v6.octets();
                return is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            if segments[0] == 0x2002 {
                let [_, _, a, b, c, d, ..] = v6.octets();
                return is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            let first = segments[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// A resolver that keeps public addresses only.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The ocalls of one query: its outbound HTTP, performed by this (untrusted) host within the
/// caps above, on the tokio runtime from the query's blocking thread.
struct HostOcalls {
    /// The client, and whether it may reach private addresses.
    client: Option<(reqwest::Client, bool)>,
    runtime: tokio::runtime::Handle,
    made: usize,
    /// When the query's outbound time runs out (set by its first request).
    deadline: Option<Instant>,
}

impl Ocalls for HostOcalls {
    fn http(&mut self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        let Some((client, allow_private)) = &self.client else {
            return Err(HttpError::Failed);
        };
        if self.made >= MAX_OCALLS_PER_QUERY {
            return Err(HttpError::Failed);
        }
        // A literal address skips the resolver: checked here.
        let url = reqwest::Url::parse(&request.url).map_err(|_| HttpError::Failed)?;
        let host = url.host_str().ok_or(HttpError::Failed)?;
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        if !allow_private && literal.is_some_and(|ip| !is_public(ip)) {
            return Err(HttpError::Failed);
        }
        self.made += 1;
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + MAX_OCALL_TIME_PER_QUERY);
        let timeout = Duration::from_millis(request.timeout_ms)
            .min(MAX_OCALL_TIMEOUT)
            .min(deadline.saturating_duration_since(Instant::now()));
        if timeout.is_zero() {
            return Err(HttpError::Timeout);
        }
        let cap = request.max_response_bytes.min(MAX_OCALL_RESPONSE_BYTES);
        let work = perform(client.clone(), request.clone(), cap);
        match self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, work).await })
        {
            Ok(result) => result,
            Err(_) => Err(HttpError::Timeout),
        }
    }
}

async fn perform(
    client: reqwest::Client,
    request: HttpRequest,
    cap: usize,
) -> Result<HttpResponse, HttpError> {
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|_| HttpError::Failed)?;
    let mut builder = client.request(method, &request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let mut response = builder.body(request.body).send().await.map_err(|e| {
        if e.is_timeout() {
            HttpError::Timeout
        } else {
            HttpError::Failed
        }
    })?;
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .take(phalanx_contract::abi::MAX_HTTP_HEADERS)
        .collect();
    let mut size: usize = headers
        .iter()
        .map(|(k, v)| k.len() + v.len() + 8)
        .sum::<usize>()
        + 8;
    if size > cap {
        return Err(HttpError::ResponseTooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        if e.is_timeout() {
            HttpError::Timeout
        } else {
            HttpError::Failed
        }
    })? {
        size += chunk.len();
        if size > cap {
            return Err(HttpError::ResponseTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let response = HttpResponse {
        status,
        headers,
        body,
    };
    // The exact encoded size is what the contract's cap is about.
    match response.encode() {
        Ok(bytes) if bytes.len() <= cap => Ok(response),
        _ => Err(HttpError::ResponseTooLarge),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn get(url: String, max_response_bytes: usize, timeout_ms: u64) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            url,
            headers: vec![("x-asked-by".into(), "a contract".into())],
            body: vec![],
            timeout_ms,
            max_response_bytes,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_host_performs_a_querys_http_within_its_time_size_and_count_caps() {
        use axum::routing::get as route;
        let app = axum::Router::new()
            .route(
                "/small",
                route(|headers: axum::http::HeaderMap| async move {
                    format!("asked by {:?}", headers.get("x-asked-by").unwrap())
                }),
            )
            .route(
                "/slow",
                route(|| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "late"
                }),
            )
            .route("/big", route(|| async { vec![b'x'; 200_000] }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = ocall_client(true).unwrap();
        let runtime = tokio::runtime::Handle::current();
        let guarded = ocall_client(false).unwrap();
        let handle = tokio::runtime::Handle::current();
        let refused = tokio::task::spawn_blocking(move || {
            let mut ocalls = HostOcalls {
                client: Some((guarded, false)),
                runtime: handle,
                made: 0,
                deadline: None,
            };
            [
                format!("http://{at}/small"),
                format!("http://localhost:{}/small", at.port()),
                "http://[::1]/".to_string(),
                "http://169.254.169.254/latest/meta-data/".to_string(),
                "http://10.0.0.1/".to_string(),
            ]
            .map(|url| ocalls.http(&get(url, 4096, 1_000)))
        })
        .await
        .unwrap();
        assert!(
            refused.iter().all(|r| *r == Err(HttpError::Failed)),
            "loopback, private and link-local addresses are refused by default: {refused:?}"
        );
        assert!(is_public("93.184.215.14".parse().unwrap()));
        assert!(!is_public("100.64.0.1".parse().unwrap()));
        assert!(!is_public("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_public("fd00::1".parse().unwrap()));
        for hidden in [
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "198.18.0.1",
            "240.0.0.1",
        ] {
            assert!(!is_public(hidden.parse().unwrap()), "{hidden}");
        }
        assert!(is_public("2606:4700::1111".parse().unwrap()));
        assert!(
            is_public("64:ff9b::5db8:d70e".parse().unwrap()),
            "NAT64 of a public address"
        );
        let results = tokio::task::spawn_blocking(move || {
            let mut ocalls = HostOcalls {
                client: Some((client, true)),
                runtime,
                made: 0,
                deadline: None,
            };
            let url = |path: &str| format!("http://{at}{path}");
            vec![
                ocalls.http(&get(url("/small"), 4096, 1_000)),
                ocalls.http(&get(url("/slow"), 4096, 200)),
                ocalls.http(&get(url("/big"), 100_000, 1_000)),
                ocalls.http(&get("http://127.0.0.1:1/".into(), 4096, 1_000)),
                // A fifth request in the same query: refused without being made.
                ocalls.http(&get(url("/small"), 4096, 1_000)),
            ]
        })
        .await
        .unwrap();
        let small = results[0].as_ref().unwrap();
        assert_eq!(small.status, 200);
        assert_eq!(small.body, b"asked by \"a contract\"");
        assert_eq!(results[1], Err(HttpError::Timeout));
        assert_eq!(results[2], Err(HttpError::ResponseTooLarge));
        assert_eq!(results[3], Err(HttpError::Failed));
        assert_eq!(results[4], Err(HttpError::Failed));
    }

    #[test]
    fn a_place_in_the_queue_is_given_back_however_the_request_ends() {
        let waiting = AtomicUsize::new(0);
        let places: Vec<_> = (0..QUERY_QUEUE)
            .map(|_| Queued::enter(&waiting).unwrap())
            .collect();
        assert!(Queued::enter(&waiting).is_none(), "the queue is full");
        drop(places);
        assert_eq!(waiting.load(Ordering::SeqCst), 0);
        assert!(Queued::enter(&waiting).is_some());
    }

    #[test]
    fn each_address_gets_its_rate_with_bursts_of_twice_as_many() {
        let mut buckets = Buckets {
            per_second: 10.0,
            buckets: HashMap::new(),
        };
        let start = Instant::now();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let allowed = (0..50).filter(|_| buckets.take(a, start)).count();
        assert_eq!(allowed, 20, "a burst of twice the rate, then refused");
        assert!(buckets.take(b, start), "another address has its own bucket");
        assert!(!buckets.take(a, start + Duration::from_millis(50)));
        assert!(
            buckets.take(a, start + Duration::from_millis(150)),
            "refilled"
        );
    }
}
