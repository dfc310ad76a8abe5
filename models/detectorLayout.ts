// BlazeFace (back) laid out for ONNX Runtime's blocked CPU kernels. Its first stage works on 24 channels at 128x128
// and 64x64; the NCHWc kernels work on 16-channel blocks (AVX-512), so every conv there already computes 32 channels
// and each residual Add and ReLU between them is reordered out of the blocks and back. With the stage's tensors
// padded to 32 channels by zero filters (zero weights and bias: the extra channels stay 0 through ReLU, Add and
// MaxPool), the whole stage stays blocked. The same products are summed, and only their order can differ: the
// outputs agree with the published model's within float rounding (test/detectorLayout.test.ts). One ONNX Runtime
// thread, this machine: 7.2-7.3 -> 6.5-6.7 ms per 256x256 input.
//
// The rewrite follows the tensors from the first 24-filter conv: a plain conv reading one gets zero input columns
// (and zero filters where it also outputs 24), a depthwise conv zero groups; Relu, Add and MaxPool pass the padding
// on; the Concat that pads a residual to 48 channels with zeros takes 8 fewer zero channels. Any other reader of a
// padded tensor is an error, as is a model with no such stage.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import onnxProto from "onnx-proto";

import { BLOCKED_DETECTORS, blazefacePackageDir, blockedDetectorFile, type DetectorName, publishedDetectorPath } from "../src/faces/detectorModels.js";
import { defaultGeneratedDir } from "../src/models/paths.js";
import { decodeModel, encodeModel, float32LE, readModelMetadata, tensorFloats } from "./mesonetGraph.js";

const { onnx } = onnxProto;
type ModelProto = onnxProto.onnx.ModelProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;

/** Metadata of a rewritten detector: the rewrite's version and the published file's sha256 it was made from. */
export const META_DETECTOR_LAYOUT = "mesoguard.detector_layout";
export const META_DETECTOR_SOURCE_SHA256 = "mesoguard.detector_source_sha256";
export const DETECTOR_LAYOUT_VERSION = "1";

function setFloats(t: ITensorProto, dims: number[], data: Float32Array): void {
  t.dims = dims;
  t.rawData = float32LE(data);
}

/** A copy of `model` with its `from`-channel stage padded to `to` channels (see the notes at the top). */
export function padChannels(model: ModelProto, from: number, to: number): ModelProto {
  const m = decodeModel(encodeModel(model));
  const graph = m.graph!;
  const initializers = new Map(graph.initializer!.map((t) => [t.name!, t]));
  const initializer = (name: string, node: INodeProto) => {
    const t = initializers.get(name);
    if (!t) throw new Error(`detector layout: ${node.name}: ${name} is not a constant`);
    return t;
  };
  const padded = new Set<string>();
  for (const node of graph.node!) {
    const inputs = node.input!;
    const paddedInputs = inputs.filter((i) => padded.has(i));
    const where = `detector layout: ${node.opType} ${node.name}`;
    if (node.opType === "Conv") {
      const w = initializer(inputs[1]!, node);
      const [filters, perGroup, kh, kw] = w.dims!.map(Number) as [number, number, number, number];
      const bias = inputs[2] ? initializer(inputs[2], node) : null;
      const groupAttr = node.attribute!.find((a) => a.name === "group");
      const group = Number(groupAttr?.i ?? 1);
      const taps = kh * kw;
      const padBias = (count: number) => {
        if (!bias) return;
        const b = new Float32Array(count);
        b.set(tensorFloats(bias));
        setFloats(bias, [count], b);
      };
      if (group > 1) {
        if (!padded.has(inputs[0]!)) continue;
        if (group !== from || filters !== from || perGroup !== 1) throw new Error(`${where}: a grouped conv on the padded stage that is not depthwise`);
        const out = new Float32Array(to * taps);
        out.set(tensorFloats(w));
        setFloats(w, [to, 1, kh, kw], out);
        padBias(to);
        groupAttr!.i = to;
        padded.add(node.output![0]!);
        continue;
      }
      const inputPadded = padded.has(inputs[0]!);
      const newIn = inputPadded ? perGroup + (to - from) : perGroup;
      const newFilters = filters === from ? to : filters;
      if (inputPadded && perGroup !== from) throw new Error(`${where}: reads ${perGroup} channels of a padded tensor`);
      if (!inputPadded && newFilters === filters) continue;
      const data = tensorFloats(w);
      const out = new Float32Array(newFilters * newIn * taps);
      for (let o = 0; o < filters; o++)
        for (let i = 0; i < perGroup; i++) out.set(data.subarray((o * perGroup + i) * taps, (o * perGroup + i + 1) * taps), (o * newIn + i) * taps);
      setFloats(w, [newFilters, newIn, kh, kw], out);
      if (newFilters !== filters) {
        padBias(newFilters);
        padded.add(node.output![0]!);
      }
    } else if (node.opType === "Relu" || node.opType === "Add" || node.opType === "MaxPool") {
      if (paddedInputs.length === 0) continue;
      if (paddedInputs.length !== inputs.length) throw new Error(`${where}: mixes padded and unpadded inputs`);
      padded.add(node.output![0]!);
    } else if (node.opType === "Concat" && paddedInputs.length > 0) {
      // [x, zeros] along the channels: x's own zero channels are 8 of those zeros.
      const zeros = inputs.find((i) => !padded.has(i));
      const source = graph.node!.find((n) => n.output![0] === zeros && n.opType === "ConstantOfShape");
      const axis = Number(node.attribute!.find((a) => a.name === "axis")?.i ?? 0);
      if (paddedInputs.length !== 1 || inputs.length !== 2 || inputs[0] !== paddedInputs[0] || !source || axis !== 1) {
        throw new Error(`${where}: only [padded tensor, zeros] along the channels is supported`);
      }
      const shape = initializer(source.input![0]!, source);
      const dims = (shape.int64Data ?? []).map(Number);
      if (dims.length !== 4 || dims[1]! < to - from) throw new Error(`${where}: the zeros' shape [${dims.join(",")}] is not [N, C >= ${to - from}, H, W]`);
      shape.int64Data = dims.map((d, i) => (i === 1 ? d - (to - from) : d));
    } else if (paddedInputs.length > 0) {
      throw new Error(`${where}: reads a padded tensor and is not supported`);
    }
  }
  if (padded.size === 0) throw new Error(`detector layout: no conv with ${from} filters: not the expected BlazeFace model`);
  // The recorded shapes of the padded tensors are stale: ONNX Runtime infers them again.
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => !padded.has(v.name!));
  return m;
}

