// mesoguard's library entry point.
export { MesoNetScorer, DEFAULT_GRAPH_OPTIMIZATION } from "./scoring/MesoNetScorer.js";
export type * from "./scoring/scoringTypes.js";
export type * from "./native/addonTypes.js";
export { loadAddon } from "./native/loadAddon.js";
export { DEFAULT_MODEL, loadManifest, findModel, modelNames } from "../models/manifest.js";
