// Worker thread: cropPixels.ts's functions on request (WorkerClient in workerThreads.ts).
import { parentPort } from "node:worker_threads";

import { rgbFromPlanar, transformCrop, type CropTransform } from "./cropPixels.js";

export type PixelRequest =
  | { op: "rgbFromPlanar"; planar: Float32Array; width: number; height: number }
  | { op: "transformCrop"; rgb: Uint8Array; size: number; transform: CropTransform };

parentPort!.on("message", ({ id, request }: { id: number; request: PixelRequest }) => {
  try {
    const result = request.op === "rgbFromPlanar" ? rgbFromPlanar(request.planar, request.width, request.height) : transformCrop(request.rgb, request.size, request.transform);
    parentPort!.postMessage({ id, result }, [result.buffer as ArrayBuffer]);
  } catch (error) {
    parentPort!.postMessage({ id, error: (error as Error).message });
  }
});
