// The labelled images of a fine-tuning run (the folders read as `evaluate` reads them) and their split into
// training and held-out files: by file (the faces of one image never straddle the split), per class (stratified),
// drawn from the seed.
import { collectDataset, DatasetError, type Label, type LabelledFile } from "../evaluate/dataset.js";
import { seededRandom, shuffled } from "./seededRandom.js";

/** Fewest files of each class on each side of the split: a bootstrap interval needs 2 per class. */
export const MIN_FILES_PER_SPLIT = 2;

export interface DataSplit {
  train: LabelledFile[];
  heldOut: LabelledFile[];
  /** Videos found in the folders and not used (fine-tuning reads images). */
  skippedVideos: number;
}

/** Lists both classes and splits each: round(files x holdout) held out, the rest for training. */
export async function splitTrainingData(dirs: Record<Label, string>, holdout: number, seed: number): Promise<DataSplit> {
  if (!(holdout > 0 && holdout < 1)) throw new RangeError(`--holdout must be between 0 and 1 (exclusive), got ${holdout}`);
  const files = await collectDataset(dirs.real, dirs.fake);
  const random = seededRandom(seed);
  const split: DataSplit = { train: [], heldOut: [], skippedVideos: files.filter((f) => f.kind === "video").length };
  for (const label of ["real", "fake"] as const) {
    const images = files.filter((f) => f.label === label && f.kind === "image").sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const heldOut = Math.round(images.length * holdout);
    if (heldOut < MIN_FILES_PER_SPLIT || images.length - heldOut < MIN_FILES_PER_SPLIT) {
      const needed = Math.ceil(Math.max(MIN_FILES_PER_SPLIT / holdout, MIN_FILES_PER_SPLIT / (1 - holdout)));
      throw new DatasetError(
        `--${label} ${dirs[label]}: ${images.length} image(s) give ${heldOut} held-out and ${images.length - heldOut} training file(s) ` +
          `at --holdout ${holdout}; each class needs at least ${MIN_FILES_PER_SPLIT} of each (about ${needed} images at this --holdout; ` +
          `fine-tuning reads images, not videos)`,
      );
    }
    const order = shuffled(images, random);
    split.heldOut.push(...order.slice(0, heldOut));
    split.train.push(...order.slice(heldOut));
  }
  return split;
}
