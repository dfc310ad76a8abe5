// Test tooling (not shipped in src/): builds the mediasoup worker (the C++ SFU process of the `mediasoup` npm
// package, a devDependency of the mediasoup integration tests) from the package's own sources, offline, against
// Debian's libraries:
//
//   1. installs the Debian packages the build needs when they are missing (apt-get as root, like
//      systemPackages.ts; MESOGUARD_SKIP_APT=1 to opt out);
//   2. copies node_modules/mediasoup/worker to a temporary folder and patches its meson.build files: every
//      `subproject()` (which would download abseil, openssl, libuv, libsrtp2, usrsctp, nlohmann_json and catch2
//      from the network) becomes a system `dependency()`, and the meson_version requirement accepts Debian 12's
//      meson 1.0.1;
//   3. builds the `mediasoup-worker` target with meson and ninja (`--wrap-mode=nodownload`);
//   4. stores the binary in .mesoguard-cache/mediasoup-worker-<version>/mediasoup-worker (git-ignored);
//   5. prints its path (set MEDIASOUP_WORKER_BIN to it: mediasoup then uses it and its npm postinstall skips
//      the prebuilt download).
//
// A cached binary is reused; `--force` rebuilds. Two test files may ask at once: one builds, the other waits
// (a lock file beside the cached binary) and then reuses its binary. Written for the mediasoup 3.12 worker layout (3.12.16 is the
// pinned devDependency); newer workers download more at build time (flatbuffers) and are not supported here.
import { spawnSync } from "node:child_process";
import { copyFileSync, chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { packageRoot } from "../../src/models/paths.js";
import { ensureSystemPackages, hasCommand, type SystemRequirement } from "../../src/install/systemPackages.js";

function pkgConfig(...modules: string[]): boolean {
  return spawnSync("pkg-config", ["--exists", ...modules], { stdio: "ignore" }).status === 0;
}

/** What the worker build needs, by Debian package. */
export const MEDIASOUP_WORKER_REQUIREMENTS: SystemRequirement[] = [
  { aptPackage: "meson", purpose: "the worker's build system", present: () => hasCommand("meson") },
  { aptPackage: "ninja-build", purpose: "meson's backend", present: () => hasCommand("ninja") },
  { aptPackage: "pkg-config", purpose: "finds the system libraries", present: () => hasCommand("pkg-config") },
  { aptPackage: "g++", purpose: "C++17 compiler", present: () => hasCommand("g++") || hasCommand("c++") },
  { aptPackage: "libabsl-dev", purpose: "abseil containers", present: () => hasCommand("pkg-config") && pkgConfig("absl_flat_hash_map", "absl_btree", "absl_strings") },
  { aptPackage: "libuv1-dev", purpose: "the worker's event loop", present: () => hasCommand("pkg-config") && pkgConfig("libuv") },
  { aptPackage: "libsrtp2-dev", purpose: "SRTP", present: () => existsSync("/usr/include/srtp2/srtp.h") },
  { aptPackage: "libusrsctp-dev", purpose: "SCTP (DataChannels)", present: () => existsSync("/usr/include/usrsctp.h") },
  { aptPackage: "nlohmann-json3-dev", purpose: "JSON", present: () => existsSync("/usr/include/nlohmann/json.hpp") },
  { aptPackage: "libssl-dev", purpose: "DTLS", present: () => existsSync("/usr/include/openssl/ssl.h") },
];

// ---- meson.build patch ----------------------------------------------------------------------------------------

/**
 * System dependencies standing in for the subprojects' variables (`<proj>.get_variable('<name>')` becomes
 * `<name>`). Debian's libsrtp2.pc does not add its include folder (`#include <srtp.h>` lives in
 * /usr/include/srtp2), hence the extra include argument.
 */
const SYSTEM_DEPENDENCIES = `
# ---- mesoguard: system libraries instead of downloaded subprojects (test/tooling/mediasoupWorker.ts) ----
ms_sys_absl = [
  dependency('absl_flat_hash_map'), dependency('absl_flat_hash_set'), dependency('absl_btree'),
  dependency('absl_inlined_vector'), dependency('absl_memory'), dependency('absl_hash'), dependency('absl_raw_hash_set'),
]
absl_container_dep = declare_dependency(dependencies: ms_sys_absl)
absl_strings_dep = dependency('absl_strings')
absl_types_dep = dependency('absl_optional')
openssl_dep = dependency('openssl')
nlohmann_json_dep = dependency('nlohmann_json')
libuv_dep = dependency('libuv')
ms_sys_srtp2 = dependency('libsrtp2')
libsrtp2_dep = declare_dependency(
  dependencies: ms_sys_srtp2,
  compile_args: ['-I' + ms_sys_srtp2.get_variable(pkgconfig: 'includedir') / 'srtp2'],
)
usrsctp_dep = dependency('usrsctp')
catch2_dep = dependency('catch2', required: false) # only the worker's own tests use it; they are not built
# ---- end mesoguard ----
`;

/** What `project.get_variable(...)` references may stay (library targets for link_whole are dropped). */
const KNOWN_VARIABLES = new Set(["absl_container_dep", "absl_strings_dep", "absl_types_dep", "openssl_dep", "nlohmann_json_dep", "libuv_dep", "libsrtp2_dep", "usrsctp_dep", "catch2_dep", "wingetopt_dep", "wingetopt_lib"]);

/** Patches the worker's top meson.build (3.12 layout); throws when it does not look as expected. */
export function patchWorkerMesonBuild(text: string): string {
  let out = text.replace(/meson_version\s*:\s*'>=\s*[\d.]+'/, "meson_version: '>= 0.60.0'");
  // Remove the subproject() calls (Windows' wingetopt stays: it sits under `if host_machine.system() == 'windows'`).
  let removed = 0;
  out = out.replace(/^(\w+)_proj = subproject\(\s*'([^']+)'[\s\S]*?^\)\n/gm, (whole, _name: string, project: string) => {
    if (project === "wingetopt") return whole;
    removed++;
    return "";
  });
  if (removed < 6) throw new Error(`mesoguard: the mediasoup worker's meson.build has ${removed} subproject() calls where 7 were expected (not a 3.12 worker?)`);
  // link_whole: the subprojects' static libraries are gone; the system libraries are linked as dependencies.
  out = out.replace(/^link_whole = \[\n([\s\S]*?)^\]\n/m, (_whole, body: string) => {
    const kept = body.split("\n").filter((line) => line.trim() && !/_proj\.get_variable/.test(line));
    return `link_whole = [\n${kept.join("\n")}\n]\n`;
  });
  out = replaceGetVariables(out);
  // The system dependencies go right before the first use (after `cpp = meson.get_compiler('cpp')`).
  const anchor = "cpp = meson.get_compiler('cpp')\n";
  if (!out.includes(anchor)) throw new Error("mesoguard: the mediasoup worker's meson.build has no `cpp = meson.get_compiler('cpp')` line");
  return out.replace(anchor, anchor + SYSTEM_DEPENDENCIES);
}

