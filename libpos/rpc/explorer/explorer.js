// The block explorer: a single page over the node's public RPC routes (docs/rpc.md). Views are
// addressed by the URL fragment (#/block/12, #/tx/ID, #/account/ADDRESS, #/search/QUERY), so that
// every page can be linked and reloaded. Nothing loads the whole chain: lists are pages.
"use strict";

const POLL_MS = 2000;
const LATEST = 10;
const HISTORY_PAGE = 20;
const SLOW_EVERY = 10; // blocks between reads of the stakers and of the validators' accounts
const MAX_ACCOUNT_LOOKUPS = 64; // validators whose account (slashed or not) the home page reads
const HEX64 = /^[0-9a-f]{64}$/;

const view = document.getElementById("view");
const numberFormat = new Intl.NumberFormat("en-US");
let generation = 0; // bumps on every navigation: stale async work checks it and stops
let pollTimer = null;

// ---- Small DOM helpers: text always goes in as text, never as HTML. ----

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "style") Object.assign(el.style, v); // CSSOM: allowed by the page's CSP
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const num = (n) => numberFormat.format(n);
const short = (hex) => (hex.length > 16 ? `${hex.slice(0, 8)}…${hex.slice(-6)}` : hex);

function percent(part, whole) {
  if (!whole) return "0%";
  const p = (100 * part) / whole;
  return `${p >= 10 ? p.toFixed(0) : p.toFixed(1)}%`;
}

function age(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function when(ms) {
  return h("span", { title: new Date(ms).toISOString() }, `${new Date(ms).toLocaleString()} (${age(ms)})`);
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  // Plain http on another host is not a secure context: the old way still works there.
  const area = h("textarea", { style: { position: "fixed", opacity: "0" } }, text);
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

// A shortened hash (full text in its title), linked when href is given, with a copy button.
function hash(hex, href) {
  const text = h("span", { class: "hash", title: hex }, short(hex));
  const button = h("button", {
    class: "copy", type: "button", title: "Copy", "aria-label": `Copy ${hex}`,
    onclick: async (e) => {
      e.preventDefault();
      await copyText(hex);
      button.textContent = "copied";
      button.classList.add("done");
      setTimeout(() => { button.textContent = "copy"; button.classList.remove("done"); }, 1200);
    },
  }, "copy");
  return h("span", { class: "hashbox", "data-full": hex }, href ? h("a", { href }, text) : text, button);
}

const blockLink = (id) => `#/block/${id}`;
const txLink = (id) => `#/tx/${id}`;
const accountLink = (a) => `#/account/${a}`;

function badge(text, kind) {
  return h("span", { class: `badge ${kind || text}` }, text);
}

function fields(rows) {
  return h("dl", { class: "fields" }, rows.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function card(title, ...content) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...content);
}

function notice(text, kind, testid) {
  return h("div", { class: `notice ${kind || ""}`, "data-testid": testid || "notice" }, text);
}

function table(columns, rows, attrs) {
  return h("div", { class: "table-wrap" }, h("table", attrs || {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.class }, c.title)))),
    h("tbody", {}, rows)));
}

// ---- RPC ----

class NotFound extends Error {}

