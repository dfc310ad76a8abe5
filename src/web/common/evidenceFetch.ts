// Fetching what the server keeps as evidence over HTTP: snapshot JPEGs (shown through object URLs, cached per
// snapshot id) and incident bundles (downloaded). The observer's token goes in an Authorization header, never in
// a URL (development mode: no token, no header).

export class EvidenceFetcher {
  readonly #urls = new Map<string, Promise<string>>();

  constructor(
    /** The room watched (set from the welcome when the token names it). */
    public room: string,
    readonly token: string | undefined,
  ) {}

  #headers(): HeadersInit {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  #base(participantId: string): string {
    return `/rooms/${encodeURIComponent(this.room)}/participants/${encodeURIComponent(participantId)}`;
  }

  /** An object URL of the snapshot's JPEG (fetched once). */
  snapshotUrl(participantId: string, snapshotId: number): Promise<string> {
    const key = `${participantId}/${snapshotId}`;
    let url = this.#urls.get(key);
    if (!url) {
      url = fetch(`${this.#base(participantId)}/snapshots/${snapshotId}.jpg`, { headers: this.#headers() }).then(async (res) => {
        if (!res.ok) throw new Error(`snapshot ${snapshotId}: HTTP ${res.status}`);
        return URL.createObjectURL(await res.blob());
      });
      url.catch(() => this.#urls.delete(key));
      this.#urls.set(key, url);
    }
    return url;
  }

  /** Frees the object URLs of snapshots no longer kept. */
  forget(participantId: string, keep: ReadonlySet<number>): void {
    for (const [key, url] of this.#urls) {
      const [who, id] = key.split("/");
      if (who !== participantId || keep.has(Number(id))) continue;
      this.#urls.delete(key);
      void url.then((u) => URL.revokeObjectURL(u), () => undefined);
    }
  }

  /** Downloads the participant's incident bundle (a ZIP) as a file. */
  async downloadIncident(participantId: string): Promise<string> {
    const res = await fetch(`${this.#base(participantId)}/incident.zip`, { headers: this.#headers() });
    if (!res.ok) throw new Error(`export failed: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
    const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") ?? "")?.[1] ?? `incident-${participantId}.zip`;
    const url = URL.createObjectURL(await res.blob());
    const link = Object.assign(document.createElement("a"), { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    return name;
  }
}
