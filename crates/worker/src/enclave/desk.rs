//! The query desk: the enclave's second entry point, which answers confidential queries on
//! many threads at once beside the serial [`super::Enclave::ecall`] (a real TEE runs several
//! threads inside one enclave the same way).
//!
//! # What it holds
//! The desk reads a snapshot the enclave publishes after every change ([`DeskView`]: the head's
//! height and time, the contracts' state, the cluster keys) and owns what queries alone need:
//! the replay guard, a cache of compiled code, and the **meter** of query deposits. None of it
//! is sealed: after a restart a query could be answered twice (it reveals nothing to anyone but
//! its sender), and usage metered but not yet reported is the operator's loss, never the
//! client's.
//!
//! # Payment
//! A query is paid from its caller's query deposit on chain (`contracts/deposit/<caller>`):
//! 1. The caller's deposit and the last usage nonce this worker settled for it
//!    (`contracts/usage/<worker>/<caller>`), with the contract parameters, are proven to the
//!    enclave against its verified head ([`super::Ecall::ProveDeposits`]). A proof older than
//!    [`MAX_DEPOSIT_PROOF_AGE`] blocks is not used: the query is refused with
//!    [`QueryError::NeedDeposit`], which tells the host whose deposit to prove (the host then
//!    retries). A withdrawal takes `withdrawal_delay_blocks`, far longer, so a deposit the
//!    enclave counts on can't be gone before its usage report lands.
//! 2. What the caller can still spend is the proven deposit minus usage already reported but
//!    not yet settled by that proof, minus usage metered and not yet reported, minus the
//!    reservations of its queries in flight.
//! 3. A query needs at least the price of [`QUERY_BASE_FUEL`] + [`MIN_QUERY_FUEL`]; it runs with
//!    as much fuel as the caller can pay for (at most [`MAX_QUERY_FUEL`]) and is charged
//!    `min_gas_price × (QUERY_BASE_FUEL + fuel used)`.
//! 4. [`super::Ecall::SettleUsage`] turns the metered usage into signed `UsageReport`s, one per
//!    caller, each with a nonce above every earlier report of this worker for that caller
//!    (proven settled ones and the ones still in the outbox), sent through the message queue;
//!    the chain moves the amount from the caller's deposit to this worker's operator.
//!
//! # What the host learns
//! The caller's account (it must prove its deposit; usage reports name it on chain anyway), the
//! contract, the sizes, the fuel used and the timing. Never the input, the output or the state.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use parity_scale_codec::Encode;
use phalanx_contract::{
    Env, Executor, Host, HttpError, HttpRequest, HttpResponse, Mode, StorageError,
};
use phalanx_keys::{open_request, seal_response, Envelope, RequestContext};
use phalanx_primitives::contract::{self as wire, CommandOutput, UsageReport};
use phalanx_primitives::{decode_strict, AccountId, Balance, Hash};
use rand_core::{OsRng, RngCore};

use super::contracts::ContractsState;
use super::gatekeeper::{KeyState, View};

/// Most fuel one query may burn.
pub const MAX_QUERY_FUEL: u64 = 50_000_000;
/// Fuel every query is charged on top of what it burns (opening, checking, sealing).
pub const QUERY_BASE_FUEL: u64 = 100_000;
/// Least fuel a query must be able to pay for to run at all.
pub const MIN_QUERY_FUEL: u64 = 100_000;
/// Most query nonces remembered against replays (each for at most
/// [`wire::MAX_QUERY_VALIDITY_MS`]): about 100 MB at most.
pub const MAX_REMEMBERED_NONCES: usize = 1_000_000;
/// Oldest deposit proof (in blocks behind the enclave's head) a query may be paid against.
pub const MAX_DEPOSIT_PROOF_AGE: u64 = 120;
/// Blocks after which the host is asked to prove a recently active caller's deposit again,
/// before queries would need it.
pub const REFRESH_DEPOSIT_AFTER: u64 = 40;
/// Most live query nonces one caller may hold (a query is valid for at most 10 minutes, so a
/// caller may keep up about 160 queries a second at the longest validity, more with shorter
/// ones), so one caller can't fill the guard for everyone.
pub const MAX_NONCES_PER_CALLER: usize = 100_000;
/// Most callers remembered as having no deposit.
const MAX_EMPTY_CALLERS: usize = 10_000;
/// Most callers metered at once; idle ones with nothing owed are forgotten first.
pub const MAX_METERED_CALLERS: usize = 100_000;
/// Most compiled contracts kept for queries.
const MAX_COMPILED: usize = 16;

