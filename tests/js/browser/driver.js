#!/usr/bin/env node
/*
 * driver.js: run one scenario of page.js in Debian's Chromium, driven by playwright-core.
 *
 *   node tests/js/browser/driver.js < payload.json
 *
 * payload (JSON on stdin):
 *   {"executablePath": "/usr/bin/chromium", "pageUrl": "http://127.0.0.1:P/index.html",
 *    "downloadsDir": "/tmp/…", "expectDownloads": 2, "args": {...}, "timeoutMs": 120000,
 *    "pickFiles": {"selector": "#model-files", "files": ["/tmp/…/model.json", …]},
 *    "chromiumArgs": ["--host-resolver-rules=MAP rebind.test 127.0.0.1"],
 *    "fulfill": {"http://rebind.test:P/page.html": {"path": "/…/page.html", "contentType": "…"}}}
 * The page must set window.scenarioReady = true and define window.runScenario(args); its
 * (JSON-serialisable) result is returned. Every download the page triggers is saved into
 * downloadsDir under its suggested file name. With pickFiles, the driver first clicks
 * that <input type=file> and picks the files in the file chooser that opens, as a user
 * would. chromiumArgs are added to the launch flags; each URL in fulfill is answered by
 * the driver with that file (the page of a site the test does not run a server for).
 *
 * stdout: one line, {"ok": true, "result": ..., "downloads": [names], "responses":
 *         [{method, url, status}] (every answer the page and its frames got)} or
 *         {"ok": false, "error": "..."}; the page's console goes to stderr.
 *
 * Launch flags from notes/real-peers.md: a fresh user-data folder (given as the first
 * argument, never --user-data-dir), no sandbox (root in a container), no GPU, no QUIC and
 * no background networking; never a Playwright browser download.
 */
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

async function main() {
  const payload = JSON.parse(await readStdin());
  const timeoutMs = payload.timeoutMs || 120000;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-store-chromium-'));
  let context = null;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: payload.executablePath || '/usr/bin/chromium',
      headless: true,
      args: [...FLAGS, ...(payload.chromiumArgs || [])],
      acceptDownloads: true,
      timeout: timeoutMs,
    });
    for (const [url, file] of Object.entries(payload.fulfill || {})) {
      await context.route(url, (route) => route.fulfill(file));
    }
    const page = context.pages()[0] || (await context.newPage());
    const responses = [];
    page.on('response', (r) => responses.push(
      { method: r.request().method(), url: r.url(), status: r.status() }));
    page.setDefaultTimeout(timeoutMs);
    const saving = [];
    page.on('download', (d) => {
      const name = d.suggestedFilename();
      saving.push(d.saveAs(path.join(payload.downloadsDir, name)).then(() => name));
    });
    page.on('console', (m) => process.stderr.write(`[page ${m.type()}] ${m.text()}\n`));
    page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.stack || e}\n`));
    page.on('requestfailed', (r) => process.stderr.write(
      `[request failed] ${r.method()} ${r.url()}: ${r.failure() && r.failure().errorText}\n`));
    await page.goto(payload.pageUrl);
    await page.waitForFunction(() => window.scenarioReady === true);
    if (payload.pickFiles) {
      const [chooser] = await Promise.all([
        page.waitForEvent('filechooser'),
        page.click(payload.pickFiles.selector),
      ]);
      if (!chooser.isMultiple()) throw new Error('the file input does not take several files');
      await chooser.setFiles(payload.pickFiles.files);
    }
    const result = await page.evaluate((args) => window.runScenario(args), payload.args || {});
    const expect = payload.expectDownloads || 0;
    const deadline = Date.now() + 30000;
    while (saving.length < expect && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (saving.length < expect) {
      throw new Error(`expected ${expect} downloads, got ${saving.length}`);
    }
    const downloads = await Promise.all(saving);
    process.stdout.write(JSON.stringify({ ok: true, result, downloads, responses }) + '\n');
  } catch (e) {
    process.stderr.write((e && e.stack) ? e.stack + '\n' : String(e) + '\n');
    process.stdout.write(JSON.stringify({ ok: false, error: e && e.message ? e.message : String(e) }) + '\n');
    process.exitCode = 1;
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main();
