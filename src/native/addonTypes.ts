// Types of the C++ addon's exports (native/addon.cc). The addon is loaded by ./loadAddon.ts only.

/** A frame as the addon takes it. `data` is copied when score()/preprocess() is called. */
export type FrameInput =
  | { kind: "jpeg" | "png"; data: Uint8Array | ArrayBuffer }
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

/** Every field is required: src/scoring/scorerOptions.ts owns the defaults and ranges (resolveScorerOptions). */
export interface NativeScorerOptions {
  modelPath: string;
  provider: ProviderRequest;
  graphOptimization: GraphOptimization;
  deviceId: number;
  intraOpThreads: number;
  /** TensorRT engine and timing cache folder. */
  cacheDir: string;
  fp16: boolean;
  maxBatch: number;
  maxWaitMs: number;
  prepThreads: number;
  maxPending: number;
  /** Frames of one group (score/analyze `group`) queued or in flight before ERR_QUEUE_FULL. */
  maxPendingPerGroup: number;
  /** Frames declaring more pixels are refused (ERR_INVALID_INPUT) before their pixels are allocated. */
  maxFramePixels: number;
  preprocess: "auto" | "cpu" | "cuda";
  /**
   * Device batches: crops rendered by the inference thread straight into the batch's input tensor, run through
   * ONNX Runtime's IoBinding. auto: on the GPU (cuda) where MesoNet runs on a GPU provider and preprocess is cuda,
   * else off; host: the same code on host memory (any provider; what the tests run); off: never.
   */
  deviceBatches: DeviceBatchMode;
  /** BlazeFace, run in the same pipeline; null: only score() (whole frame = face crop) works. */
  detector: NativeDetectorOptions | null;
  crop: NativeCropOptions;
}

export interface NativeDetectorOptions {
  modelPath: string;
  graphOptimization: GraphOptimization;
  /** Minimum detector confidence. */
  minScore: number;
  /** Weighted-NMS overlap threshold. */
  nmsIou: number;
  /** Most faces kept per frame, best first. */
  maxFaces: number;
  /** Letterbox sampling (area by default: frames shrink a lot). */
  resize: ResizeMode;
}

/** The MesoNet crop: side = max(eye distance, eyes-to-mouth) * factor * margin around the nose tip. */
export interface NativeCropOptions {
  factor: number;
  margin: number;
  resize: ResizeMode;
}

/** [x1, y1, x2, y2] in frame pixels. */
export type NativeBox = [number, number, number, number];

export interface NativeFaceInput {
  box: NativeBox;
  /** 12 numbers: right eye, left eye, nose tip, mouth, right ear, left ear as x,y pairs. */
  keypoints: number[];
  score?: number;
}

export interface NativeAnalyzeOptions {
  /** Run the detector (default true); false = crop and score `faces`. */
  detect?: boolean;
  /**
   * Crop and score the faces (default true). false (with detect: true): the detections alone; each face's `crop`
   * is then zeros and its `outputs` empty. No crops are rendered, so returnCrops must be false.
   */
  score?: boolean;
  /** Detector regions (letterboxed one by one); default the whole frame. */
  regions?: NativeBox[];
  faces?: NativeFaceInput[];
  /** Return each 256x256 crop as RGB bytes. */
  returnCrops?: boolean;
  /** The stream this frame belongs to (see NativeScorer.cancel). */
  group?: string;
}

export interface NativeFaceResult {
  box: NativeBox;
  keypoints: number[];
  detectorScore: number;
  crop: { center: [number, number]; side: number; angle: number; rgb?: Buffer };
  outputs: Record<string, number>;
  batchSize: number;
}

export interface NativeAnalyzeResult {
  width: number;
  height: number;
  faces: NativeFaceResult[];
  detectorRuns: number;
  /** Faces the detector found before the maxFaces cap (0 when it did not run). */
  facesFound: number;
  timings: {
    decodeMs: number;
    /** The detector's letterbox render(s), inference and decoding, when it ran. */
    detectMs: number;
    /** The face crops' render (not the letterbox's: the stages do not overlap). */
    renderMs: number;
    waitMs: number;
    inferenceMs: number;
    totalMs: number;
    batchSize: number;
    preprocessDevice: "cpu" | "cuda";
  };
}

export interface NativeSessionInfo {
  modelPath: string;
  requestedProvider: ProviderRequest;
  provider: ProviderName;
  attempts: ProviderAttempt[];
  graphOptimization: GraphOptimization;
  intraOpThreads: number;
  input: { name: string; shape: number[] };
  outputs: string[];
}

export interface ProviderAttempt {
  provider: ProviderName;
  chosen: boolean;
  reason: string;
}

/** The queue settings the scorer was created with, as it reports them back. */
type NativeQueueSettings = Pick<NativeScorerOptions, "maxBatch" | "maxWaitMs" | "prepThreads" | "maxPending" | "maxPendingPerGroup" | "maxFramePixels">;