/** The Apache-2.0 text the BlazeFace package ships, copied beside its derived files under this name. */
export const DETECTOR_LICENSE_FILE = "LICENSE-blazeface";

/**
 * Writes the rewritten copy of each detector in BLOCKED_DETECTORS into `outDir` (default models/generated), unless
 * one made by this version from the same published file is there. Resolves to the files written or kept.
 */
export async function buildDetectorModels(opts: { outDir?: string; log?: (line: string) => void } = {}): Promise<string[]> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const outDir = path.resolve(opts.outDir ?? defaultGeneratedDir());
  await mkdir(outDir, { recursive: true });
  const files: string[] = [];
  for (const [name, stage] of Object.entries(BLOCKED_DETECTORS) as Array<[DetectorName, { from: number; to: number }]>) {
    const source = publishedDetectorPath(name);
    const bytes = readFileSync(source);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const file = blockedDetectorFile(name, outDir);
    if (existsSync(file)) {
      const meta = readModelMetadata(readFileSync(file));
      if (meta[META_DETECTOR_LAYOUT] === DETECTOR_LAYOUT_VERSION && meta[META_DETECTOR_SOURCE_SHA256] === sha256) {
        log(`${name}: up to date ${file}`);
        files.push(file);
        continue;
      }
    }
    const model = padChannels(onnx.ModelProto.decode(bytes), stage.from, stage.to);
    const props = (model.metadataProps ?? []).filter((p) => p.key !== META_DETECTOR_LAYOUT && p.key !== META_DETECTOR_SOURCE_SHA256);
    props.push({ key: META_DETECTOR_LAYOUT, value: DETECTOR_LAYOUT_VERSION }, { key: META_DETECTOR_SOURCE_SHA256, value: sha256 });
    model.metadataProps = props;
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, encodeModel(model));
    await rename(tmp, file);
    log(`${name}: built ${file} (its ${stage.from}-channel stage padded to ${stage.to} channels) from ${source}`);
    files.push(file);
  }
  // A derived work of the package's Apache-2.0 models: its license goes with it.
  copyFileSync(path.join(blazefacePackageDir(), "LICENSE"), path.join(outDir, DETECTOR_LICENSE_FILE));
  return files;
}
