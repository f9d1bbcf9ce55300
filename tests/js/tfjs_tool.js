#!/usr/bin/env node
/*
 * tfjs_tool.js: real TensorFlow.js (@tensorflow/tfjs 4.22.0, cpu backend) driven from the
 * tfjs-store Python tests. One request in, one JSON object out.
 *
 * ---------------------------------------------------------------------------------------------
 * INVOCATION
 *
 *   node tests/js/tfjs_tool.js COMMAND [--option value ...] [-]
 *
 * Options are `--name value` pairs (`--name=value` works too). A lone `-` argument makes the
 * tool read one JSON object from stdin; its keys are the same option names (dashes or
 * camelCase, e.g. {"model": "dense", "out": "/tmp/x"}) and it is merged over the argv options.
 * encode/decode/number-format take their (large) payload this way.
 *
 * Output: exactly one JSON object on stdout, followed by a newline.
 *   success: {"ok": true, "command": COMMAND, ...command specific keys...}, exit status 0
 *   failure: {"ok": false, "command": COMMAND, "error": "<message>"}, exit status 1; the stack
 *            trace goes to stderr. Everything TF.js itself prints (its "install the node
 *            backend" banner, warnings) is redirected to stderr, so stdout is always clean JSON.
 *
 * Conventions used in every output:
 *   TENSOR = {"name"?: str, "shape": [int], "dtype": str, "hex": str}
 *            hex = the raw little-endian bytes of the values, row-major (float32/int32: 4 bytes
 *            per element, bool: 1 byte, complex64: interleaved re,im float32). string tensors have
 *            "bytesHex": [hex of each element's bytes] and "strings": [UTF-8 decoded] instead of hex.
 *   Numbers in "values" lists: JSON numbers, except the strings "NaN", "Infinity", "-Infinity"
 *            and "-0" (these are also accepted on input).
 *   modelArtifactsInfo: what TF.js's save returned, WITHOUT dateSaved (it is the time of the call).
 *
 * ---------------------------------------------------------------------------------------------
 * COMMANDS
 *
 * build-and-save --model KIND --out DIR [--layout node|http-capture|downloads]
 *                [--optimizer NAME] [--seed N] [--metadata JSON] [--name PREFIX]
 *   Builds a deterministic model (KINDS below; weights from a seeded mulberry32 generator, never
 *   Math.random), optionally sets userDefinedMetadata (--metadata, a JSON object), and when
 *   --optimizer is given compiles it with that optimizer (OPTIMIZERS below), fits one epoch
 *   (8 samples, batch 4, shuffle false) so the slots are non-zero, and saves with
 *   includeOptimizer: true. DIR's parent must exist; DIR is created if missing.
 *   Layouts (default node):
 *     node          model.save('file://DIR') through tfjs-node's real nodeFileSystemRouter:
 *                   DIR/model.json + DIR/weights.bin.
 *     http-capture  model.save('http://127.0.0.1:PORT/upload') (TF.js's http router, Node's
 *                   global fetch) against a Node http server in this process. Writes
 *                   DIR/request.body (the raw multipart body), DIR/request.content-type (the
 *                   Content-Type header value, no newline), and the two parts exactly as received:
 *                   DIR/model.json and DIR/model.weights.bin. undici draws the multipart boundary
 *                   from crypto.randomInt; the tool pins that draw to a constant so the body is
 *                   reproducible (boundary "----formdata-undici-031415926535"). If a Node version
 *                   ignores the pin, the random boundary is replaced in both files by that
 *                   constant (same length) and expected.json says "boundaryNormalised": true.
 *     downloads     model.save('downloads://PREFIX') running TF.js's own BrowserDownloads class
 *                   under a minimal document/window shim (IS_BROWSER flag set for the call only):
 *                   the blobs it "downloads" are written as DIR/PREFIX.json and
 *                   DIR/PREFIX.weights.bin (PREFIX = --name, default "model"). The JSON is then
 *                   cross-checked against one built with tf.io.withSaveHandler and the key order
 *                   of getModelJSONForModelArtifacts (which tf.io does not export); a mismatch is
 *                   an error.
 *   Also writes DIR/expected.json (2-space indented, arrays of scalars on one line; keys in order):
 *     {"tool", "tfjsVersion", "kind", "layout", "optimizer" (or null), "seed",
 *      "userDefinedMetadata" (or null),
 *      "weights":          [TENSOR + "uniqueName"]  model.weights order (= the saved spec order),
 *                                                   name = the saved (original) name,
 *      "optimizerWeights": [TENSOR]                 optimizer.getWeights() order ([] if none),
 *      "input":            [TENSOR]                 the fixed deterministic predict batch,
 *      "predictions":      [TENSOR]                 model.predict(input), one per output,
 *      "trainingLoss":     {"epochLoss": number, "hex": float32 hex} or null,
 *      "modelArtifactsInfo": {...},
 *      "files": {FILE: {"size": int, "sha256": hex}}   every file written except expected.json,
 *      "http": {"method","path","contentType","boundary","boundaryNormalised","contentLength",
 *               "parts": [{"name","filename","contentType","size"}]}   (http-capture only)}
 *   stdout: {"ok", "command", "dir", "files": [...], "modelArtifactsInfo": {...}}
 *
 * load-predict --url URL_OR_PATH [--model KIND] [--seed N] [--input JSON] [--strict true|false]
 *   tf.loadLayersModel(URL). URL is file://... (tfjs-node router), http(s)://..., or a plain
 *   path to a directory (its model.json is used) or to a .json file (made file://ABS).
 *   Input: --input, a JSON list of TENSOR-like objects ({"shape","dtype","hex"} or
 *   {"shape","dtype","values"}), one per model input; otherwise the fixed batch of --model KIND.
 *   Neither given: no prediction.
 *   stdout: {"ok", "command", "predictions": [TENSOR] | null, "weights": [TENSOR + uniqueName],
 *            "optimizerWeights": [TENSOR] (empty when the loaded model has no optimizer),
 *            "hasOptimizer": bool, "userDefinedMetadata": obj | null, "modelName": str}
 *
 * resume-train --model KIND (--url URL_OR_PATH | --optimizer NAME --uninterrupted true)
 *              [--seed N]
 *   With --url: load the model (saved with its optimizer), fit ONE more epoch (shuffle false,
 *   same deterministic data as build-and-save) and report it.
 *   With --uninterrupted: build KIND exactly as build-and-save does, compile with NAME, fit one
 *   epoch, then fit one more epoch (a second fit call) in the same process, and report the
 *   second. Comparing the two answers bit for bit tests optimizer-state round trips.
 *   Caveat (TF.js 4.22.0 itself): for adam the two are NOT bit-identical even without any
 *   Python in between: Adam.setWeights recomputes accBeta2 = pow(0.999, iter + 1) while training
 *   keeps multiplying by 0.999 (float32: 0.99700302 vs 0.99700308 after 2 steps). For adam,
 *   compare a Python round trip against "resumed from the TF.js-saved fixture" instead. The
 *   other optimizers (sgd, momentum, adagrad, adadelta, rmsprop) match bit for bit.
 *   Also: centered RMSProp computes sqrt(ms - (mg^2 + eps)) and so yields NaN wherever a
 *   gradient is ~0 (every kind with relu/softmax gets a NaN loss); use kind dense with it.
 *   stdout: {"ok", "command", "mode": "resumed"|"uninterrupted", "loss": number,
 *            "lossHex": float32 hex (big-endian "%08x" of the float32 bit pattern),
 *            "firstLoss": number (uninterrupted only), "weights": [TENSOR],
 *            "optimizerWeights": [TENSOR]}
 *
 * encode  (stdin) {"tensors": [{"name", "shape", "dtype", one of:
 *                    "hex" (raw LE bytes; complex64 interleaved), "values" (numbers / booleans),
 *                    "real"+"imag" (complex64), "strings" (string dtype, UTF-8),
 *                    "bytesHex" (string dtype, raw bytes per element)}],
 *                  "group": optional string}
 *   Runs tf.io.encodeWeights(list, group).
 *   stdout: {"ok", "command", "specs": [...as TF.js returned them...], "hex": "<data>"}
 *
 * decode  (stdin) {"specs": [WeightsManifestEntry], "hex": "<data>"} or
 *                 {"specs": [...], "buffers": ["<hex>", ...]}  (an ArrayBuffer[] as weightData)
 *   Runs tf.io.decodeWeights(data, specs).
 *   stdout: {"ok", "command", "tensors": [{"name", "shape", "dtype", "hex", "values"} or, for
 *            string tensors, {"name","shape","dtype","bytesHex","strings"}]}  in the result
 *            map's key order. bool tensors keep the raw stored byte (values may be 2).
 *
 * number-format  (stdin) {"bits": ["3ff0000000000000", ...]}  or  --bits HEX,HEX,...
 *   Each item is a float64 bit pattern as 16 hex digits, BIG-endian (Python:
 *   struct.pack('>d', x).hex()).
 *   stdout: {"ok", "command", "results": [{"bits": HEX (lower case, as given), "string": String(x),
 *                                         "json": JSON.stringify(x)}]}   in input order.
 *            The two differ only for non-finite values: String gives "NaN"/"Infinity"/"-Infinity",
 *            JSON.stringify gives "null". Both give "0" for -0.
 *
 * make-fixtures [--root REPO]
 *   Regenerates every committed fixture (each build in its own child process of this tool):
 *     REPO/tests/fixtures/tfjs/<kind>-<layout>[-<optimizer>]/   (FIXTURES list in this file)
 *     REPO/tests/fixtures/tfjs/index.json   {"regenerate", "fixtures": [{"dir", "kind", "layout",
 *                                            "optimizer", "args"}], "codecVectors"}; "args" are
 *                                            the build-and-save options, "<DIR>" for --out
 *     REPO/tests/fixtures/tfjs/codec-vectors.json
 *     REPO/tfjs_store/data/example/{model.json,weights.bin}     (kind mlp, layout node)
 *   REPO defaults to this file's ../.. . Exact regeneration command, from the repo root:
 *       node tests/js/tfjs_tool.js make-fixtures
 *   Output is byte-identical on every run (tests/test_tfjs_fixtures.py checks this).
 *
 * codec-vectors --out FILE
 *   Writes only codec-vectors.json: {"generatedBy", "notes",
 *     "encode": [{"id", "source", "group"?, "input": [encode-style tensors], "specs", "hex",
 *                 "byteLength", "decoded": [decode-style tensors of decodeWeights(hex, specs)]}],
 *     "decode": [{"id", "source", "specs", "hex" | "buffers", "tensors": [decode-style]}]}
 *   with the inputs of spec §16.1, §16.2, §16.4 and §2.2 (bool 2, duplicate names) and the
 *   bytes/values real TF.js produced for them.
 *
 * save-url, graph-predict, serve
 *   Added for the interop matrix (tests/interop/): save a built model to any URL TF.js routes
 *   (e.g. into the tfjs-store bridge), run a graph model (tf.loadGraphModel + executeAsync),
 *   and a line-per-request worker for model loads; and browser-files (tf.io.browserFiles on
 *   given files, for load_files's checks). Documented where they are defined, just above the
 *   main section at the end of this file.
 *
 * ---------------------------------------------------------------------------------------------
 * KINDS (every layer and model has an explicit name, so output never depends on TF.js's
 * process-global name counters)
 *   dense       Sequential "sequential_1": Dense(1) "d1", input [2]; kernel [[1.5],[-2]],
 *               bias [0.5] (spec §16.5). loss meanSquaredError, metrics ["mae"].
 *   mlp         Sequential "mlp": Dense(8, relu, input [4]) "mlp_d1", Dense(8, tanh) "mlp_d2",
 *               Dense(3, softmax) "mlp_out". loss categoricalCrossentropy, metrics ["accuracy"].
 *   conv        Sequential "conv": Conv2D(4, 3x3, same, relu, input [8,8,2]) "conv_c1",
 *               DepthwiseConv2D(3x3, depthMultiplier 2) "conv_dw1", BatchNormalization
 *               "conv_bn1", Flatten "conv_flat", Dense(2) "conv_out". loss meanSquaredError.
 *   rnn         Sequential "rnn": Embedding(10 -> 4, inputLength 5) "rnn_emb", LSTM(6,
 *               returnSequences) "rnn_lstm", GRU(5) "rnn_gru", Dense(3, softmax) "rnn_out".
 *               Inputs are float32 token ids in [0, 10). loss categoricalCrossentropy.
 *   functional  Model "functional": inputs "fn_in_a" [3] and "fn_in_b" [2]; Dense(4, relu) each,
 *               Concatenate, Dense(4, tanh) "fn_shared", outputs Dense(1) "fn_out_reg" and
 *               Dense(2, softmax) "fn_out_cls". loss [meanSquaredError, categoricalCrossentropy].
 *   nested      Model "nested": input "nested_in" [4] -> Sequential "nested_inner"
 *               (Dense(3, relu) "inner_d1", Dense(2) "inner_d2") used as a layer -> Dense(1)
 *               "nested_head". loss meanSquaredError.
 *   dropout     Sequential "dropout_model": Dense(6, relu, input [3]) "do_d1",
 *               Dropout(0.25, seed 7) "do_drop", Dense(1) "do_out". loss meanSquaredError.
 * OPTIMIZERS (explicit hyper-parameters)
 *   adam tf.train.adam(0.01) | rmsprop tf.train.rmsprop(0.01) |
 *   rmsprop-centered tf.train.rmsprop(0.01, 0.9, 0.1, 1e-7, true) | sgd tf.train.sgd(0.1) |
 *   momentum tf.train.momentum(0.05, 0.9, true) | adagrad tf.train.adagrad(0.1) |
 *   adadelta tf.train.adadelta(0.5)
 * Deterministic data: weights from mulberry32(seed) (uniform in [-0.5, 0.5), BatchNormalization
 * gamma/moving_variance in [0.5, 1.5)); training data 8 samples from mulberry32(seed + 1000);
 * predict batch 3 samples from mulberry32(seed + 2000) (dense: [[1,2],[-1,0.5],[0,0]]).
 * Math.random is also replaced by a seeded generator, so anything TF.js draws internally is
 * reproducible too.
 */
