// mesoguard's library entry point.
export { MesoNetScorer, DEFAULT_GRAPH_OPTIMIZATION } from "./scoring/MesoNetScorer.js";
export {
  DEFAULT_MAX_FRAME_PIXELS,
  PREPROCESS_DEFAULTS,
  SCORER_DEFAULTS,
  SCORER_LIMITS,
  resolvePreprocessOptions,
  resolveScorerOptions,
} from "./scoring/scorerOptions.js";
export type * from "./scoring/scoringTypes.js";
export type * from "./native/addonTypes.js";
export { loadAddon } from "./native/loadAddon.js";
export { DEFAULT_MODEL, loadManifest, findModel, modelNames, type ModelEntry } from "./models/manifest.js";
export { userModelsDir, type UserModelEntry, type UserModelManifest } from "./models/userModels.js";
export { writeUserModel, type NewUserModel } from "./models/userModelStore.js";
export { StreamAnalyzer } from "./scoring/StreamAnalyzer.js";
export { FaceTracker } from "./faces/FaceTracker.js";
export { MesoguardClient } from "./client/MesoguardClient.js";
export { MesoguardServer } from "./server/MesoguardServer.js";
export { mintToken, verifyToken } from "./auth/tokens.js";
export { signWebhook, verifyWebhook, WEBHOOK_HEADERS } from "./server/webhooks.js";
export type * from "./protocol/protocolTypes.js";
export type * from "./faces/faceTypes.js";
export type * from "./verdict/verdictTypes.js";
export { MesoguardMediasoup } from "./sfu/mediasoup.js";
export { findMediaFiles } from "./scan/mediaFiles.js";
export { scanFiles } from "./scan/scanFiles.js";
export { resolveScanSettings, SCAN_DEFAULTS, SCAN_LIMITS } from "./scan/scanOptions.js";
export { csvSummary } from "./scan/csvSummary.js";
export { writeHtmlReport } from "./scan/htmlReport.js";
export { occlusionMap, type OcclusionMap, type OcclusionOptions } from "./scan/occlusion.js";
export type * from "./scan/scanTypes.js";
