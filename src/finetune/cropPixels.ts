// Pixel work on 8-bit interleaved RGB face crops, run in the pixel worker (pixelWorker.ts): the planar float
// tensor the addon's preprocess() gives back as bytes, and the flips and crops of augmentation.

/** A planar [3, h, w] tensor of bytes / 255 (what nearest resizing gives) back to interleaved RGB bytes, exactly. */
export function rgbFromPlanar(planar: Float32Array, width: number, height: number): Uint8Array {
  const plane = width * height;
  if (planar.length !== 3 * plane) throw new RangeError(`planar tensor of ${planar.length} values is not 3x${height}x${width}`);
  const rgb = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) rgb[3 * i + c] = Math.round(planar[c * plane + i]! * 255);
  }
  return rgb;
}

/** A square region of a square crop, `side` pixels from (x, y), mirrored left-right when `flip`. */
export interface CropTransform {
  flip: boolean;
  x: number;
  y: number;
  side: number;
}

export function transformCrop(rgb: Uint8Array, size: number, t: CropTransform): Uint8Array {
  if (rgb.length !== size * size * 3) throw new RangeError(`crop of ${rgb.length} bytes is not ${size}x${size} RGB`);
  if (t.side < 1 || t.x < 0 || t.y < 0 || t.x + t.side > size || t.y + t.side > size) {
    throw new RangeError(`region ${t.side}x${t.side} at (${t.x}, ${t.y}) is outside the ${size}x${size} crop`);
  }
  const out = new Uint8Array(t.side * t.side * 3);
  for (let row = 0; row < t.side; row++) {
    for (let col = 0; col < t.side; col++) {
      const from = ((t.y + row) * size + t.x + (t.flip ? t.side - 1 - col : col)) * 3;
      out.set(rgb.subarray(from, from + 3), (row * t.side + col) * 3);
    }
  }
  return out;
}
