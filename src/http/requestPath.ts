// The path of an HTTP request, parsed the same way for every route. A request target that is no valid path
// ("//", "//[": new URL throws on them) gives null, and a path segment with malformed percent escapes
// ("%E0%A4%A": decodeURIComponent throws) gives null too: the route answers 400, never a stack trace.
import type { IncomingMessage } from "node:http";

/** The request's path (percent escapes kept), or null when the target is not a valid path. */
export function requestPath(req: IncomingMessage): string | null {
  try {
    return new URL(req.url ?? "/", "http://x").pathname;
  } catch {
    return null;
  }
}

/** A percent-decoded path segment, or null when its escapes are malformed. */
export function decodeSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}
