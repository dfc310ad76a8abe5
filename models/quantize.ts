// An int8 variant of a converted Meso4 model in ONNX's QDQ form: QuantizeLinear/DequantizeLinear pairs around the
// convs after the first (uint8 activations with ranges calibrated on fixed face crops, int8 weights with one scale
// per output channel, int32 bias) and their MaxPools, which ONNX Runtime's CPU provider fuses into int8 kernels
// (QLinearConv with its ReLU, uint8 MaxPool) at graph level extended or all. The first conv, the folded BatchNorm
// shifts and the dense head stay float32, and so does block 2's pool in Meso4's blocked layout (mesonetGraph.ts: a
// Split + Max of the space-to-depth conv's groups, on its dequantised output).
import { readdirSync } from "node:fs";
import path from "node:path";
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import sharp from "sharp";

import { packageRoot } from "../src/models/paths.js";
import { float32LE, INPUT_NAME, META_MODEL, tensorFloats } from "./mesonetGraph.js";

const { onnx } = onnxProto;
type ModelProto = onnxProto.onnx.ModelProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;

/** What an int8 variant's name adds to its float32 model's name. */
export const INT8_SUFFIX = "-int8";
/** Metadata: how the variant was quantised (calibration crops, scheme). */
export const META_QUANTIZATION = "mesoguard.quantization";

export interface Range {
  min: number;
  max: number;
}

const DataType = onnx.TensorProto.DataType;

function tensor(name: string, dataType: number, dims: number[], bytes: Uint8Array): ITensorProto {
  return { name, dataType, dims, rawData: bytes };
}

function int32s(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setInt32(i * 4, values[i]!, true);
  return out;
}

/**
 * Each Conv to quantise with the Relu that follows it (MesoNet's convs all have one). The first conv (reading the
 * model's 3-channel input) stays float32: ONNX Runtime's int8 kernel ran it 2.7x slower than its float NCHWc kernel
 * (1.5 vs 0.55 ms, ORT profile, one thread).
 */
function convRelus(model: ModelProto): Array<{ conv: INodeProto; relu: INodeProto }> {
  const nodes = model.graph!.node!;
  return nodes
    .filter((n) => n.opType === "Conv" && n.input![0] !== INPUT_NAME)
    .map((conv) => {
      const relu = nodes.find((n) => n.opType === "Relu" && n.input![0] === conv.output![0]);
      if (!relu) throw new Error(`quantize: conv ${conv.name} has no Relu after it`);
      return { conv, relu };
    });
}

/** The tensors whose ranges calibration measures: each quantised Conv's input and its Relu's output. */
export function calibrationTensors(model: ModelProto): string[] {
  const names = new Set<string>();
  for (const { conv, relu } of convRelus(model)) names.add(conv.input![0]!).add(relu.output![0]!);
  return [...names];
}

/** A copy of the float32 model that also outputs `tensors` (for the calibration run). */
export function withOutputs(model: ModelProto, tensors: string[]): ModelProto {
  const copy = onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
  for (const name of tensors) copy.graph!.output!.push({ name, type: { tensorType: { elemType: DataType.FLOAT } } });
  return copy;
}

/** uint8 scale and zero point covering [min(0, lo), max(0, hi)] (0 must be exact: padding and ReLU). */
function activationParams(range: Range): { scale: number; zeroPoint: number } {
  const lo = Math.min(0, range.min);
  const hi = Math.max(0, range.max);
  const scale = Math.fround(hi > lo ? (hi - lo) / 255 : 1);
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-lo / scale))) };
}

/**
 * The QDQ model of a float32 converted Meso4: `ranges` holds each calibrationTensors() tensor's range; `name` and
 * `quantization` go into its metadata.
 */
