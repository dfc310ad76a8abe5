// Wraps a user's ONNX face classifier into the native scorer's one contract: input "input" float32 [N,3,H,W]
// planar RGB in [0,1], outputs "real" [N,1] (P(REAL)) and "logit" [N,1]. The adapter graph is
//
//   input -> Mul(scale) -> Sub(mean) -> Div(std) -> [Gather: RGB->BGR] -> [Transpose: NCHW->NHWC] -> the user's graph
//   user output -> Reshape [N,-1] -> Gather(index) -> P(real) / logit, as output.meaning says
//
// with the user's graph inlined under the "user/" prefix and its opset imports kept. The adapter uses only ops whose
// float semantics are the same in every opset from 8 on (Mul, Sub, Div, Gather, Transpose, Reshape, Sigmoid, Neg,
// Log, Max, Min), so the user's nodes keep the opset they were exported with.
import { createHash } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

import onnxProto from "onnx-proto";

import type { UserModelEntry, UserModelManifest } from "./userModels.js";

const { onnx } = onnxProto;
type ModelProto = onnxProto.onnx.ModelProto;
type IGraphProto = onnxProto.onnx.IGraphProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;

/** Bump when the adapter graph changes: cached adapted models of older versions are rebuilt. */
export const ADAPTER_VERSION = 1;
/** The oldest default-domain opset the adapter's ops keep their semantics in (broadcasting Max/Min: opset 8). */
export const MIN_USER_OPSET = 8;
const USER_PREFIX = "user/";
const ADAPTER_PREFIX = "mesoguard/";
/** Probabilities are kept this far from 0 and 1 for the "logit" output only ("real" is the model's own value). */
const LOGIT_EPSILON = 1e-7;

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const AttrType = onnx.AttributeProto.AttributeType;

/** The lower-case hex sha256 of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

const num = (v: number | { toString(): string } | null | undefined): number => (v == null ? 0 : Number(v.toString()));

function tensorDims(v: IValueInfoProto): Array<number | undefined> | undefined {
  const dims = v.type?.tensorType?.shape?.dim;
  return dims ? dims.map((d) => (d.dimValue != null && num(d.dimValue) > 0 ? num(d.dimValue) : undefined)) : undefined;
}

/** Every initializer of a graph and its subgraphs. */
function* allInitializers(graph: IGraphProto): Generator<ITensorProto> {
  yield* graph.initializer ?? [];
  for (const s of graph.sparseInitializer ?? []) {
    if (s.values) yield s.values;
    if (s.indices) yield s.indices;
  }
  for (const node of graph.node ?? []) {
    for (const a of node.attribute ?? []) {
      if (a.g) yield* allInitializers(a.g);
      for (const g of a.graphs ?? []) yield* allInitializers(g);
      if (a.t) yield a.t;
    }
  }
}

/**
 * Parses model.onnx and checks it against the manifest: one float input named input.name whose shape fits
 * layout/width/height, output.name among the outputs with output.index in range where its size is static, no
 * external data, a default-domain opset the adapter supports. Throws an Error naming `where` and the field.
 */
