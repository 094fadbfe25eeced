// End-to-end test of the block explorer: a real network of pos-node processes (the demo keys and
// genesis: validators 1 and 2, and validator 3's key run twice, so that it is slashed), Debian's
// Chromium driven by playwright-core, on a desktop-sized and a phone-sized window. Screenshots of
// every page go to ARTIFACTS_DIR.
//
// Environment: POS_NODE_BINARY, POS_WALLET_BINARY, POS_SOURCE_DIR, ARTIFACTS_DIR, and CHROMIUM
// (default /usr/bin/chromium). Exit status 0 passed, 1 failed, 77 skipped (Chromium cannot start).
import { spawn, execFile } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, rmSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const run = promisify(execFile);
const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const NODE = env("POS_NODE_BINARY");
const WALLET = env("POS_WALLET_BINARY");
const SOURCE = env("POS_SOURCE_DIR");
const ARTIFACTS = env("ARTIFACTS_DIR");
const CHROMIUM = env("CHROMIUM", "/usr/bin/chromium");
const KEYS = join(SOURCE, "keys");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log("[explorer-test]", ...a);

async function waitFor(what, check, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

async function getJson(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

const nodes = [];
// Ports 0: the node binds what the system gives and writes the ports to its --ports-file.
async function launch(node, peers) {
  const { dir, name } = node;
  const out = openSync(node.log, "a");
  const portsFile = join(dir, `${name}.ports`);
  rmSync(portsFile, { force: true });
  const args = ["--p2p", "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--ports-file", portsFile,
    "--key", join(KEYS, node.key), "--genesis", join(KEYS, "genesis.json"), "--data-dir", join(dir, name),
    "--sync-without-checkpoint", ...peers.flatMap((p) => ["--peer", p])];
  const child = spawn(NODE, args, { stdio: ["ignore", out, out] });
  node.child = child;
  const ports = await waitFor(`${name} to write its ports file`, () => {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    return existsSync(portsFile) && JSON.parse(readFileSync(portsFile, "utf8"));
  });
  node.p2p = `127.0.0.1:${ports.p2p}`;
  node.url = `http://127.0.0.1:${ports.rpc}`;
  await waitFor(`${name} to answer /health`, () => getJson(`${node.url}/health`));
  return node;
}

async function startNode(dir, name, key, peers) {
  const node = { dir, name, key, log: join(dir, `${name}.log`) };
  nodes.push(node);
  return launch(node, peers);
}

async function stopNode(n) {
  if (!n.child || n.child.exitCode !== null) return;
  n.child.kill("SIGTERM");
  await Promise.race([new Promise((r) => n.child.once("exit", r)), sleep(10000)]);
  if (n.child.exitCode === null) n.child.kill("SIGKILL");
}

async function stopNodes() {
  for (const n of nodes) await stopNode(n);
}

// The first main-chain block of the node at url that includes evidence, or null.
async function evidenceBlock(url) {
  for (let from = 1; ;) {
    const page = await getJson(`${url}/blocks?from=${from}&limit=100&transactions=false`);
    const found = page.blocks.find((b) => b.evidence_count > 0);
    if (found) return found;
    if (page.next === undefined) return null;
    from = page.next;
  }
}

const numberText = (n) => n.toLocaleString("en-US");

async function launchBrowser() {
  try {
    return await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--no-first-run",
        "--disable-sync", "--metrics-recording-only", "--disable-default-apps"],
    });
  } catch (e) {
    console.log(`SKIP: Chromium cannot start (${CHROMIUM}): ${e.message.split("\n")[0]}`);
    process.exit(77);
  }
}

// A page that fails the test on any script error, and records every request it makes.
const pages = [];
async function openPage(browser, origin, viewport, isMobile) {
  const context = await browser.newContext({ viewport, isMobile, hasTouch: isMobile, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.errors = [];
  page.foreign = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  // A search probes routes that answer 404; Chromium logs each as a failed resource load.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) page.errors.push(m.text());
  });
  page.on("request", (r) => { if (!r.url().startsWith(origin)) page.foreign.push(r.url()); });
  pages.push(page);
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  log(`screenshot ${name}.png`);
}

async function searchFor(page, query) {
  await page.fill("[data-testid=search-input]", query);
  await page.press("[data-testid=search-input]", "Enter");
}