export function quantizeModel(model: ModelProto, ranges: Map<string, Range>, name: string, quantization: string): ModelProto {
  const q = onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
  const graph = q.graph!;
  const initializers = new Map(graph.initializer!.map((t) => [t.name!, t]));
  const added: ITensorProto[] = [];
  const pairs = convRelus(q);
  const quantised = new Set(pairs.map((p) => p.conv.name!));
  const reluOutputs = new Set(pairs.map((p) => p.relu.output![0]!));
  const params = new Map<string, { scale: number; zeroPoint: number }>();
  const paramsOf = (t: string) => {
    let p = params.get(t);
    if (!p) {
      const range = ranges.get(t);
      if (!range) throw new Error(`quantize: no calibrated range for ${t}`);
      p = activationParams(range);
      params.set(t, p);
    }
    return p;
  };
  const out: INodeProto[] = [];
  const renamed = new Map<string, string>();
  /** Q then DQ of `t` with `p`; later readers of `t` read the DQ output. */
  const qdq = (t: string, p: { scale: number; zeroPoint: number }) => {
    const s = `${t}.q_scale`;
    const z = `${t}.q_zero`;
    added.push(tensor(s, DataType.FLOAT, [], float32LE(Float32Array.of(p.scale))), tensor(z, DataType.UINT8, [], Uint8Array.of(p.zeroPoint)));
    out.push({ opType: "QuantizeLinear", name: `${t}/quantize`, input: [t, s, z], output: [`${t}.q`] });
    out.push({ opType: "DequantizeLinear", name: `${t}/dequantize`, input: [`${t}.q`, s, z], output: [`${t}.dq`] });
    renamed.set(t, `${t}.dq`);
  };
  for (const node of graph.node!) {
    node.input = node.input!.map((i) => renamed.get(i) ?? i);
    if (node.opType === "Conv" && quantised.has(node.name!)) {
      // Reads the activation through Q/DQ (one per tensor), weights int8 per channel, bias int32 at input x weight scale.
      const original = node.input[0]!;
      const source = [...renamed].find(([, v]) => v === original)?.[0] ?? original;
      const a = paramsOf(source);
      if (!renamed.has(source)) {
        qdq(source, a);
        node.input[0] = renamed.get(source)!;
      }
      const w = initializers.get(node.input[1]!)!;
      const b = initializers.get(node.input[2]!)!;
      const weights = tensorFloats(w);
      const bias = tensorFloats(b);
      const filters = Number(w.dims![0]);
      const per = weights.length / filters;
      const wScale = new Float32Array(filters);
      const wq = new Int8Array(weights.length);
      const bScale = new Float32Array(filters);
      const bq = new Int32Array(filters);
      for (let o = 0; o < filters; o++) {
        let maxAbs = 0;
        for (let i = 0; i < per; i++) maxAbs = Math.max(maxAbs, Math.abs(weights[o * per + i]!));
        wScale[o] = maxAbs > 0 ? maxAbs / 127 : 1;
        for (let i = 0; i < per; i++) wq[o * per + i] = Math.max(-127, Math.min(127, Math.round(weights[o * per + i]! / wScale[o]!)));
        bScale[o] = a.scale * wScale[o]!;
        bq[o] = Math.round(bias[o]! / bScale[o]!);
      }
      const wn = w.name!;
      const bn = b.name!;
      added.push(
        tensor(`${wn}.int8`, DataType.INT8, w.dims!.map(Number), new Uint8Array(wq.buffer)),
        tensor(`${wn}.scale`, DataType.FLOAT, [filters], float32LE(wScale)),
        tensor(`${wn}.zero`, DataType.INT8, [filters], new Uint8Array(filters)),
        tensor(`${bn}.int32`, DataType.INT32, [filters], int32s(bq)),
        tensor(`${bn}.scale`, DataType.FLOAT, [filters], float32LE(bScale)),
        tensor(`${bn}.zero`, DataType.INT32, [filters], new Uint8Array(filters * 4)),
      );
      const axis = { name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 0 };
      out.push({ opType: "DequantizeLinear", name: `${wn}/dequantize`, input: [`${wn}.int8`, `${wn}.scale`, `${wn}.zero`], output: [`${wn}.dq`], attribute: [axis] });
      out.push({ opType: "DequantizeLinear", name: `${bn}/dequantize`, input: [`${bn}.int32`, `${bn}.scale`, `${bn}.zero`], output: [`${bn}.dq`], attribute: [axis] });
      node.input[1] = `${wn}.dq`;
      node.input[2] = `${bn}.dq`;
      initializers.delete(wn);
      initializers.delete(bn);
      out.push(node);
    } else if (node.opType === "Relu" && reluOutputs.has(node.output![0]!)) {
      out.push(node);
      qdq(node.output![0]!, paramsOf(node.output![0]!));
    } else if (node.opType === "MaxPool" && renamed.size > 0 && [...renamed.values()].includes(node.input[0]!)) {
      // Max commutes with quantisation: the same scale after the pool lets ONNX Runtime pool the uint8 values.
      const source = [...renamed].find(([, v]) => v === node.input![0])![0];
      out.push(node);
      qdq(node.output![0]!, paramsOf(source));
    } else {
      out.push(node);
    }
  }
  graph.node = out;
  graph.initializer = [...initializers.values(), ...added];
  graph.name = name;
  const props = new Map((q.metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""]));
  props.set(META_MODEL, name);
  props.set(META_QUANTIZATION, quantization);
  q.metadataProps = [...props].map(([key, value]) => ({ key, value }));
  return q;
}

