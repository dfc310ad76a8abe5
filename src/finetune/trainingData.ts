// The labelled images of a fine-tuning run and their split into training and held-out files: by file (the faces
// of one image never straddle the split), per class (stratified), drawn from the seed.
import { stat } from "node:fs/promises";
import path from "node:path";

import { findMediaFiles } from "../scan/mediaFiles.js";
import { seededRandom, shuffled } from "./seededRandom.js";

export type Label = "real" | "fake";
export const LABELS: readonly Label[] = ["real", "fake"];

/** Fewest files of each class on each side of the split: a bootstrap interval needs 2 per class. */
export const MIN_FILES_PER_SPLIT = 2;

/** Bad training data: the message says what is wrong and what is needed. */
export class TrainingDataError extends Error {
  readonly code = "ERR_TRAINING_DATA";
}

export interface LabelledFile {
  path: string;
  label: Label;
}

export interface DataSplit {
  train: LabelledFile[];
  heldOut: LabelledFile[];
  /** Videos found in the folders and not used (fine-tuning reads images). */
  skippedVideos: number;
}

/** The images under a class's folder (recursively), sorted by path; videos are counted, not read. */
async function classImages(dir: string, label: Label): Promise<{ images: string[]; videos: number }> {
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) throw new TrainingDataError(`--${label} ${dir}: no such folder`);
  const media = await findMediaFiles([dir]);
  const images = media.filter((m) => m.kind === "image").map((m) => m.path).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (images.length === 0) throw new TrainingDataError(`--${label} ${dir}: no images (.jpg .jpeg .png) in the folder; fine-tuning needs both classes`);
  return { images, videos: media.length - images.length };
}

/** Lists both classes and splits each: round(files x holdout) held out, the rest for training. */
export async function splitTrainingData(dirs: Record<Label, string>, holdout: number, seed: number): Promise<DataSplit> {
  if (!(holdout > 0 && holdout < 1)) throw new RangeError(`--holdout must be between 0 and 1 (exclusive), got ${holdout}`);
  const random = seededRandom(seed);
  const split: DataSplit = { train: [], heldOut: [], skippedVideos: 0 };
  const seen = new Map<string, Label>();
  for (const label of LABELS) {
    const { images, videos } = await classImages(dirs[label], label);
    split.skippedVideos += videos;
    for (const image of images) {
      const other = seen.get(path.resolve(image));
      if (other) throw new TrainingDataError(`${image} is in both the --${other} and the --${label} folder`);
      seen.set(path.resolve(image), label);
    }
    const heldOut = Math.round(images.length * holdout);
    if (heldOut < MIN_FILES_PER_SPLIT || images.length - heldOut < MIN_FILES_PER_SPLIT) {
      const needed = Math.ceil(Math.max(MIN_FILES_PER_SPLIT / holdout, MIN_FILES_PER_SPLIT / (1 - holdout)));
      throw new TrainingDataError(
        `--${label} ${dirs[label]}: ${images.length} image(s) give ${heldOut} held-out and ${images.length - heldOut} training file(s) ` +
          `at --holdout ${holdout}; each class needs at least ${MIN_FILES_PER_SPLIT} of each (about ${needed} images at this --holdout)`,
      );
    }
    const order = shuffled(images, random);
    split.heldOut.push(...order.slice(0, heldOut).map((p) => ({ path: p, label })));
    split.train.push(...order.slice(heldOut).map((p) => ({ path: p, label })));
  }
  return split;
}