export function inspectUserModel(bytes: Uint8Array, manifest: UserModelManifest, where: string): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new Error(`${where}: not an ONNX model (${(error as Error).message})`);
  }
  const graph = model.graph;
  if (!graph || (graph.node ?? []).length === 0) throw new Error(`${where}: not an ONNX model (no graph)`);
  for (const t of allInitializers(graph)) {
    if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData ?? []).length > 0) {
      throw new Error(
        `${where}: tensor "${t.name}" is stored in an external data file; mesoguard needs the weights inside model.onnx ` +
          `(save it with onnx.save_model(model, path, save_as_external_data=False))`,
      );
    }
  }
  const opset = defaultOpset(model);
  if (opset !== undefined && opset < MIN_USER_OPSET) {
    throw new Error(`${where}: opset ${opset} is older than ${MIN_USER_OPSET}, the oldest the adapter supports (re-export with a newer opset)`);
  }

  const initializerNames = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((v) => !initializerNames.has(v.name));
  const { input, output } = manifest;
  const modelInput = inputs.find((v) => v.name === input.name);
  if (!modelInput) {
    throw new Error(`${where}: input.name "${input.name}" is not an input of the model (its inputs: ${inputs.map((v) => v.name).join(", ")})`);
  }
  if (inputs.length !== 1) throw new Error(`${where}: the model has ${inputs.length} inputs (${inputs.map((v) => v.name).join(", ")}); a face classifier takes one`);
  if (modelInput.type?.tensorType?.elemType !== FLOAT) throw new Error(`${where}: input "${input.name}" must be float32`);
  const dims = tensorDims(modelInput);
  if (!dims || dims.length !== 4) {
    throw new Error(`${where}: input "${input.name}" must have 4 dims (N,3,H,W or N,H,W,3), has ${dims ? dims.length : "an unknown shape"}`);
  }
  const [c, h, w] = input.layout === "nchw" ? [dims[1], dims[2], dims[3]] : [dims[3], dims[1], dims[2]];
  const shape = `[${dims.map((d) => d ?? "?").join(",")}]`;
  if (c !== undefined && c !== 3) throw new Error(`${where}: input.layout "${input.layout}" puts the channels where input "${input.name}" ${shape} has ${c}`);
  if (h !== undefined && h !== input.height) throw new Error(`${where}: input.height is ${input.height} but input "${input.name}" ${shape} is ${h} high`);
  if (w !== undefined && w !== input.width) throw new Error(`${where}: input.width is ${input.width} but input "${input.name}" ${shape} is ${w} wide`);

  const modelOutput = (graph.output ?? []).find((v) => v.name === output.name);
  if (!modelOutput) {
    throw new Error(`${where}: output.name "${output.name}" is not an output of the model (its outputs: ${(graph.output ?? []).map((v) => v.name).join(", ")})`);
  }
  if (modelOutput.type?.tensorType?.elemType !== FLOAT) throw new Error(`${where}: output "${output.name}" must be float32`);
  const outDims = tensorDims(modelOutput);
  if (outDims && outDims.length === 0) throw new Error(`${where}: output "${output.name}" is a scalar; it needs a batch dim`);
  const perItem = outDims?.slice(1).reduce<number | undefined>((n, d) => (n === undefined || d === undefined ? undefined : n * d), 1);
  if (perItem !== undefined && output.index >= perItem) {
    throw new Error(`${where}: output.index ${output.index} is out of range: output "${output.name}" has ${perItem} value(s) per item`);
  }
  return model;
}

function defaultOpset(model: ModelProto): number | undefined {
  const o = (model.opsetImport ?? []).find((op) => !op.domain || op.domain === "ai.onnx");
  return o ? num(o.version) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Renaming the user's graph into the "user/" namespace

const renamed = (name: string | null | undefined): string => (name ? USER_PREFIX + name : "");

function renameGraph(g: IGraphProto): IGraphProto {
  const renameValue = (v: IValueInfoProto): IValueInfoProto => ({ ...v, name: renamed(v.name) });
  return {
    ...g,
    node: (g.node ?? []).map(renameNode),
    initializer: (g.initializer ?? []).map((t) => ({ ...t, name: renamed(t.name) })),
    sparseInitializer: (g.sparseInitializer ?? []).map((s) => ({
      ...s,
      values: s.values ? { ...s.values, name: renamed(s.values.name) } : s.values,
      indices: s.indices ? { ...s.indices, name: renamed(s.indices.name) } : s.indices,
    })),
    input: (g.input ?? []).map(renameValue),
    output: (g.output ?? []).map(renameValue),
    valueInfo: (g.valueInfo ?? []).map(renameValue),
    quantizationAnnotation: (g.quantizationAnnotation ?? []).map((q) => ({ ...q, tensorName: renamed(q.tensorName) })),
  };
}

/** Subgraphs (If, Loop, Scan) see the outer names, so they are renamed the same way. */
function renameNode(n: INodeProto): INodeProto {
  return {
    ...n,
    name: renamed(n.name),
    input: (n.input ?? []).map(renamed),
    output: (n.output ?? []).map(renamed),
    attribute: (n.attribute ?? []).map(
      (a): IAttributeProto => ({ ...a, g: a.g ? renameGraph(a.g) : a.g, graphs: (a.graphs ?? []).map(renameGraph) }),
    ),
  };
}

// ---------------------------------------------------------------------------------------------
// The adapter graph

function floatTensor(name: string, dims: number[], values: number[]): ITensorProto {
  return { name, dims, dataType: FLOAT, floatData: values };
}

function int64Tensor(name: string, dims: number[], values: number[]): ITensorProto {
  return { name, dims, dataType: INT64, int64Data: values };
}

const tensorType = (dims: Array<number | string>): IValueInfoProto["type"] => ({
  tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) } },
});

