// Types of the C++ addon's exports (native/addon.cc). The addon is loaded by ./loadAddon.ts only.

/** A frame as the addon takes it. `data` is copied when score()/preprocess() is called. */
export type FrameInput =
  | { kind: "jpeg"; data: Uint8Array | ArrayBuffer }
  | { kind: "rgb" | "rgba"; data: Uint8Array | ArrayBuffer; width: number; height: number; stride?: number }
  | {
      kind: "i420";
      data: Uint8Array | ArrayBuffer;
      width: number;
      height: number;
      strideY?: number;
      strideU?: number;
      strideV?: number;
    }
  | { kind: "nv12"; data: Uint8Array | ArrayBuffer; width: number; height: number; strideY?: number; strideUV?: number };

export type FrameKind = FrameInput["kind"];
export type ResizeMode = "nearest" | "bilinear" | "area";
export type ProviderName = "tensorrt" | "cuda" | "cpu";
export type ProviderRequest = "auto" | ProviderName;
export type GraphOptimization = "disabled" | "basic" | "extended" | "all";

export interface NativeScorerOptions {
  modelPath: string;
  provider?: ProviderRequest;
  graphOptimization?: GraphOptimization;
  deviceId?: number;
  intraOpThreads?: number;
  /** TensorRT engine and timing cache folder. */
  cacheDir?: string;
  fp16?: boolean;
  maxBatch?: number;
  maxWaitMs?: number;
  prepThreads?: number;
  maxPending?: number;
  preprocess?: "auto" | "cpu" | "cuda";
}

export interface ProviderAttempt {
  provider: ProviderName;
  chosen: boolean;
  reason: string;
}

export interface NativeScorerInfo {
  modelPath: string;
  requestedProvider: ProviderRequest;
  provider: ProviderName;
  attempts: ProviderAttempt[];
  graphOptimization: GraphOptimization;
  intraOpThreads: number;
  input: { name: string; shape: number[] };
  outputs: string[];
  maxBatch: number;
  maxWaitMs: number;
  prepThreads: number;
  maxPending: number;
  preprocess?: "cpu" | "cuda";
  preprocessReason?: string;
  closed: boolean;
}

export interface NativeScoreResult {
  outputs: Record<string, Float32Array>;
  batchSize: number;
  preprocessMs: number;
  waitMs: number;
  inferenceMs: number;
  preprocessDevice: "cpu" | "cuda";
}

export interface NativeScorerStats {
  submitted: number;
  completed: number;
  failed: number;
  batches: number;
  meanBatchSize: number;
  pending: number;
}

export interface NativeScorer {
  score(frame: FrameInput, options?: { resize?: ResizeMode }): Promise<NativeScoreResult>;
  info(): NativeScorerInfo;
  stats(): NativeScorerStats;
  close(options?: { drain?: boolean }): Promise<void>;
}

export interface RuntimeInfo {
  ortVersion: string;
  ortApiVersion: number;
  ortLibraryPath: string;
  availableProviders: string[];
  cuda: { built: boolean; available: boolean; deviceCount: number; reason: string };
  buildSystem: "cmake-js" | "node-gyp";
}

export interface PreprocessOptions {
  width?: number;
  height?: number;
  resize?: ResizeMode;
  device?: "cpu" | "cuda";
}

export interface NativeAddon {
  createScorer(options: NativeScorerOptions): Promise<NativeScorer>;
  preprocess(frame: FrameInput, options?: PreprocessOptions): Promise<Float32Array>;
  runtimeInfo(): RuntimeInfo;
}

/** Error codes a frame's promise can reject with (error.code). */
export type MesoguardErrorCode =
  | "ERR_INVALID_INPUT"
  | "ERR_INVALID_ARG"
  | "ERR_JPEG_DECODE"
  | "ERR_QUEUE_FULL"
  | "ERR_CLOSED"
  | "ERR_INFERENCE"
  | "ERR_PREPROCESS"
  | "ERR_MODEL_LOAD"
  | "ERR_SCORER_CONFIG";