/** Patches deps/libwebrtc/meson.build (it has its own abseil subproject() call). */
export function patchLibwebrtcMesonBuild(text: string): string {
  return replaceGetVariables(text.replace(/^\w+_proj = subproject\([\s\S]*?^\)\n/gm, ""));
}

function replaceGetVariables(text: string): string {
  return text.replace(/\b(\w+)_proj\.get_variable\('(\w+)'\)/g, (whole, project: string, variable: string) => {
    if (project === "wingetopt") return whole;
    if (!KNOWN_VARIABLES.has(variable)) throw new Error(`mesoguard: no system dependency for ${project}_proj.get_variable('${variable}') in the mediasoup worker's meson.build`);
    return variable;
  });
}

// ---- build -------------------------------------------------------------------------------------------------

export interface WorkerBuildOptions {
  /** node_modules/mediasoup; default: resolved from this package. */
  mediasoupDir?: string;
  /** Cache root; default <package>/.mesoguard-cache. */
  cacheDir?: string;
  force?: boolean;
  log?: (line: string) => void;
}

export function mediasoupPackageDir(): string {
  return path.join(packageRoot(), "node_modules", "mediasoup");
}

export function mediasoupVersion(mediasoupDir = mediasoupPackageDir()): string {
  return (JSON.parse(readFileSync(path.join(mediasoupDir, "package.json"), "utf8")) as { version: string }).version;
}

/** Where the built worker of `version` is kept. */
export function cachedWorkerPath(version: string, cacheDir = path.join(packageRoot(), ".mesoguard-cache")): string {
  return path.join(cacheDir, `mediasoup-worker-${version}`, "mediasoup-worker");
}

/** Whether process `pid` is alive. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Runs `build` holding `lock` (a file created exclusively, holding the builder's pid): one build at a time across
 * processes. A lock whose process is gone is taken over.
 */