export interface NativeScorerInfo extends NativeSessionInfo, NativeQueueSettings {
  preprocess?: "cpu" | "cuda";
  preprocessReason?: string;
  deviceBatches?: NativeDeviceBatchStatus;
  detector: (NativeSessionInfo & { inputSize: number; minScore: number; nmsIou: number; maxFaces: number }) | null;
  crop: { factor: number; margin: number };
  closed: boolean;
}

export type DeviceBatchMode = "auto" | "host" | "off";

/** Whether device batches are in use, and why (or why not); the startup canary's outcome. */
export interface NativeDeviceBatchStatus {
  mode: "cuda" | "host" | "off";
  active: boolean;
  reason: string;
  canary: {
    state: "pending" | "passed" | "failed" | "not run";
    tolerance: number;
    deviceRealProbability: number | null;
    cpuRealProbability: number | null;
  };
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
  /** Failed with ERR_CANCELLED (counted in failed too). */
  cancelled: number;
  /** Times freed native memory was handed back to the system after a burst (malloc_trim, glibc). */
  memoryTrims: number;
  batches: number;
  /** Times MesoNet's memory arena was given back after 250 ms without work (never while frames keep coming). */
  arenaReleases: number;
  meanBatchSize: number;
  detectorRuns: number;
  /** JPEG frames with given faces decoded only in the rows their face crops read. */
  partialDecodes: number;
  pending: number;
}

export interface NativeScorer {
  score(frame: FrameInput, options?: { resize?: ResizeMode; group?: string }): Promise<NativeScoreResult>;
  /**
   * One promise per cell, as score() resolves: the rgb frame scored with that cell ([x1, y1, x2, y2], whole pixels,
   * inside the frame) painted `value` (0..255) in every channel. The frame is copied once; each variant is painted
   * on the addon's workers and queued like a score(). Bad arguments throw before anything is queued.
   */
  scoreOccluded(frame: FrameInput & { kind: "rgb" }, options: { cells: NativeBox[]; value: number; resize: ResizeMode }): Promise<NativeScoreResult>[];
  analyze(frame: FrameInput, options?: NativeAnalyzeOptions): Promise<NativeAnalyzeResult>;
  /**
   * The group's frames submitted so far reject with ERR_CANCELLED at their next stage (a model run already under
   * way finishes); later frames of the group are not affected. Returns how many of its frames were pending.
   */
  cancel(group: string): number;
  info(): NativeScorerInfo;
  stats(): NativeScorerStats;
  close(options?: { drain?: boolean }): Promise<void>;
}

export interface NativeHeapUsage {
  /** Allocated by malloc (heaps and mmap) and not yet freed: a native leak grows this. */
  inUseBytes: number;
  /** Freed but still held by the allocator for reuse (some of it may already be returned with madvise). */
  freeBytes: number;
}

export interface RuntimeInfo {
  ortVersion: string;
  ortApiVersion: number;
  ortLibraryPath: string;
  availableProviders: string[];
  cuda: { built: boolean; available: boolean; deviceCount: number; reason: string };
  buildSystem: "cmake-js" | "node-gyp";
}

/** Every field but keypoints and region is required: src/scoring/scorerOptions.ts owns the defaults (resolvePreprocessOptions). */
export interface NativePreprocessOptions {
  width: number;
  height: number;
  resize: ResizeMode;
  /**
   * "cpu-reference": the shared per-pixel definition in a plain loop, what the fast CPU path is tested and benched
   * against. "cpu-detector": the CPU detector's render (area letterboxes summed separably, within 1e-6 of it).
   */
  device: "cpu" | "cuda" | "cpu-reference" | "cpu-detector";
  /** Frames declaring more pixels are refused (ERR_INVALID_INPUT) before their pixels are allocated. */
  maxFramePixels: number;
  /** The face crop's factor and margin, used with `keypoints`. */
  crop: { factor: number; margin: number };
  /** Render the MesoNet face crop for these keypoints instead of the whole frame (width must equal height). */
  keypoints?: number[];
  /** Render this region letterboxed (as the detector sees it) instead of the whole frame. */
  region?: NativeBox;
  /** An rgb frame only: paint this cell `value` first, as scoreOccluded() does. */
  occlude?: { box: NativeBox; value: number };
}

export type VideoCodecName = "VP8" | "H264";

export interface NativeVideoDecoderOptions {
  codec: VideoCodecName;
  /** Pictures over this many pixels are refused before libavcodec allocates them (the scorer's cap). */
  maxFramePixels: number;
  /** Access units queued or being decoded before decode() rejects with ERR_QUEUE_FULL (1..100000). */
  maxPending: number;
}

export interface NativeDecodedVideoFrame {
  /** This decoder's count of decode() calls before this one. */
  index: number;
  /** False when the access unit produced no picture (e.g. only parameter sets). */
  decoded: boolean;
  width: number;
  height: number;
  keyframe: boolean;
  decodeMs: number;
  /** Y, U, V planes packed (strides width and (width+1)/2), only when returnPixels was asked for. */
  i420?: Buffer;
}

export interface NativeVideoDecoderStats {
  decoded: number;
  empty: number;
  /** ERR_VIDEO_DECODE: each one reset the decoder. */
  failed: number;
  /** ERR_VIDEO_NEED_KEYFRAME. */
  skipped: number;
  resets: number;
  pending: number;
  closed: boolean;
}