'use strict';

// ---- keep stdout for our JSON only -------------------------------------------------------------
const realStdoutWrite = process.stdout.write.bind(process.stdout);
for (const k of ['log', 'info', 'warn', 'debug']) {
  console[k] = (...a) => process.stderr.write(a.map(String).join(' ') + '\n');
}

// ---- pin undici's multipart boundary draw (must happen before fetch is first used) ----------------
const nodeCrypto = require('crypto');
const PINNED_RANDOM_INT = 31415926535;
const PINNED_BOUNDARY = '----formdata-undici-0' + String(PINNED_RANDOM_INT).padStart(11, '0');
let pinRandomInt = false;
const realRandomInt = nodeCrypto.randomInt;
nodeCrypto.randomInt = function (...args) {
  if (pinRandomInt && args.length >= 1 && typeof args[args.length - 1] !== 'function') {
    return PINNED_RANDOM_INT;
  }
  return realRandomInt.apply(this, args);
};

const fs = require('fs');
const path = require('path');
const http = require('http');
const childProcess = require('child_process');
const { resolveObjectURL } = require('buffer');

// ---- deterministic random numbers -------------------------------------------------------------
function mulberry32(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
Math.random = mulberry32(0x7f4a7c15);

const tf = require('@tensorflow/tfjs');
const { nodeFileSystemRouter } = require('@tensorflow/tfjs-node/dist/io/file_system');
tf.io.registerSaveRouter(nodeFileSystemRouter);
tf.io.registerLoadRouter(nodeFileSystemRouter);

const TOOL_NAME = 'tests/js/tfjs_tool.js';

// ---- small helpers ----------------------------------------------------------------------------
function toHex(typed) {
  return Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength).toString('hex');
}
function hexToArrayBuffer(hex) {
  const b = Buffer.from(hex, 'hex');
  if (b.length * 2 !== hex.length) throw new Error(`bad hex string (length ${hex.length})`);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
}
function float32Hex(x) {
  const b = Buffer.alloc(4);
  b.writeFloatBE(x);
  return b.toString('hex');
}
function jsonNumber(x) {
  if (typeof x === 'boolean') return x;
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0 && 1 / x < 0) return '-0';
  return x;
}
function parseNumber(v) {
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (v === '-0') return -0;
  throw new Error(`not a number: ${JSON.stringify(v)}`);
}
function sha256(buf) {
  return nodeCrypto.createHash('sha256').update(buf).digest('hex');
}
// JSON.stringify with 2-space indentation, except that arrays holding no objects or arrays
// (shapes, value lists) stay on one line.
function prettyJSON(v, indent = '') {
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    if (v.every((x) => x === null || typeof x !== 'object')) return JSON.stringify(v);
    const inner = indent + '  ';
    return '[\n' + v.map((x) => inner + prettyJSON(x, inner)).join(',\n') + '\n' + indent + ']';
  }
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    if (keys.length === 0) return '{}';
    const inner = indent + '  ';
    return '{\n' + keys.map((k) => inner + JSON.stringify(k) + ': ' + prettyJSON(v[k], inner)).join(',\n')
      + '\n' + indent + '}';
  }
  return JSON.stringify(v);
}
function writeJSONFile(file, obj) {
  fs.writeFileSync(file, prettyJSON(obj) + '\n');
}
function bool(v, dflt) {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new Error(`expected true/false, got ${JSON.stringify(v)}`);
}
function camel(s) {
  return s.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
}

