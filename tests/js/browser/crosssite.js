/*
 * crosssite.js: the browser side of tests/test_browser.py's issue-21 tests. The same page
 * is opened from an origin the bridge allows (--cors-origin), from a foreign origin, and
 * from a DNS-rebinding name on the bridge's own port (same-origin with the bridge, its
 * requests carry a foreign Host). From each it writes to the bridge the two ways a web
 * page can:
 *
 *   1. TF.js's own model.save('http://…/models/NAME') (a multipart POST, a CORS simple
 *      request: sent without a preflight);
 *   2. a plain <form method=post enctype=multipart/form-data> holding the same two parts,
 *      submitted into an iframe (no CORS at all: a navigation);
 *
 * and reads the model list. window.runScenario(args) returns what each attempt saw; the
 * answers the bridge sent are read by the driver (responses), the store by Python.
 *
 * args: {bridge, name}: the bridge's base URL (null: this page's own origin)
 */
'use strict';

function buildModel() {
  const model = tf.sequential({ name: 'crosssite_mlp' });
  model.add(tf.layers.dense({ units: 3, inputShape: [2], name: 'x_d1' }));
  model.setWeights(model.getWeights().map((w, i) => tf.fill(w.shape, i + 0.5)));
  return model;
}

async function attempt(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (e) {
    return { ok: false, error: String(e && e.message ? e.message : e) };
  }
}

async function artifactsOf(model) {
  let saved = null;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  return saved;
}

function setFile(input, file) {
  const transfer = new DataTransfer();
  transfer.items.add(file);
  input.files = transfer.files;
}

async function submitForm(url, artifacts) {
  const form = document.getElementById('attack-form');
  const modelJson = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    weightsManifest: [{ paths: ['./model.weights.bin'], weights: artifacts.weightSpecs }],
  };
  const [jsonInput, weightsInput] = form.querySelectorAll('input');
  setFile(jsonInput, new File([JSON.stringify(modelJson)], 'model.json',
    { type: 'application/json' }));
  setFile(weightsInput, new File([artifacts.weightData], 'model.weights.bin',
    { type: 'application/octet-stream' }));
  form.action = url;
  const sink = document.getElementById('sink');
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the form submission did not finish')), 30000);
    sink.addEventListener('load', () => { clearTimeout(timer); resolve(); }, { once: true });
    form.submit();
  });
  return true;
}

async function runScenario(args) {
  await tf.setBackend('cpu');
  await tf.ready();
  const bridge = args.bridge || location.origin;
  const out = { origin: location.origin, bridge };
  const model = buildModel();
  const url = `${bridge}/models/${args.name}`;
  const saved = await attempt(model.save(url));
  out.save = saved.ok ? { ok: true, status: saved.value.responses[0].status } : saved;
  out.form = await attempt(submitForm(`${url}-form`, await artifactsOf(model)));
  out.list = await attempt(fetch(`${bridge}/models`).then(async (r) => ({
    status: r.status,
    body: await r.text(),
  })));
  return out;
}

window.runScenario = runScenario;
window.scenarioReady = true;
