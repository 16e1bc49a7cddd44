/**
 * Reads the repository's Markdown the way GitHub renders it, far enough to check links: the
 * headings' anchors (GitHub's slugs, duplicates numbered), the relative links and images outside
 * code, and whether each one points at an existing file and, with `#anchor`, at a heading of it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** Directories never walked: dependencies, build output, local data, VCS and tool state. */
const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'coverage', 'data', 'results']);
const MAX_DEPTH = 12;
const MAX_ENTRIES = 50_000;

/** Every *.md file under `root` (relative paths, sorted), outside dependencies and build output. */
export function findMarkdownFiles(root: string): string[] {
  const found: string[] = [];
  let seen = 0;
  const walk = (dir: string, depth: number): void => {
    if (depth > MAX_DEPTH) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      seen += 1;
      if (seen > MAX_ENTRIES) throw new Error(`more than ${MAX_ENTRIES} entries under ${root}`);
      if (entry.isDirectory()) {
        if (entry.name.startsWith('.') || SKIPPED_DIRS.has(entry.name) || entry.name.startsWith('dist.old-')) continue;
        walk(join(dir, entry.name), depth + 1);
      } else if (entry.isFile() && entry.name.endsWith('.md')) {
        found.push(relative(root, join(dir, entry.name)).split(sep).join('/'));
      }
    }
  };
  walk(root, 0);
  return found.sort();
}

/** One line of a document with whether it is inside a fenced code block (fence lines count as inside). */
interface SourceLine {
  number: number;
  text: string;
  code: boolean;
}

function classifyLines(markdown: string): SourceLine[] {
  let fence: string | undefined;
  return markdown.split('\n').map((text, i) => {
    const opener = /^\s*(`{3,}|~{3,})/.exec(text)?.[1];
    if (fence === undefined && opener) {
      fence = opener;
      return { number: i + 1, text, code: true };
    }
    if (fence !== undefined) {
      if (opener && opener[0] === fence[0] && opener.length >= fence.length && text.trim() === opener) fence = undefined;
      return { number: i + 1, text, code: true };
    }
    return { number: i + 1, text, code: false };
  });
}

/** GitHub's anchor for a heading's text (github-slugger over the rendered text). */
export function githubSlug(heading: string): string {
  const rendered = heading
    .replace(/!\[[^\]]*\]\([^)]*\)/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/`/g, '')
    .replace(/\*+/g, '');
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors a document's headings get (the second "Foo" is `foo-1`), plus explicit `id`/`name` anchors. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const counts = new Map<string, number>();
  for (const line of classifyLines(markdown)) {
    if (line.code) continue;
    const heading = /^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(line.text)?.[1];
    if (heading !== undefined) {
      const base = githubSlug(heading);
      let n = counts.get(base) ?? 0;
      let slug = n === 0 ? base : `${base}-${n}`;
      while (anchors.has(slug)) slug = `${base}-${++n}`;
      counts.set(base, n + 1);
      anchors.add(slug);
    }
    for (const m of line.text.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) if (m[1]) anchors.add(m[1]);
  }
  return anchors;
}

/** A link or image target found in a document. */
export interface MarkdownLink {
  line: number;
  target: string;
}

/** Blanks out inline code spans (keeping line breaks), so that `[a](b)` inside code is not a link. */
function blankCodeSpans(text: string): string {
  return text.replace(/(`+)(?!`)([\s\S]*?[^`])\1(?!`)/g, (span) => (/\n\s*\n/.test(span) ? span : span.replace(/[^\n]/g, ' ')));
}

/** Every inline link and image target outside code, and every reference definition (`[x]: target`). */
export function markdownLinks(markdown: string): MarkdownLink[] {
  const lines = classifyLines(markdown);
  const prose = blankCodeSpans(lines.map((l) => (l.code ? '' : l.text)).join('\n'));
  const links: MarkdownLink[] = [];
  const lineOf = (offset: number) => prose.slice(0, offset).split('\n').length;
  const inline = /!?\[(?:[^\]\\]|\\.)*\]\(\s*(<[^>\n]*>|[^\s)]+)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g;
  for (const m of prose.matchAll(inline)) {
    const raw = m[1] ?? '';
    links.push({ line: lineOf(m.index ?? 0), target: raw.startsWith('<') ? raw.slice(1, -1) : raw });
  }
  const definition = /^ {0,3}\[[^\]]+\]:\s*(<[^>\n]*>|\S+)/gm;
  for (const m of prose.matchAll(definition)) {
    const raw = m[1] ?? '';
    links.push({ line: lineOf(m.index ?? 0), target: raw.startsWith('<') ? raw.slice(1, -1) : raw });
  }
  return links.sort((a, b) => a.line - b.line);
}

/** A link that leads nowhere. */
export interface DeadLink {
  file: string;
  line: number;
  target: string;
  reason: string;
}

/** True for targets outside the repository: URLs with a scheme, and protocol-relative ones. */
const isExternal = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');

/** Where a relative link of `file` (relative to `root`) points, as an absolute path and an anchor. */
export function resolveLink(root: string, file: string, target: string): { path: string; anchor?: string } {
  const hash = target.indexOf('#');
  const pathPart = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
  const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
  const path = pathPart === '' ? resolve(root, file) : resolve(root, dirname(file), pathPart);
  return anchor === undefined ? { path } : { path, anchor };
}

/** Checks every relative link of `files` (paths relative to `root`): the file exists, and so does the anchor. */
export function findDeadLinks(root: string, files: string[]): DeadLink[] {
  const anchorCache = new Map<string, Set<string>>();
  const anchorsOf = (path: string) => {
    let anchors = anchorCache.get(path);
    if (!anchors) {
      anchors = headingAnchors(readFileSync(path, 'utf8'));
      anchorCache.set(path, anchors);
    }
    return anchors;
  };
  const dead: DeadLink[] = [];
  for (const file of files) {
    for (const { line, target } of markdownLinks(readFileSync(join(root, file), 'utf8'))) {
      if (isExternal(target)) continue;
      const report = (reason: string) => dead.push({ file, line, target, reason });
      const { path, anchor } = resolveLink(root, file, target);
      if (!path.startsWith(resolve(root) + sep)) {
        report('points outside the repository');
        continue;
      }
      if (!existsSync(path)) {
        report('no such file');
        continue;
      }
      if (anchor === undefined || anchor === '') continue;
      if (!statSync(path).isFile() || !path.endsWith('.md')) {
        report('an anchor into something that is not a Markdown file');
        continue;
      }
      if (!anchorsOf(path).has(anchor)) report(`no heading with the anchor #${anchor} in ${relative(root, path)}`);
    }
  }
  return dead;
}