async function tensorInfo(t, name) {
  const out = {};
  if (name !== undefined) out.name = name;
  out.shape = t.shape.slice();
  out.dtype = t.dtype;
  if (t.dtype === 'string') {
    const bytes = await t.bytes();
    out.bytesHex = bytes.map((b) => Buffer.from(b).toString('hex'));
    out.strings = bytes.map((b) => Buffer.from(b).toString('utf8'));
  } else {
    out.hex = toHex(await t.data());
  }
  return out;
}

function tensorFromJSON(d) {
  const shape = d.shape;
  const dtype = d.dtype || 'float32';
  if (dtype === 'string') {
    if (d.strings) return tf.tensor(d.strings, shape, 'string');
    if (d.bytesHex) return tf.tensor(d.bytesHex.map((h) => new Uint8Array(Buffer.from(h, 'hex'))), shape, 'string');
    throw new Error('string tensor needs "strings" or "bytesHex"');
  }
  if (dtype === 'complex64') {
    let re, im;
    if (d.hex !== undefined) {
      const all = new Float32Array(hexToArrayBuffer(d.hex));
      re = all.filter((_, i) => i % 2 === 0);
      im = all.filter((_, i) => i % 2 === 1);
    } else if (d.real !== undefined) {
      re = Float32Array.from(d.real.map(parseNumber));
      im = Float32Array.from(d.imag.map(parseNumber));
    } else {
      const all = Float32Array.from(d.values.map(parseNumber));
      re = all.filter((_, i) => i % 2 === 0);
      im = all.filter((_, i) => i % 2 === 1);
    }
    return tf.complex(tf.tensor(re, shape, 'float32'), tf.tensor(im, shape, 'float32'));
  }
  if (d.hex !== undefined) {
    const ab = hexToArrayBuffer(d.hex);
    const arr = dtype === 'float32' ? new Float32Array(ab)
      : dtype === 'int32' ? new Int32Array(ab)
        : dtype === 'bool' ? new Uint8Array(ab)
          : null;
    if (arr === null) throw new Error(`unsupported dtype for hex input: ${dtype}`);
    return tf.tensor(arr, shape, dtype);
  }
  if (d.values !== undefined) {
    const vals = d.values.map(parseNumber);
    if (dtype === 'float32') return tf.tensor(Float32Array.from(vals), shape, dtype);
    if (dtype === 'int32') return tf.tensor(Int32Array.from(vals), shape, dtype);
    if (dtype === 'bool') return tf.tensor(Uint8Array.from(vals.map(Number)), shape, dtype);
    return tf.tensor(vals, shape, dtype);
  }
  throw new Error(`tensor ${d.name || ''} has no data ("hex", "values", ...)`);
}

function cleanInfo(info) {
  const out = {};
  for (const [k, v] of Object.entries(info || {})) {
    if (k !== 'dateSaved') out[k] = v;
  }
  return out;
}

// ---- models -----------------------------------------------------------------------------------
const KINDS = ['dense', 'mlp', 'conv', 'rnn', 'functional', 'nested', 'dropout'];
const N_TRAIN = 8;
const BATCH = 4;
const N_PREDICT = 3;

const OPTIMIZERS = {
  adam: () => tf.train.adam(0.01),
  rmsprop: () => tf.train.rmsprop(0.01),
  'rmsprop-centered': () => tf.train.rmsprop(0.01, 0.9, 0.1, 1e-7, true),
  sgd: () => tf.train.sgd(0.1),
  momentum: () => tf.train.momentum(0.05, 0.9, true),
  adagrad: () => tf.train.adagrad(0.1),
  adadelta: () => tf.train.adadelta(0.5),
};

// Each spec: build() -> model; inputs: [{shape (no batch), ints?}]; outputs: [{shape, onehot?}];
// loss, metrics.
const SPECS = {
  dense: {
    build() {
      const m = tf.sequential({ name: 'sequential_1' });
      m.add(tf.layers.dense({ units: 1, inputShape: [2], name: 'd1' }));
      return m;
    },
    inputs: [{ shape: [2] }],
    outputs: [{ shape: [1] }],
    loss: 'meanSquaredError',
    metrics: ['mae'],
    fixedWeights: { 'd1/kernel': [1.5, -2], 'd1/bias': [0.5] },
    fixedBatch: [[[1, 2], [-1, 0.5], [0, 0]]],
  },
  mlp: {
    build() {
      const m = tf.sequential({ name: 'mlp' });
      m.add(tf.layers.dense({ units: 8, activation: 'relu', inputShape: [4], name: 'mlp_d1' }));
      m.add(tf.layers.dense({ units: 8, activation: 'tanh', name: 'mlp_d2' }));
      m.add(tf.layers.dense({ units: 3, activation: 'softmax', name: 'mlp_out' }));
      return m;
    },
    inputs: [{ shape: [4] }],
    outputs: [{ shape: [3], onehot: true }],
    loss: 'categoricalCrossentropy',
    metrics: ['accuracy'],
  },
  conv: {
    build() {
      const m = tf.sequential({ name: 'conv' });
      m.add(tf.layers.conv2d({
        filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [8, 8, 2],
        name: 'conv_c1',
      }));
      m.add(tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, name: 'conv_dw1' }));
      m.add(tf.layers.batchNormalization({ name: 'conv_bn1' }));
      m.add(tf.layers.flatten({ name: 'conv_flat' }));
      m.add(tf.layers.dense({ units: 2, name: 'conv_out' }));
      return m;
    },
    inputs: [{ shape: [8, 8, 2] }],
    outputs: [{ shape: [2] }],
    loss: 'meanSquaredError',
    metrics: [],
  },
  rnn: {
    build() {
      const m = tf.sequential({ name: 'rnn' });
      m.add(tf.layers.embedding({ inputDim: 10, outputDim: 4, inputLength: 5, name: 'rnn_emb' }));
      m.add(tf.layers.lstm({ units: 6, returnSequences: true, name: 'rnn_lstm' }));
      m.add(tf.layers.gru({ units: 5, name: 'rnn_gru' }));
      m.add(tf.layers.dense({ units: 3, activation: 'softmax', name: 'rnn_out' }));
      return m;
    },
    inputs: [{ shape: [5], ints: 10 }],
    outputs: [{ shape: [3], onehot: true }],
    loss: 'categoricalCrossentropy',
    metrics: [],
  },
  functional: {
    build() {
      const a = tf.input({ shape: [3], name: 'fn_in_a' });
      const b = tf.input({ shape: [2], name: 'fn_in_b' });
      const ha = tf.layers.dense({ units: 4, activation: 'relu', name: 'fn_da' }).apply(a);
      const hb = tf.layers.dense({ units: 4, activation: 'relu', name: 'fn_db' }).apply(b);
      const c = tf.layers.concatenate({ name: 'fn_concat' }).apply([ha, hb]);
      const s = tf.layers.dense({ units: 4, activation: 'tanh', name: 'fn_shared' }).apply(c);
      const o1 = tf.layers.dense({ units: 1, name: 'fn_out_reg' }).apply(s);
      const o2 = tf.layers.dense({ units: 2, activation: 'softmax', name: 'fn_out_cls' }).apply(s);
      return tf.model({ inputs: [a, b], outputs: [o1, o2], name: 'functional' });
    },
    inputs: [{ shape: [3] }, { shape: [2] }],
    outputs: [{ shape: [1] }, { shape: [2], onehot: true }],
    loss: ['meanSquaredError', 'categoricalCrossentropy'],
    metrics: [],
  },
  nested: {
    build() {
      const inner = tf.sequential({ name: 'nested_inner' });
      inner.add(tf.layers.dense({ units: 3, activation: 'relu', inputShape: [4], name: 'inner_d1' }));
      inner.add(tf.layers.dense({ units: 2, name: 'inner_d2' }));
      const x = tf.input({ shape: [4], name: 'nested_in' });
      const h = inner.apply(x);
      const y = tf.layers.dense({ units: 1, name: 'nested_head' }).apply(h);
      return tf.model({ inputs: x, outputs: y, name: 'nested' });
    },
    inputs: [{ shape: [4] }],
    outputs: [{ shape: [1] }],
    loss: 'meanSquaredError',
    metrics: [],
  },
  dropout: {
    build() {
      const m = tf.sequential({ name: 'dropout_model' });
      m.add(tf.layers.dense({ units: 6, activation: 'relu', inputShape: [3], name: 'do_d1' }));
      m.add(tf.layers.dropout({ rate: 0.25, seed: 7, name: 'do_drop' }));
      m.add(tf.layers.dense({ units: 1, name: 'do_out' }));
      return m;
    },
    inputs: [{ shape: [3] }],
    outputs: [{ shape: [1] }],
    loss: 'meanSquaredError',
    metrics: [],
  },
};