async function api(path) {
  let res;
  try {
    res = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  } catch (e) {
    throw new Error(`the node does not answer (${e.message})`);
  }
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON: reported below */ }
  if (res.status === 404) throw new NotFound(body && body.error ? body.error.message : path);
  if (!res.ok) {
    const msg = body && body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`;
    throw new Error(msg);
  }
  return body;
}

// ---- Views ----

function show(...nodes) {
  view.replaceChildren(...nodes.flat(Infinity).filter(Boolean));
}

function showError(e, gen) {
  if (gen !== generation) return;
  if (e instanceof NotFound) show(notice(`Not found: ${e.message}`, "not-found", "not-found"));
  else show(notice(`Error: ${e.message}`, "not-found", "error"));
}

function txRow(tx, extra) {
  return h("tr", { "data-testid": "tx-row", "data-id": tx.id },
    h("td", {}, hash(tx.id, txLink(tx.id))),
    h("td", {}, tx.type),
    h("td", {}, hash(tx.sender, accountLink(tx.sender))),
    h("td", { class: "hide-narrow" }, tx.receiver === tx.sender ? h("span", { class: "muted" }, "(self)")
      : hash(tx.receiver, accountLink(tx.receiver))),
    h("td", { class: "num" }, num(tx.amount)),
    h("td", { class: "num hide-narrow" }, num(tx.fee)),
    extra || null);
}

// Votes and evidence travel inside blocks (docs/consensus.md); evidence is also pending.
function voteRow(v) {
  return h("tr", { "data-testid": "vote-row", "data-validator": v.validator },
    h("td", {}, hash(v.validator, accountLink(v.validator))),
    h("td", { class: "num", "data-testid": "vote-span" },
      h("a", { href: blockLink(v.source_hash) }, num(v.source_height)), " → ",
      h("a", { href: blockLink(v.target_hash) }, num(v.target_height))),
    h("td", {}, hash(v.target_hash, blockLink(v.target_hash))));
}

const voteColumns = [{ title: "Validator" }, { title: "Source → target", class: "num" }, { title: "Target" }];

function evidenceRow(e) {
  return h("tr", { "data-testid": "evidence-row", "data-kind": e.kind, "data-offender": e.offender },
    h("td", {}, badge(String(e.kind).replace(/_/g, " "), "evidence")),
    h("td", {}, hash(e.offender, accountLink(e.offender))),
    h("td", { class: "hide-narrow" }, e.id ? hash(e.id) : "—"));
}

const evidenceColumns = [{ title: "Kind" }, { title: "Offender" }, { title: "Id", class: "hide-narrow" }];

const txColumns = [
  { title: "Transaction" }, { title: "Type" }, { title: "From" }, { title: "To", class: "hide-narrow" },
  { title: "Amount", class: "num" }, { title: "Fee", class: "num hide-narrow" },
];

function statusCard(info) {
  const stat = (label, value, testid) =>
    h("div", { class: "stat" }, h("div", { class: "label" }, label),
      h("div", { class: "value", "data-testid": testid }, value));
  return card("Node",
    h("div", { class: "stats" },
      stat("Height", num(info.height), "height"),
      stat("Justified", num(info.justified_height), "justified"),
      stat("Finalized", num(info.finalized_height), "finalized"),
      stat("Slot", num(info.slot), "slot"),
      stat("Peers", num(info.peers), "peers"),
      stat("Pool", num(info.pool_size), "pool"),
      stat("State", info.syncing ? badge("syncing") : badge("in sync", "ok"), "sync")),
    h("p", { class: "muted" }, `Chain ${info.chain_id} · version ${info.version}`,
      info.address ? [" · forging as ", hash(info.address, accountLink(info.address))] : null));
}

function blocksCard(page, previousTop) {
  const rows = page.blocks.slice().reverse().map((b) =>
    h("tr", { "data-testid": "block-row", "data-height": b.height, class: b.height > previousTop ? "fresh" : null },
      h("td", {}, h("a", { href: blockLink(b.height) }, num(b.height))),
      h("td", { class: "hide-narrow" }, hash(b.hash, blockLink(b.hash))),
      h("td", { class: "hide-narrow" }, b.height === 0 ? h("span", { class: "muted" }, "genesis")
        : hash(b.forger, accountLink(b.forger))),
      h("td", { class: "num" }, num(b.tx_count)),
      h("td", { class: "num", "data-testid": "row-votes" }, num(b.vote_count)),
      h("td", {}, b.evidence_count > 0
        ? h("span", { "data-testid": "row-evidence" }, badge(`${num(b.evidence_count)} evidence`, "evidence"))
        : null),
      h("td", { title: new Date(b.timestamp).toISOString() }, age(b.timestamp))));
  return card("Latest blocks", table(
    [{ title: "Height" }, { title: "Hash", class: "hide-narrow" }, { title: "Forger", class: "hide-narrow" },
      { title: "Txs", class: "num" }, { title: "Votes", class: "num" }, { title: "Evidence" }, { title: "Age" }],
    rows, { "data-testid": "latest-blocks" }));
}

function stakersCard(s) {
  const rows = s.stakers.slice().sort((a, b) => b.stake - a.stake).map((st) =>
    h("tr", { "data-testid": "staker-row" },
      h("td", {}, hash(st.address, accountLink(st.address))),
      h("td", { class: "num" }, num(st.stake)),
      h("td", { class: "num" }, percent(st.stake, s.total_stake)),
      h("td", { class: "hide-narrow" }, h("div", { class: "bar" },
        h("span", { style: { width: `${s.total_stake ? (100 * st.stake) / s.total_stake : 0}%` } }))),
      h("td", { class: "num" }, `${num(st.recent_blocks)} (${percent(st.recent_blocks, s.recent.blocks)})`)));
  return card("Stakers",
    table([{ title: "Address" }, { title: "Stake", class: "num" }, { title: "Share", class: "num" },
      { title: "", class: "hide-narrow" }, { title: "Recent slots won", class: "num" }], rows,
    { "data-testid": "stakers" }),
    h("p", { class: "muted" }, `Total stake ${num(s.total_stake)}; recent slots are blocks `
      + `${num(s.recent.from)} to ${num(s.recent.to)} (${num(s.recent.blocks)} blocks).`));
}

// The validator set of the current epoch (GET /validators), each with its account, which says
// whether evidence against it was included (slashed). At most MAX_ACCOUNT_LOOKUPS accounts.
async function readValidators() {
  const set = await api("/validators");
  const looked = set.validators.filter((v) => HEX64.test(v.address)).slice(0, MAX_ACCOUNT_LOOKUPS);
  const accounts = new Map(await Promise.all(looked.map(async (v) =>
    [v.address, await api(`/accounts/${v.address}`).catch(() => null)])));
  return { set, accounts };
}

function validatorsCard(validators, evidence) {
  const pending = evidence ? evidence.pending : [];
  const pendingList = [
    h("h3", {}, `Pending evidence (${num(pending.length)})`),
    pending.length
      ? table(evidenceColumns, pending.map(evidenceRow), { "data-testid": "pending-evidence" })
      : notice("None.", "", "no-pending-evidence")];
  if (validators.error)
    return card("Validators", notice(`Cannot read the validator set: ${validators.error}`, "not-found", "validators-error"),
      pendingList);
  const { set, accounts } = validators;
  const rows = set.validators.slice().sort((a, b) => b.stake - a.stake || (a.address < b.address ? -1 : 1))
    .map((v) => {
      const account = accounts.get(v.address);
      const slashed = Boolean(account && account.slashed);
      const jailed = Boolean(account && account.jailed);
      return h("tr", { "data-testid": "validator-row", "data-address": v.address, "data-slashed": String(slashed),
        "data-jailed": String(jailed) },
        h("td", {}, hash(v.address, accountLink(v.address))),
        h("td", { class: "num" }, num(v.stake)),
        h("td", { class: "num hide-narrow" }, percent(v.stake, set.total_stake)),
        h("td", { "data-testid": "validator-status" },
          !account ? h("span", { class: "muted" }, "—") : slashed ? badge("slashed")
            : jailed ? badge("jailed") : badge("active", "ok")));
    });
  return card("Validators",
    table([{ title: "Address" }, { title: "Weight", class: "num" }, { title: "Share", class: "num hide-narrow" },
      { title: "Status" }], rows, { "data-testid": "validators" }),
    h("p", { class: "muted" }, `Epoch ${num(set.epoch)}: the validators that draw its slot leaders and `
      + `vote, weighted by stake (total ${num(set.total_stake)}). A slashed validator's stake was burned `
      + "when evidence against it was included in a block; a jailed one missed its votes for an epoch "
      + "and leaves the set until it sends a STAKE."),
    pendingList);
}

