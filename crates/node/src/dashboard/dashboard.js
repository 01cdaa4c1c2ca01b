// The Phalanx dashboard: everything comes from this node's JSON-RPC (same origin) and its
// `phalanx_subscribeFinalized` WebSocket. Every value is put on the page as text
// (`textContent`), never as HTML: names, descriptions and endpoints are attacker-controlled.
'use strict';

const PHA = 1000000000000n;
const EPOCH_BLOCKS = 64;

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function row(cells, cls) {
  const tr = document.createElement('tr');
  if (cls) tr.className = cls;
  for (const cell of cells) {
    tr.appendChild(cell instanceof Node ? cell : el('td', cell));
  }
  return tr;
}

function fill(tableId, rows) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren(...rows);
}

// Errors are shown (the last 20, a repeat counted rather than added) and logged.
function report(error) {
  const message = error && error.message ? error.message : String(error);
  console.error(message);
  $('errors-section').hidden = false;
  const list = $('errors');
  const last = list.lastElementChild;
  if (last && last.dataset.message === message) {
    last.dataset.count = String(Number(last.dataset.count) + 1);
    last.textContent = message + ' (×' + last.dataset.count + ')';
    return;
  }
  const item = el('li', message);
  item.dataset.message = message;
  item.dataset.count = '1';
  list.appendChild(item);
  while (list.children.length > 20) list.firstElementChild.remove();
}

// A row saying a list was cut at the page the node returns.
function more(next, columns) {
  if (next === null || next === undefined) return [];
  const td = el('td', 'more on the node: only the first page is shown', 'note');
  td.colSpan = columns;
  const tr = document.createElement('tr');
  tr.appendChild(td);
  return [tr];
}

// Amounts are u128 units: integers of 16 digits or more are quoted before `JSON.parse` (one
// native pass that skips over JSON strings), so no digit is lost past 2^53.
const LONG_INTEGERS = /"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])-?\d{16,}(?![\d.eE])/g;

function parse(text) {
  return JSON.parse(text.replace(LONG_INTEGERS, (m) => (m[0] === '"' ? m : '"' + m + '"')));
}

function pha(units) {
  if (units === null || units === undefined) return '–';
  const value = BigInt(units);
  const whole = value / PHA;
  const fraction = (value % PHA).toString().padStart(12, '0').slice(0, 4).replace(/0+$/, '');
  return whole.toLocaleString('en-US') + (fraction ? '.' + fraction : '') + ' PHA';
}

function short(text) {
  const s = String(text || '');
  return s.length > 18 ? s.slice(0, 10) + '…' + s.slice(-6) : s;
}

