// `mesoguard score [--model NAME] [--no-detect] [--json] FILE...`
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import { DEFAULT_MODEL, modelNames } from "../../models/manifest.js";
import { MesoNetScorer } from "../scoring/MesoNetScorer.js";
import type { ProviderRequest, ResizeMode } from "../native/addonTypes.js";

export const SCORE_USAGE = `Usage: mesoguard score [options] FILE...

Scores JPEG images with MesoNet. Prints one line per file.

Options:
  --model NAME       ${modelNames().join(", ")} (default ${DEFAULT_MODEL})
  --no-detect        take each image as a face crop (required until face detection lands)
  --json             one JSON object per line: {"file","model","real","fake"}
  --provider P       auto (default), tensorrt, cuda or cpu
  --resize MODE      nearest (default, as Keras), bilinear or area
  -h, --help         this text

real is MesoNet's output P(REAL); fake = 1 - real.`;

export interface ScoreLine {
  file: string;
  model: string;
  real?: number;
  fake?: number;
  error?: string;
  code?: string;
}

export async function runScoreCommand(argv: string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: "string", default: DEFAULT_MODEL },
      "no-detect": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      provider: { type: "string", default: "auto" },
      resize: { type: "string", default: "nearest" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    out(SCORE_USAGE);
    return 0;
  }
  if (positionals.length === 0) {
    process.stderr.write(`mesoguard score: no files given\n\n${SCORE_USAGE}\n`);
    return 2;
  }
  if (!values["no-detect"]) {
    process.stderr.write(
      "mesoguard score: face detection is not available in this version; pass --no-detect to score images that " +
        "are already face crops\n",
    );
    return 2;
  }
  const scorer = await MesoNetScorer.create({
    model: values.model,
    provider: values.provider as ProviderRequest,
    resize: values.resize as ResizeMode,
  });
  let failures = 0;
  try {
    // All files go to the queue at once so they are batched; lines still come out in argument order.
    const lines = await Promise.all(positionals.map((file) => scoreFile(scorer, file)));
    for (const line of lines) {
      if (line.error) failures++;
      out(values.json ? JSON.stringify(line) : formatLine(line));
    }
  } finally {
    await scorer.close();
  }
  return failures === 0 ? 0 : 1;
}

async function scoreFile(scorer: MesoNetScorer, file: string): Promise<ScoreLine> {
  try {
    const data = await readFile(file);
    const score = await scorer.score({ kind: "jpeg", data });
    return { file, model: scorer.model.name, real: score.real, fake: score.fake };
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    return { file, model: scorer.model.name, error: e.message, code: e.code };
  }
}

function formatLine(line: ScoreLine): string {
  if (line.error) return `${line.file}\terror ${line.code ?? ""}: ${line.error}`;
  const verdict = (line.fake ?? 0) >= 0.5 ? "FAKE" : "real";
  return `${line.file}\t${verdict}\tfake=${line.fake!.toFixed(4)}\treal=${line.real!.toFixed(4)}\t(${line.model})`;
}
