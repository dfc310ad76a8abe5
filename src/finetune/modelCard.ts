// MODEL_CARD.md of a fine-tuned model: provenance and licence, data, training settings, held-out metrics before
// and after on the same split, and what the numbers do not say.
import type { ModelManifestEntry } from "../models/manifest.js";
import { AUGMENT_RANGES } from "./cropFeatures.js";
import type { EpochProgress } from "./headTraining.js";
import type { HeldOutMetrics } from "./heldOutMetrics.js";
import { TPR_AT_FPR } from "./heldOutMetrics.js";
import type { FinetuneData, FinetuneSettings } from "./finetune.js";

export interface ModelCardInput {
  name: string;
  parent: ModelManifestEntry;
  /** The parent's NOTICE text (Apache-2.0 asks for it with derived works), or null when it was not found. */
  notice: string | null;
  dirs: { real: string; fake: string };
  data: FinetuneData;
  settings: FinetuneSettings;
  history: EpochProgress[];
  before: HeldOutMetrics;
  after: HeldOutMetrics;
  created: string;
}

const f3 = (x: number) => x.toFixed(3);
const pct = (x: number) => `${Number((x * 100).toFixed(1))}%`;

function metricRows(before: HeldOutMetrics, after: HeldOutMetrics): string[] {
  const auc = (m: HeldOutMetrics) => `${f3(m.auc)} [${f3(m.aucInterval.low)}, ${f3(m.aucInterval.high)}]`;
  return [
    `| ROC AUC [${Math.round(after.aucInterval.level * 100)}% bootstrap interval] | ${auc(before)} | ${auc(after)} |`,
    `| EER | ${pct(before.eer)} | ${pct(after.eer)} |`,
    ...TPR_AT_FPR.map((f) => `| TPR at FPR <= ${pct(f)} | ${pct(before.tprAtFpr[String(f)]!)} | ${pct(after.tprAtFpr[String(f)]!)} |`),
  ];
}

export function modelCard(c: ModelCardInput): string {
  const { data, settings } = c;
  const a = AUGMENT_RANGES;
  const heldOutFaces = c.after.faces.real + c.after.faces.fake;
  const classRow = (label: "real" | "fake") => {
    const d = data[label];
    return `| ${label} | ${d.trainFiles} | ${d.heldOutFiles} | ${d.trainFaces} | ${d.heldOutFaces} | ${d.augmented} | ${d.filesWithoutFace} |`;
  };
  return [
    `# Model card: ${c.name}`,
    "",
    `MesoNet (${c.parent.architecture}) fine-tuned by \`mesoguard finetune\` on ${c.created}: the convolution layers of ` +
      `\`${c.parent.name}\` unchanged, its dense head (Dense 16, LeakyReLU, Dense 1, sigmoid) trained again on the ` +
      `user's labelled faces. Output: P(real) of a 256x256 face crop, as the parent's.`,
    "",
    "## Parent model and licence",
    "",
    `- Parent: \`${c.parent.name}\`, the official MesoNet weights \`${c.parent.weightsFile}\` (Afchar et al., WIFS 2018; ` +
      `trained on ${c.parent.trainedOn} faces), sha256 \`${c.parent.sha256}\`, from ${c.parent.sourceUrl}.`,
    `- Licence: ${c.parent.license}, as the parent's weights; this model is a derived work. The parent's NOTICE:`,
    "",
    c.notice === null ? "  (the parent's NOTICE file was not found beside the converted models)" : c.notice.trimEnd().split("\n").map((l) => `    ${l}`).join("\n"),
    "",
    "## Data",
    "",
    `Real: \`${c.dirs.real}\`; fake: \`${c.dirs.fake}\`. Faces: ${settings.detect ? "found by BlazeFace and cut as aligned crops, as `mesoguard score` does" : "none detected: each image is taken as a face crop, as `mesoguard score --no-detect` does"}. ` +
      `Split by file, per class, seeded: ${pct(settings.holdout)} of each class's files held out and never trained on nor augmented.`,
    "",
    "| class | training files | held-out files | training faces | held-out faces | augmented copies | files without a face |",
    "|---|---|---|---|---|---|---|",
    classRow("real"),
    classRow("fake"),
    ...(data.skippedVideos > 0 ? ["", `${data.skippedVideos} video file(s) in the folders were not used: fine-tuning reads images.`] : []),
    "",
    "## Training",
    "",
    `- Trained: the dense head only (${data.featureCount} frozen convolution features in, 16 hidden units), started from the parent's head.`,
    `- Epochs ${settings.epochs}, batch ${settings.batchSize}, Adam at ${settings.learningRate}, dropout ${settings.dropout} before each dense layer, ` +
      `class-balanced binary cross-entropy, seed ${settings.seed}; TensorFlow.js (CPU) on features computed by the addon.`,
    `- Augmentation: ${settings.augment ? `${data.augmentCopies} copies of each training face: mirrored at random, a random square region of ${pct(a.minSide)}-100% of the side, JPEG recompression at quality ${a.minQuality}-${a.maxQuality} for ${pct(a.jpegChance)} of them, resized back to 256x256` : "none"}.`,
    "",
    "| epoch | training loss | held-out AUC |",
    "|---|---|---|",
    ...c.history.map((h) => `| ${h.epoch} | ${h.loss.toFixed(4)} | ${f3(h.heldOutAuc)} |`),
    "",
    "## Held-out metrics",
    "",
    `The same held-out faces (${c.after.faces.real} real, ${c.after.faces.fake} fake, from ${data.real.heldOutFiles + data.fake.heldOutFiles} files) ` +
      `scored by the parent and by this model; fakes are the positive class, scored by P(fake) = 1 - P(real). The interval resamples files.`,
    "",
    `| metric | parent \`${c.parent.name}\` | \`${c.name}\` |`,
    "|---|---|---|",
    ...metricRows(c.before, c.after),
    "",
    "## Known limits",
    "",
    `- ${heldOutFaces} held-out faces is ${heldOutFaces < 200 ? "few: the interval is wide, and TPR at 1% FPR means little below 100 real faces" : "a start"}. ` +
      "The held-out files come from the same folders as the training files (same sources, people, cameras and fake method), " +
      "so these numbers are optimistic for anything else: evaluate on other data (`mesoguard evaluate`) before trusting it.",
    "- Small data overfits: the head has over 16,000 weights. A training loss far below the held-out results says so.",
    `- Only the head learned; the features are the parent's, learned from 2018 ${c.parent.trainedOn} faces. ` +
      "Artefacts those features do not see, this model cannot learn to see.",
    "- One face crop at a time, no temporal signal; the live server and `scan` aggregate frames as for any model.",
    "",
  ].join("\n");
}