/** The user's model (checked by inspectUserModel) wrapped into the scorer's contract. */
export function buildAdaptedModel(user: ModelProto, manifest: UserModelManifest): ModelProto {
  const { input, output } = manifest;
  const nodes: INodeProto[] = [];
  const initializers: ITensorProto[] = [];
  const a = (name: string) => ADAPTER_PREFIX + name;
  const node = (opType: string, name: string, inputs: string[], outputs: string[], attribute: IAttributeProto[] = []) =>
    nodes.push({ opType, name: a(name), input: inputs, output: outputs, attribute });

  // ((pixel01 * scale) - mean) / std on RGB planes, then the model's channel order and layout.
  initializers.push(floatTensor(a("scale"), [], [input.scale]));
  initializers.push(floatTensor(a("mean"), [1, 3, 1, 1], input.mean));
  initializers.push(floatTensor(a("std"), [1, 3, 1, 1], input.std));
  node("Mul", "scale", ["input", a("scale")], [a("scaled")]);
  node("Sub", "mean", [a("scaled"), a("mean")], [a("centred")]);
  node("Div", "std", [a("centred"), a("std")], [a("normalised")]);
  let x = a("normalised");
  if (input.channels === "bgr") {
    initializers.push(int64Tensor(a("bgr"), [3], [2, 1, 0]));
    node("Gather", "rgb_to_bgr", [x, a("bgr")], [a("bgr_planes")], [{ name: "axis", type: AttrType.INT, i: 1 }]);
    x = a("bgr_planes");
  }
  if (input.layout === "nhwc") {
    node("Transpose", "to_nhwc", [x], [a("nhwc")], [{ name: "perm", type: AttrType.INTS, ints: [0, 2, 3, 1] }]);
    x = a("nhwc");
  }
  // The user's (renamed) input is what the last step made.
  node("Identity", "user_input", [x], [renamed(input.name)]);

  const userGraph = renameGraph(user.graph!);
  const adapterStart = nodes.length;

  // The chosen value of each item: Reshape to [N, -1] (0 copies N), Gather [index] on axis 1 -> [N, 1].
  initializers.push(int64Tensor(a("flat_shape"), [2], [0, -1]));
  initializers.push(int64Tensor(a("index"), [1], [output.index]));
  node("Reshape", "flatten", [renamed(output.name), a("flat_shape")], [a("flat")]);
  node("Gather", "pick", [a("flat"), a("index")], [a("value")], [{ name: "axis", type: AttrType.INT, i: 1 }]);
  if (output.meaning === "logit-real" || output.meaning === "logit-fake") {
    if (output.meaning === "logit-real") node("Identity", "logit", [a("value")], ["logit"]);
    else node("Neg", "logit", [a("value")], ["logit"]);
    node("Sigmoid", "real", ["logit"], ["real"]);
  } else {
    initializers.push(floatTensor(a("one"), [], [1]));
    if (output.meaning === "p-real") node("Identity", "real", [a("value")], ["real"]);
    else node("Sub", "real", [a("one"), a("value")], ["real"]);
    initializers.push(floatTensor(a("eps_low"), [], [LOGIT_EPSILON]), floatTensor(a("eps_high"), [], [1 - LOGIT_EPSILON]));
    node("Max", "clip_low", ["real", a("eps_low")], [a("p_low")]);
    node("Min", "clip_high", [a("p_low"), a("eps_high")], [a("p")]);
    node("Sub", "one_minus_p", [a("one"), a("p")], [a("q")]);
    node("Log", "log_p", [a("p")], [a("log_p")]);
    node("Log", "log_q", [a("q")], [a("log_q")]);
    node("Sub", "logit", [a("log_p"), a("log_q")], ["logit"]);
  }

  const opsetImport = [...(user.opsetImport ?? [])];
  if (defaultOpset(user) === undefined) opsetImport.push({ domain: "", version: 13 });
  return onnx.ModelProto.create({
    // IR 4 on lets initializers stay out of the graph inputs: the adapted model has exactly one input.
    irVersion: Math.max(num(user.irVersion), 4),
    opsetImport,
    functions: user.functions ?? [],
    producerName: "mesoguard",
    docString: `mesoguard adapter (version ${ADAPTER_VERSION}) around the user model ${manifest.name}`,
    graph: {
      name: `${manifest.name}-adapted`,
      node: [...nodes.slice(0, adapterStart), ...(userGraph.node ?? []), ...nodes.slice(adapterStart)],
      initializer: [...initializers, ...(userGraph.initializer ?? [])],
      sparseInitializer: userGraph.sparseInitializer,
      valueInfo: userGraph.valueInfo,
      input: [{ name: "input", type: tensorType(["N", 3, input.height, input.width]) }],
      output: [
        { name: "real", type: tensorType(["N", 1]) },
        { name: "logit", type: tensorType(["N", 1]) },
      ],
    },
    metadataProps: [
      { key: "mesoguard.model", value: manifest.name },
      { key: "mesoguard.source_sha256", value: manifest.sha256 },
      { key: "mesoguard.output", value: `real = P(REAL) from ${output.name}[${output.index}] (${output.meaning})` },
    ],
  });
}