async function rpc(method, params = []) {
  const response = await fetch('/', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = parse(await response.text());
  if (body.error) throw new Error(method + ': ' + body.error.message);
  return body.result;
}

// ---- sections -----------------------------------------------------------------------------

// Summaries of the newest blocks, by height, for the chain with genesis `blocksOf`.
const blocks = new Map();
let blocksOf = null;

async function showStatus() {
  const status = await rpc('phalanx_status');
  if (status.genesis_hash !== blocksOf) {
    // Another chain on this address (a reset dev network): forget the old one's blocks.
    blocks.clear();
    blocksOf = status.genesis_hash;
  }
  $('height').textContent = status.height;
  $('epoch').textContent = Math.floor(Number(status.height) / EPOCH_BLOCKS);
  $('mempool').textContent = status.mempool;
  $('chain').textContent = status.chain_id;
  const trust = $('trust');
  trust.textContent = status.production ? 'production' : 'DEV chain: SIMULATED trust';
  trust.className = status.production ? 'badge' : 'badge simulated';
  $('validators').replaceChildren(...status.validators.map((v) => el('li', v, 'mono')));
  return status;
}

// `balances.transfer` from `{"balances": {"transfer": {…}}}`.
function callName(call) {
  if (!call || typeof call !== 'object') return String(call);
  const module = Object.keys(call)[0];
  const inner = call[module];
  const name = inner && typeof inner === 'object' ? Object.keys(inner)[0] : inner;
  return name === undefined ? module : module + '.' + name;
}

async function showBlocks(head) {
  for (const h of [...blocks.keys()]) if (h < head - 9 || h > head) blocks.delete(h);
  for (let h = Math.max(0, head - 9); h <= head; h++) {
    if (blocks.has(h)) continue;
    const b = await rpc('phalanx_block', [h]);
    // Only what the table shows is kept.
    blocks.set(h, {
      height: b.height,
      hash: b.hash,
      timestamp_ms: b.timestamp_ms,
      txs: b.transactions.slice(0, 20).map((t) => {
        const outcome = t.receipt && t.receipt.error ? ' failed' : '';
        return callName(t.call) + outcome + ' from ' + short(t.signer);
      }).concat(b.transactions.length > 20 ? ['… ' + (b.transactions.length - 20) + ' more'] : []),
    });
  }
  const rows = [...blocks.values()].sort((a, b) => b.height - a.height).map((b) => {
    const txs = b.txs;
    return row([
      String(b.height),
      el('td', short(b.hash), 'mono'),
      new Date(Number(b.timestamp_ms)).toLocaleTimeString(),
      el('td', txs.length ? txs.join('\n') : '–', 'text'),
    ], 'block');
  });
  fill('blocks', rows);
}

async function showWorkers() {
  const { workers, next } = await rpc('phalanx_workers');
  fill('workers', workers.map((w) => {
    const simulated = w.quote_kind === 'Simulated';
    return row([
      el('td', short(w.identity), 'mono'),
      el('td', short(w.operator), 'mono'),
      el('td', simulated ? 'SIMULATED' : w.quote_kind, simulated ? 'simulated' : ''),
      String(w.tcb_status),
      (Number(w.confidence) / 10).toFixed(1) + '%',
      String(w.performance),
      el('td', w.endpoint, 'text'),
    ], 'worker');
  }).concat(more(next, 7)));
}

async function showKeys() {
  const { gatekeepers } = await rpc('phalanx_gatekeepers');
  fill('gatekeepers', gatekeepers.map((g) => row([
    el('td', short(g.identity), 'mono'),
    el('td', short(g.operator), 'mono'),
    pha(g.stake),
    String(g.appointed_at),
  ], 'gatekeeper')));
  const { clusters } = await rpc('phalanx_clusters');
  fill('clusters', clusters.map((c) => row([String(c.index), String(c.members)], 'cluster')));
}

async function showContracts() {
  const { contracts } = await rpc('phalanx_contracts');
  fill('contracts', contracts.map((c) => row([
    el('td', short(c.id), 'mono'),
    el('td', short(c.deployer), 'mono'),
    String(c.cluster),
    String(c.commands),
  ], 'contract')));
}

async function showPools() {
  const { pools, next } = await rpc('phalanx_pools');
  fill('pools', pools.map((p) => row([
    '#' + p.pool.id,
    el('td', short(p.pool.owner), 'mono'),
    (Number(p.pool.commission_per_mille) / 10).toFixed(1) + '%',
    pha(p.value),
    p.bankrupt ? 'bankrupt' : p.share_price === null ? 'no shares' : String(p.share_price),
    String(p.pool.workers.length),
    pha(p.pool.rewards),
  ], 'pool')).concat(more(next, 7)));
}

async function showProposals() {
  const { proposals, next } = await rpc('phalanx_proposals');
  fill('proposals', proposals.slice().reverse().map((p) => row([
    String(p.id),
    el('td', p.description, 'text description'),
    p.status && p.status.status ? p.status.status : JSON.stringify(p.status),
    pha(p.aye),
    pha(p.nay),
    String(p.voters),
  ], 'proposal')).concat(more(next, 6)));
}

async function showTreasury() {
  const treasury = await rpc('phalanx_treasury');
  const mining = await rpc('phalanx_mining');
  const pot = BigInt(mining.mining_pot);
  const start = 700000000n * PHA;
  const emitted = pot < start ? start - pot : 0n;
  const facts = [
    ['treasury', pha(treasury.balance)],
    ['total issuance', pha(treasury.total_issuance)],
    ['mining pot', pha(mining.mining_pot)],
    ['emitted from the pot', pha(emitted)],
    ['today\'s budget', pha(mining.open_day_budget)],
    ['period', String(mining.period)],
    ['open day', String(mining.settlement.open_day)],
  ];
  $('treasury').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', k), el('dd', v)]));
  drawSchedule(Number(mining.period));
}

// The mining schedule over 10 years (21 periods of 180 days): the daily budget, 720,000 PHA ×
// 0.75^k in the k-th period (left axis), and what it emits in all and leaves in the 700M pot
// (right axis), with the current period marked. What a period pays is the schedule's (every
// day fully earned); the pot and emitted figures above the chart are the chain's own.
function drawSchedule(period) {
  const svg = $('schedule');
  const ns = 'http://www.w3.org/2000/svg';
  const W = 640, H = 220, L = 60, R = 70, B = 30, periods = 21, POT = 700000000;
  const x = (k) => L + (k / (periods - 1)) * (W - L - R);
  const y = (v, max) => H - B - (v / max) * (H - B - 20);
  const budget = [], emitted = [], pot = [];
  let total = 0;
  for (let k = 0; k < periods; k++) {
    const daily = 720000 * Math.pow(0.75, k);
    const next = Math.min(k + 1, periods - 1);
    budget.push(x(k) + ',' + y(daily, 720000), x(next) + ',' + y(daily, 720000));
    emitted.push(x(k) + ',' + y(total, POT));
    pot.push(x(k) + ',' + y(POT - total, POT));
    total = Math.min(POT, total + daily * 180);
  }
  const line = (points, cls) => {
    const node = document.createElementNS(ns, 'polyline');
    node.setAttribute('points', points.join(' '));
    node.setAttribute('class', cls);
    return node;
  };
  const now = document.createElementNS(ns, 'line');
  now.setAttribute('x1', x(period)); now.setAttribute('x2', x(period));
  now.setAttribute('y1', 10); now.setAttribute('y2', H - B);
  now.setAttribute('class', 'now');
  const labels = [
    [4, y(720000, 720000) + 4, '720,000/day'],
    [4, y(0, 1) + 4, '0'],
    [W - R + 4, y(POT, POT) + 4, '700M'],
    [L, H - 10, 'period 0'],
    [W - R - 110, H - 10, 'period 20 (10 years)'],
    [L + 10, 16, 'blue: daily budget · green: emitted · grey: left in the pot · red: now'],
  ];
  const texts = labels.map(([tx, ty, t]) => {
    const node = document.createElementNS(ns, 'text');
    node.setAttribute('x', tx); node.setAttribute('y', ty);
    node.textContent = t;
    return node;
  });
  svg.replaceChildren(
    line(budget, 'budget'), line(emitted, 'emitted'), line(pot, 'pot'), now, ...texts,
  );
}

// ---- search -------------------------------------------------------------------------------

async function search(query) {
  const q = query.trim();
  let result;
  if (/^pha1[0-9a-z]+$/.test(q)) result = await rpc('phalanx_account', [q]);
  else if (/^\d+$/.test(q)) result = await rpc('phalanx_block', [Number(q)]);
  else if (/^(0x)?[0-9a-fA-F]{64}$/.test(q)) {
    const hash = q.startsWith('0x') ? q : '0x' + q;
    const tx = await rpc('phalanx_transaction', [hash]);
    result = tx.status === 'unknown' ? await rpc('phalanx_block', [hash]) : tx;
  } else throw new Error('search for an account (pha1…), a block height, or a block or transaction hash');
  $('found').hidden = false;
  $('found-body').textContent = JSON.stringify(result, null, 2);
}

// ---- refresh and live updates -------------------------------------------------------------

let refreshing = false;
let pending = false;
let heavyAt = 0;
/// The sections that read whole lists refresh at most this often; height, status and blocks
/// follow every block.
const HEAVY_EVERY_MS = 10000;

async function section(show) {
  try {
    await show();
  } catch (error) {
    report(error);
  }
}

async function refresh() {
  if (document.hidden) return;
  if (refreshing) { pending = true; return; }
  refreshing = true;
  try {
    let head = null;
    await section(async () => { head = Number((await showStatus()).height); });
    if (head !== null) await section(() => showBlocks(head));
    if (Date.now() - heavyAt >= HEAVY_EVERY_MS) {
      heavyAt = Date.now();
      for (const show of [showWorkers, showKeys, showContracts, showPools, showProposals, showTreasury]) {
        await section(show);
      }
    }
  } finally {
    refreshing = false;
    if (pending) { pending = false; setTimeout(refresh, 500); }
  }
}

function subscribe() {
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  const socket = new WebSocket(scheme + location.host + '/');
  socket.onopen = () => {
    socket.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'phalanx_subscribeFinalized', params: [] }));
    $('live').textContent = 'live';
    $('live').className = 'badge live';
  };
  socket.onmessage = (event) => {
    const message = parse(event.data);
    if (message.method === 'phalanx_finalized' && message.params && message.params.result) {
      $('height').textContent = message.params.result.height;
      refresh();
    }
  };
  socket.onclose = () => {
    $('live').textContent = 'reconnecting';
    $('live').className = 'badge';
    setTimeout(subscribe, 2000);
  };
}

window.addEventListener('error', (event) => report(event.message));
window.addEventListener('unhandledrejection', (event) => report(event.reason));

document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });

document.addEventListener('DOMContentLoaded', () => {
  $('search').addEventListener('submit', (event) => {
    event.preventDefault();
    search($('query').value).catch(report);
  });
  refresh();
  subscribe();
});