function kindSpec(kind) {
  const s = SPECS[kind];
  if (!s) throw new Error(`unknown model kind ${JSON.stringify(kind)}; known: ${KINDS.join(', ')}`);
  return s;
}

function prod(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

function setDeterministicWeights(model, spec, seed) {
  const rnd = mulberry32(seed);
  const values = model.weights.map((w) => {
    const n = prod(w.shape);
    const fixed = spec.fixedWeights && spec.fixedWeights[w.originalName];
    if (fixed) return tf.tensor(Float32Array.from(fixed), w.shape, 'float32');
    const positive = /(gamma|moving_variance)$/.test(w.originalName);
    const arr = new Float32Array(n);
    for (let i = 0; i < n; i++) arr[i] = positive ? 0.5 + rnd() : rnd() - 0.5;
    return tf.tensor(arr, w.shape, w.dtype);
  });
  model.setWeights(values);
  values.forEach((t) => t.dispose());
}

function makeInputs(spec, n, rnd) {
  return spec.inputs.map((inp) => {
    const shape = [n, ...inp.shape];
    const arr = new Float32Array(prod(shape));
    for (let i = 0; i < arr.length; i++) {
      arr[i] = inp.ints ? Math.floor(rnd() * inp.ints) : 2 * rnd() - 1;
    }
    return tf.tensor(arr, shape, 'float32');
  });
}

function makeTargets(spec, n, rnd) {
  return spec.outputs.map((out) => {
    const shape = [n, ...out.shape];
    const arr = new Float32Array(prod(shape));
    if (out.onehot) {
      const k = out.shape[out.shape.length - 1];
      for (let i = 0; i < n; i++) arr[i * k + Math.floor(rnd() * k)] = 1;
    } else {
      for (let i = 0; i < arr.length; i++) arr[i] = 2 * rnd() - 1;
    }
    return tf.tensor(arr, shape, 'float32');
  });
}

function trainingData(spec, seed) {
  const rnd = mulberry32(seed + 1000);
  const xs = makeInputs(spec, N_TRAIN, rnd);
  const ys = makeTargets(spec, N_TRAIN, rnd);
  return { xs, ys };
}

function predictBatch(spec, seed) {
  if (spec.fixedBatch) {
    return spec.fixedBatch.map((rows, i) =>
      tf.tensor(Float32Array.from(rows.flat()), [rows.length, ...spec.inputs[i].shape], 'float32'));
  }
  return makeInputs(spec, N_PREDICT, mulberry32(seed + 2000));
}

function one(list) {
  return list.length === 1 ? list[0] : list;
}

function compileModel(model, spec, optimizerName) {
  const make = OPTIMIZERS[optimizerName];
  if (!make) {
    throw new Error(`unknown optimizer ${JSON.stringify(optimizerName)}; known: ${Object.keys(OPTIMIZERS).join(', ')}`);
  }
  model.compile({ optimizer: make(), loss: spec.loss, metrics: spec.metrics });
}

async function fitOneEpoch(model, spec, seed) {
  const { xs, ys } = trainingData(spec, seed);
  const h = await model.fit(one(xs), one(ys), { epochs: 1, batchSize: BATCH, shuffle: false, verbose: 0 });
  xs.concat(ys).forEach((t) => t.dispose());
  const loss = h.history.loss[0];
  return typeof loss === 'number' ? loss : (await loss.data())[0];
}

async function buildModel(kind, seed, optimizerName, metadata) {
  const spec = kindSpec(kind);
  const model = spec.build();
  setDeterministicWeights(model, spec, seed);
  if (metadata != null) model.setUserDefinedMetadata(metadata);
  let loss = null;
  if (optimizerName) {
    compileModel(model, spec, optimizerName);
    loss = await fitOneEpoch(model, spec, seed);
  }
  return { model, spec, loss };
}

async function modelWeights(model) {
  const out = [];
  for (const w of model.weights) {
    const info = await tensorInfo(w.read(), w.originalName);
    info.uniqueName = w.name;
    out.push(info);
  }
  return out;
}

async function optimizerWeights(model) {
  if (!model.optimizer) return [];
  const ws = await model.optimizer.getWeights();
  const out = [];
  for (const { name, tensor } of ws) out.push(await tensorInfo(tensor, name));
  return out;
}

async function predictInfo(model, inputs) {
  let y = model.predict(one(inputs));
  if (!Array.isArray(y)) y = [y];
  const out = [];
  for (const t of y) out.push(await tensorInfo(t));
  return out;
}

// ---- save layouts -----------------------------------------------------------------------------
async function saveNode(model, dir, includeOptimizer) {
  const res = await model.save('file://' + dir, { includeOptimizer });
  return { info: res.modelArtifactsInfo, files: ['model.json', 'weights.bin'] };
}

function parseMultipart(body, boundary) {
  const delim = Buffer.from('--' + boundary);
  const parts = [];
  let pos = body.indexOf(delim);
  if (pos !== 0) throw new Error('multipart body does not start with the boundary');
  for (;;) {
    pos += delim.length;
    if (body.slice(pos, pos + 2).toString() === '--') break;
    if (body.slice(pos, pos + 2).toString() !== '\r\n') throw new Error('bad multipart delimiter line');
    pos += 2;
    const headEnd = body.indexOf('\r\n\r\n', pos);
    const head = body.slice(pos, headEnd).toString('utf8');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delim]), headEnd + 4);
    if (next < 0) throw new Error('unterminated multipart part');
    const content = body.slice(headEnd + 4, next);
    const headers = {};
    for (const line of head.split('\r\n')) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const cd = headers['content-disposition'] || '';
    const name = (/\bname="([^"]*)"/.exec(cd) || [])[1];
    const filename = (/\bfilename="([^"]*)"/.exec(cd) || [])[1];
    parts.push({ name, filename, contentType: headers['content-type'] || null, content });
    pos = next + 2;
  }
  return parts;
}

