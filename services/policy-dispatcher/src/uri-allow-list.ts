import { ConfigError, UriNotAllowedError } from '@fleet/service-kit';

/** One allowed prefix: scheme, host and port exactly, and a path prefix on a segment boundary. */
interface AllowedPrefix {
  protocol: string;
  host: string;
  path: string;
}

/** A parsed allow-list of URI prefixes (a convict string list), checked on a parsed URL, never as raw text. */
export class UriAllowList {
  private readonly prefixes: AllowedPrefix[];

  /** Throws `ConfigError` naming `setting` for an entry that is not an absolute http(s) URL. */
  constructor(
    entries: readonly string[],
    private readonly setting: string,
  ) {
    this.prefixes = entries.map((entry) => {
      const url = parse(entry);
      if (!url || url.username || url.password || url.search || url.hash) {
        throw new ConfigError(`${setting}: "${entry}" is not an absolute http(s) URL prefix without credentials, query or fragment`);
      }
      return { protocol: url.protocol, host: url.host, path: url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/` };
    });
  }

  get empty(): boolean {
    return this.prefixes.length === 0;
  }

  /**
   * Whether `uri` is under one of the prefixes: same scheme, host and port (`https://host.evil.com`
   * is not `https://host`), and a path equal to the prefix or below it after normalization
   * (`/downloads/../x` is `/x`). A URI with credentials, a backslash, white space or a control
   * character is never allowed.
   */
  allows(uri: string): boolean {
    // The agent parses the raw string with Go's net/url: refuse what parsers read differently.
    if ([...uri].some((c) => c === '\\' || /\s/.test(c) || c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return false;
    const url = parse(uri);
    if (!url || url.username || url.password) return false;
    const path = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
    return this.prefixes.some((p) => p.protocol === url.protocol && p.host === url.host && path.startsWith(p.path));
  }

  /** Throws `UriNotAllowedError` (400) naming the field and the setting when `uri` is not allowed. */
  check(uri: string, field: string): void {
    if (this.allows(uri)) return;
    const why = this.empty ? `${this.setting} is empty, so every ${field} is refused` : `it is not under any prefix of ${this.setting}`;
    throw new UriNotAllowedError(`${field} ${JSON.stringify(uri)} is not allowed: ${why}`);
  }
}

function parse(value: string): URL | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined;
  } catch {
    return undefined;
  }
}
