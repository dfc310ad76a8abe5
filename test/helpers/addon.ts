// Small helpers around the real addon: loading a build, scoring, and catching a rejection's error.
import type { FrameInput, NativeAddon, NativeScoreResult, NativeScorer } from "../../src/native/addonTypes.js";
import { loadAddon } from "../../src/native/loadAddon.js";
import { resolveScorerOptions, type ScorerOptionsInput } from "../../src/scoring/scorerOptions.js";
import { CMAKE_ADDON, GYP_ADDON, modelPath, type ModelName } from "./paths.js";

export function loadCmakeAddon(): NativeAddon {
  return loadAddon(CMAKE_ADDON);
}

export function loadGypAddon(): NativeAddon {
  return loadAddon(GYP_ADDON);
}

/** Error as the addon rejects/throws it: a message and, for frame/scorer errors, a code. */
export interface AddonError extends Error {
  code?: string;
}

/** Resolves with the error `promise` rejects with; fails the test if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<AddonError> {
  try {
    await promise;
  } catch (error) {
    return error as AddonError;
  }
  throw new Error("expected the promise to reject, but it resolved");
}

/** Runs `fn`, which must throw synchronously; returns what it threw. */
export function thrownBy(fn: () => unknown): AddonError {
  let result: unknown;
  try {
    result = fn();
  } catch (error) {
    return error as AddonError;
  }
  // Avoid an unhandled rejection if it returned a promise instead of throwing.
  if (result instanceof Promise) result.catch(() => undefined);
  throw new Error("expected a synchronous throw");
}

/** P(REAL) of one scored frame. */
export function realOf(result: NativeScoreResult): number {
  const real = result.outputs.real;
  if (!(real instanceof Float32Array) || real.length !== 1) throw new Error("result.outputs.real is not a 1-element Float32Array");
  return real[0];
}

export function logitOf(result: NativeScoreResult): number {
  return result.outputs.logit[0];
}

/** Creates a scorer for a generated model and records it in `into` so afterAll can close it. */
export async function openScorer(
  addon: NativeAddon,
  model: ModelName,
  into: NativeScorer[],
  options: Partial<ScorerOptionsInput> = {},
): Promise<NativeScorer> {
  const scorer = await addon.createScorer(cpuScorerOptions(modelPath(model), options));
  into.push(scorer);
  return scorer;
}

/** The complete native options (the facade's defaults) for a CPU scorer of `modelPath`. */
export function cpuScorerOptions(path: string, options: Partial<ScorerOptionsInput> = {}) {
  return resolveScorerOptions({ modelPath: path, provider: "cpu", ...options });
}

/** Closes every scorer (already closed ones resolve at once). */
export async function closeAll(scorers: NativeScorer[]): Promise<void> {
  await Promise.allSettled(scorers.map((s) => s.close()));
  scorers.length = 0;
}

export function rgbFrame(data: Uint8Array, width: number, height: number, stride?: number): FrameInput {
  return stride === undefined ? { kind: "rgb", data, width, height } : { kind: "rgb", data, width, height, stride };
}
