/*
 * upload.js: the page of tests/test_browser.py's file-upload scenario. The driver picks
 * files through Playwright's file chooser on <input type=file multiple>; the page then
 *
 *   1. loads them as TF.js does, tf.loadLayersModel(tf.io.browserFiles([json, ...weights])),
 *      and predicts on the fixture's inputs;
 *   2. uploads them to the bridge: fetch(url, {method: 'POST', body: new FormData(form)}),
 *      and once more by submitting the form itself (into an iframe);
 *   3. loads both stored models back from the bridge and predicts;
 *   4. asks tf.io.browserFiles(...).load() about malformed file sets (a file missing, one
 *      extra, one twice, JSON without modelTopology / weightsManifest, a manifest naming a
 *      basename twice) and returns its error messages, for the Python side to compare
 *      with tfjs_store.load_files.
 *
 * args: {bridge, name, inputs: [{shape, hex}]}
 */
'use strict';

function hexOf(typed) {
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

function tensorFromHex(spec) {
  const bytes = new Uint8Array(spec.hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(spec.hex.substr(2 * i, 2), 16);
  return tf.tensor(new Float32Array(bytes.buffer), spec.shape, 'float32');
}

async function predictHex(model, inputs) {
  const out = model.predict(inputs.length === 1 ? inputs[0] : inputs);
  const outputs = Array.isArray(out) ? out : [out];
  const hex = [];
  for (const t of outputs) {
    hex.push({ shape: t.shape, hex: hexOf(await t.data()) });
    t.dispose();
  }
  return hex;
}

async function errorOf(files) {
  try {
    await tf.io.browserFiles(files).load();
  } catch (e) {
    return String(e && e.message ? e.message : e);
  }
  return null;
}

function basename(path) {
  return path.split('/').pop();
}

async function malformedSets(jsonFile, weightFiles) {
  const text = await jsonFile.text();
  const obj = JSON.parse(text);
  const withJSON = (o) => new File([JSON.stringify(o)], jsonFile.name, { type: 'application/json' });
  const noTopology = { ...obj };
  delete noTopology.modelTopology;
  const noManifest = { ...obj };
  delete noManifest.weightsManifest;
  const dup = JSON.parse(text);
  const paths = dup.weightsManifest[0].paths;
  paths[1] = `b/${basename(paths[0])}`;
  paths[0] = `a/${basename(paths[0])}`;
  const cases = {
    missing: [jsonFile, ...weightFiles.slice(1)],
    extra: [jsonFile, ...weightFiles, new File([new Uint8Array(4)], 'notes.bin')],
    twice: [jsonFile, ...weightFiles, weightFiles[0]],
    noTopology: [withJSON(noTopology), ...weightFiles],
    noManifest: [withJSON(noManifest), ...weightFiles],
    duplicateBasename: [withJSON(dup), ...weightFiles],
  };
  const out = {};
  for (const [key, files] of Object.entries(cases)) {
    out[key] = {
      files: files.slice(1).map((f) => f.name),
      json: files[0] === jsonFile ? null : await files[0].text(),
      error: await errorOf(files),
    };
  }
  return out;
}

async function runScenario(args) {
  await tf.setBackend('cpu');
  await tf.ready();
  const out = { backend: tf.getBackend(), origin: location.origin };
  const form = document.getElementById('upload-form');
  const picked = Array.from(document.getElementById('model-files').files);
  out.picked = picked.map((f) => f.name);
  const jsonFile = picked.find((f) => f.name.endsWith('.json'));
  const weightFiles = picked.filter((f) => f !== jsonFile);
  const inputs = args.inputs.map(tensorFromHex);

  // 1. TF.js reads the picked files itself.
  const local = await tf.loadLayersModel(tf.io.browserFiles([jsonFile, ...weightFiles]));
  out.localPredictions = await predictHex(local, inputs);

  // 2. The same files to the bridge: the form's data by fetch, then the form itself.
  const url = `${args.bridge}/models/${args.name}`;
  const response = await fetch(url, { method: 'POST', body: new FormData(form) });
  out.uploadStatus = response.status;
  out.uploadBody = await response.json();
  const sink = document.getElementById('sink');
  form.action = `${url}-form`;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the form submission did not finish')), 30000);
    sink.addEventListener('load', () => { clearTimeout(timer); resolve(); }, { once: true });
    form.submit();
  });

  // 3. Back from the bridge.
  const back = await tf.loadLayersModel(`${url}/model.json`);
  out.fromBridgePredictions = await predictHex(back, inputs);
  const backForm = await tf.loadLayersModel(`${url}-form/model.json`);
  out.fromFormPredictions = await predictHex(backForm, inputs);
  const listed = await fetch(`${args.bridge}/models`);
  out.bridgeList = (await listed.json()).models.map((m) => m.name);

  // 4. What TF.js says of malformed sets.
  out.malformed = await malformedSets(jsonFile, weightFiles);
  return out;
}

window.runScenario = runScenario;
window.scenarioReady = true;
