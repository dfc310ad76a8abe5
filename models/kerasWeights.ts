// Reads a Keras 2.x "weights only" HDF5 file (model.save_weights) with h5wasm.
//
// Layout written by Keras 2.1.5:  /<layer>/ has attribute weight_names = ["<layer>/kernel:0", ...]
// and each weight is the dataset /<layer>/<layer>/<param>:0. We follow weight_names (the list Keras
// itself loads from) rather than guessing dataset paths.
import { closeSync, openSync, readSync } from "node:fs";
import h5wasm from "h5wasm/node";

/** A dense float32 array in row-major order with its shape (Keras layout, untransposed). */
export interface WeightTensor {
  data: Float32Array;
  shape: number[];
}

/** The parameters a MesoNet layer can carry; which ones are present depends on the layer type. */
export interface KerasLayerWeights {
  kernel?: WeightTensor;
  bias?: WeightTensor;
  gamma?: WeightTensor;
  beta?: WeightTensor;
  moving_mean?: WeightTensor;
  moving_variance?: WeightTensor;
}

export type KerasParamName = keyof KerasLayerWeights;

/** layer name (e.g. "conv2d_5") -> its weights. Layers without weights (pooling, dropout...) are left out. */
export type KerasWeights = Map<string, KerasLayerWeights>;

const PARAM_NAMES: readonly KerasParamName[] = ["kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"];

/** Reads every weighted layer of a Keras .h5 weights file. Throws on anything unexpected. */
export async function readKerasWeights(file: string): Promise<KerasWeights> {
  // h5wasm does not fail cleanly on a non-HDF5 file (it errors later with an unrelated message),
  // so check the signature first.
  if (!hasHdf5Signature(file)) throw new Error(`${file}: cannot open as HDF5 (no HDF5 signature)`);
  await h5wasm.ready;
  const h5 = new h5wasm.File(file, "r");
  try {
    const layers: KerasWeights = new Map();
    for (const layerName of h5.keys()) {
      const group = h5.get(layerName);
      if (!(group instanceof h5wasm.Group)) continue;
      const weightNames = group.attrs["weight_names"]?.value;
      // Weightless layers store an empty attribute; keras writes the names as a string array.
      if (!Array.isArray(weightNames) || weightNames.length === 0) continue;

      const weights: KerasLayerWeights = {};
      for (const wn of weightNames) {
        if (typeof wn !== "string") throw new Error(`${file}: layer ${layerName} has a non-string weight name`);
        // "conv2d_5/kernel:0" -> "kernel"
        const param = wn.slice(wn.lastIndexOf("/") + 1).replace(/:\d+$/, "");
        if (!(PARAM_NAMES as readonly string[]).includes(param)) {
          throw new Error(`${file}: layer ${layerName} has unsupported weight "${wn}"`);
        }
        const ds = group.get(wn);
        if (!(ds instanceof h5wasm.Dataset)) throw new Error(`${file}: dataset /${layerName}/${wn} is missing`);
        weights[param as KerasParamName] = toTensor(ds.value, ds.shape, `${file}:/${layerName}/${wn}`);
      }
      layers.set(layerName, weights);
    }
    return layers;
  } finally {
    h5.close();
  }
}

/** HDF5 files start with this signature at offset 0, 512, 1024, 2048, ... (the superblock). */
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

function hasHdf5Signature(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    throw new Error(`${file}: cannot read (${(err as Error).message})`);
  }
  try {
    const buf = Buffer.alloc(HDF5_SIGNATURE.length);
    for (let offset = 0; offset < 1 << 30; offset = offset === 0 ? 512 : offset * 2) {
      if (readSync(fd, buf, 0, buf.length, offset) < buf.length) return false;
      if (buf.equals(HDF5_SIGNATURE)) return true;
    }
    return false;
  } finally {
    closeSync(fd);
  }
}

function toTensor(value: unknown, shape: number[] | null, where: string): WeightTensor {
  const dims = shape ?? [];
  const count = dims.reduce((a, b) => a * b, 1);
  // Keras stores float32; accept float64 too and narrow it (the graph is float32 anyway).
  if (!(value instanceof Float32Array) && !(value instanceof Float64Array)) {
    throw new Error(`${where}: expected a float dataset, got ${value?.constructor?.name ?? typeof value}`);
  }
  if (value.length !== count) throw new Error(`${where}: ${value.length} values for shape [${dims.join(",")}]`);
  // Copy so the result never aliases wasm memory.
  return { data: Float32Array.from(value), shape: [...dims] };
}