async function saveHttpCapture(model, dir, includeOptimizer) {
  let captured = null;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      captured = {
        method: req.method, path: req.url, headers: req.headers, body: Buffer.concat(chunks),
      };
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  let res;
  pinRandomInt = true;
  try {
    res = await model.save(`http://127.0.0.1:${port}/upload`, { includeOptimizer });
  } finally {
    pinRandomInt = false;
    await new Promise((resolve) => server.close(resolve));
  }
  if (!captured) throw new Error('the http server received no request');
  let contentType = captured.headers['content-type'];
  let body = captured.body;
  const m = /boundary=(.*)$/.exec(contentType);
  if (!m) throw new Error(`no boundary in content-type ${contentType}`);
  let boundary = m[1];
  let normalised = false;
  if (boundary !== PINNED_BOUNDARY) {
    if (boundary.length !== PINNED_BOUNDARY.length) {
      throw new Error(`unexpected multipart boundary ${boundary}; cannot normalise`);
    }
    body = Buffer.from(body.toString('latin1').split(boundary).join(PINNED_BOUNDARY), 'latin1');
    contentType = contentType.replace(boundary, PINNED_BOUNDARY);
    boundary = PINNED_BOUNDARY;
    normalised = true;
  }
  const parts = parseMultipart(body, boundary);
  fs.writeFileSync(path.join(dir, 'request.body'), body);
  fs.writeFileSync(path.join(dir, 'request.content-type'), contentType);
  const files = ['request.body', 'request.content-type'];
  for (const p of parts) {
    if (p.name !== 'model.json' && p.name !== 'model.weights.bin') {
      throw new Error(`unexpected multipart part ${p.name}`);
    }
    fs.writeFileSync(path.join(dir, p.name), p.content);
    files.push(p.name);
  }
  const httpInfo = {
    method: captured.method,
    path: captured.path,
    contentType,
    boundary,
    boundaryNormalised: normalised,
    contentLength: captured.headers['content-length'] === undefined ? null
      : Number(captured.headers['content-length']),
    parts: parts.map((p) => ({
      name: p.name, filename: p.filename, contentType: p.contentType, size: p.content.length,
    })),
  };
  return { info: res.modelArtifactsInfo, files, http: httpInfo };
}

// The key order of tfjs-core's (unexported) getModelJSONForModelArtifacts, spec §2.4; used only
// to cross-check the bytes TF.js's BrowserDownloads produced.
function modelJSONForArtifacts(a, manifest) {
  const r = {
    modelTopology: a.modelTopology,
    format: a.format,
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy,
    weightsManifest: manifest,
  };
  for (const k of ['signature', 'userDefinedMetadata', 'modelInitializer', 'initializerSignature', 'trainingConfig']) {
    if (a[k] != null) r[k] = a[k];
  }
  return r;
}

async function saveDownloads(model, dir, includeOptimizer, prefix) {
  const clicks = [];
  const anchor = () => ({
    download: null,
    href: null,
    dispatchEvent(ev) {
      clicks.push({ download: this.download, href: this.href, type: ev.type });
      return true;
    },
  });
  const saved = {};
  for (const k of ['document', 'window', 'MouseEvent']) saved[k] = Object.getOwnPropertyDescriptor(globalThis, k);
  globalThis.document = { createElement: (tag) => { if (tag !== 'a') throw new Error(tag); return anchor(); } };
  globalThis.window = { URL };
  globalThis.MouseEvent = class MouseEvent extends Event {};
  const wasBrowser = tf.env().getBool('IS_BROWSER');
  tf.env().set('IS_BROWSER', true);
  let res;
  try {
    res = await model.save('downloads://' + prefix, { includeOptimizer });
  } finally {
    tf.env().set('IS_BROWSER', wasBrowser);
    for (const k of Object.keys(saved)) {
      if (saved[k]) Object.defineProperty(globalThis, k, saved[k]);
      else delete globalThis[k];
    }
  }
  const files = [];
  const contents = {};
  for (const c of clicks) {
    const blob = resolveObjectURL(c.href);
    if (!blob) throw new Error(`cannot resolve blob URL ${c.href}`);
    const buf = Buffer.from(await blob.arrayBuffer());
    fs.writeFileSync(path.join(dir, c.download), buf);
    files.push(c.download);
    contents[c.download] = buf;
    URL.revokeObjectURL(c.href);
  }
  const expectedNames = [prefix + '.json', prefix + '.weights.bin'];
  if (JSON.stringify(files) !== JSON.stringify(expectedNames)) {
    throw new Error(`BrowserDownloads produced ${JSON.stringify(files)}, expected ${JSON.stringify(expectedNames)}`);
  }
  // Cross-check: the same artifacts through withSaveHandler and the documented key order.
  let artifacts = null;
  await model.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
  }), { includeOptimizer });
  const own = JSON.stringify(modelJSONForArtifacts(artifacts, [{ paths: ['./' + prefix + '.weights.bin'], weights: artifacts.weightSpecs }]));
  if (own !== contents[prefix + '.json'].toString('utf8')) {
    throw new Error('BrowserDownloads JSON differs from the withSaveHandler/getModelJSONForModelArtifacts cross-check');
  }
  const ownWeights = Buffer.from(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
  if (!ownWeights.equals(contents[prefix + '.weights.bin'])) {
    throw new Error('BrowserDownloads weights differ from the withSaveHandler cross-check');
  }
  return { info: res.modelArtifactsInfo, files };
}

// ---- commands ---------------------------------------------------------------------------------
async function cmdBuildAndSave(o) {
  const kind = o.model;
  if (!kind) throw new Error('--model KIND is required');
  if (!o.out) throw new Error('--out DIR is required');
  const layout = o.layout || 'node';
  const seed = o.seed === undefined ? 1 : Number(o.seed);
  const optimizerName = o.optimizer || null;
  const metadata = o.metadata === undefined ? null
    : (typeof o.metadata === 'string' ? JSON.parse(o.metadata) : o.metadata);
  const dir = path.resolve(o.out);
  if (!fs.existsSync(dir)) fs.mkdirSync(dir);

  const { model, spec, loss } = await buildModel(kind, seed, optimizerName, metadata);
  const includeOptimizer = optimizerName != null;
  let saved;
  if (layout === 'node') saved = await saveNode(model, dir, includeOptimizer);
  else if (layout === 'http-capture') saved = await saveHttpCapture(model, dir, includeOptimizer);
  else if (layout === 'downloads') saved = await saveDownloads(model, dir, includeOptimizer, o.name || 'model');
  else throw new Error(`unknown layout ${JSON.stringify(layout)} (node, http-capture, downloads)`);

  const inputs = predictBatch(spec, seed);
  const expected = {
    tool: TOOL_NAME,
    tfjsVersion: tf.version.tfjs,
    kind,
    layout,
    optimizer: optimizerName,
    seed,
    userDefinedMetadata: metadata,
    weights: await modelWeights(model),
    optimizerWeights: includeOptimizer ? await optimizerWeights(model) : [],
    input: await Promise.all(inputs.map((t) => tensorInfo(t))),
    predictions: await predictInfo(model, inputs),
    trainingLoss: loss === null ? null : { epochLoss: loss, hex: float32Hex(loss) },
    modelArtifactsInfo: cleanInfo(saved.info),
    files: {},
  };
  for (const f of saved.files) {
    const buf = fs.readFileSync(path.join(dir, f));
    expected.files[f] = { size: buf.length, sha256: sha256(buf) };
  }
  if (saved.http) expected.http = saved.http;
  writeJSONFile(path.join(dir, 'expected.json'), expected);
  return { dir, files: saved.files.concat(['expected.json']), modelArtifactsInfo: expected.modelArtifactsInfo };
}

function toLoadURL(u) {
  if (/^(file|https?):\/\//.test(u)) return u;
  let p = path.resolve(u);
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) p = path.join(p, 'model.json');
  return 'file://' + p;
}

