/*
 * page.js: the browser side of tests/test_browser.py. Real TF.js (tf.min.js 4.22.0, cpu
 * backend) saves a deterministic model to localstorage://, indexeddb:// and downloads://,
 * copies it into a bucket through the tfjs-store bridge (tf.io.copyModel to http://…),
 * saves it again with PUT + a bearer token (a CORS preflight), loads it back from the
 * bridge into IndexedDB and predicts. window.runScenario(args) returns everything the
 * Python side checks.
 *
 * args: {bridgeShards, bridgeSingle, token, name}
 *   bridgeShards: base URL of a bridge storing shards, no token, CORS for this origin
 *   bridgeSingle: base URL of a bridge storing TF.js's two files byte for byte, with token
 */
'use strict';

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

function hexOf(typed) {
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

function buildModel() {
  const model = tf.sequential({ name: 'browser_mlp' });
  model.add(tf.layers.dense({ units: 16, activation: 'relu', inputShape: [4], name: 'b_d1' }));
  model.add(tf.layers.dense({ units: 8, activation: 'tanh', name: 'b_d2' }));
  model.add(tf.layers.dense({ units: 3, activation: 'softmax', name: 'b_out' }));
  const rand = mulberry32(20261122);
  model.setWeights(model.getWeights().map((w) => {
    const values = new Float32Array(w.size);
    for (let i = 0; i < values.length; i++) values[i] = rand() - 0.5;
    return tf.tensor(values, w.shape, 'float32');
  }));
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
  return model;
}

function fixedInput() {
  const rand = mulberry32(7);
  const values = new Float32Array(5 * 4);
  for (let i = 0; i < values.length; i++) values[i] = 4 * rand() - 2;
  return tf.tensor2d(values, [5, 4]);
}

async function predictHex(model, input) {
  const out = model.predict(input);
  const hex = hexOf(await out.data());
  out.dispose();
  return hex;
}

async function weightsOf(model) {
  const out = [];
  for (const w of model.weights) {
    out.push({ name: w.originalName, shape: w.shape, hex: hexOf(await w.read().data()) });
  }
  return out;
}

async function expectFailure(promise) {
  try {
    await promise;
  } catch (e) {
    return String(e && e.message ? e.message : e);
  }
  return null;
}

async function runScenario(args) {
  await tf.setBackend('cpu');
  await tf.ready();
  const name = args.name || 'm';
  const input = fixedInput();
  const model = buildModel();
  const out = { backend: tf.getBackend(), origin: location.origin };
  out.predictions = await predictHex(model, input);
  out.weights = await weightsOf(model);

  // The three browser schemes.
  await model.save(`localstorage://${name}`);
  await model.save(`indexeddb://${name}`);
  await model.save(`downloads://${name}`);

  // Into the bucket: copyModel from localStorage to the bridge (multipart POST, no preflight).
  const shardsUrl = `${args.bridgeShards}/models/${name}`;
  out.copyInfo = await tf.io.copyModel(`localstorage://${name}`, shardsUrl);

  // PUT with a bearer token: a preflighted cross-origin request.
  const singleUrl = `${args.bridgeSingle}/models/${name}`;
  const auth = { Authorization: `Bearer ${args.token}` };
  const put = await model.save(tf.io.http(singleUrl, { requestInit: { method: 'PUT', headers: auth } }));
  out.putStatus = put.responses[0].status;
  out.putBody = await put.responses[0].json();
  // Without the token the bridge says 401, and CORS lets the page see it.
  out.deniedError = await expectFailure(model.save(`${args.bridgeSingle}/models/denied`));
  // A disallowed model name.
  out.badNameError = await expectFailure(model.save(`${args.bridgeShards}/models/..%2F..%2Fescape`));

  // Back out of the bucket: load from the bridge, keep it in IndexedDB, predict.
  const fromBridge = await tf.loadLayersModel(`${shardsUrl}/model.json`);
  out.fromBridgePredictions = await predictHex(fromBridge, input);
  await fromBridge.save(`indexeddb://${name}-from-bridge`);
  const fromIdb = await tf.loadLayersModel(`indexeddb://${name}-from-bridge`);
  out.fromIndexedDBPredictions = await predictHex(fromIdb, input);
  out.fromIndexedDBWeights = await weightsOf(fromIdb);
  const single = await tf.loadLayersModel(`${singleUrl}/model.json`, { requestInit: { headers: auth } });
  out.fromSinglePredictions = await predictHex(single, input);
  // copyModel straight from the bridge into IndexedDB as well.
  await tf.io.copyModel(`${shardsUrl}/model.json`, `indexeddb://${name}-copied`);
  const copied = await tf.loadLayersModel(`indexeddb://${name}-copied`);
  out.copiedPredictions = await predictHex(copied, input);

  // What the bridge lists, seen from the page.
  const listed = await fetch(`${args.bridgeShards}/models`);
  out.bridgeList = await listed.json();
  out.browserModels = Object.keys(await tf.io.listModels()).sort();
  return out;
}

window.runScenario = runScenario;
window.scenarioReady = true;