/**
 * One video stream's decoder (libavcodec), on a thread of its own: access units are decoded in call order.
 * decode() rejects with ERR_VIDEO_DECODE when libavcodec refuses an access unit or returns a damaged picture
 * (the decoder then resets itself), ERR_VIDEO_NEED_KEYFRAME for a delta frame while it has no key frame,
 * ERR_QUEUE_FULL, ERR_INVALID_INPUT, ERR_CLOSED.
 */
export interface NativeVideoDecoder {
  readonly codec: VideoCodecName;
  /** `accessUnit`: a VP8 frame or an H.264 Annex-B access unit (copied). */
  decode(accessUnit: Uint8Array | ArrayBuffer, options?: { returnPixels?: boolean }): Promise<NativeDecodedVideoFrame>;
  /** Drops the reference pictures (in order with queued access units): the next one must be a key frame. */
  reset(): void;
  stats(): NativeVideoDecoderStats;
  /** drain (default true): decode what is queued first; otherwise queued access units reject with ERR_CLOSED. */
  close(options?: { drain?: boolean }): Promise<void>;
}

export interface NativeVideoFileOptions {
  path: string;
  /** At most this many frames per second of presentation time are sampled (> 0). */
  fps: number;
  /** read() returns null after this many frames (an integer >= 1). */
  maxFrames: number;
  /** Pictures larger than this are refused (ERR_VIDEO_DECODE) before they are allocated. */
  maxFramePixels: number;
}

export interface NativeVideoFileInfo {
  /** libavformat's container name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "matroska,webm". */
  container: string;
  /** The decoder of the best video stream, e.g. "h264", "vp8". */
  codec: string;
  /** As displayed: after the rotation. */
  width: number;
  height: number;
  /** Clockwise degrees (0, 90, 180, 270) each picture is turned, as the container's display matrix says. */
  rotation: number;
  /** As the header declares it; 0 when unknown. */
  durationS: number;
  /** Average frames/s; 0 when unknown. */
  frameRate: number;
}

/** A sampled frame, upright, 8-bit 4:2:0 whatever the stream's format: packed I420 (strides width and (width+1)/2), a FrameInput as it is. */
export interface NativeVideoFileFrame {
  kind: "i420";
  data: Buffer;
  width: number;
  height: number;
  /** Presentation time from the stream's start, seconds. */
  timeS: number;
  /** Which decoded picture of the stream it is (0-based). */
  decodedIndex: number;
}

/**
 * A recorded video read front to back (libavformat + libavcodec) on a thread of its own; one frame is held at a
 * time. open() rejects with ERR_VIDEO_OPEN (unreadable, not a media file), ERR_VIDEO_NO_STREAM, ERR_VIDEO_CODEC
 * (no decoder); read() with ERR_VIDEO_DECODE (a damaged picture), ERR_VIDEO_READ,
 * ERR_VIDEO_TRUNCATED (the file ends before its first picture or well before its declared duration).
 * close() releases the file; steps still queued reject with ERR_CLOSED.
 */
export interface NativeVideoFile {
  open(): Promise<NativeVideoFileInfo>;
  read(): Promise<NativeVideoFileFrame | null>;
  close(): Promise<void>;
}

export interface NativeAddon {
  createScorer(options: NativeScorerOptions): Promise<NativeScorer>;
  preprocess(frame: FrameInput, options: NativePreprocessOptions): Promise<Float32Array>;
  /** quality: 1..100. */
  encodeJpeg(rgb: Uint8Array, width: number, height: number, quality: number): Promise<Buffer>;
  runtimeInfo(): RuntimeInfo;
  /** glibc's malloc statistics for the whole process (mallinfo2); null off glibc. */
  nativeHeap(): NativeHeapUsage | null;
  VideoDecoder: new (options: NativeVideoDecoderOptions) => NativeVideoDecoder;
  VideoFile: new (options: NativeVideoFileOptions) => NativeVideoFile;
}

/** Error codes a frame's promise can reject with (error.code). */
export type MesoguardErrorCode =
  | "ERR_INVALID_INPUT"
  | "ERR_INVALID_ARG"
  | "ERR_JPEG_DECODE"
  | "ERR_PNG_DECODE"
  | "ERR_JPEG_ENCODE"
  | "ERR_QUEUE_FULL"
  | "ERR_CLOSED"
  | "ERR_CANCELLED"
  | "ERR_INFERENCE"
  | "ERR_PREPROCESS"
  | "ERR_MODEL_LOAD"
  | "ERR_SCORER_CONFIG"
  | "ERR_VIDEO_DECODE"
  | "ERR_VIDEO_NEED_KEYFRAME"
  // A decoder in the RTP ingest's decoder process (src/sfu/DecoderProcess.ts): the process died or hung first.
  | "ERR_VIDEO_DECODER_PROCESS"
  | "ERR_VIDEO_OPEN"
  | "ERR_VIDEO_NO_STREAM"
  | "ERR_VIDEO_CODEC"
  | "ERR_VIDEO_READ"
  | "ERR_VIDEO_TRUNCATED";