// ---------------------------------------------------------------------------------------------
// Calibration and the variant's file

/** The int8 variants the converter builds: of the default model only (Meso4; MesoInception is not quantised). */
export const INT8_MODELS = ["meso4-df"] as const;

/** The calibration crops: the four shared MesoNet test crops (two deepfake, two real) beside the package. */
export function defaultCalibrationDir(): string {
  return path.resolve(packageRoot(), "../shared/mesonet/test_images");
}

/** The .jpg/.png files under `dir` (one level of sub-folders), sorted: the calibration set. */
export function calibrationFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...calibrationFiles(full));
    else if (/\.(jpe?g|png)$/i.test(entry.name)) files.push(full);
  }
  return files;
}

/** A face crop as the model input: RGB, nearest resize to 256x256 (as Keras load_img), x/255, planar. */
async function cropTensor(file: string): Promise<Float32Array> {
  const { data } = await sharp(file).removeAlpha().resize(256, 256, { kernel: "nearest", fit: "fill" }).raw().toBuffer({ resolveWithObject: true });
  const plane = 256 * 256;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[c * plane + i] = data[i * 3 + c]! / 255;
  return out;
}

/** Each calibration tensor's min and max over the crops, from the float32 model. */
export async function calibrate(model: ModelProto, crops: string[]): Promise<Map<string, Range>> {
  const tensors = calibrationTensors(model);
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(withOutputs(model, tensors)).finish(), { graphOptimizationLevel: "disabled" });
  const ranges = new Map<string, Range>();
  try {
    for (const file of crops) {
      const result = await session.run({ input: new ort.Tensor("float32", await cropTensor(file), [1, 3, 256, 256]) });
      for (const t of tensors) {
        const data = result[t]!.data as Float32Array;
        const r = ranges.get(t) ?? { min: Infinity, max: -Infinity };
        for (const v of data) {
          if (v < r.min) r.min = v;
          if (v > r.max) r.max = v;
        }
        ranges.set(t, r);
      }
    }
  } finally {
    await session.release();
  }
  return ranges;
}

/** Builds `<name>-int8` from the float32 model bytes, calibrated on `crops`. */
export async function buildInt8Model(fp32: Uint8Array, name: string, crops: string[]): Promise<ModelProto> {
  if (crops.length === 0) throw new Error(`quantize: no calibration crops for ${name}`);
  const model = onnx.ModelProto.decode(fp32);
  const ranges = await calibrate(model, crops);
  const how = `QDQ: uint8 activations (min/max over ${crops.map((f) => path.basename(f)).join(", ")}), int8 weights per output channel, int32 bias`;
  return quantizeModel(model, ranges, `${name}${INT8_SUFFIX}`, how);
}
