// MesoNet's dense head inside a converted ONNX model (mesonetGraph.ts): read its weights, replace them, and expose
// the flattened convolution features as an extra output. `mesoguard finetune` trains the head on those features
// and writes the parent model with its new head: the convolutions stay byte for byte the parent's.
import onnxProto from "onnx-proto";

import { decodeModel, encodeModel, FLATTEN_OUTPUT, float32LE, META_MODEL, OUTPUT_LOGIT, tensorType } from "./mesonetGraph.js";

type ModelProto = onnxProto.onnx.ModelProto;
type ITensorProto = onnxProto.onnx.ITensorProto;

/** Output of featuresModel(): the flattened convolution features, [N, features], in the head's row order. */
export const FEATURES_OUTPUT = "features";
/** Units of MesoNet's hidden dense layer. */
export const HEAD_UNITS = 16;

/** The head's parameters in Gemm's layout (Y = X * W + b): w1 [features, 16], b1 [16], w2 [16, 1], b2 [1]. */
export interface DenseHead {
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

type HeadParam = keyof DenseHead;
const HEAD_PARAMS: readonly HeadParam[] = ["w1", "b1", "w2", "b2"];

/** The head's four initializers, found by the graph's structure: the Gemm reading the flatten, the Gemm giving the logit. */
function headInitializers(model: ModelProto): Record<HeadParam, ITensorProto> {
  const nodes = model.graph?.node ?? [];
  const dense1 = nodes.find((n) => n.opType === "Gemm" && n.input?.[0] === FLATTEN_OUTPUT);
  const dense2 = nodes.find((n) => n.opType === "Gemm" && n.output?.[0] === OUTPUT_LOGIT);
  if (!dense1 || !dense2) throw new Error("not a MesoNet model converted by mesoguard: no dense head after the flatten");
  const initializer = (name: string | undefined | null): ITensorProto => {
    const t = model.graph?.initializer?.find((i) => i.name === name);
    if (!t?.rawData) throw new Error(`MesoNet model: dense head initializer ${String(name)} is missing`);
    return t;
  };
  const found = {
    w1: initializer(dense1.input?.[1]),
    b1: initializer(dense1.input?.[2]),
    w2: initializer(dense2.input?.[1]),
    b2: initializer(dense2.input?.[2]),
  };
  const dims = (p: HeadParam) => (found[p].dims ?? []).map(Number);
  const [features, units] = dims("w1");
  const expected: Record<HeadParam, number[]> = { w1: [features, HEAD_UNITS], b1: [HEAD_UNITS], w2: [HEAD_UNITS, 1], b2: [1] };
  for (const p of HEAD_PARAMS) {
    if (units !== HEAD_UNITS || dims(p).join(",") !== expected[p].join(",")) {
      throw new Error(`MesoNet model: dense head ${p} has shape [${dims(p).join(",")}], expected [${expected[p].join(",")}]`);
    }
  }
  return found;
}

function float32FromLE(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** The dense head's weights of an encoded MesoNet model. */
export function readHead(modelBytes: Uint8Array): DenseHead {
  const init = headInitializers(decodeModel(modelBytes));
  return {
    w1: float32FromLE(init.w1.rawData!),
    b1: float32FromLE(init.b1.rawData!),
    w2: float32FromLE(init.w2.rawData!),
    b2: float32FromLE(init.b2.rawData!),
  };
}

/** The same model with one more output, FEATURES_OUTPUT (the head's input), after "real" and "logit". */
export function featuresModel(modelBytes: Uint8Array): Uint8Array {
  const model = decodeModel(modelBytes);
  const features = Number(headInitializers(model).w1.dims![0]);
  model.graph!.node!.push({ opType: "Identity", name: "features", input: [FLATTEN_OUTPUT], output: [FEATURES_OUTPUT] });
  model.graph!.output!.push({ name: FEATURES_OUTPUT, type: tensorType(["N", features]) });
  return encodeModel(model);
}

/**
 * The same model with `head` in place of its dense head, named `name`; `metadata` entries are set (added or
 * replaced) in its metadata_props.
 */
export function withHead(modelBytes: Uint8Array, head: DenseHead, name: string, metadata: Record<string, string>): Uint8Array {
  const model = decodeModel(modelBytes);
  const init = headInitializers(model);
  for (const p of HEAD_PARAMS) {
    if (head[p].length * 4 !== init[p].rawData!.byteLength) {
      throw new Error(`dense head ${p}: ${head[p].length} values, the model has ${init[p].rawData!.byteLength / 4}`);
    }
    init[p].rawData = float32LE(head[p]);
  }
  model.graph!.name = name;
  const props = new Map((model.metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""]));
  props.set(META_MODEL, name);
  for (const [key, value] of Object.entries(metadata)) props.set(key, value);
  model.metadataProps = [...props].map(([key, value]) => ({ key, value }));
  return encodeModel(model);
}
