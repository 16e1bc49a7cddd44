import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { findDeadLinks, findMarkdownFiles, githubSlug, headingAnchors, markdownLinks, resolveLink } from './support/markdown-links';

const root = resolve(__dirname, '../../..');
const README_MAX_BYTES = 15 * 1024;

const readme = () => readFileSync(join(root, 'README.md'), 'utf8');

/** The lines of `markdown` from the heading `heading` up to the next heading of the same or a higher level. */
function section(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  const start = lines.indexOf(heading);
  expect(start, `heading "${heading}"`).to.be.at.least(0);
  const level = /^#+/.exec(heading)?.[0].length ?? 0;
  const end = lines.findIndex((l, i) => i > start && new RegExp(`^#{1,${level}} `).test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The contents of each fenced code block of `markdown`. */
const codeBlocks = (markdown: string) => [...markdown.matchAll(/^\s*```[^\n]*\n([\s\S]*?)^\s*```\s*$/gm)].map((m) => m[1] ?? '');

/** The commands of a shell block: its lines without comments, a line ending in `\` joined to the next. */
function shellCommands(block: string): string[] {
  const commands: string[] = [];
  let pending = '';
  for (const raw of block.split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    pending += line;
    if (pending.endsWith('\\')) pending = pending.slice(0, -1);
    else {
      commands.push(pending.replace(/\s+#.*$/, '').trim());
      pending = '';
    }
  }
  if (pending) commands.push(pending.trim());
  return commands;
}

describe('Documentation: README size, links across the Markdown files, no orphan page', () => {
  it(`Given the README, then it is at most ${README_MAX_BYTES} bytes`, () => {
    const size = statSync(join(root, 'README.md')).size;
    expect(size, 'README.md size in bytes (move detail into docs/)').to.be.at.most(README_MAX_BYTES);
  });

  it('Given every Markdown file of the repository, then every relative link and image points at an existing file, and every #anchor at a heading of its target', () => {
    const files = findMarkdownFiles(root);
    expect(files).to.include.members(['README.md', 'docs/README.md', 'fuzz/README.md', 'deploy/elasticsearch/README.md']);
    expect(files.filter((f) => f.includes('node_modules/') || f.includes('/dist/'))).to.deep.equal([]);
    const dead = findDeadLinks(root, files).map((d) => `${d.file}:${d.line} ${d.target}: ${d.reason}`);
    expect(dead, dead.join('\n')).to.deep.equal([]);
  });

  it("Given the README's quick start, then its code block has exactly two commands, and one is the test command .ci/run runs", () => {
    const blocks = codeBlocks(section(readme(), '## Quick start'));
    expect(blocks, 'code blocks in the quick start').to.have.length(1);
    const commands = shellCommands(blocks[0] ?? '');
    expect(commands, commands.join('\n')).to.have.length(2);
    expect(commands).to.include('npm install && npm test');
    expect(commands).to.include('npm install && npm start');
    expect(readFileSync(join(root, '.ci/run'), 'utf8')).to.contain('(npm install && npm test)');
  });

  it('Given docs/, then every page is linked from README.md or docs/README.md, and docs/README.md from README.md', () => {
    const linkedFrom = (file: string) =>
      new Set(markdownLinks(readFileSync(join(root, file), 'utf8')).map((l) => resolveLink(root, file, l.target).path));
    const fromReadme = linkedFrom('README.md');
    const fromIndex = linkedFrom('docs/README.md');
    expect([...fromReadme], 'README.md links docs/README.md').to.include(join(root, 'docs/README.md'));
    const pages = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md') && f !== 'README.md');
    expect(pages.length).to.be.greaterThan(5);
    const orphans = pages.filter((p) => !fromReadme.has(join(root, 'docs', p)) && !fromIndex.has(join(root, 'docs', p)));
    expect(orphans, 'docs pages linked from neither README.md nor docs/README.md').to.deep.equal([]);
  });

  describe('the link checker itself', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'docs-links-'));
      mkdirSync(join(dir, 'docs'));
      writeFileSync(
        join(dir, 'docs/a.md'),
        [
          '# Page A',
          '## Change feeds on `_seq_no`',
          '## Deviations from elastic/fleet-server',
          '## Roadmap / not yet',
          '## Repeated',
          '## Repeated',
          '```sh',
          '# not a heading',
          '```',
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'README.md'),
        [
          '[ok](docs/a.md) [ok](docs/a.md#change-feeds-on-_seq_no) [ok](docs/a.md#deviations-from-elasticfleet-server)',
          '[ok](docs/a.md#roadmap--not-yet) [ok](docs/a.md#repeated-1) [ok](https://example.com/x.md) [ok](#title)',
          '# Title',
          '[dead file](docs/missing.md) [dead anchor](docs/a.md#repeated-2) ![dead image](docs/x.png)',
          '[heading in code](docs/a.md#not-a-heading) [outside](../elsewhere.md)',
          '`[in code](nowhere.md)`',
          '```',
          '[in a fence](nowhere.md)',
          '```',
        ].join('\n'),
      );
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("When links lead nowhere, then the checker names each one with its line, and nothing else", () => {
      const dead = findDeadLinks(dir, findMarkdownFiles(dir)).map((d) => `${d.file}:${d.line} ${d.target}`);
      expect(dead).to.deep.equal([
        'README.md:4 docs/missing.md',
        'README.md:4 docs/a.md#repeated-2',
        'README.md:4 docs/x.png',
        'README.md:5 docs/a.md#not-a-heading',
        'README.md:5 ../elsewhere.md',
      ]);
    });

    it("Then anchors follow GitHub's slugs: lower case, punctuation dropped except - and _, spaces to -, repeats numbered", () => {
      expect(githubSlug('Change feeds on `_seq_no`')).to.equal('change-feeds-on-_seq_no');
      expect(githubSlug('Roadmap / not yet')).to.equal('roadmap--not-yet');
      expect(githubSlug("The agent's answer, and what it writes")).to.equal('the-agents-answer-and-what-it-writes');
      expect([...headingAnchors('# A\n## A\n### A\n')]).to.deep.equal(['a', 'a-1', 'a-2']);
    });
  });
});