/// Why a query was refused before it ran: said to the client in the clear (it reveals only
/// which check failed).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    /// The body is not a SCALE `SealedQuery` (or is too large).
    #[error("the query is not a well-formed sealed query: {0}")]
    Malformed(String),
    /// The enclave is not ready to answer (no chain yet, or handed over).
    #[error("the enclave is not ready to answer queries: {0}")]
    NotReady(&'static str),
    /// This enclave runs no such contract (not a member of its cluster, or no command of it has
    /// reached this worker yet).
    #[error("this worker does not run contract {0}")]
    UnknownContract(String),
    /// This enclave holds no key of that cluster and epoch (retired, or not delivered yet).
    #[error("this worker holds no key of the contract's cluster in key epoch {0}; seal to the current epoch's key")]
    NoKey(u32),
    /// Expired, by the enclave's chain time.
    #[error("the query expired at {expired} ms; chain time here is {now} ms")]
    Expired {
        /// Its expiry.
        expired: u64,
        /// The enclave's chain time.
        now: u64,
    },
    /// Valid for longer than a worker remembers nonces.
    #[error("the query is valid until {expires} ms, more than {max} ms past chain time {now} ms; ask with a nearer expiry")]
    TooLong {
        /// Its expiry.
        expires: u64,
        /// The enclave's chain time.
        now: u64,
        /// The longest validity.
        max: u64,
    },
    /// The envelope does not open with the cluster key (sealed to another key, or tampered).
    #[error("the query does not open with this cluster's key: sealed to another key, or tampered")]
    NotOpened,
    /// The caller's signature does not verify (or names another worker).
    #[error("the caller's signature over the query does not verify for this worker (forged, or signed for another worker)")]
    BadSignature,
    /// This nonce was seen before.
    #[error("this query was already answered (its nonce was seen before)")]
    Replayed,
    /// Too many queries remembered or metered at once; try again shortly.
    #[error("too many queries in flight; try again shortly")]
    Busy,
    /// The code the host handed in is not the contract's.
    #[error("the host handed in other code than the contract's")]
    WrongCode,
    /// The enclave holds no fresh proof of the caller's deposit: the host proves it and asks
    /// again (a client sees this only if the host could not).
    #[error("this worker could not check {0}'s query deposit on chain yet; try again shortly")]
    NeedDeposit(AccountId),
    /// The caller's deposit can't pay for the least a query costs.
    #[error("the query deposit can pay {} more here; a query needs at least {}", phalanx_primitives::units::format_pha(*available), phalanx_primitives::units::format_pha(*needed))]
    InsufficientDeposit {
        /// Whose deposit.
        caller: AccountId,
        /// What the caller can still spend here.
        available: Balance,
        /// The least a query costs.
        needed: Balance,
    },
}

/// A query's answer: sealed for the client, with the public facts the host may log and meter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answered {
    /// The [`wire::QueryAnswer`], sealed with the query's exported response key.
    pub sealed: Vec<u8>,
    /// Fuel used.
    pub fuel_used: u64,
    /// Units charged to the caller's deposit.
    pub charged: Balance,
    /// The authenticated caller.
    pub caller: AccountId,
}

