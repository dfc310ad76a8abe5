// Join tokens reach the pages in the URL fragment (/?room=R#token=T), never the query string: a browser does not
// send the fragment to the server, so no proxy or access log sees it. The WebSocket carries the token in its
// first message (join), not in its URL. A token found in the query (an old link) is not used: it is taken out of
// the address bar at once and the page says why.

/** The token in the fragment, and whether a query token was refused. */
export function pageToken(): { token: string | undefined; refusedQueryToken: boolean } {
  const token = new URLSearchParams(location.hash.slice(1)).get("token")?.trim() || undefined;
  const url = new URL(location.href);
  const refusedQueryToken = url.searchParams.has("token");
  if (refusedQueryToken) {
    url.searchParams.delete("token");
    history.replaceState(null, "", url.toString());
  }
  return { token, refusedQueryToken };
}

/** `url` with the token in its fragment (or without one). */
export function withPageToken(url: URL, token: string | undefined): URL {
  url.hash = token ? new URLSearchParams({ token }).toString() : "";
  return url;
}

export const QUERY_TOKEN_REFUSED =
  "A token in the query string (?token=) is not used: proxies and logs keep query strings. Put it after # instead (#token=…).";
