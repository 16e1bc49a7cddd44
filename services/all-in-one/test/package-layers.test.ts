import { expect } from 'chai';
import { ESLint } from 'eslint';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import tseslint from 'typescript-eslint';

const root = resolve(__dirname, '../../..');

interface LayersModule {
  packageLayers: Record<string, string[]>;
  layerRules: () => object[];
}

const loadLayers = async (): Promise<LayersModule> => (await import(pathToFileURL(join(root, 'eslint.config.mjs')).href)) as LayersModule;

describe('Package layers (the lint rule that keeps libraries from importing what they do not need)', function () {
  this.timeout(60_000);

  it('When a package.json names a workspace dependency, then its layer allows it, and every package has a layer', async () => {
    const { packageLayers } = await loadLayers();
    const dirs = ['libs', 'services'].flatMap((top) => readdirSync(join(root, top)).map((d) => `${top}/${d}`));
    expect(Object.keys(packageLayers).sort()).to.deep.equal(dirs.sort());
    for (const dir of dirs) {
      const manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
      const fleet = Object.keys(manifest.dependencies ?? {}).filter((d) => d.startsWith('@fleet/')).map((d) => d.slice('@fleet/'.length));
      expect(fleet.filter((d) => !packageLayers[dir]?.includes(d)), `${dir}/package.json`).to.deep.equal([]);
    }
  });

  it('When a library imports a sibling outside its layer, then lint fails; a sibling inside it passes', async () => {
    const { layerRules } = await loadLayers();
    const eslint = new ESLint({
      cwd: root,
      overrideConfigFile: true,
      overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...(layerRules() as never[])],
    });
    const lint = async (file: string, code: string) => (await eslint.lintText(code, { filePath: join(root, file) }))[0]?.messages ?? [];
    const bus = await lint('libs/service-kit/src/layer-probe.ts', "import { InProcessBus } from '@fleet/notifications';\nexport const b = InProcessBus;\n");
    expect(bus.map((m) => m.ruleId)).to.deep.equal(['no-restricted-imports']);
    expect(bus[0]?.message).to.match(/libs\/service-kit may import only @fleet\/store, @fleet\/telemetry/);
    expect(await lint('libs/store/src/layer-probe.ts', "import { inSpan } from '@fleet/telemetry';\nexport const s = inSpan;\n")).to.have.length(1);
    expect(await lint('services/enrollment/src/layer-probe.ts', "import { createCheckinGateway } from '@fleet/checkin-gateway';\nexport const g = createCheckinGateway;\n")).to.have.length(1);
    expect(await lint('libs/service-kit/src/layer-probe.ts', "import { StoreUnavailableError } from '@fleet/store';\nexport const e = StoreUnavailableError;\n")).to.deep.equal([]);
    expect(await lint('libs/runtime/src/layer-probe.ts', "import { InProcessBus } from '@fleet/notifications';\nexport const b = InProcessBus;\n")).to.deep.equal([]);
  });
});
