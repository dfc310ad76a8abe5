// The native fuzz targets (fuzz/native/*.cc): clang's libFuzzer with ASan + UBSan, built by CMake
// (-DMESOGUARD_FUZZ=ON) into build-fuzz/, seeded by fuzz/corpus.ts, run for a time budget each.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";

import { packageRoot } from "../src/models/paths.js";
import { ensureSystemPackages, hasCommand, type SystemRequirement } from "../src/install/systemPackages.js";

export const FUZZ_BUILD_DIR = path.join(packageRoot(), "build-fuzz");

/** libFuzzer's runtime from the clang that is installed (Debian 12: libclang-rt-14-dev). */
function hasLibFuzzer(): boolean {
  const base = "/usr/lib";
  return readdirSync(base).some((dir) => {
    if (!dir.startsWith("llvm-")) return false;
    const clangDir = path.join(base, dir, "lib", "clang");
    return existsSync(clangDir) && readdirSync(clangDir).some((v) => existsSync(path.join(clangDir, v, "lib", "linux", "libclang_rt.fuzzer-x86_64.a")));
  });
}

export const FUZZ_REQUIREMENTS: SystemRequirement[] = [
  { aptPackage: "clang", purpose: "compiles the libFuzzer targets", present: () => hasCommand("clang++") },
  { aptPackage: "libclang-rt-14-dev", purpose: "libFuzzer and the sanitizer runtimes of clang 14", present: hasLibFuzzer },
];

export interface NativeTarget {
  name: string;
  covers: string;
}

export const NATIVE_TARGETS: NativeTarget[] = [
  { name: "fuzz_frame_render", covers: "native/frame_decode.cc (JPEG, PNG, raw layouts; a JPEG's rows decoded alone render its face crop bit for bit), preprocess.cc and face_geometry.cc (resize, letterbox, face crop)" },
  { name: "fuzz_video_decoder", covers: "native/video_decoder.cc and libavcodec: VP8 and H.264 access units mutated from real encodes" },
];

function run(command: string, args: string[], log: (line: string) => void): void {
  log(`$ ${command} ${args.join(" ")}`);
  const result = spawnSync(command, args, { cwd: packageRoot(), stdio: ["ignore", "inherit", "inherit"] });
  if (result.status !== 0) throw new Error(`fuzz: ${command} failed (exit ${result.status ?? result.signal})`);
}

/** Installs clang and libFuzzer when missing (as the native build's packages are) and builds the targets. */
export function buildNativeFuzzers(log: (line: string) => void): void {
  ensureSystemPackages(log, FUZZ_REQUIREMENTS, "the native fuzzers");
  if (!existsSync(path.join(FUZZ_BUILD_DIR, "CMakeCache.txt"))) {
    run("cmake", ["-S", ".", "-B", FUZZ_BUILD_DIR, "-DCMAKE_CXX_COMPILER=clang++", "-DMESOGUARD_FUZZ=ON", "-DMESOGUARD_CUDA=OFF",
      "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], log);
  }
  run("cmake", ["--build", FUZZ_BUILD_DIR, "-j", "2", "--target", ...NATIVE_TARGETS.map((t) => t.name)], log);
}

export interface NativeRun {
  inputs: number;
  crashes: string[];
  corpus: number;
  exitCode: number | null;
}

/**
 * Runs one target for `seconds` over its corpus (build-fuzz/corpus/NAME, grown in place) and its seeds; a crash
 * leaves its input in build-fuzz/crashes/. `seconds` 0 replays the corpus and seeds once (the sanitizer check).
 */
export function runNativeTarget(name: string, seconds: number, seedDir: string, log: (line: string) => void): Promise<NativeRun> {
  const corpus = path.join(FUZZ_BUILD_DIR, "corpus", name);
  const crashes = path.join(FUZZ_BUILD_DIR, "crashes");
  mkdirSync(corpus, { recursive: true });
  mkdirSync(crashes, { recursive: true });
  const before = new Set(readdirSync(crashes));
  const args = [
    seconds > 0 ? `-max_total_time=${seconds}` : "-runs=0",
    "-print_final_stats=1",
    "-timeout=20",
    "-rss_limit_mb=2048",
    "-max_len=262144",
    `-artifact_prefix=${crashes}/${name}-`,
    corpus,
    seedDir,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(FUZZ_BUILD_DIR, name), args, {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, ASAN_OPTIONS: "detect_leaks=1:allocator_may_return_null=1", UBSAN_OPTIONS: "print_stacktrace=1" },
    });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-200_000);
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      const executed = /stat::number_of_executed_units:\s*(\d+)/.exec(stderr);
      const found = readdirSync(crashes).filter((f) => f.startsWith(`${name}-`) && !before.has(f));
      if (code !== 0) log(stderr.split("\n").slice(-60).join("\n"));
      resolve({ inputs: executed ? Number(executed[1]) : 0, crashes: found.map((f) => path.join(crashes, f)), corpus: readdirSync(corpus).length, exitCode: code });
    });
  });
}
