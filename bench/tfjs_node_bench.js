#!/usr/bin/env node
/*
 * The TF.js peer: @tensorflow/tfjs 4.22.0 (cpu backend) with tfjs-node's real file://
 * handler (nodeFileSystemRouter), both from tests/js/node_modules, timing what a Node user
 * does to store weights:
 *
 *   save: tf.io.encodeWeights(tensors) -> file:// save handler  (model.json + weights.bin)
 *   load: file:// load handler -> tf.io.decodeWeights            (tensors again)
 *
 *   node --expose-gc bench/tfjs_node_bench.js --raw W --specs S --dir D [--reps 3]
 *
 * W/S are the harness's weight file and spec list (bench/_weights.py write_raw). Tensors are
 * made from W before any timing. Prints one line: BENCH-RESULT {json}. Peak RSS per operation
 * is read from /proc/self/status (VmHWM) after resetting it through /proc/self/clear_refs.
 */
'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const JS_DIR = path.resolve(__dirname, '..', 'tests', 'js');
const requireJs = createRequire(path.join(JS_DIR, 'package.json'));

// TF.js prints a banner about tfjs-node on stdout; keep stdout for the result line only.
const realLog = console.log;
console.log = (...args) => console.error(...args);
console.warn = (...args) => console.error(...args);

const tf = requireJs('@tensorflow/tfjs');
const { nodeFileSystemRouter } = requireJs('@tensorflow/tfjs-node/dist/io/file_system');
tf.io.registerSaveRouter(nodeFileSystemRouter);
tf.io.registerLoadRouter(nodeFileSystemRouter);

function args() {
  const out = { reps: '3' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const k of ['raw', 'specs', 'dir']) if (!out[k]) throw new Error(`--${k} is required`);
  return out;
}

function status(key) {
  const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n')
    .find((l) => l.startsWith(key + ':'));
  return parseInt(line.split(/\s+/)[1], 10) * 1024;
}

let peakReset = true;
const { execFileSync } = require('child_process');

async function measure(op) {
  execFileSync('sync');  // clean page cache first, as the Python side does (os.sync)
  if (global.gc) global.gc();
  try { fs.writeFileSync('/proc/self/clear_refs', '5'); } catch (e) { peakReset = false; }
  const base = status('VmRSS');
  const t0 = process.hrtime.bigint();
  const result = await op();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const peak = status('VmHWM');
  return { seconds, base, peak, result };
}

async function main() {
  const a = args();
  const specs = JSON.parse(fs.readFileSync(a.specs, 'utf8'));
  const raw = fs.readFileSync(a.raw);
  const data = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  const named = {};
  let offset = 0;
  for (const s of specs) {
    const n = s.shape.reduce((x, y) => x * y, 1);
    named[s.name] = tf.tensor(new Float32Array(data, offset, n), s.shape, 'float32');
    offset += n * 4;
  }
  if (offset !== data.byteLength) throw new Error('spec list and weight file differ in size');
  const topology = { class_name: 'Sequential', config: { name: 'bench', layers: [] } };
  const reps = parseInt(a.reps, 10);
  const save = [], load = [];
  for (let rep = 0; rep < reps; rep++) {
    const dir = path.join(a.dir, `tfjs-${rep}-${process.pid}`);
    const s = await measure(async () => {
      const { data: weightData, specs: weightSpecs } = await tf.io.encodeWeights(named);
      const [handler] = tf.io.getSaveHandlers(`file://${dir}`);
      return handler.save({ modelTopology: topology, weightSpecs, weightData,
                            format: 'layers-model', generatedBy: 'bench', convertedBy: null });
    });
    save.push(s);
    const l = await measure(async () => {
      const [handler] = tf.io.getLoadHandlers(`file://${dir}/model.json`);
      const artifacts = await handler.load();
      return tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs);
    });
    const loaded = l.result;
    if (rep === 0) {
      let bytes = 0;
      for (const t of Object.values(loaded)) bytes += t.size * 4;
      if (bytes !== data.byteLength || Object.keys(loaded).length !== specs.length) {
        throw new Error(`TF.js loaded ${bytes} bytes in ${Object.keys(loaded).length} tensors`);
      }
    }
    for (const t of Object.values(loaded)) t.dispose();
    load.push(l);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const summary = (runs) => ({
    times: runs.map((r) => r.seconds),
    best: Math.min(...runs.map((r) => r.seconds)),
    rss_base: runs.map((r) => r.base),
    rss_peak: runs.map((r) => r.peak),
    rss_extra: Math.max(...runs.map((r) => r.peak - r.base)),
    peak_reset: peakReset,
  });
  realLog('BENCH-RESULT ' + JSON.stringify({
    ok: true, tfjs: tf.version.tfjs, node: process.version, bytes: data.byteLength,
    save: summary(save), load: summary(load),
  }));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  realLog('BENCH-RESULT ' + JSON.stringify({ ok: false, error: String(e && e.message ? e.message : e) }));
  process.exit(1);
});
