// `mesoguard models list | add NAME --onnx FILE --manifest JSON|FILE | check NAME [--image FILE]`
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import { findInt8Variant, findModel, loadManifest, offeredInt8Variants, reservedModelNames } from "../models/manifest.js";
import { writeUserModel } from "../models/userModelStore.js";
import { readUserModel, userModelNames, userModelsDir } from "../models/userModels.js";
import type { FrameInput, ProviderRequest } from "../native/addonTypes.js";
import { MesoNetScorer } from "../scoring/MesoNetScorer.js";

export const MODELS_USAGE = `Usage: mesoguard models <list | add | check> [options]

  list [--json]                 the official models and the user models, with kind, input, source and licence
  add NAME --onnx FILE --manifest JSON|FILE [--card FILE] [--replace]
                                checks an ONNX face classifier against its manifest (input name and shape,
                                output name and index, ...), computes its sha256 and copies it into the user
                                model folder as NAME; "name", "kind", "file" and "sha256" may be left out
  check NAME [--image FILE] [--provider P]
                                loads the model through the addon (building its adapter) and scores one image
                                as a face crop (default: a mid-grey square)

User model folder: $MESOGUARD_MODELS_DIR, else models/local in the package (now ${userModelsDir()}).
A model is used everywhere by name: --model NAME, or --model a,b to average several.`;

export async function runModelsCommand(argv: string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      onnx: { type: "string" },
      manifest: { type: "string" },
      card: { type: "string" },
      replace: { type: "boolean", default: false },
      image: { type: "string" },
      provider: { type: "string", default: "auto" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [action, name, ...extra] = positionals;
  if (values.help) {
    out(MODELS_USAGE);
    return 0;
  }
  const usage = (message: string): number => {
    process.stderr.write(`mesoguard models: ${message}\n\n${MODELS_USAGE}\n`);
    return 2;
  };
  if (extra.length > 0) return usage(`unexpected arguments: ${extra.join(" ")}`);
  switch (action) {
    case "list":
      listModels(values.json, out);
      return 0;
    case "add": {
      if (!name) return usage("add needs a NAME");
      if (!values.onnx || !values.manifest) return usage("add needs --onnx FILE and --manifest JSON|FILE");
      const manifest = parseManifestArgument(values.manifest);
      if (manifest.name !== undefined && manifest.name !== name) return usage(`the manifest names "${String(manifest.name)}", not "${name}"`);
      const entry = await writeUserModel({
        manifest: { ...manifest, name },
        onnxBytes: await readFile(values.onnx),
        modelCard: values.card === undefined ? undefined : await readFile(values.card, "utf8"),
        replace: values.replace,
      });
      out(`added ${entry.name} (sha256 ${entry.sha256}) in ${entry.dir}`);
      return 0;
    }
    case "check":
      if (!name) return usage("check needs a NAME");
      return checkModel(name, values.image, values.provider as ProviderRequest, out);
    case undefined:
      return usage("no action given");
    default:
      return usage(`unknown action '${action}'`);
  }
}

/** --manifest: inline JSON (starting with "{") or a file holding it. */
function parseManifestArgument(value: string): Record<string, unknown> {
  const fromFile = !value.trimStart().startsWith("{");
  if (fromFile && !existsSync(value)) throw new Error(`mesoguard models: --manifest ${value}: no such file (give a file or inline JSON)`);
  const text = fromFile ? readFileSync(value, "utf8") : value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`mesoguard models: --manifest ${fromFile ? value : "JSON"} is not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("mesoguard models: --manifest must be a JSON object");
  return parsed as Record<string, unknown>;
}

interface ModelRow {
  name: string;
  kind: string;
  input: string;
  source: string;
  license: string;
  error?: string;
}

function listModels(json: boolean, out: (line: string) => void): void {
  const int8 = offeredInt8Variants().map((n) => findInt8Variant(n)!);
  const rows: ModelRow[] = [...loadManifest(), ...int8].map((e) => ({
    name: e.name,
    kind: `mesonet (${e.architecture}, trained on ${e.trainedOn}${e.int8Of ? `, int8 of ${e.int8Of}` : ""})`,
    input: "256x256 nchw rgb",
    source: e.sourceUrl,
    license: e.license,
  }));
  for (const name of userModelNames()) {
    try {
      const e = readUserModel(name, reservedModelNames())!;
      const { input } = e;
      rows.push({ name, kind: "onnx", input: `${input.width}x${input.height} ${input.layout} ${input.channels}`, source: e.source, license: e.license });
    } catch (error) {
      rows.push({ name, kind: "onnx", input: "?", source: "?", license: "?", error: (error as Error).message });
    }
  }
  if (json) {
    for (const row of rows) out(JSON.stringify(row));
    return;
  }
  out(["name", "kind", "input", "license", "source"].join("\t"));
  for (const r of rows) out(r.error ? `${r.name}\tinvalid: ${r.error}` : [r.name, r.kind, r.input, r.license, r.source].join("\t"));
}

async function checkModel(name: string, image: string | undefined, provider: ProviderRequest, out: (line: string) => void): Promise<number> {
  findModel(name); // a bad manifest fails here, naming its file and field
  const scorer = await MesoNetScorer.create({ model: name, detector: false, provider });
  try {
    const info = scorer.info();
    const [, , height, width] = info.input.shape;
    const frame: FrameInput = image
      ? { kind: /\.png$/i.test(image) ? "png" : "jpeg", data: await readFile(image) }
      : { kind: "rgb", data: Buffer.alloc(width * height * 3, 128), width, height };
    const score = await scorer.score(frame);
    out(`${name}: loaded ${info.modelPath} on ${info.provider}, input ${width}x${height}`);
    out(`${name}: ${image ?? "mid-grey square"}: fake=${score.fake.toFixed(6)} real=${score.real.toFixed(6)}`);
    return Number.isFinite(score.fake) ? 0 : 1;
  } finally {
    await scorer.close();
  }
}
