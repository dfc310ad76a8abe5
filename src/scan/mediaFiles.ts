// The files a scan covers: the paths given, and the videos and images under the folders given (recursively).
import { readdir, stat } from "node:fs/promises";
import path from "node:path";

export const VIDEO_EXTENSIONS = [".mp4", ".webm", ".mkv", ".mov"] as const;
export const IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png"] as const;

export type MediaKind = "video" | "image";

/** By extension, case-insensitive; null for anything else. */
export function mediaKindOf(file: string): MediaKind | null {
  const ext = path.extname(file).toLowerCase();
  if ((VIDEO_EXTENSIONS as readonly string[]).includes(ext)) return "video";
  if ((IMAGE_EXTENSIONS as readonly string[]).includes(ext)) return "image";
  return null;
}

export interface MediaFile {
  path: string;
  kind: MediaKind;
}

/**
 * Expands `paths`: a folder gives its videos and images (recursively, sorted, other files skipped); a file is
 * taken as given, also when it cannot be read (its scan then reports the error), and a file named explicitly with
 * another extension is read as a video, so libavformat decides.
 */
export async function findMediaFiles(paths: readonly string[]): Promise<MediaFile[]> {
  const files: MediaFile[] = [];
  const seen = new Set<string>();
  const add = (file: string, kind: MediaKind) => {
    if (!seen.has(file)) files.push({ path: file, kind });
    seen.add(file);
  };
  async function walk(dir: string): Promise<void> {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        const kind = mediaKindOf(full);
        if (kind) add(full, kind);
      }
    }
  }
  for (const given of paths) {
    const info = await stat(given).catch(() => null);
    if (info?.isDirectory()) await walk(given);
    else add(given, mediaKindOf(given) ?? "video");
  }
  return files;
}
