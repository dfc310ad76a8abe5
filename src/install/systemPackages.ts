// The system packages the native build needs, found or installed with apt (Debian/Ubuntu, as root).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export interface SystemRequirement {
  /** Debian/Ubuntu package that provides it. */
  aptPackage: string;
  /** What it is for, in the error message. */
  purpose: string;
  present: () => boolean;
}

export function hasCommand(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

/** An FFmpeg library's headers, where Debian puts them or where pkg-config says. */
function hasFfmpegLibrary(name: string, header: string): boolean {
  return (
    ["/usr/include/x86_64-linux-gnu", "/usr/include/aarch64-linux-gnu", "/usr/include", "/usr/local/include"].some((dir) =>
      existsSync(`${dir}/${name}/${header}`),
    ) || spawnSync("pkg-config", ["--exists", name], { stdio: "ignore" }).status === 0
  );
}

export const BUILD_REQUIREMENTS: SystemRequirement[] = [
  { aptPackage: "cmake", purpose: "cmake-js builds the addon", present: () => hasCommand("cmake") },
  { aptPackage: "g++", purpose: "C++ compiler", present: () => hasCommand("g++") || hasCommand("c++") },
  { aptPackage: "make", purpose: "build driver", present: () => hasCommand("make") },
  {
    aptPackage: "libturbojpeg0-dev",
    purpose: "libjpeg-turbo's TurboJPEG API decodes JPEG frames",
    present: () => existsSync("/usr/include/turbojpeg.h") || existsSync("/usr/local/include/turbojpeg.h"),
  },
  {
    aptPackage: "libjpeg62-turbo-dev",
    purpose: "libjpeg-turbo's libjpeg API decodes only the rows a tracked frame's face crops read",
    present: () => existsSync("/usr/include/jpeglib.h") || existsSync("/usr/local/include/jpeglib.h"),
  },
  {
    aptPackage: "libpng-dev",
    purpose: "libpng decodes PNG frames",
    present: () => existsSync("/usr/include/png.h") || existsSync("/usr/local/include/png.h"),
  },
  {
    aptPackage: "libavcodec-dev",
    purpose: "libavcodec decodes the VP8/H.264 video of the RTP ingest",
    present: () => hasFfmpegLibrary("libavcodec", "avcodec.h") && hasFfmpegLibrary("libavutil", "avutil.h"),
  },
  {
    aptPackage: "libavformat-dev",
    purpose: "libavformat reads the video files of mesoguard scan",
    present: () => hasFfmpegLibrary("libavformat", "avformat.h"),
  },
  {
    aptPackage: "libswscale-dev",
    purpose: "libswscale converts the pictures of mesoguard scan's videos to 8-bit 4:2:0",
    present: () => hasFfmpegLibrary("libswscale", "swscale.h"),
  },
];

export function missingRequirements(requirements: SystemRequirement[] = BUILD_REQUIREMENTS): SystemRequirement[] {
  return requirements.filter((r) => !r.present());
}

export function aptInstallCommand(packages: string[]): string {
  return `apt-get update && apt-get install -y --no-install-recommends ${packages.join(" ")}`;
}

/** Why apt-get may not install packages here, or undefined when it may. */
function aptRefusal(): string | undefined {
  if (process.env.MESOGUARD_SKIP_APT === "1") return "MESOGUARD_SKIP_APT=1";
  if (process.platform !== "linux" || !hasCommand("apt-get")) return "no apt-get here";
  if (process.getuid?.() !== 0) return "not root";
  return undefined;
}

/** Packages are missing and apt-get may not install them (`reason`); `command` installs them. */
export class MissingSystemPackages extends Error {
  readonly packages: string[];
  readonly command: string;
  constructor(missing: SystemRequirement[], purpose: string, readonly reason: string) {
    const packages = missing.map((m) => m.aptPackage);
    const command = aptInstallCommand(packages);
    const why = missing.map((m) => `  - ${m.aptPackage}: ${m.purpose}`).join("\n");
    super(`mesoguard: ${purpose} needs system packages that are missing (apt-get not run: ${reason}):\n${why}\n` +
      `Install them (as root) with:\n  ${command}\nthen run it again.`);
    this.packages = packages;
    this.command = command;
  }
}

function apt(args: string[]): boolean {
  const result = spawnSync("apt-get", args, {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  return result.status === 0;
}

/**
 * Installs what is missing from `requirements` when allowed (root, apt-get present, MESOGUARD_SKIP_APT unset);
 * otherwise throws MissingSystemPackages with the exact command to run. `purpose` names what needs them.
 */
export function ensureSystemPackages(
  log: (line: string) => void,
  requirements: SystemRequirement[] = BUILD_REQUIREMENTS,
  purpose = "the native build",
): void {
  const missing = missingRequirements(requirements);
  if (missing.length === 0) return;
  const refusal = aptRefusal();
  if (refusal) throw new MissingSystemPackages(missing, purpose, refusal);
  const packages = missing.map((m) => m.aptPackage);
  log(`mesoguard: installing system packages for ${purpose} with apt-get: ${packages.join(" ")} (MESOGUARD_SKIP_APT=1 to opt out)`);
  const installArgs = ["install", "-y", "--no-install-recommends", ...packages];
  // A fresh machine has no package lists yet: update once and retry.
  if (!apt(installArgs) && !(apt(["update"]) && apt(installArgs))) {
    throw new Error(`mesoguard: apt-get could not install ${packages.join(" ")}; run: ${aptInstallCommand(packages)}`);
  }
  const still = missingRequirements(requirements);
  if (still.length > 0) {
    throw new Error(`mesoguard: still missing after apt-get: ${still.map((m) => m.aptPackage).join(" ")}`);
  }
}

/** Whether nvcc is on PATH (the cmake build then compiles the CUDA kernels). */
export function nvccVersion(): string | undefined {
  if (!hasCommand("nvcc")) return undefined;
  try {
    const out = execFileSync("nvcc", ["--version"], { encoding: "utf8" });
    return out.trim().split("\n").pop();
  } catch {
    return undefined;
  }
}