function inputsFromOptions(o) {
  if (o.input !== undefined) {
    const list = typeof o.input === 'string' ? JSON.parse(o.input) : o.input;
    return list.map(tensorFromJSON);
  }
  if (o.model) return predictBatch(kindSpec(o.model), o.seed === undefined ? 1 : Number(o.seed));
  return null;
}

async function cmdLoadPredict(o) {
  if (!o.url) throw new Error('--url is required');
  const model = await tf.loadLayersModel(toLoadURL(o.url), { strict: bool(o.strict, true) });
  const inputs = inputsFromOptions(o);
  return {
    predictions: inputs ? await predictInfo(model, inputs) : null,
    weights: await modelWeights(model),
    optimizerWeights: await optimizerWeights(model),
    hasOptimizer: model.optimizer != null,
    userDefinedMetadata: model.getUserDefinedMetadata() == null ? null : model.getUserDefinedMetadata(),
    modelName: model.name,
  };
}

async function cmdResumeTrain(o) {
  const kind = o.model;
  if (!kind) throw new Error('--model KIND is required');
  const spec = kindSpec(kind);
  const seed = o.seed === undefined ? 1 : Number(o.seed);
  let model, loss, firstLoss = null, mode;
  if (o.url) {
    mode = 'resumed';
    model = await tf.loadLayersModel(toLoadURL(o.url));
    if (!model.optimizer) throw new Error('the loaded model has no optimizer (was it saved with includeOptimizer?)');
    loss = await fitOneEpoch(model, spec, seed);
  } else if (bool(o.uninterrupted, false)) {
    if (!o.optimizer) throw new Error('--optimizer NAME is required with --uninterrupted');
    mode = 'uninterrupted';
    const built = await buildModel(kind, seed, o.optimizer, null);
    model = built.model;
    firstLoss = built.loss;
    loss = await fitOneEpoch(model, spec, seed);
  } else {
    throw new Error('give --url DIR_OR_URL (resume) or --optimizer NAME --uninterrupted true');
  }
  const out = { mode, loss, lossHex: float32Hex(loss) };
  if (firstLoss !== null) out.firstLoss = firstLoss;
  out.weights = await modelWeights(model);
  out.optimizerWeights = await optimizerWeights(model);
  return out;
}

async function cmdEncode(o) {
  if (!Array.isArray(o.tensors)) throw new Error('encode needs {"tensors": [...]} on stdin');
  const list = o.tensors.map((d) => ({ name: d.name, tensor: tensorFromJSON(d) }));
  const { data, specs } = await tf.io.encodeWeights(list, o.group === undefined ? undefined : o.group);
  return { specs, hex: Buffer.from(data).toString('hex') };
}

async function cmdDecode(o) {
  if (!Array.isArray(o.specs)) throw new Error('decode needs {"specs": [...], "hex"|"buffers": ...} on stdin');
  const data = o.buffers !== undefined ? o.buffers.map(hexToArrayBuffer) : hexToArrayBuffer(o.hex || '');
  const map = tf.io.decodeWeights(data, o.specs);
  const tensors = [];
  for (const [name, t] of Object.entries(map)) {
    const info = await tensorInfo(t, name);
    if (t.dtype !== 'string') info.values = Array.from(await t.data(), jsonNumber);
    tensors.push(info);
  }
  return { tensors };
}

function cmdNumberFormat(o) {
  let bits = o.bits;
  if (typeof bits === 'string') bits = bits.split(',').filter((s) => s.length > 0);
  if (!Array.isArray(bits)) throw new Error('number-format needs {"bits": [hex, ...]} or --bits HEX,HEX');
  const results = bits.map((h) => {
    if (!/^[0-9a-fA-F]{16}$/.test(h)) throw new Error(`not 16 hex digits: ${JSON.stringify(h)}`);
    const x = Buffer.from(h, 'hex').readDoubleBE(0);
    return { bits: h.toLowerCase(), string: String(x), json: JSON.stringify(x) };
  });
  return { results };
}

// ---- codec vectors (spec §16.1, §16.2, §16.4, plus §2.2 edge cases) -------------------------------
async function codecVectors() {
  const encodeCases = [
    { id: 'float32', source: 'spec §16.1', tensors: [{ name: 'f', shape: [2], dtype: 'float32', values: [1.5, -2] }] },
    { id: 'int32', source: 'spec §16.1', tensors: [{ name: 'i', shape: [2], dtype: 'int32', values: [1, -2] }] },
    { id: 'bool', source: 'spec §16.1', tensors: [{ name: 'b', shape: [3], dtype: 'bool', values: [true, false, true] }] },
    { id: 'complex64', source: 'spec §16.1', tensors: [{ name: 'c', shape: [2], dtype: 'complex64', real: [1.5, 3], imag: [-2, 0.25] }] },
    { id: 'string', source: 'spec §16.1', tensors: [{ name: 's', shape: [2], dtype: 'string', strings: ['a', 'bc'] }] },
    { id: 'string-utf8-empty', source: 'spec §16.1', tensors: [{ name: 's2', shape: [2], dtype: 'string', strings: ['é', ''] }] },
    {
      id: 'string-zero-elements-then-float32', source: 'spec §16.1',
      tensors: [
        { name: 'e', shape: [0], dtype: 'string', strings: [] },
        { name: 'g', shape: [1], dtype: 'float32', values: [7] },
      ],
    },
  ];
  const all = [];
  for (const c of encodeCases) for (const t of c.tensors) all.push(t);
  encodeCases.push({ id: 'all-group-model', source: 'spec §16.1 (concatenation, group "model")', group: 'model', tensors: all });
  encodeCases.push({
    id: 'string-2d-and-scalar', source: 'extra: row-major string order, scalar shape []',
    tensors: [
      { name: 's2d', shape: [2, 2], dtype: 'string', strings: ['x', 'yy', 'zzz', '✓'] },
      { name: 'scalar', shape: [], dtype: 'float32', values: [-0.5] },
    ],
  });

  const encode = [];
  for (const c of encodeCases) {
    const r = await cmdEncode({ tensors: c.tensors, group: c.group });
    const decoded = await cmdDecode({ specs: r.specs, hex: r.hex });
    const entry = { id: c.id, source: c.source };
    if (c.group !== undefined) entry.group = c.group;
    entry.input = c.tensors;
    entry.specs = r.specs;
    entry.hex = r.hex;
    entry.byteLength = r.hex.length / 2;
    entry.decoded = decoded.tensors;
    encode.push(entry);
  }

  const q = (name, shape, dtype, quantization) => ({ name, shape, dtype, quantization });
  const decodeCases = [
    {
      id: 'uint8-dequant', source: 'spec §16.2',
      specs: [q('u8', [4], 'float32', { dtype: 'uint8', scale: 0.00392156862745098, min: -0.5 })], hex: '000180ff',
    },
    {
      id: 'uint16-dequant', source: 'spec §16.2',
      specs: [q('u16', [2], 'float32', { dtype: 'uint16', scale: 0.5, min: -1 })], hex: '0000ffff',
    },
    {
      id: 'int32-via-uint8', source: 'spec §16.2',
      specs: [q('i8', [4], 'int32', { dtype: 'uint8', scale: 0.5, min: -2 })], hex: '00010305',
    },
    {
      id: 'int32-rounding-half-up', source: 'spec §16.2 (JS Math.round)',
      specs: [q('ir', [3], 'int32', { dtype: 'uint8', scale: 0.5, min: -1.5 })], hex: '000204',
    },
    {
      id: 'float16', source: 'spec §16.2',
      specs: [q('h', [6], 'float32', { dtype: 'float16' })], hex: '003e00c00100007c00fc0080',
    },
    {
      id: 'bool-stored-2', source: 'spec §2.2 (a stored 2 stays 2)',
      specs: [{ name: 'b2', shape: [3], dtype: 'bool' }], hex: '020100',
    },
    {
      id: 'duplicate-name-later-wins', source: 'spec §2.2',
      specs: [{ name: 'dup', shape: [1], dtype: 'float32' }, { name: 'dup', shape: [1], dtype: 'float32' }],
      hex: '0000803f00000040',
    },
    {
      id: 'python-writer-shards', source: 'spec §16.4 (six shard buffers, flattened specs)',
      specs: [
        { name: 'f', shape: [2], dtype: 'float32' },
        { name: 's', shape: [2], dtype: 'string' },
        { name: 'i64', shape: [2], dtype: 'int32' },
        { name: 'b', shape: [3], dtype: 'bool' },
        q('q8', [4], 'float32', { dtype: 'uint8', min: -0.5, scale: 0.0058823529411764705, original_dtype: 'float32' }),
        q('h', [4], 'float32', { dtype: 'float16', original_dtype: 'float32' }),
      ],
      buffers: ['0000c03f000000c0', '0100000061020000', '00626301000000fe', 'ffffff010001', '005580ff003e00c0', '0000007c'],
    },
  ];
  const decode = [];
  for (const c of decodeCases) {
    const r = await cmdDecode(c);
    const entry = { id: c.id, source: c.source, specs: c.specs };
    if (c.buffers) entry.buffers = c.buffers; else entry.hex = c.hex;
    entry.tensors = r.tensors;
    decode.push(entry);
  }
  return {
    generatedBy: `${TOOL_NAME} codec-vectors (@tensorflow/tfjs ${tf.version.tfjs}, tf.io.encodeWeights / tf.io.decodeWeights)`,
    notes: 'hex = raw little-endian bytes; decoded "values" use the strings NaN/Infinity/-Infinity/-0 for non-JSON numbers; '
      + 'string tensors give bytesHex (per element) and strings (UTF-8).',
    encode,
    decode,
  };
}

