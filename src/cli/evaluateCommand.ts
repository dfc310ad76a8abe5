// `mesoguard evaluate --real DIR --fake DIR [options]`: how well a model tells the user's real files from their fake
// ones. The data options and the scoring run are shared with `mesoguard calibrate`.
import { parseArgs } from "node:util";

import { loadScoringConfigFile } from "../config/serverConfig.js";
import { rocSvg, histogramSvg } from "../evaluate/charts.js";
import { collectDataset, DatasetError, scoreDataset } from "../evaluate/dataset.js";
import { evaluateScores, MIN_FILES_PER_CLASS, REPORTED_FPRS, type Evaluation } from "../evaluate/evaluation.js";
import { evaluationLines } from "../evaluate/evaluationText.js";
import { BOOTSTRAP_DEFAULTS } from "../evaluate/metrics.js";
import { writeFilesAtomically } from "../evaluate/outputFiles.js";
import { DEFAULT_DETECTOR, detectorNames, type DetectorName } from "../faces/detectorModels.js";
import { DEFAULT_MODEL, modelNames } from "../models/manifest.js";
import type { ProviderRequest } from "../native/addonTypes.js";
import { IMAGE_EXTENSIONS, VIDEO_EXTENSIONS } from "../scan/mediaFiles.js";
import { ProgressBar } from "../scan/progressBar.js";
import { MesoNetScorer } from "../scoring/MesoNetScorer.js";
import { resolveVerdictConfig } from "../verdict/verdictConfig.js";

/** The options both commands take (their usage texts list them). */
export const DATASET_USAGE = `  --real DIR         folder of real videos (${VIDEO_EXTENSIONS.join(" ")}) and images (${IMAGE_EXTENSIONS.join(" ")}), recursive
  --fake DIR         folder of fake ones
  --model NAME       ${modelNames().join(", ")} (default ${DEFAULT_MODEL}, or the --config file's)
  --detector NAME    ${detectorNames().join(", ")} (default ${DEFAULT_DETECTOR})
  --no-detect        every frame is a face crop already (no detector)
  --provider P       auto (default), tensorrt, cuda or cpu
  --config FILE      a config file (serve's format, e.g. calibrate's config.json): its model and verdict settings
  --json             print the JSON instead of the table (no progress bar)`;

export const EVALUATE_USAGE = `Usage: mesoguard evaluate --real DIR --fake DIR [options]

Scores every file as \`mesoguard scan\` does (videos sampled, faces tracked, the verdict's aggregate per file) and
reports, at file level (one score per file) and frame level (every scored face): ROC AUC with a ${Math.round(BOOTSTRAP_DEFAULTS.level * 100)}% bootstrap
interval (${BOOTSTRAP_DEFAULTS.resamples} resamples of the files within each class, seed ${BOOTSTRAP_DEFAULTS.seed}), EER, TPR at FPR ${REPORTED_FPRS.map((f) => `${f * 100}%`).join(", ")}, the
confusion at the verdict's thresholds (suspiciousAt, likelyFakeAt) and each file's score. Needs at least
${MIN_FILES_PER_CLASS} files with a face per class; a file that cannot be read stops it (exit 1, nothing written).

Options:
${DATASET_USAGE}
  --out DIR          also write DIR/evaluation.json, DIR/roc.svg, DIR/histogram-file.svg, DIR/histogram-frame.svg
  -h, --help         this text

Exit code: 0 done, 1 bad data (nothing written), 2 bad usage.`;

export class UsageError extends Error {}

export const DATASET_OPTIONS = {
  real: { type: "string" },
  fake: { type: "string" },
  model: { type: "string" },
  detector: { type: "string", default: DEFAULT_DETECTOR },
  "no-detect": { type: "boolean", default: false },
  provider: { type: "string", default: "auto" },
  config: { type: "string" },
  json: { type: "boolean", default: false },
  out: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

export interface DatasetArgs {
  real: string;
  fake: string;
  model?: string;
  detector: string;
  "no-detect": boolean;
  provider: string;
  config?: string;
  json: boolean;
}

/** Checks the shared options; throws a UsageError. */
export function checkDatasetArgs(values: Partial<DatasetArgs>): DatasetArgs {
  if (!values.real) throw new UsageError("--real DIR is required");
  if (!values.fake) throw new UsageError("--fake DIR is required");
  return values as DatasetArgs;
}

/** Scans both folders and computes the metrics; throws a DatasetError on bad data. */
export async function evaluateDataset(args: DatasetArgs, err: NodeJS.WriteStream): Promise<Evaluation> {
  const file = args.config ? loadScoringConfigFile(args.config) : null;
  const verdict = file?.verdict ?? resolveVerdictConfig();
  const files = await collectDataset(args.real, args.fake);
  const scorer = await MesoNetScorer.create({
    model: args.model ?? file?.model ?? DEFAULT_MODEL,
    provider: args.provider as ProviderRequest,
    detector: args["no-detect"] ? false : (args.detector as DetectorName),
  });
  const bar = !args.json && err.isTTY ? new ProgressBar(err) : null;
  try {
    const scores = await scoreDataset(scorer, files, { verdict, onProgress: bar ? (p) => bar.update(p) : undefined });
    return evaluateScores(scores, { model: scorer.model.name, detector: scorer.detectorName, verdict });
  } finally {
    bar?.done();
    await scorer.close();
  }
}

/** The charts and the JSON, by file name. */
export function evaluationFiles(evaluation: Evaluation, json: string): Record<string, string> {
  return {
    "evaluation.json": json,
    "roc.svg": rocSvg(evaluation),
    "histogram-file.svg": histogramSvg(evaluation, "file"),
    "histogram-frame.svg": histogramSvg(evaluation, "frame"),
  };
}

/** The data comes from --real and --fake only. */
export function rejectPositionals(positionals: string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (folders go after --real and --fake)`);
}

/** Runs a dataset command's body: usage errors exit 2, bad data exits 1 with its message, both on stderr. */
export async function runDatasetCommand(name: string, usage: string, err: NodeJS.WriteStream, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    const parseError = (error as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS") === true;
    if (error instanceof UsageError || parseError) {
      err.write(`mesoguard ${name}: ${(error as Error).message}\n\n${usage}\n`);
      return 2;
    }
    if (error instanceof DatasetError) {
      err.write(`mesoguard ${name}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

export async function runEvaluateCommand(argv: string[], out: (line: string) => void, err: NodeJS.WriteStream = process.stderr): Promise<number> {
  return runDatasetCommand("evaluate", EVALUATE_USAGE, err, async () => {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: DATASET_OPTIONS });
    rejectPositionals(positionals);
    if (values.help) {
      out(EVALUATE_USAGE);
      return 0;
    }
    const args = checkDatasetArgs(values);
    const evaluation = await evaluateDataset(args, err);
    const json = JSON.stringify(evaluation);
    if (values.out) await writeFilesAtomically(values.out, evaluationFiles(evaluation, json + "\n"));
    if (args.json) out(json);
    else for (const line of evaluationLines(evaluation)) out(line);
    return 0;
  });
}