async function home(gen) {
  let top = -1;
  let stakersAt = -1;
  let stakers = null;
  let blocks = null;
  let evidence = null;
  let validators = null;
  let validatorsAt = -1;
  const tick = async () => {
    if (gen !== generation) return;
    try {
      const info = await api("/info");
      if (gen !== generation) return;
      document.querySelector("[data-testid=chain-id]").textContent = info.chain_id;
      if (info.height !== top || !blocks) {
        const from = Math.max(0, info.height - (LATEST - 1));
        [blocks, evidence] = await Promise.all([
          api(`/blocks?from=${from}&limit=${LATEST}&transactions=false`), api("/evidence")]);
      }
      // A block with evidence slashed someone: stakes and accounts changed, read them again.
      const slashing = blocks.blocks.some((b) => b.evidence_count > 0 && b.height > validatorsAt);
      if (stakersAt < 0 || info.height - stakersAt >= SLOW_EVERY || slashing) {
        stakers = await api("/stakers?window=100");
        stakersAt = info.height;
      }
      // The validator set and accounts: every SLOW_EVERY blocks, at a new epoch, and on slashing.
      // /validators waits for the node's event loop: when it fails, the rest of the page still
      // shows (with the set read last, if any).
      const epochMoved = validators && validators.set && info.epoch !== undefined
        && info.epoch !== validators.set.epoch;
      if (!validators || validators.error || info.height - validatorsAt >= SLOW_EVERY || slashing || epochMoved) {
        validators = await readValidators().catch((e) =>
          (validators && validators.set ? validators : { error: e.message }));
        validatorsAt = info.height;
      }
      if (gen !== generation) return;
      show(statusCard(info), blocksCard(blocks, top < 0 ? Infinity : top), validatorsCard(validators, evidence),
        stakersCard(stakers));
      top = info.height;
      connection("");
    } catch (e) {
      if (gen !== generation) return;
      if (!blocks) showError(e, gen);
      connection(`Connection problem: ${e.message}; retrying.`);
    }
    pollTimer = setTimeout(tick, POLL_MS);
  };
  await tick();
}

