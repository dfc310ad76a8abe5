// Public types of MesoNet scoring (the typed facade over the native Scorer).
import type {
  FrameInput,
  GraphOptimization,
  NativeScorerInfo,
  NativeScorerStats,
  ProviderRequest,
  ResizeMode,
} from "../native/addonTypes.js";

export type { FrameInput, ResizeMode };

export interface MesoNetScorerOptions {
  /** Manifest name: meso4-df (default), meso4-f2f, mesoinception4-df, mesoinception4-f2f. */
  model?: string;
  /** An .onnx file to load instead of models/generated/<model>.onnx (must follow the same contract). */
  modelPath?: string;
  /** auto = TensorRT -> CUDA -> CPU, whichever loads. */
  provider?: ProviderRequest;
  /** Default per architecture (see DEFAULT_GRAPH_OPTIMIZATION). */
  graphOptimization?: GraphOptimization;
  deviceId?: number;
  intraOpThreads?: number;
  /** TensorRT engine/timing caches; default $MESOGUARD_CACHE_DIR or <package>/.mesoguard-cache/tensorrt. */
  cacheDir?: string;
  fp16?: boolean;
  /** Largest batch the queue forms (and the TensorRT profile covers). Default 8. */
  maxBatch?: number;
  /** How long a ready frame may wait for more to fill a batch, when more are already on their way. Default 2. */
  maxWaitMs?: number;
  /** Threads that decode and resize frames. Default 1. */
  prepThreads?: number;
  /** Frames queued or in flight before new ones are refused with ERR_QUEUE_FULL. Default 1024. */
  maxPending?: number;
  preprocess?: "auto" | "cpu" | "cuda";
  /** Resize to 256x256: nearest (default, exactly as Keras load_img), bilinear or area. */
  resize?: ResizeMode;
  /** Load this addon file instead of the default build. */
  addonPath?: string;
}

/** MesoNet's verdict on one face crop. */
export interface MesoNetScore {
  /** The model's sigmoid output, P(REAL). */
  real: number;
  /** 1 - real: near 1 means the model thinks the face is a deepfake. */
  fake: number;
  /** The pre-sigmoid value (real = sigmoid(logit)). */
  logit: number;
  model: string;
  timings: {
    preprocessMs: number;
    waitMs: number;
    inferenceMs: number;
    batchSize: number;
    preprocessDevice: "cpu" | "cuda";
  };
}

export interface MesoNetScorerInfo extends NativeScorerInfo {
  model: string;
  architecture: string;
  resize: ResizeMode;
}

export type MesoNetScorerStats = NativeScorerStats;