// ---------------------------------------------------------------------------------------------
// The cache of adapted models

/** What the adapted model depends on: the adapter version, the source model and the manifest fields it reads. */
function adapterKey(manifest: UserModelManifest): string {
  const { sha256, input, output } = manifest;
  return sha256Hex(Buffer.from(JSON.stringify({ version: ADAPTER_VERSION, sha256, input, output }))).slice(0, 16);
}

/**
 * The adapted model of a user model, for the native scorer: <model dir>/adapted-<key>.onnx, built when missing
 * (the key changes with model.onnx, the manifest's input/output fields and the adapter version; older ones are
 * removed). model.onnx is checked against the manifest's sha256 and inspected on every load.
 */
export async function adaptedModelPath(entry: UserModelEntry): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(entry.modelPath);
  } catch (error) {
    throw new Error(`${entry.modelPath}: cannot read the model of ${entry.name} (${(error as Error).message})`);
  }
  const actual = sha256Hex(bytes);
  if (actual !== entry.sha256) {
    throw new Error(`${entry.manifestPath}: "sha256" is ${entry.sha256} but ${entry.modelPath} has sha256 ${actual}`);
  }
  const model = inspectUserModel(bytes, entry, entry.modelPath);
  const file = path.join(entry.dir, `adapted-${adapterKey(entry)}.onnx`);
  if (existsSync(file)) return file;
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, onnx.ModelProto.encode(buildAdaptedModel(model, entry)).finish());
  await rename(temp, file);
  for (const old of readdirSync(entry.dir)) {
    if (/^adapted-[0-9a-f]{16}\.onnx$/.test(old) && path.join(entry.dir, old) !== file) await rm(path.join(entry.dir, old), { force: true });
  }
  return file;
}