async function blockView(id, gen) {
  const b = await api(`/blocks/${encodeURIComponent(id)}`);
  if (gen !== generation) return;
  const info = await api("/info");
  if (gen !== generation) return;
  const final = b.height <= info.finalized_height;
  show(
    h("h1", { "data-testid": "block-title" }, `Block ${num(b.height)}`),
    card(null, fields([
      ["Hash", hash(b.hash)],
      ["Height", h("span", { "data-testid": "block-height" }, num(b.height))],
      ["Status", final ? badge("final") : badge(`${num(info.height - b.height + 1)} confirmations`, "pending")],
      ["Parent", b.height === 0 ? "—" : hash(b.parent, blockLink(b.parent))],
      ["Slot", num(b.slot)],
      ["Time", when(b.timestamp)],
      ["Forger", b.height === 0 ? "— (genesis)" : hash(b.forger, accountLink(b.forger))],
      ["Transactions", num(b.tx_count)],
      ["Votes", h("span", { "data-testid": "block-vote-count" }, num(b.vote_count))],
      ["Evidence", h("span", { "data-testid": "block-evidence-count" }, b.evidence_count > 0
        ? badge(num(b.evidence_count), "evidence") : "0")],
      ["Transaction root", hash(b.tx_root)],
      ["State root", hash(b.state_root)],
      ["Signature", b.signature ? hash(b.signature) : "—"],
    ])),
    h("p", {}, b.height > 0 ? h("a", { href: blockLink(b.height - 1) }, "← previous") : null,
      " ", b.height < info.height ? h("a", { href: blockLink(b.height + 1) }, "next →") : null),
    card(`Transactions (${num(b.tx_count)})`, b.transactions.length
      ? table(txColumns, b.transactions.map((tx) => txRow(tx)), { "data-testid": "block-transactions" })
      : notice("No transactions in this block.", "", "no-transactions")),
    card(`Votes (${num(b.vote_count)})`, (b.votes || []).length
      ? table(voteColumns, b.votes.map(voteRow), { "data-testid": "block-votes" })
      : notice("No votes in this block.", "", "no-votes")),
    card(`Evidence (${num(b.evidence_count)})`, (b.evidence || []).length
      ? table(evidenceColumns, b.evidence.map(evidenceRow), { "data-testid": "block-evidence" })
      : notice("No evidence in this block.", "", "no-evidence")));
}

async function txView(id, gen) {
  const t = await api(`/transactions/${encodeURIComponent(id)}`);
  if (gen !== generation) return;
  if (t.status === "unknown") throw new NotFound(`no transaction ${id} in the chain or the pool`);
  const tx = t.transaction;
  show(
    h("h1", {}, "Transaction"),
    card(null, fields([
      ["Id", hash(t.id)],
      ["Status", h("span", { "data-testid": "tx-status" },
        badge(t.status), t.status === "included"
          ? [" ", badge(t.final ? "final" : `${num(t.confirmations)} confirmations`, t.final ? "final" : "pending")] : null)],
      t.status === "included" && ["Block", h("span", { "data-testid": "tx-block" },
        h("a", { href: blockLink(t.height) }, num(t.height)), " ", hash(t.block, blockLink(t.block)))],
      t.status === "included" && ["Position", `transaction ${num(t.index)} of its block`],
      t.status === "included" && ["Block time", when(t.timestamp)],
      ["Type", tx.type],
      ["From", hash(tx.sender, accountLink(tx.sender))],
      ["To", hash(tx.receiver, accountLink(tx.receiver))],
      ["Amount", h("span", { "data-testid": "tx-amount" }, num(tx.amount))],
      ["Fee", num(tx.fee)],
      ["Nonce", num(tx.nonce)],
      ["Signed at", when(tx.timestamp)],
      ["Signature", hash(tx.signature)],
    ])));
}

