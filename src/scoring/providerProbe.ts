// Which ONNX Runtime execution providers really load here, and in plain words why the others do not
// (`npm run bench` and `mesoguard doctor`).
import { existsSync } from "node:fs";
import path from "node:path";

import type { NativeAddon, ProviderName, RuntimeInfo } from "../native/addonTypes.js";
import { MesoNetScorer } from "./MesoNetScorer.js";

/** ONNX Runtime's provider names and the names mesoguard takes. */
const ORT_PROVIDERS: Record<string, ProviderName> = {
  TensorrtExecutionProvider: "tensorrt",
  CUDAExecutionProvider: "cuda",
  CPUExecutionProvider: "cpu",
};

/**
 * The libraries onnxruntime-node's install script downloads for Linux x64 (its "cuda12" manifest) beside
 * libonnxruntime.so.1; ONNXRUNTIME_NODE_INSTALL=skip leaves them out.
 */
export const GPU_PROVIDER_LIBRARIES = [
  "libonnxruntime_providers_shared.so",
  "libonnxruntime_providers_cuda.so",
  "libonnxruntime_providers_tensorrt.so",
] as const;

export interface ProviderProbe {
  /** As runtimeInfo().availableProviders names it. */
  ortName: string;
  provider: ProviderName | null;
  usable: boolean;
  /** ONNX Runtime's own words (or "requested explicitly" when it loaded). */
  reason: string;
  /** For a GPU provider that does not load: the cause in plain words and what to do. */
  hint?: string;
}

/** The GPU provider libraries missing beside the libonnxruntime.so.1 this process uses. */
export function missingGpuProviderLibraries(info: RuntimeInfo): string[] {
  const dir = path.dirname(info.ortLibraryPath);
  return GPU_PROVIDER_LIBRARIES.filter((lib) => !existsSync(path.join(dir, lib)));
}

/**
 * Why no GPU provider can load here, in plain words, from what is installed and what the addon's CUDA probe saw
 * (empty when nothing is missing: then ONNX Runtime's own reason is the one to read).
 */
export function gpuAbsenceReasons(info: RuntimeInfo): string[] {
  const reasons: string[] = [];
  const missing = missingGpuProviderLibraries(info);
  if (missing.length > 0) {
    reasons.push(
      `onnxruntime-node's GPU provider libraries are not installed (${missing.join(", ")}): it was installed with ` +
        "ONNXRUNTIME_NODE_INSTALL=skip or offline; reinstall it online without that variable on a GPU host (README: GPU)",
    );
  }
  if (info.cuda.built && !info.cuda.available) reasons.push(`no usable CUDA device: ${info.cuda.reason}`);
  return reasons;
}

/** ONNX Runtime's load error without its source location, and library paths shortened to their file names. */
export function shortOrtReason(reason: string): string {
  return reason
    .replace(/^no execution provider could run \S+: \w+: /, "")
    .replace(/^.*?\[ONNXRuntimeError\] : \d+ : \w+ : /, "")
    .replace(/\/\S*\/(lib[\w.+-]+\.so[\w.]*)/g, "$1");
}

/**
 * Tries every provider ONNX Runtime lists with an explicit request (no fallback) and keeps those that load.
 * CPU goes first: before any session exists, a failing GPU provider reports an unrelated logger error instead
 * of its real reason.
 */
export async function probeProviders(addon: NativeAddon): Promise<ProviderProbe[]> {
  const info = addon.runtimeInfo();
  const names = [...info.availableProviders].sort(
    (a, b) => Number(b === "CPUExecutionProvider") - Number(a === "CPUExecutionProvider"),
  );
  const probes: ProviderProbe[] = [];
  for (const ortName of names) {
    const provider = ORT_PROVIDERS[ortName] ?? null;
    if (!provider) {
      probes.push({ ortName, provider, usable: false, reason: "mesoguard does not drive this provider" });
      continue;
    }
    try {
      const scorer = await MesoNetScorer.create({ model: "meso4-df", provider, detector: false });
      const scorerInfo = scorer.info();
      await scorer.close();
      const chosen = scorerInfo.attempts.find((a) => a.chosen);
      probes.push({ ortName, provider, usable: scorerInfo.provider === provider, reason: chosen?.reason ?? "loaded" });
    } catch (error) {
      const reason = (error as Error).message.replace(/\s+/g, " ");
      const hint = provider === "cpu" ? [] : gpuAbsenceReasons(info);
      probes.push({ ortName, provider, usable: false, reason, ...(hint.length > 0 && { hint: hint.join("; ") }) });
    }
  }
  return probes;
}