/// Outbound calls a query's contract makes through the untrusted host. The host sees each
/// request in full and can answer anything: contracts must treat the answer as untrusted.
pub trait Ocalls {
    /// Performs `request` within its timeout and response-size cap.
    fn http(&mut self, request: &HttpRequest) -> Result<HttpResponse, HttpError>;
}

/// An [`Ocalls`] that refuses every request (tests, and hosts that allow no network).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoNetwork;

impl Ocalls for NoNetwork {
    fn http(&mut self, _request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        Err(HttpError::Failed)
    }
}

/// What queries read: published by the enclave after each change of its head or state.
#[derive(Clone)]
pub(crate) struct DeskView {
    /// This enclave's identity: queries must name it.
    pub me: [u8; 32],
    /// The verified head's height.
    pub height: u64,
    /// The verified head's timestamp (the enclave's clock).
    pub time_ms: u64,
    /// The contracts' state as it stands.
    pub contracts: Arc<ContractsState>,
    /// The cluster keys held.
    pub keys: Arc<KeyState>,
}

/// One caller's account at the meter.
#[derive(Clone, Debug, Default)]
struct Metered {
    /// Deposit (available + withdrawing) as proven at `proven_height`.
    proven: Balance,
    proven_height: u64,
    /// The last usage nonce the chain settled for this worker and caller, as proven.
    settled_nonce: u64,
    /// Reports sent and not settled by the proof: (nonce, amount).
    unsettled: BTreeMap<u64, Balance>,
    /// Metered and not yet reported.
    owed: Balance,
    /// Held for queries running now.
    reserved: Balance,
    /// Height of the first unreported usage (for the host's settling policy).
    owed_since: Option<u64>,
    /// Height of the caller's last query.
    last_active: u64,
}

impl Metered {
    fn spendable(&self) -> Balance {
        let unsettled: Balance = self.unsettled.values().copied().sum();
        self.proven
            .saturating_sub(unsettled)
            .saturating_sub(self.owed)
            .saturating_sub(self.reserved)
    }
}

/// Query deposits as this enclave counts them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Meter {
    /// Units per unit of fuel (the chain's `min_gas_price`) and the height it was proven at.
    price: Option<(Balance, u64)>,
    accounts: HashMap<AccountId, Metered>,
    /// Callers proven to have no deposit, with the proof's height (not metered: an account
    /// costs nothing to make, so these stay out of `accounts`).
    empty: HashMap<AccountId, u64>,
}

/// Query nonces seen, with their expiry.
#[derive(Debug, Default)]
struct SeenNonces {
    /// (caller, nonce) → expiry: keyed by the caller too, so someone who saw a query's nonce
    /// can't spend it first and have the real query refused.
    seen: HashMap<(AccountId, [u8; 16]), u64>,
    /// Live nonces per caller, so one caller can't fill the guard for everyone.
    per_caller: HashMap<AccountId, usize>,
}

impl SeenNonces {
    fn forget_expired(&mut self, now_ms: u64) {
        let per_caller = &mut self.per_caller;
        self.seen.retain(|(caller, _), expires| {
            let live = *expires > now_ms;
            if !live {
                if let Some(n) = per_caller.get_mut(caller) {
                    *n = n.saturating_sub(1);
                }
            }
            live
        });
        self.per_caller.retain(|_, n| *n > 0);
    }

    fn insert(&mut self, slot: (AccountId, [u8; 16]), expires: u64) {
        if self.seen.insert(slot, expires).is_none() {
            *self.per_caller.entry(slot.0).or_default() += 1;
        }
    }

    fn remove(&mut self, slot: &(AccountId, [u8; 16])) {
        if self.seen.remove(slot).is_some() {
            if let Some(n) = self.per_caller.get_mut(&slot.0) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_caller.remove(&slot.0);
                }
            }
        }
    }
}

struct Inner {
    view: RwLock<Option<Arc<DeskView>>>,
    seen: Mutex<SeenNonces>,
    modules: Mutex<HashMap<Hash, phalanx_contract::Contract>>,
    executor: Executor,
    meter: Mutex<Meter>,
}