async function accountView(address, gen) {
  if (!HEX64.test(address)) throw new NotFound(`"${address}" is not an address`);
  const [a, history] = await Promise.all([
    api(`/accounts/${address}`), api(`/accounts/${address}/transactions?limit=${HISTORY_PAGE}`)]);
  if (gen !== generation) return;
  const tbody = h("tbody", {});
  const list = h("div", { class: "table-wrap" }, h("table", { "data-testid": "account-transactions" },
    h("thead", {}, h("tr", {}, [...txColumns, { title: "Block" }].map((c) => h("th", { class: c.class }, c.title)))),
    tbody));
  const more = h("button", { class: "more", type: "button" }, "Older transactions");
  const append = (page) => {
    for (const item of page.transactions)
      tbody.append(txRow(item.transaction, h("td", {}, h("a", { href: blockLink(item.height) }, num(item.height)))));
    more.hidden = !page.next;
    more.onclick = async () => {
      const next = await api(`/accounts/${address}/transactions?limit=${HISTORY_PAGE}&before=${page.next}`);
      if (gen === generation) append(next);
    };
  };
  append(history);
  show(
    h("h1", {}, "Account"),
    card(null, fields([
      ["Address", hash(address)],
      ["Balance", h("span", { "data-testid": "account-balance" }, num(a.balance))],
      ["Stake", num(a.stake)],
      ["Nonce", num(a.nonce)],
      a.slashed ? ["Status", h("span", { "data-testid": "account-slashed" }, badge("slashed"),
        h("span", { class: "muted" }, " evidence against it was included in a block: its stake was burned"))]
        : a.jailed ? ["Status", h("span", { "data-testid": "account-jailed" }, badge("jailed"),
          h("span", { class: "muted" }, " none of its votes was included for an epoch: it keeps its stake but leaves the validator sets until it sends a STAKE"))]
          : null,
      a.unbonding ? ["Unbonding", `${num(a.unbonding)} (since the UNSTAKE at height ${num(a.unbonding_height)}; spendable once finalized and unbonding_epochs more epochs passed)`] : null,
    ])),
    history.pending.length ? card(`Pending (${history.pending.length})`,
      table(txColumns, history.pending.map((tx) => txRow(tx)), { "data-testid": "account-pending" })) : null,
    card("Recent transactions", history.transactions.length ? [list, more]
      : notice("No transactions on the main chain.", "", "no-transactions")));
}

// Finds what a query names: a height, then a block hash, a transaction id, an address.
async function search(query, gen) {
  const q = query.trim().toLowerCase().replace(/^0x/, "");
  show(notice(`Searching for ${q}…`));
  if (/^[0-9]+$/.test(q)) {
    await api(`/blocks/${q}`).catch((e) => {
      if (e instanceof NotFound) throw new NotFound(`no block at height ${num(Number(q))}`);
      throw e;
    });
    return go(blockLink(q), true);
  }
  if (!HEX64.test(q))
    throw new NotFound(`"${query.trim()}" is not a height, block hash, transaction id or address`);
  const found = async (p) => api(p).then((r) => r, (e) => { if (e instanceof NotFound) return null; throw e; });
  if (await found(`/blocks/${q}`)) return go(blockLink(q), true);
  const tx = await found(`/transactions/${q}`);
  if (tx && tx.status !== "unknown") return go(txLink(q), true);
  const [account, history] = await Promise.all([found(`/accounts/${q}`), found(`/accounts/${q}/transactions?limit=1`)]);
  if (gen !== generation) return;
  const seen = account && (account.balance || account.stake || account.nonce || account.unbonding || account.slashed || account.jailed);
  if (seen || (history && (history.transactions.length || history.pending.length))) return go(accountLink(q), true);
  throw new NotFound(`no block, transaction or account ${q}`);
}

function connection(text) {
  document.querySelector("[data-testid=connection]").textContent = text;
}

function go(target, replace) {
  if (replace) {
    history.replaceState(null, "", target);
    route();
  } else if (location.hash === target) {
    route();
  } else {
    location.hash = target; // hashchange routes
  }
}

async function route() {
  const gen = ++generation;
  clearTimeout(pollTimer);
  const [, kind, ...rest] = (location.hash || "#/").slice(1).split("/");
  const arg = decodeURIComponent(rest.join("/"));
  window.scrollTo(0, 0);
  try {
    if (!kind) return await home(gen);
    show(notice("Loading…"));
    if (kind === "block") return await blockView(arg, gen);
    if (kind === "tx") return await txView(arg, gen);
    if (kind === "account") return await accountView(arg, gen);
    if (kind === "search") return await search(arg, gen);
    throw new NotFound(`no page ${location.hash}`);
  } catch (e) {
    showError(e, gen);
  }
}

document.querySelector("[data-testid=search-form]").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = e.target.elements.q;
  const q = input.value.trim();
  if (!q) return;
  input.blur();
  go(`#/search/${encodeURIComponent(q)}`);
});
window.addEventListener("hashchange", route);
api("/info").then((info) => {
  document.querySelector("[data-testid=chain-id]").textContent = info.chain_id;
}, () => {});
route();
