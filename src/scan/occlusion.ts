// Occlusion sensitivity for one face crop: each cell of a grid over the square crop is greyed out in turn and the
// crop scored again through the same scorer; how far P(fake) drops says how much the model relied on that region
// for its verdict. It shows where the model looked, not proof of manipulation.
import type { MesoNetScorer } from "../scoring/MesoNetScorer.js";

/** MesoNet's crop side; a user model's crops have its own input size (square). */
export const CROP_SIDE = 256;
/** Mid grey, the value a greyed-out cell takes in every channel. */
const GREY = 128;
/** Cells per side by default: 8x8 cells of 32x32 pixels, 64 extra scorings per explained face. */
export const DEFAULT_OCCLUSION_GRID = 8;

export interface OcclusionMap {
  /** Cells per side; cell (row, col) covers pixels [row*side/grid, (row+1)*side/grid) likewise for columns. */
  grid: number;
  /** P(fake) of the crop as it is, scored the same way as the occluded ones. */
  baseFake: number;
  /** Row-major, grid*grid: baseFake minus P(fake) with that cell greyed (positive: the cell made it look fake). */
  drops: number[];
}

/** The side of a square RGB crop (FaceScore.crop.rgb: the model's input size, 256 for MesoNet), or a RangeError. */
export function cropSide(rgb: Buffer): number {
  const side = Math.round(Math.sqrt(rgb.length / 3));
  if (side < 1 || side * side * 3 !== rgb.length) throw new RangeError(`occlusionMap: the crop must be a square RGB image (256x256 for MesoNet), got ${rgb.length} bytes`);
  return side;
}

/** The crop with one cell greyed: a copy, then one fill per pixel row of the cell (no per-pixel work here). */
function occluded(rgb: Buffer, side: number, grid: number, row: number, col: number): Buffer {
  const copy = Buffer.from(rgb);
  const x0 = Math.floor((col * side) / grid), x1 = Math.floor(((col + 1) * side) / grid);
  const y0 = Math.floor((row * side) / grid), y1 = Math.floor(((row + 1) * side) / grid);
  for (let y = y0; y < y1; y++) copy.fill(GREY, (y * side + x0) * 3, (y * side + x1) * 3);
  return copy;
}

/** `rgb`: a square RGB face crop as the scorer rendered it (FaceScore.crop.rgb, 256x256 for MesoNet). */
export async function occlusionMap(scorer: MesoNetScorer, rgb: Buffer, grid = DEFAULT_OCCLUSION_GRID): Promise<OcclusionMap> {
  const side = cropSide(rgb);
  if (!Number.isInteger(grid) || grid < 1 || grid > side) throw new RangeError(`occlusionMap: grid must be an integer in [1, ${side}]`);
  const score = (data: Buffer) => scorer.score({ kind: "rgb", data, width: side, height: side }).then((s) => s.fake);
  const cells = Array.from({ length: grid * grid }, (_, i) => i);
  // All variants go to the queue at once, so the scorer can batch them.
  const [baseFake, ...fakes] = await Promise.all([score(rgb), ...cells.map((i) => score(occluded(rgb, side, grid, Math.floor(i / grid), i % grid)))]);
  return { grid, baseFake: baseFake!, drops: fakes.map((f) => baseFake! - f) };
}
