// `mesoguard finetune --real DIR --fake DIR --out NAME [options]`: src/finetune/finetune.ts on the command line.
import { parseArgs } from "node:util";

import { officialModelNames } from "../models/manifest.js";
import type { ProviderRequest } from "../native/addonTypes.js";
import { FINETUNE_DEFAULTS, finetune, type FinetuneProgress, type FinetuneResult } from "../finetune/finetune.js";
import { TPR_AT_FPR, type HeldOutMetrics } from "../finetune/heldOutMetrics.js";
import { AUGMENT_COPIES } from "../finetune/cropFeatures.js";
import { userModelsDir } from "../models/userModels.js";
import { barText } from "../scan/progressBar.js";

export const FINETUNE_USAGE = `Usage: mesoguard finetune --real DIR --fake DIR --out NAME [options]

Fine-tunes MesoNet on your labelled images: faces are cut by the same pipeline as \`score\`, split by file into
training and held-out sets, the parent model's convolution features are kept frozen and its dense head is trained
again. Writes the model (ONNX), its manifest and MODEL_CARD.md (held-out metrics before and after) to
${userModelsDir()}/NAME ($MESOGUARD_MODELS_DIR); then \`--model NAME\` uses it.

Options:
  --real DIR         images of real faces (searched recursively: .jpg .jpeg .png)
  --fake DIR         images of fake faces
  --out NAME         the new model's name (lower case, digits, . _ -; not an existing model's)
  --base NAME        the parent, an official model: ${officialModelNames().join(", ")} (default ${FINETUNE_DEFAULTS.base})
  --epochs N         passes over the training faces (default ${FINETUNE_DEFAULTS.epochs})
  --seed S           seed of the split, augmentation, batch order and dropout (default ${FINETUNE_DEFAULTS.seed});
                     the same seed and data give the same model
  --holdout F        fraction of each class's files held out for the metrics (default ${FINETUNE_DEFAULTS.holdout})
  --augment          train also on ${AUGMENT_COPIES} augmented copies of each training face (mirror, crop, JPEG)
  --no-detect        each image is a face crop already (no detector)
  --json             one JSON object with the result (no progress bar)
  --provider P       auto (default), tensorrt, cuda or cpu
  -h, --help         this text

Exit code: 0 when the model was written, 1 when the data or a file was bad (nothing is written), 2 for bad usage.`;

class UsageError extends Error {}

/** The option's number, or undefined when it is not given (finetune() fills the default). */
function numberOption(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got '${text}'`);
  return value;
}

/** Progress on a terminal: the crops (at most ten redraws a second, always the last), then each epoch. */
function progressDrawer(err: NodeJS.WriteStream): (p: FinetuneProgress) => void {
  let lastDraw = 0;
  return (p) => {
    const now = Date.now();
    if (p.stage === "crops" && p.filesDone < p.filesTotal && now - lastDraw < 100) return;
    lastDraw = now;
    drawProgress(err, p);
  };
}

function drawProgress(err: NodeJS.WriteStream, p: FinetuneProgress): void {
  const line =
    p.stage === "crops"
      ? `crops    ${barText(p.filesDone, p.filesTotal)} ${p.filesDone}/${p.filesTotal} files`
      : `training ${barText(p.epoch, p.epochs)} epoch ${p.epoch}/${p.epochs}, loss ${p.loss.toFixed(4)}, held-out AUC ${p.heldOutAuc.toFixed(3)}`;
  err.write(`\r${line}\x1b[K`);
}

function metricsLine(label: string, m: HeldOutMetrics): string {
  const tpr = TPR_AT_FPR.map((f) => `TPR@${f * 100}%FPR ${(m.tprAtFpr[String(f)]! * 100).toFixed(1)}%`).join(", ");
  return `${label}AUC ${m.auc.toFixed(3)} [${m.aucInterval.low.toFixed(3)}, ${m.aucInterval.high.toFixed(3)}], EER ${(m.eer * 100).toFixed(1)}%, ${tpr}`;
}

function humanSummary(r: FinetuneResult): string[] {
  const { real, fake } = r.data;
  return [
    `wrote ${r.name} to ${r.dir} (parent ${r.settings.base}, ${r.settings.epochs} epochs, seed ${r.settings.seed})`,
    `training faces: ${real.trainFaces} real, ${fake.trainFaces} fake (+${real.augmented + fake.augmented} augmented); ` +
      `held out: ${real.heldOutFaces} real, ${fake.heldOutFaces} fake`,
    metricsLine(`held-out, parent ${r.settings.base}: `, r.metrics.heldOut.before),
    metricsLine(`held-out, ${r.name}: `, r.metrics.heldOut.after),
    ...(r.data.skippedVideos > 0 ? [`${r.data.skippedVideos} video file(s) in the folders were skipped: fine-tuning reads images`] : []),
    `use it: mesoguard score --model ${r.name} ...; its card: ${r.dir}/MODEL_CARD.md`,
  ];
}

export async function runFinetuneCommand(argv: string[], out: (line: string) => void, err: NodeJS.WriteStream = process.stderr): Promise<number> {
  let values;
  let numbers: { epochs?: number; seed?: number; holdout?: number };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        real: { type: "string" },
        fake: { type: "string" },
        out: { type: "string" },
        base: { type: "string" },
        epochs: { type: "string" },
        seed: { type: "string" },
        holdout: { type: "string" },
        augment: { type: "boolean", default: false },
        "no-detect": { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        provider: { type: "string", default: "auto" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
    if (values.help) {
      out(FINETUNE_USAGE);
      return 0;
    }
    for (const required of ["real", "fake", "out"] as const) {
      if (!values[required]) throw new UsageError(`--${required} is required`);
    }
    numbers = {
      epochs: numberOption("epochs", values.epochs),
      seed: numberOption("seed", values.seed),
      holdout: numberOption("holdout", values.holdout),
    };
  } catch (error) {
    if (!(error instanceof UsageError) && (error as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS") !== true) throw error;
    err.write(`mesoguard finetune: ${(error as Error).message}\n\n${FINETUNE_USAGE}\n`);
    return 2;
  }

  const bar = !values.json && err.isTTY;
  try {
    const result = await finetune({
      real: values.real!,
      fake: values.fake!,
      name: values.out!,
      base: values.base,
      ...numbers,
      augment: values.augment,
      detect: !values["no-detect"],
      provider: values.provider as ProviderRequest,
      onProgress: bar ? progressDrawer(err) : undefined,
    });
    if (bar) err.write("\n");
    for (const line of values.json ? [JSON.stringify(result)] : humanSummary(result)) out(line);
    return 0;
  } catch (error) {
    if (bar) err.write("\n");
    err.write(`mesoguard finetune: ${(error as Error).message}\n`);
    return (error instanceof RangeError) ? 2 : 1;
  }
}
