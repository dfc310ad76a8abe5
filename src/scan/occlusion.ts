// Occlusion sensitivity for one face crop: each cell of a grid over the square crop is greyed out in turn and the
// crop scored again through the same scorer; how far P(fake) drops says how much the model relied on that region
// for its verdict. It shows where the model looked, not proof of manipulation. Used by `scan --explain` and by any
// caller holding a scorer and a crop (a server's "explain" action): no state, no I/O beyond the scorer.
import type { NativeBox } from "../native/addonTypes.js";
import type { MesoNetScorer } from "../scoring/MesoNetScorer.js";

/** MesoNet's crop side; a user model's crops have its own input size (square). */
export const CROP_SIDE = 256;
/** Mid grey, the value a greyed-out cell takes in every channel. */
export const OCCLUSION_GREY = 128;
/** Cells per side by default: 8x8 cells of 32x32 pixels, 64 extra scorings per explained face. */
export const DEFAULT_OCCLUSION_GRID = 8;

export interface OcclusionOptions {
  /** Cells per side, an integer 1..256 (default DEFAULT_OCCLUSION_GRID). */
  grid?: number;
}

export interface OcclusionMap {
  /** Cells per side; cell (row, col) covers pixels [row*side/grid, (row+1)*side/grid) likewise for columns. */
  grid: number;
  /** P(fake) of the crop as it is, scored the same way as the occluded ones. */
  baseFake: number;
  /** Row-major, grid*grid: baseFake minus P(fake) with that cell greyed (positive: the cell made it look fake). */
  drops: number[];
}

/** The side of a square RGB crop (FaceScore.crop.rgb: the model's input size, 256 for MesoNet), or a RangeError. */
export function cropSide(rgb: Uint8Array): number {
  const side = Math.round(Math.sqrt(rgb.length / 3));
  if (side < 1 || side * side * 3 !== rgb.length) {
    throw Object.assign(new RangeError(`occlusionMap: the crop must be a square RGB image (256x256 for MesoNet), got ${rgb.length} bytes`), { code: "ERR_INVALID_ARG" });
  }
  return side;
}

/** The pixels of cell `index` (row-major) of a grid x grid split of a side x side crop: [x1, y1, x2, y2), floor-rounded edges. */
export function occlusionCell(grid: number, index: number, side = CROP_SIDE): NativeBox {
  const row = Math.floor(index / grid), col = index % grid;
  const edge = (i: number) => Math.floor((i * side) / grid);
  return [edge(col), edge(row), edge(col + 1), edge(row + 1)];
}

/**
 * `cropRgb`: a square RGB face crop as the scorer rendered it (FaceScore.crop.rgb with returnCrops; 256x256 for
 * MesoNet, a user model's own input size otherwise). The crop is scored as it is and once per cell with that cell
 * painted OCCLUSION_GREY; the painting runs on the addon's workers and every variant goes through the scorer's queue
 * (grid*grid + 1 scorings, batched). Rejects with a RangeError (code ERR_INVALID_ARG) for a crop that is not square
 * RGB or a bad grid, and with the scorer's errors (e.g. ERR_CLOSED).
 */
export async function occlusionMap(scorer: MesoNetScorer, cropRgb: Uint8Array, options: OcclusionOptions = {}): Promise<OcclusionMap> {
  const grid = options.grid ?? DEFAULT_OCCLUSION_GRID;
  const side = cropSide(cropRgb);
  if (!Number.isInteger(grid) || grid < 1 || grid > side) {
    throw Object.assign(new RangeError(`occlusionMap: grid must be an integer in [1, ${side}], got ${grid}`), { code: "ERR_INVALID_ARG" });
  }
  const crop = { kind: "rgb", data: cropRgb, width: side, height: side } as const;
  const cells = Array.from({ length: grid * grid }, (_, i) => occlusionCell(grid, i, side));
  // All variants go to the queue at once, so the scorer can batch them.
  const [base, ...occluded] = await Promise.all([scorer.score(crop), ...scorer.scoreOccluded(crop, cells, OCCLUSION_GREY)]);
  return { grid, baseFake: base!.fake, drops: occluded.map((s) => base!.fake - s.fake) };
}