async function cmdCodecVectors(o) {
  if (!o.out) throw new Error('--out FILE is required');
  const v = await codecVectors();
  writeJSONFile(path.resolve(o.out), v);
  return { file: path.resolve(o.out) };
}

// ---- fixtures ----------------------------------------------------------------------------------
const FIXTURE_METADATA = {
  author: 'tfjs-store fixtures',
  note: 'é ✓ \u2028 "quoted"',
  threshold: 1e-7,
  big: 1e21,
  exact: 10000000000000000,
  ints: [1, 2, 3],
  nested: { a: null, b: true, c: -0.5 },
};
const FIXTURES = [
  { kind: 'dense', layout: 'node' },
  { kind: 'dense', layout: 'http-capture' },
  { kind: 'dense', layout: 'downloads' },
  { kind: 'dense', layout: 'node', optimizer: 'adam' },
  { kind: 'dense', layout: 'http-capture', optimizer: 'adam' },
  // centered RMSProp: TF.js computes sqrt(ms - (mg^2 + eps)), NaN wherever a gradient is ~0, so
  // only the all-linear dense kind gives finite slots.
  { kind: 'dense', layout: 'node', optimizer: 'rmsprop-centered' },
  { kind: 'mlp', layout: 'node', optimizer: 'adam' },
  { kind: 'mlp', layout: 'node', optimizer: 'rmsprop' },
  { kind: 'mlp', layout: 'node', optimizer: 'sgd' },
  { kind: 'mlp', layout: 'node', optimizer: 'momentum' },
  { kind: 'mlp', layout: 'node', optimizer: 'adagrad' },
  { kind: 'mlp', layout: 'node', optimizer: 'adadelta' },
  { kind: 'mlp', layout: 'downloads', optimizer: 'adam' },
  { kind: 'conv', layout: 'node' },
  { kind: 'rnn', layout: 'node' },
  { kind: 'functional', layout: 'node', metadata: true },
  { kind: 'functional', layout: 'http-capture', metadata: true },
  { kind: 'nested', layout: 'node' },
  { kind: 'dropout', layout: 'node', optimizer: 'sgd' },
];

function fixtureName(f) {
  return `${f.kind}-${f.layout}${f.optimizer ? '-' + f.optimizer : ''}`;
}

function fixtureArgs(f, out) {
  const args = ['build-and-save', '--model', f.kind, '--layout', f.layout, '--out', out];
  if (f.optimizer) args.push('--optimizer', f.optimizer);
  if (f.metadata) args.push('--metadata', JSON.stringify(FIXTURE_METADATA));
  return args;
}

