// Writes a command's output files so that none is ever half-written: every file goes to a temporary name in the
// target folder first, and only when all are written are they renamed into place (a rename within one folder is
// atomic). On any failure the temporary files are removed.
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * Writes `files` (name -> content) into `dir`, created when missing; returns the paths written. `check` sees the
 * written temporary files (name -> path) before any is renamed; when it throws, nothing is put in place.
 */
export async function writeFilesAtomically(
  dir: string,
  files: Readonly<Record<string, string>>,
  check?: (staged: Record<string, string>) => void | Promise<void>,
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const staged: Array<{ temp: string; final: string }> = [];
  try {
    for (const [name, content] of Object.entries(files)) {
      const final = path.join(dir, name);
      const temp = path.join(dir, `.${name}.${process.pid}.tmp`);
      staged.push({ temp, final });
      await writeFile(temp, content);
    }
    await check?.(Object.fromEntries(staged.map(({ temp, final }) => [path.basename(final), temp])));
    for (const { temp, final } of staged) await rename(temp, final);
  } catch (error) {
    await Promise.all(staged.map(({ temp }) => rm(temp, { force: true })));
    throw error;
  }
  return staged.map((s) => s.final);
}