function withBuildLock<T>(lock: string, log: (line: string) => void, build: () => T): T {
  mkdirSync(path.dirname(lock), { recursive: true });
  let said = false;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: "wx" });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    let owner: number;
    try {
      owner = Number(readFileSync(lock, "utf8") || "0"); // 0: created, its pid not written yet
    } catch {
      continue; // released meanwhile
    }
    if (owner > 0 && !alive(owner)) {
      rmSync(lock, { force: true });
      continue;
    }
    if (!said) log(`mesoguard: waiting for process ${owner || "?"} building the mediasoup worker (${lock})`);
    said = true;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000); // a synchronous 2 s sleep
  }
  try {
    return build();
  } finally {
    rmSync(lock, { force: true });
  }
}

function run(command: string, args: string[], cwd: string, log: (line: string) => void): void {
  log(`$ ${command} ${args.join(" ")}`);
  const result = spawnSync(command, args, { cwd, stdio: ["ignore", "inherit", "inherit"] });
  if (result.status !== 0) throw new Error(`mesoguard: ${command} ${args.join(" ")} failed (exit ${result.status ?? result.signal})`);
}

/** Builds (or finds in the cache) the mediasoup worker; returns the binary's path. */
export function buildMediasoupWorker(options: WorkerBuildOptions = {}): string {
  const log = options.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const mediasoupDir = options.mediasoupDir ?? mediasoupPackageDir();
  if (!existsSync(path.join(mediasoupDir, "worker", "meson.build"))) {
    throw new Error(`mesoguard: no mediasoup worker sources in ${mediasoupDir}/worker (npm ci installs the mediasoup devDependency)`);
  }
  const version = mediasoupVersion(mediasoupDir);
  const target = cachedWorkerPath(version, options.cacheDir);
  if (!options.force && existsSync(target)) {
    log(`mesoguard: mediasoup worker ${version} already built: ${target}`);
    return target;
  }
  return withBuildLock(`${target}.lock`, log, () => {
    // Another process may have built it while this one waited for the lock.
    if (!options.force && existsSync(target)) return target;
    compileWorker(mediasoupDir, version, target, log);
    return target;
  });
}

function compileWorker(mediasoupDir: string, version: string, target: string, log: (line: string) => void): void {
  ensureSystemPackages(log, MEDIASOUP_WORKER_REQUIREMENTS, "building the mediasoup worker");

  const work = mkdtempSync(path.join(tmpdir(), `mediasoup-worker-${version}-`));
  try {
    const source = path.join(work, "worker");
    // The package's own build output (if any) and the wrap files stay behind: nothing may be downloaded.
    cpSync(path.join(mediasoupDir, "worker"), source, { recursive: true, filter: (src) => src !== path.join(mediasoupDir, "worker", "out") });
    const subprojects = path.join(source, "subprojects");
    if (existsSync(subprojects)) {
      for (const entry of readdirSync(subprojects)) if (entry.endsWith(".wrap") && entry !== "wingetopt.wrap") rmSync(path.join(subprojects, entry));
    }
    const top = path.join(source, "meson.build");
    writeFileSync(top, patchWorkerMesonBuild(readFileSync(top, "utf8")));
    const webrtc = path.join(source, "deps", "libwebrtc", "meson.build");
    writeFileSync(webrtc, patchLibwebrtcMesonBuild(readFileSync(webrtc, "utf8")));

    const build = path.join(work, "build");
    const started = Date.now();
    run(
      "meson",
      ["setup", "--buildtype", "release", "-Db_ndebug=true", "-Db_pie=true", "-Db_staticpic=true", "--wrap-mode=nodownload", build, source],
      work,
      log,
    );
    // Lowest CPU priority: the tests may build it while other test files run beside it, and those keep their timing.
    run("nice", ["-n", "19", "ninja", "-C", build, "-j", String(Math.max(1, cpus().length)), "mediasoup-worker"], work, log);
    mkdirSync(path.dirname(target), { recursive: true });
    const temporary = `${target}.${process.pid}.tmp`;
    copyFileSync(path.join(build, "mediasoup-worker"), temporary);
    chmodSync(temporary, 0o755);
    // rename: a test run reading the cache never sees half a binary
    renameSync(temporary, target);
    log(`mesoguard: built mediasoup worker ${version} in ${Math.round((Date.now() - started) / 1000)} s: ${target}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(buildMediasoupWorker({ force: process.argv.includes("--force") }) + "\n");
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
}