function runSelf(args) {
  const r = childProcess.spawnSync(process.execPath, [__filename, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function cmdMakeFixtures(o) {
  const root = path.resolve(o.root || path.join(__dirname, '..', '..'));
  const fixRoot = path.join(root, 'tests', 'fixtures', 'tfjs');
  fs.mkdirSync(fixRoot, { recursive: true });
  const made = [];
  for (const f of FIXTURES) {
    const dir = path.join(fixRoot, fixtureName(f));
    fs.rmSync(dir, { recursive: true, force: true });
    runSelf(fixtureArgs(f, dir));
    made.push(path.relative(root, dir));
  }
  // Only the generated entries are listed, so a stale fixture directory is visible in `git status`.
  writeJSONFile(path.join(fixRoot, 'index.json'), {
    regenerate: 'node tests/js/tfjs_tool.js make-fixtures',
    fixtures: FIXTURES.map((f) => ({
      dir: fixtureName(f), kind: f.kind, layout: f.layout, optimizer: f.optimizer || null,
      args: fixtureArgs(f, '<DIR>').slice(1),
    })),
    codecVectors: 'codec-vectors.json',
  });
  runSelf(['codec-vectors', '--out', path.join(fixRoot, 'codec-vectors.json')]);
  made.push(path.relative(root, path.join(fixRoot, 'codec-vectors.json')));

  // The package's bundled example: kind mlp, real tfjs-node file:// save; only model.json and
  // weights.bin are kept (expected.json goes to a temporary folder).
  const exDir = path.join(root, 'tfjs_store', 'data', 'example');
  fs.mkdirSync(exDir, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(require('os').tmpdir(), 'tfjs-example-'));
  try {
    runSelf(['build-and-save', '--model', 'mlp', '--layout', 'node', '--out', path.join(tmp, 'm')]);
    for (const f of ['model.json', 'weights.bin']) {
      fs.copyFileSync(path.join(tmp, 'm', f), path.join(exDir, f));
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  made.push(path.relative(root, exDir));
  return { root, made };
}

// ---- commands added for the interop matrix (tests/interop/) ----------------------------------------
// save-url --model KIND --url URL [--optimizer NAME] [--seed N] [--metadata JSON]
//   Builds KIND exactly as build-and-save does (same weights, same one epoch of training when
//   --optimizer is given) and saves it with model.save(URL, {includeOptimizer}) to any URL TF.js
//   routes: http(s):// (TF.js's own multipart POST, e.g. into the tfjs-store bridge) or file://.
//   stdout: {"ok", "command", "url", "modelArtifactsInfo" (no dateSaved), "responseStatus"
//            (http only, else null), "weights", "optimizerWeights", "input", "predictions",
//            "trainingLoss"}  (the same shapes as build-and-save's expected.json)
async function cmdSaveURL(o) {
  const kind = o.model;
  if (!kind) throw new Error('--model KIND is required');
  if (!o.url) throw new Error('--url URL is required');
  const seed = o.seed === undefined ? 1 : Number(o.seed);
  const optimizerName = o.optimizer || null;
  const metadata = o.metadata === undefined ? null
    : (typeof o.metadata === 'string' ? JSON.parse(o.metadata) : o.metadata);
  const { model, spec, loss } = await buildModel(kind, seed, optimizerName, metadata);
  const includeOptimizer = optimizerName != null;
  const res = await model.save(o.url, { includeOptimizer });
  const inputs = predictBatch(spec, seed);
  return {
    url: o.url,
    modelArtifactsInfo: cleanInfo(res.modelArtifactsInfo),
    responseStatus: res.responses && res.responses.length ? res.responses[0].status : null,
    weights: await modelWeights(model),
    optimizerWeights: includeOptimizer ? await optimizerWeights(model) : [],
    input: await Promise.all(inputs.map((t) => tensorInfo(t))),
    predictions: await predictInfo(model, inputs),
    trainingLoss: loss === null ? null : { epochLoss: loss, hex: float32Hex(loss) },
  };
}

// graph-predict --url URL_OR_PATH --inputs JSON
//   tf.loadGraphModel(URL) (the model's modelInitializer, if any, runs on load), then
//   model.executeAsync(inputs). --inputs: a JSON object {inputName: TENSOR-like} or a list of
//   TENSOR-like in model.inputs order (string tensors as {"strings": [...]}).
//   stdout: {"ok", "command", "inputNames", "outputNames", "outputs": [TENSOR + name],
//            "weights": [TENSOR + name] (model.weights in key order, first tensor of each),
//            "hasSignature": bool}
async function cmdGraphPredict(o) {
  if (!o.url) throw new Error('--url is required');
  if (o.inputs === undefined) throw new Error('--inputs JSON is required');
  const model = await tf.loadGraphModel(toLoadURL(o.url));
  const spec = typeof o.inputs === 'string' ? JSON.parse(o.inputs) : o.inputs;
  const inputNames = model.inputs.map((t) => t.name);
  let feed;
  if (Array.isArray(spec)) {
    if (spec.length !== inputNames.length) {
      throw new Error(`model has ${inputNames.length} inputs (${inputNames.join(', ')}), got ${spec.length}`);
    }
    feed = {};
    spec.forEach((d, i) => { feed[inputNames[i]] = tensorFromJSON(d); });
  } else {
    feed = {};
    for (const [name, d] of Object.entries(spec)) feed[name] = tensorFromJSON(d);
  }
  let ys = await model.executeAsync(feed);
  if (!Array.isArray(ys)) ys = [ys];
  const outputNames = model.outputs.map((t) => t.name);
  const outputs = [];
  for (let i = 0; i < ys.length; i++) outputs.push(await tensorInfo(ys[i], outputNames[i]));
  const weights = [];
  for (const [name, list] of Object.entries(model.weights)) {
    const t = Array.isArray(list) ? list[0] : list;
    weights.push(await tensorInfo(t, name));
  }
  return { inputNames, outputNames, outputs, weights, hasSignature: model.signature != null };
}

// serve  (stdin: one JSON request per line; stdout: one JSON answer per line)
//   A long-lived worker for commands whose answers do not depend on what ran before in the
//   process: load-predict, graph-predict and resume-train --url (loading a model gives every
//   variable its saved name; nothing is drawn from process-global counters that shows in the
//   answers). Commands that build models (build-and-save, save-url, resume-train
//   --uninterrupted) are refused: a second build in one process would get uniquified variable
//   names, so they run in fresh processes.
//   Request: {"id": any, "command": NAME, "options": {camelCase option: value}}.
//   Answer:  {"id", "ok": true, "command", ...the command's keys} or {"id", "ok": false,
//            "command", "error"}. Ends when stdin closes; then the usual final answer
//            {"ok": true, "command": "serve", "served": N}.
const SERVE_COMMANDS = new Set(['load-predict', 'graph-predict', 'resume-train']);
async function cmdServe() {
  const rl = require('readline').createInterface({ input: process.stdin, crlfDelay: Infinity });
  let served = 0;
  for await (const line of rl) {
    if (!line.trim()) continue;
    let req = null;
    let answer;
    try {
      req = JSON.parse(line);
      const command = req.command;
      const opts = {};
      for (const [k, v] of Object.entries(req.options || {})) opts[camel(k)] = v;
      if (!SERVE_COMMANDS.has(command)) {
        throw new Error(`serve runs only ${[...SERVE_COMMANDS].join(', ')}, not ${JSON.stringify(command)}`);
      }
      if (command === 'resume-train' && !opts.url) throw new Error('serve runs resume-train with --url only');
      const result = await COMMANDS[command](opts);
      answer = { id: req.id === undefined ? null : req.id, ok: true, command, ...result };
    } catch (e) {
      process.stderr.write((e && e.stack) ? e.stack + '\n' : String(e) + '\n');
      answer = {
        id: req && req.id !== undefined ? req.id : null, ok: false,
        command: req ? req.command : null, error: e && e.message ? e.message : String(e),
      };
    }
    served++;
    realStdoutWrite(JSON.stringify(answer) + '\n');
  }
  return { served };
}

// browser-files  (stdin) {"files": [{"name": str, "hex": str}, ...]}
//   tf.io.browserFiles(files).load(), with files[0] the model JSON and the rest weight files, run
//   under a minimal FileReader shim (Node has File and Blob but no FileReader; the shim reads
//   with Blob.text/arrayBuffer and calls onload/onerror as browsers do). TF.js's own matching and
//   checks run unchanged.
//   stdout: {"ok", "command", "modelTopology", "weightSpecs" (or null), "weightDataHex" (or
//            null)}; a load that TF.js refuses is a failure whose "error" is TF.js's message.
async function cmdBrowserFiles(o) {
  if (!Array.isArray(o.files) || o.files.length === 0) throw new Error('"files" (a list) is required');
  const files = o.files.map((f) => new File([Buffer.from(f.hex || '', 'hex')], f.name));
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'FileReader');
  globalThis.FileReader = class FileReader {
    read(blob, how) {
      blob[how]().then((r) => { this.result = r; this.onload({ target: this }); },
        (e) => this.onerror(e));
    }
    readAsText(blob) { this.read(blob, 'text'); }
    readAsArrayBuffer(blob) { this.read(blob, 'arrayBuffer'); }
  };
  let a;
  try {
    a = await tf.io.browserFiles(files).load();
  } finally {
    if (saved) Object.defineProperty(globalThis, 'FileReader', saved);
    else delete globalThis.FileReader;
  }
  const data = a.weightData == null ? null
    : Buffer.from(Array.isArray(a.weightData) ? Buffer.concat(a.weightData.map((b) => Buffer.from(b)))
      : a.weightData).toString('hex');
  return {
    modelTopology: a.modelTopology === undefined ? null : a.modelTopology,
    weightSpecs: a.weightSpecs === undefined ? null : a.weightSpecs,
    weightDataHex: data,
  };
}

// ---- main ---------------------------------------------------------------------------------------
function parseArgs(argv) {
  const o = {};
  let stdin = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-') { stdin = true; continue; }
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(a)}`);
    const eq = a.indexOf('=');
    if (eq > 0) { o[camel(a.slice(2, eq))] = a.slice(eq + 1); continue; }
    if (i + 1 >= argv.length) throw new Error(`option ${a} needs a value`);
    o[camel(a.slice(2))] = argv[++i];
  }
  if (stdin) {
    const text = fs.readFileSync(0, 'utf8');
    const extra = JSON.parse(text);
    if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) {
      throw new Error('stdin must hold one JSON object');
    }
    for (const [k, v] of Object.entries(extra)) o[camel(k)] = v;
  }
  return o;
}

const COMMANDS = {
  'build-and-save': cmdBuildAndSave,
  'load-predict': cmdLoadPredict,
  'resume-train': cmdResumeTrain,
  encode: cmdEncode,
  decode: cmdDecode,
  'number-format': cmdNumberFormat,
  'codec-vectors': cmdCodecVectors,
  'make-fixtures': cmdMakeFixtures,
  'save-url': cmdSaveURL,
  'graph-predict': cmdGraphPredict,
  'browser-files': cmdBrowserFiles,
  serve: cmdServe,
};

async function main() {
  const command = process.argv[2];
  try {
    if (!COMMANDS[command]) {
      throw new Error(`usage: node tfjs_tool.js COMMAND [--opt value ...] [-]; commands: ${Object.keys(COMMANDS).join(', ')}`);
    }
    const opts = parseArgs(process.argv.slice(3));
    await tf.setBackend('cpu');
    await tf.ready();
    const result = await COMMANDS[command](opts);
    realStdoutWrite(JSON.stringify({ ok: true, command, ...result }) + '\n');
    process.exitCode = 0;
  } catch (e) {
    process.stderr.write((e && e.stack) ? e.stack + '\n' : String(e) + '\n');
    realStdoutWrite(JSON.stringify({ ok: false, command: command || null, error: e && e.message ? e.message : String(e) }) + '\n');
    process.exitCode = 1;
  }
}

main();
