// Runs an ONNX model with onnxruntime (CPU) on raw float32 input and prints
// the first output as JSON: node run.js MODEL.onnx INPUT.f32 N C H W
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, input, ...dims] = process.argv.slice(2);
  if (!model || !input || dims.length !== 4) {
    console.error('usage: node run.js MODEL.onnx INPUT.f32 N C H W');
    process.exit(2);
  }
  const shape = dims.map(Number);
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled' });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(data), shape) };
  const out = await session.run(feeds);
  const t = out[session.outputNames[0]];
  process.stdout.write(JSON.stringify({ output: session.outputNames[0], dims: t.dims, data: Array.from(t.data) }) + '\n');
}

main().catch((e) => { console.error(String(e && e.message || e)); process.exit(1); });