async function noHorizontalScroll(page) {
  const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(scroll <= width, `the page is ${scroll}px wide in a ${width}px window`);
}

// The scenario runs as named sections, each building on the last; each one that completes is
// counted, and the last line of the output says how many passed and which one failed.
const sections = { passed: 0, current: null };
function section(name) {
  if (sections.current) {
    sections.passed += 1;
    log(`ok ${sections.passed} - ${sections.current}`);
  }
  sections.current = name;
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await launchBrowser();
  const dir = mkdtempSync(join(tmpdir(), "pos-explorer-"));
  let passed = false;
  try {
    const n1 = await startNode(dir, "validator1", "validator1.pem", []);
    const n2 = await startNode(dir, "validator2", "validator2.pem", [n1.p2p]);
    await waitFor("the two nodes to connect", async () => (await getJson(`${n1.url}/info`)).peers >= 1);
    // Validator 3's key in two processes with their own data dirs: one with the network, one cut
    // off from it, both signing blocks and votes for validator 3. When the lone one joins later,
    // the network sees both and slashes validator 3 (docs/consensus.md, evidence and slashing).
    await startNode(dir, "validator3", "validator3.pem", [n1.p2p, n2.p2p]);
    const lone = await startNode(dir, "validator3-lone", "validator3.pem", []);
    const v3 = (await run(WALLET, ["address", "--key", join(KEYS, "validator3.pem")])).stdout.trim();
    log(`nodes up: ${n1.url} ${n2.url}`);

    section("Desktop: the home page, and the height growing without a reload");
    const page = await openPage(browser, n1.url, { width: 1280, height: 900 }, false);
    await page.goto(`${n1.url}/`);
    await page.waitForSelector("[data-testid=height]");
    assert.equal(await page.textContent("[data-testid=chain-id]"), "pos-demo");
    const heightOf = async () => Number((await page.textContent("[data-testid=height]")).replace(/,/g, ""));
    const first = await heightOf();
    await waitFor("the shown height to grow", async () => (await heightOf()) >= first + 2, 30);
    const rows = await page.locator("[data-testid=block-row]").count();
    assert.ok(rows >= 2, `${rows} latest blocks shown`);
    const topRow = Number(await page.locator("[data-testid=block-row]").first().getAttribute("data-height"));
    assert.ok(topRow >= first + 1, "the newest block is listed first");
    assert.ok(await page.locator("[data-testid=staker-row]").count() === 3, "three stakers listed");
    // The status shows the justified and finalized heights (from /info), neither above the tip.
    const statOf = async (id) => {
      const text = (await page.textContent(`[data-testid=${id}]`)).replace(/,/g, "");
      assert.match(text, /^[0-9]+$/, `${id} shows a height`);
      return Number(text);
    };
    const justified = await statOf("justified");
    const finalized = await statOf("finalized");
    const shownHeight = await heightOf();
    assert.ok(justified <= shownHeight && finalized <= shownHeight,
      `justified ${justified} and finalized ${finalized} at most the height ${shownHeight}`);
    // The Votes column shows each block's vote count; the validators vote for every block.
    for (const text of await page.locator("[data-testid=row-votes]").allTextContents())
      assert.match(text, /^[0-9,]+$/, `the Votes column shows a number, not "${text}"`);
    await waitFor("a listed block with votes", async () =>
      (await page.locator("[data-testid=row-votes]").allTextContents()).some((t) => Number(t) > 0));
    // The Validators section: the network's three validators, none slashed yet, no evidence.
    const set = await getJson(`${n1.url}/validators`);
    assert.equal(set.validators.length, 3);
    const validatorRows = page.locator("[data-testid=validator-row]");
    assert.deepEqual((await validatorRows.evaluateAll((rs) => rs.map((r) => r.dataset.address))).sort(),
      set.validators.map((v) => v.address).sort(), "the validators of /validators are listed");
    assert.deepEqual(await validatorRows.evaluateAll((rs) => rs.map((r) => r.dataset.slashed)),
      ["false", "false", "false"]);
    for (const text of await page.locator("[data-testid=validator-status]").allTextContents())
      assert.equal(text, "active");
    await page.waitForSelector("[data-testid=no-pending-evidence]");
    await shot(page, "home-desktop");
    log(`height grew from ${first} to ${await heightOf()}`);

    section("A transaction submitted with pos-wallet shows on its block's page");
    const alice = (await run(WALLET, ["address", "--key", join(KEYS, "alice.pem")])).stdout.trim();
    const sent = JSON.parse((await run(WALLET, ["--node", n1.url, "--json", "send", "--key",
      join(KEYS, "validator1.pem"), "--to", alice, "--amount", "25", "--wait"])).stdout);
    const txId = sent.id;
    const height = sent.height;
    assert.match(txId, /^[0-9a-f]{64}$/);
    log(`sent ${txId} in block ${height}`);
    await page.goto(`${n1.url}/#/block/${height}`);
    await page.waitForSelector(`[data-testid=tx-row][data-id="${txId}"]`);
    assert.equal(await page.textContent("[data-testid=block-title]"), `Block ${height.toLocaleString("en-US")}`);
    await shot(page, "block");

    section("A block's page lists its votes: validator, source → target height, target hash");
    const voted = (await getJson(`${n1.url}/blocks?from=${Math.max(1, height - 5)}&limit=20&transactions=false`))
      .blocks.find((b) => b.vote_count > 0);
    assert.ok(voted, "a recent block carries votes");
    const votedBlock = await getJson(`${n1.url}/blocks/${voted.height}`);
    await page.goto(`${n1.url}/#/block/${voted.height}`);
    await page.waitForSelector("[data-testid=block-votes] [data-testid=vote-row]");
    assert.equal(await page.textContent("[data-testid=block-vote-count]"), numberText(voted.vote_count));
    assert.equal(await page.locator("[data-testid=vote-row]").count(), voted.vote_count);
    const spans = await page.locator("[data-testid=vote-span]").allTextContents();
    assert.deepEqual(spans, votedBlock.votes.map((v) =>
      `${numberText(v.source_height)} → ${numberText(v.target_height)}`));
    assert.deepEqual(await page.locator("[data-testid=vote-row]").evaluateAll((rs) => rs.map((r) => r.dataset.validator)),
      votedBlock.votes.map((v) => v.validator));
    await page.waitForSelector("[data-testid=no-evidence]");
    await shot(page, "block-votes");

    section("The search box: a height, a block hash, a transaction id, an address");
    await page.goto(`${n1.url}/`);
    await page.waitForSelector("[data-testid=height]");
    await searchFor(page, String(height));
    await page.waitForSelector(`[data-testid=tx-row][data-id="${txId}"]`);
    const blockHash = (await getJson(`${n1.url}/blocks/${height}`)).hash;
    await searchFor(page, blockHash.toUpperCase());
    // The page of the height searched before shows the same block: wait for the search's own
    // navigation, not for a selector that page already matches.
    await page.waitForURL((url) => url.hash === `#/block/${blockHash}`);
    await page.waitForSelector(`[data-testid=block-height]:text("${height.toLocaleString("en-US")}")`);

    await searchFor(page, ` ${txId} `);
    await page.waitForSelector("[data-testid=tx-status]");
    assert.match(await page.textContent("[data-testid=tx-status]"), /included/);
    assert.equal(await page.textContent("[data-testid=tx-amount]"), "25");
    assert.match(await page.textContent("[data-testid=tx-block]"), new RegExp(height.toLocaleString("en-US")));
    await shot(page, "transaction");

    await searchFor(page, alice);
    await page.waitForSelector("[data-testid=account-balance]");
    const expected = (await getJson(`${n1.url}/accounts/${alice}`)).balance;
    assert.equal(await page.textContent("[data-testid=account-balance]"), expected.toLocaleString("en-US"));
    await page.waitForSelector(`[data-testid=account-transactions] [data-testid=tx-row][data-id="${txId}"]`);
    await shot(page, "account");

    section("Unknown queries say so clearly");
    const unknown = "ab".repeat(32);
    await searchFor(page, unknown);
    await page.waitForSelector("[data-testid=not-found]");
    assert.match(await page.textContent("[data-testid=not-found]"), /not found: no block, transaction or account/i);
    await shot(page, "not-found");
    await searchFor(page, "hello world");
    await page.waitForSelector("[data-testid=not-found]:has-text('is not a height')");
    await searchFor(page, "999999999");
    await page.waitForSelector("[data-testid=not-found]:has-text('no block at height')");

    section("The copy button puts the full hash on the clipboard");
    await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: n1.url });
    await page.goto(`${n1.url}/#/tx/${txId}`);
    await page.waitForSelector("[data-testid=tx-status]");
    await page.locator(".copy").first().click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), txId);

    section("Validator 3 signs twice: the evidence and the slashing show on the explorer");
    await waitFor("the lone validator 3 to sign blocks of its own", async () =>
      (await getJson(`${lone.url}/info`)).height >= 2, 60);
    await page.goto(`${n1.url}/`);
    await page.waitForSelector("[data-testid=validator-row]");
    // The latest blocks mark the block that includes the evidence while it is among them.
    const marked = page.waitForSelector("[data-testid=block-row] [data-testid=row-evidence]", { timeout: 120000 });
    marked.catch(() => {}); // awaited below
    await stopNode(lone);
    await launch(lone, [n1.p2p]);
    log("validator 3's lone process joined the network");
    await waitFor("validator 3 to be slashed", async () => (await getJson(`${n1.url}/accounts/${v3}`)).slashed, 120);
    await marked;
    await page.waitForSelector(`[data-testid=validator-row][data-address="${v3}"][data-slashed="true"]`);
    assert.equal(await page.textContent(`[data-testid=validator-row][data-address="${v3}"] [data-testid=validator-status]`),
      "slashed");
    assert.equal(await page.locator("[data-testid=validator-row][data-slashed=true]").count(), 1, "only validator 3");
    await shot(page, "home-slashed");

    const included = await evidenceBlock(n1.url);
    assert.ok(included, "a main-chain block includes the evidence");
    log(`evidence against ${v3} in block ${included.height}`);
    await page.goto(`${n1.url}/#/block/${included.height}`);
    await page.waitForSelector(`[data-testid=block-evidence] [data-testid=evidence-row][data-offender="${v3}"]`);
    const kind = await page.getAttribute("[data-testid=evidence-row]", "data-kind");
    assert.ok(["double_block", "double_vote", "surround_vote"].includes(kind), kind);
    assert.equal(await page.textContent("[data-testid=evidence-row] .badge"), kind.replace(/_/g, " "));
    assert.equal(await page.textContent("[data-testid=block-evidence-count]"), numberText(included.evidence_count));
    await shot(page, "block-evidence");
    await page.goto(`${n1.url}/#/account/${v3}`);
    await page.waitForSelector("[data-testid=account-slashed]");
    await shot(page, "account-slashed");

    assert.deepEqual(page.errors, [], "no script errors");
    assert.deepEqual(page.foreign, [], "no request leaves the node");

    section("The other node shows the same transaction; the page fits a phone");
    const phone = await openPage(browser, n2.url, { width: 390, height: 844 }, true);
    await phone.goto(`${n2.url}/`);
    await phone.waitForSelector("[data-testid=block-row]");
    await phone.waitForSelector(`[data-testid=validator-row][data-address="${v3}"][data-slashed="true"]`);
    await noHorizontalScroll(phone);
    await shot(phone, "home-phone");
    await phone.goto(`${n2.url}/#/tx/${txId}`);
    await phone.waitForSelector("[data-testid=tx-status]:has-text('included')");
    await noHorizontalScroll(phone);
    await shot(phone, "transaction-phone");
    await phone.goto(`${n2.url}/#/account/${alice}`);
    await phone.waitForSelector(`[data-testid=tx-row][data-id="${txId}"]`);
    await noHorizontalScroll(phone);
    await shot(phone, "account-phone");
    assert.deepEqual(phone.errors, [], "no script errors on the phone");
    assert.deepEqual(phone.foreign, [], "no request leaves the node (phone)");
    section(null);
    passed = sections.passed > 0;
  } catch (e) {
    console.error(`FAILED in "${sections.current || "start-up"}": ${e.stack || e.message}`);
    for (const [i, p] of pages.entries()) {
      console.error(`page ${i} at ${p.url()}; script errors: ${JSON.stringify(p.errors)}`);
      await p.screenshot({ path: join(ARTIFACTS, `failure-${i}.png`), fullPage: true }).catch(() => {});
    }
    for (const n of nodes) {
      console.error(`--- last lines of ${n.name}'s log ---`);
      console.error(readFileSync(n.log, "utf8").split("\n").slice(-20).join("\n"));
    }
  } finally {
    await browser.close();
    await stopNodes();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`explorer: ${sections.passed} passed, ${passed ? 0 : 1} failed`);
  process.exit(passed ? 0 : 1);
}

main();