/// The enclave's query entry point (cheap to clone; every clone is the same desk).
#[derive(Clone)]
pub struct QueryDesk {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for QueryDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryDesk").finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a guard leaves consistent data here (every update is one
    // assignment), so the lock is simply taken back.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Usage one [`QueryDesk::settle`] turned into reports, to restore if they could not be sent.
pub(crate) struct Settlement {
    /// The reports, one per caller.
    pub reports: Vec<UsageReport>,
    before: Vec<(AccountId, Metered)>,
}

impl QueryDesk {
    pub(crate) fn new() -> Self {
        QueryDesk {
            inner: Arc::new(Inner {
                view: RwLock::new(None),
                seen: Mutex::new(SeenNonces::default()),
                modules: Mutex::new(HashMap::new()),
                executor: Executor::default(),
                meter: Mutex::new(Meter::default()),
            }),
        }
    }

    /// Publishes what queries read from now on (`None`: answer none).
    pub(crate) fn publish(&self, view: Option<DeskView>) {
        *self
            .inner
            .view
            .write()
            .unwrap_or_else(PoisonError::into_inner) = view.map(Arc::new);
    }

    /// The view published last.
    pub(crate) fn current_view(&self) -> Option<Arc<DeskView>> {
        self.inner
            .view
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records deposits proven in `view` (checked by the enclave against its head at
    /// `height`) for `callers`, with the contract parameters if proven. A caller whose entries
    /// are missing from the view is left as it was.
    pub(crate) fn prove_deposits(
        &self,
        me: &[u8; 32],
        height: u64,
        callers: &[AccountId],
        view: &View,
    ) -> Result<usize, String> {
        // Everything decoded first: a refused call changes nothing.
        let price = match view.get(&wire::params_key()) {
            Some(Some(bytes)) => Some(
                decode_strict::<wire::ContractsParams>(bytes, 1024)
                    .map_err(|e| e.to_string())?
                    .min_gas_price,
            ),
            Some(None) => Some(wire::ContractsParams::default().min_gas_price),
            None => None,
        };
        let mut proven = Vec::new();
        for caller in callers {
            let (Some(deposit), Some(nonce)) = (
                view.get(&wire::deposit_key(caller)),
                view.get(&wire::usage_nonce_key(me, caller)),
            ) else {
                continue;
            };
            let deposit: wire::QueryDeposit = match deposit {
                Some(bytes) => decode_strict(bytes, 1024).map_err(|e| e.to_string())?,
                None => wire::QueryDeposit::default(),
            };
            let settled_nonce: u64 = match nonce {
                Some(bytes) => decode_strict(bytes, 8).map_err(|e| e.to_string())?,
                None => 0,
            };
            proven.push((*caller, deposit, settled_nonce));
        }
        let mut meter = lock(&self.inner.meter);
        if let Some(price) = price {
            if meter.price.is_none_or(|(_, at)| at <= height) {
                meter.price = Some((price, height));
            }
        }
        let mut recorded = 0;
        for (caller, deposit, settled_nonce) in proven {
            // Only the available part counts: a withdrawing part may be released before usage
            // reported later lands.
            let units = deposit.available;
            if units == 0 && !meter.accounts.contains_key(&caller) {
                if meter.empty.len() >= MAX_EMPTY_CALLERS {
                    meter.empty.clear();
                }
                meter.empty.insert(caller, height);
                recorded += 1;
                continue;
            }
            meter.empty.remove(&caller);
            if meter.accounts.len() >= MAX_METERED_CALLERS && !meter.accounts.contains_key(&caller)
            {
                forget_idle(&mut meter, height);
                if meter.accounts.len() >= MAX_METERED_CALLERS {
                    continue;
                }
            }
            let account = meter.accounts.entry(caller).or_default();
            if height < account.proven_height {
                continue; // an older proof than the one held
            }
            account.proven = units;
            account.proven_height = height;
            account.settled_nonce = account.settled_nonce.max(settled_nonce);
            let settled = account.settled_nonce;
            account.unsettled.retain(|nonce, _| *nonce > settled);
            recorded += 1;
        }
        Ok(recorded)
    }

    /// Records usage reports sealed in the outbox (after a restart, the meter starts empty):
    /// they count against their callers until a proof shows them settled, and new reports get
    /// higher nonces.
    pub(crate) fn note_reported(&self, reports: &[UsageReport]) {
        let mut meter = lock(&self.inner.meter);
        for report in reports {
            meter
                .accounts
                .entry(report.client)
                .or_default()
                .unsettled
                .insert(report.nonce, report.amount);
        }
    }

    /// Callers whose deposit proof is missing or ageing and who asked something lately: the
    /// host proves them again ([`super::Ecall::ProveDeposits`]). At most `max`.
    pub fn deposits_to_prove(&self, max: usize) -> Vec<AccountId> {
        let Some(view) = self.current_view() else {
            return Vec::new();
        };
        let meter = lock(&self.inner.meter);
        let mut due: Vec<(u64, AccountId)> = meter
            .accounts
            .iter()
            .filter(|(_, a)| {
                let ageing = view.height.saturating_sub(a.proven_height) >= REFRESH_DEPOSIT_AFTER;
                let active = view.height.saturating_sub(a.last_active) < MAX_DEPOSIT_PROOF_AGE;
                let owes = a.owed > 0 || !a.unsettled.is_empty();
                ageing && (active || owes)
            })
            .map(|(who, a)| (a.proven_height, *who))
            .collect();
        due.sort();
        due.into_iter().take(max).map(|(_, who)| who).collect()
    }

    /// Usage metered and not yet reported: (callers owing, units, height of the oldest).
    pub fn owed(&self) -> (usize, Balance, Option<u64>) {
        let meter = lock(&self.inner.meter);
        let mut callers = 0;
        let mut units: Balance = 0;
        let mut oldest: Option<u64> = None;
        for account in meter.accounts.values().filter(|a| a.owed > 0) {
            callers += 1;
            units = units.saturating_add(account.owed);
            oldest = Some(oldest.map_or(account.owed_since.unwrap_or(0), |o| {
                o.min(account.owed_since.unwrap_or(0))
            }));
        }
        (callers, units, oldest)
    }

    /// Turns owed usage into at most `room` reports; `outbox_nonces` are the highest usage
    /// nonce per caller among reports still in the outbox (so a new report is above them even
    /// after a restart emptied the meter). Undo with [`QueryDesk::restore`] if not sent.
    pub(crate) fn settle(
        &self,
        room: usize,
        outbox_nonces: &HashMap<AccountId, u64>,
    ) -> Settlement {
        let mut meter = lock(&self.inner.meter);
        let mut owing: Vec<(AccountId, Balance)> = meter
            .accounts
            .iter()
            .filter(|(_, a)| a.owed > 0)
            .map(|(who, a)| (*who, a.owed))
            .collect();
        // The largest debts first when room is short.
        owing.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut settlement = Settlement {
            reports: Vec::new(),
            before: Vec::new(),
        };
        for (who, amount) in owing.into_iter().take(room) {
            let Some(account) = meter.accounts.get_mut(&who) else {
                continue;
            };
            settlement.before.push((who, account.clone()));
            let highest = account
                .unsettled
                .keys()
                .next_back()
                .copied()
                .unwrap_or(0)
                .max(account.settled_nonce)
                .max(outbox_nonces.get(&who).copied().unwrap_or(0));
            let nonce = highest.saturating_add(1);
            account.unsettled.insert(nonce, amount);
            account.owed = 0;
            account.owed_since = None;
            settlement.reports.push(UsageReport {
                client: who,
                amount,
                nonce,
            });
        }
        settlement
    }

    /// Puts back the accounts a [`QueryDesk::settle`] changed (its reports were not sent).
    pub(crate) fn restore(&self, settlement: Settlement) {
        let mut meter = lock(&self.inner.meter);
        for (who, before) in settlement.before {
            let account = meter.accounts.entry(who).or_default();
            // Queries charged meanwhile stay owed.
            let since = account.owed;
            *account = Metered {
                owed: before.owed.saturating_add(since),
                reserved: account.reserved,
                last_active: account.last_active.max(before.last_active),
                ..before
            };
        }
    }

    /// Answers one query: read only; nothing persists but its nonce and its charge.
    pub fn answer(
        &self,
        request: &[u8],
        code: &[u8],
        ocalls: &mut dyn Ocalls,
    ) -> Result<Answered, QueryError> {
        use phalanx_primitives::contract::{QueryAnswer, QueryPlaintext, SealedQuery};
        let view = self
            .current_view()
            .ok_or(QueryError::NotReady("it follows no chain yet"))?;
        let now_ms = view.time_ms;
        if request.len() > wire::MAX_QUERY_BYTES {
            return Err(QueryError::Malformed(format!(
                "{} bytes, more than {}",
                request.len(),
                wire::MAX_QUERY_BYTES
            )));
        }
        let sealed: SealedQuery = decode_strict(request, wire::MAX_QUERY_BYTES)
            .map_err(|e| QueryError::Malformed(e.to_string()))?;
        let contract = view
            .contracts
            .for_query(&sealed.contract)
            .ok_or_else(|| QueryError::UnknownContract(hex::encode(sealed.contract)))?;
        if sealed.expires_at_ms <= now_ms {
            return Err(QueryError::Expired {
                expired: sealed.expires_at_ms,
                now: now_ms,
            });
        }
        if sealed.expires_at_ms > now_ms.saturating_add(wire::MAX_QUERY_VALIDITY_MS) {
            return Err(QueryError::TooLong {
                expires: sealed.expires_at_ms,
                now: now_ms,
                max: wire::MAX_QUERY_VALIDITY_MS,
            });
        }
        let secret = view
            .keys
            .cluster_secret(contract.cluster, sealed.key_epoch)
            .ok_or(QueryError::NoKey(sealed.key_epoch))?;
        let envelope = Envelope::from_bytes(&sealed.envelope)
            .map_err(|e| QueryError::Malformed(e.to_string()))?;
        let context = RequestContext {
            target: sealed.contract,
            nonce: sealed.nonce,
            expires_at_ms: sealed.expires_at_ms,
        };
        let (plaintext, response_key) =
            open_request(&secret, &context, &envelope).map_err(|_| QueryError::NotOpened)?;
        let plaintext: QueryPlaintext = decode_strict(&plaintext, wire::MAX_QUERY_BYTES)
            .map_err(|e| QueryError::Malformed(e.to_string()))?;
        let signed = wire::query_signing_bytes(
            &sealed.contract,
            &view.me,
            &sealed.nonce,
            sealed.expires_at_ms,
            &plaintext.input,
        );
        if !plaintext.caller.verify(&signed, &plaintext.signature) {
            return Err(QueryError::BadSignature);
        }
        // Compiled code is kept by hash: the host's copy is hashed only when it must be
        // compiled, and compiled only once the query is known fresh and paid for (below).
        let cached = self.cached_module(&contract.code_hash);
        if cached.is_none() && Hash::of(code) != contract.code_hash {
            return Err(QueryError::WrongCode);
        }
        let caller = plaintext.caller;
        let slot = (caller, sealed.nonce);
        {
            let mut seen = lock(&self.inner.seen);
            if seen.seen.len() >= MAX_REMEMBERED_NONCES / 2 {
                seen.forget_expired(now_ms);
            }
            if seen.seen.contains_key(&slot) {
                return Err(QueryError::Replayed);
            }
            let mine = seen.per_caller.get(&caller).copied().unwrap_or(0);
            if seen.seen.len() >= MAX_REMEMBERED_NONCES || mine >= MAX_NONCES_PER_CALLER {
                return Err(QueryError::Busy);
            }
            seen.insert(slot, sealed.expires_at_ms);
        }
        // Reserve what the most fuel the caller can pay for costs; refused queries give back
        // their nonce (they may be asked again once paid for).
        let (price, fuel_limit, reserved) = match self.reserve(&view, &caller) {
            Ok(reservation) => reservation,
            Err(e) => {
                lock(&self.inner.seen).remove(&slot);
                return Err(e);
            }
        };
        // Released even if the run below panics.
        let mut hold = Hold {
            desk: self,
            caller,
            reserved,
        };
        // What the run is charged for: the fuel it burned; a trap or an endless loop its whole
        // limit (as for commands); code this worker could not compile or instantiate, only
        // the base (the worker's fault, not the caller's).
        let module = match cached {
            Some(module) => Ok(module),
            None => self.compile_module(&contract.code_hash, code),
        };
        let (output, fuel_used) = match module {
            Err(e) => (failed("code_refused", &e), 0),
            Ok(module) => {
                let mut seed = [0u8; 32];
                OsRng.fill_bytes(&mut seed);
                let env = Env {
                    caller: caller.0,
                    height: view.height,
                    time_ms: now_ms,
                    random_seed: seed,
                    mode: Mode::Query,
                };
                let mut host = QueryHost {
                    storage: contract.storage,
                    ocalls,
                };
                match self.inner.executor.run(
                    &module,
                    &env,
                    &plaintext.input,
                    fuel_limit,
                    &mut host,
                ) {
                    Ok(outcome) => (
                        CommandOutput::Ran {
                            status: outcome.status,
                            output: outcome.output,
                        },
                        outcome.fuel_used,
                    ),
                    Err(
                        e @ (phalanx_contract::ExecError::Instantiation { .. }
                        | phalanx_contract::ExecError::ForeignContract),
                    ) => (failed(e.code(), &e.to_string()), 0),
                    Err(e) => (failed(e.code(), &e.to_string()), fuel_limit),
                }
            }
        };
        let charged =
            price.saturating_mul(Balance::from(QUERY_BASE_FUEL.saturating_add(fuel_used)));
        hold.reserved = 0;
        self.charge(&view, &caller, reserved, charged);
        let answer = QueryAnswer {
            output,
            fuel_used,
            as_of: contract.next,
        };
        let sealed_answer = seal_response(&response_key, &answer.encode(), &mut OsRng)
            .map_err(|e| QueryError::Malformed(e.to_string()))?;
        Ok(Answered {
            sealed: sealed_answer,
            fuel_used,
            charged,
            caller,
        })
    }

    /// Holds the price of the most fuel `caller` can pay for: (price, fuel limit, reserved).
    fn reserve(
        &self,
        view: &DeskView,
        caller: &AccountId,
    ) -> Result<(Balance, u64, Balance), QueryError> {
        let mut meter = lock(&self.inner.meter);
        let fresh = |height: u64| view.height.saturating_sub(height) <= MAX_DEPOSIT_PROOF_AGE;
        let price = match meter.price {
            Some((price, height)) if fresh(height) => price,
            _ => return Err(QueryError::NeedDeposit(*caller)),
        };
        let needed = price.saturating_mul(Balance::from(QUERY_BASE_FUEL + MIN_QUERY_FUEL));
        if !meter.accounts.contains_key(caller) {
            return match meter.empty.get(caller) {
                Some(height) if fresh(*height) => Err(QueryError::InsufficientDeposit {
                    caller: *caller,
                    available: 0,
                    needed,
                }),
                _ => Err(QueryError::NeedDeposit(*caller)),
            };
        }
        let account = match meter.accounts.get_mut(caller) {
            Some(account) if fresh(account.proven_height) => account,
            _ => return Err(QueryError::NeedDeposit(*caller)),
        };
        let spendable = account.spendable();
        if spendable < needed {
            return Err(QueryError::InsufficientDeposit {
                caller: *caller,
                available: spendable,
                needed,
            });
        }
        // Free queries (a zero price) run with the most fuel.
        let fuel_limit = spendable.checked_div(price).map_or(MAX_QUERY_FUEL, |fuel| {
            let affordable = fuel.saturating_sub(Balance::from(QUERY_BASE_FUEL));
            u64::try_from(affordable)
                .unwrap_or(u64::MAX)
                .min(MAX_QUERY_FUEL)
        });
        let reserved =
            price.saturating_mul(Balance::from(QUERY_BASE_FUEL.saturating_add(fuel_limit)));
        account.reserved = account.reserved.saturating_add(reserved);
        account.last_active = view.height;
        Ok((price, fuel_limit, reserved))
    }

    /// Releases a reservation and charges what the query cost.
    fn charge(&self, view: &DeskView, caller: &AccountId, reserved: Balance, charged: Balance) {
        let mut meter = lock(&self.inner.meter);
        let account = meter.accounts.entry(*caller).or_default();
        account.reserved = account.reserved.saturating_sub(reserved);
        account.owed = account.owed.saturating_add(charged);
        if charged > 0 && account.owed_since.is_none() {
            account.owed_since = Some(view.height);
        }
    }

    fn cached_module(&self, hash: &Hash) -> Option<phalanx_contract::Contract> {
        lock(&self.inner.modules).get(hash).cloned()
    }

    /// Compiles `code` (already checked to hash to `hash`) and keeps it.
    fn compile_module(
        &self,
        hash: &Hash,
        code: &[u8],
    ) -> Result<phalanx_contract::Contract, String> {
        // Compiled outside the lock: another thread may compile the same code meanwhile.
        let module = self
            .inner
            .executor
            .compile(code)
            .map_err(|e| e.to_string())?;
        let mut modules = lock(&self.inner.modules);
        if modules.len() >= MAX_COMPILED {
            modules.clear();
        }
        modules.insert(*hash, module.clone());
        Ok(module)
    }

    /// TEST HOOK: what `caller` can still spend here, if metered.
    #[cfg(any(test, feature = "testing"))]
    pub fn testing_spendable(&self, caller: &AccountId) -> Option<Balance> {
        lock(&self.inner.meter)
            .accounts
            .get(caller)
            .map(Metered::spendable)
    }
}

/// A reservation held while a query runs; given back if the run never reaches its charge.
struct Hold<'a> {
    desk: &'a QueryDesk,
    caller: AccountId,
    reserved: Balance,
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        if self.reserved > 0 {
            let mut meter = lock(&self.desk.inner.meter);
            if let Some(account) = meter.accounts.get_mut(&self.caller) {
                account.reserved = account.reserved.saturating_sub(self.reserved);
            }
        }
    }
}

/// Forgets callers with nothing owed, reported or reserved and no recent query.
fn forget_idle(meter: &mut Meter, height: u64) {
    meter.accounts.retain(|_, a| {
        a.owed > 0
            || a.reserved > 0
            || !a.unsettled.is_empty()
            || height.saturating_sub(a.last_active) < MAX_DEPOSIT_PROOF_AGE
    });
}

fn failed(code: &str, message: &str) -> CommandOutput {
    CommandOutput::Failed {
        code: code.to_string(),
        message: message.to_string(),
    }
}

/// A query's view of its contract: the committed storage (read only) and the host's network.
struct QueryHost<'a> {
    storage: &'a BTreeMap<Vec<u8>, Vec<u8>>,
    ocalls: &'a mut dyn Ocalls,
}

impl Host for QueryHost<'_> {
    fn storage_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.storage.get(key).cloned())
    }

    fn http(&mut self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        self.ocalls.http(request)
    }
}
