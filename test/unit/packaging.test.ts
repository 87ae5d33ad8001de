import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const pkg = JSON.parse(read('package.json')) as {
  license: string;
  files: string[];
  exports: Record<string, unknown>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

describe('the npm package', () => {
  it('carries the licence its package.json names', () => {
    expect(pkg.license).toBe('Apache-2.0');
    expect(read('LICENSE')).toMatch(/^\s+Apache License\s+Version 2\.0, January 2004/);
  });

  it('exports the relay, the client and the agent by name, and the config schema', () => {
    expect(Object.keys(pkg.exports)).toEqual(
      expect.arrayContaining(['.', './client', './agent', './schema/vfs-relay.config.schema.json']),
    );
    expect(pkg.files).toEqual(expect.arrayContaining(['dist', 'schema']));
  });

  it('depends at run time only on what the package runs, with one Powertools version', () => {
    const sources = execFileSync('git', ['ls-files', 'src'], { cwd: ROOT }).toString().split('\n').filter(Boolean);
    const imported = new Set<string>();
    for (const file of sources) {
      for (const match of read(file).matchAll(/from '([^'.][^']*)'|(?:import|require|\))\('([^'.][^']*)'\)/g)) {
        const spec = match[1] ?? match[2];
        if (!spec || spec.startsWith('node:')) continue;
        imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
    // Imported only by src/observability (the Lambda functions' adapters, bundled by esbuild at cdk synth).
    const lambdaOnly = ['@aws-lambda-powertools/logger', '@aws-lambda-powertools/metrics'];
    for (const name of Object.keys(pkg.dependencies)) expect(imported, name).toContain(name);
    for (const name of lambdaOnly) expect(pkg.devDependencies[name], name).toBeDefined();
    const powertools = Object.entries({ ...pkg.dependencies, ...pkg.devDependencies }).filter(([name]) =>
      name.startsWith('@aws-lambda-powertools/'),
    );
    expect(new Set(powertools.map(([, version]) => version)).size).toBe(1);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() && !line.trim().startsWith('#'));
  const stages = instructions.filter((line) => /^FROM /.test(line));
  const last = instructions.slice(instructions.lastIndexOf(stages.at(-1)!));

  it('builds in one stage and runs on a slim Node image in another', () => {
    expect(stages).toHaveLength(2);
    for (const stage of stages) expect(stage).toMatch(/^FROM node:(20|22)-slim\b/);
  });

  it('runs as a user other than root, keeps the journal on a volume and checks /healthz', () => {
    const user = last.find((line) => line.startsWith('USER '));
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER (root|0)\b/);
    const volume = last.find((line) => line.startsWith('VOLUME '));
    expect(volume).toContain('/var/lib/vfs-relay');
    const config = JSON.parse(read('packaging/docker/vfs-relay.config.json'));
    expect(config.journal).toBe('/var/lib/vfs-relay');
    expect(config.listen.host).toBe('0.0.0.0');
    expect(last.find((line) => line.startsWith('HEALTHCHECK '))).toMatch(/http:\/\/127\.0\.0\.1:8787\/healthz/);
  });

  it('copies only files that exist in the repository', () => {
    const copies = instructions.filter((line) => line.startsWith('COPY ') && !line.includes('--from='));
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      const parts = copy.split(/\s+/).slice(1);
      for (const source of parts.slice(0, -1)) expect(existsSync(join(ROOT, source)), copy).toBe(true);
    }
  });

  it("runs the package's bin, and copies what the build needs", () => {
    const { bin, scripts } = JSON.parse(read('package.json')) as {
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    const entrypoint = last.find((line) => line.startsWith('ENTRYPOINT '));
    expect(entrypoint).toContain(`/opt/vfs-relay/${bin['vfs-relay']}`);
    expect(last.find((line) => line.includes('/usr/local/bin/vfs-relay'))).toContain(
      `/opt/vfs-relay/${bin['vfs-relay']}`,
    );
    // The build runs scripts named by `npm run build`: each is copied into the build stage.
    for (const script of scripts.build!.match(/scripts\/[\w.-]+/g) ?? []) {
      expect(
        instructions.some((line) => line.startsWith('COPY ') && line.includes(script)),
        script,
      ).toBe(true);
    }
  });
});

describe('systemd units', () => {
  const units = ['vfs-relay.service', 'vfs-relay-agent@.service'];

  it('are hardened: read-only system, no new privileges, private /tmp, only their state writable', () => {
    for (const unit of units) {
      const text = read(`packaging/systemd/${unit}`);
      for (const line of [
        'ProtectSystem=strict',
        'NoNewPrivileges=yes',
        'PrivateTmp=yes',
        'PrivateDevices=yes',
        'CapabilityBoundingSet=',
        'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
      ]) {
        expect(text.split('\n'), `${unit}: ${line}`).toContain(line);
      }
      expect(text).toMatch(/^ReadWritePaths=\/var\/lib\//m);
      expect(text).toMatch(/^StateDirectory=/m);
      expect(text).not.toMatch(/^User=root/m);
    }
  });

  const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
  it.skipIf(!analyze)('pass systemd-analyze verify (the binary stood in for by /bin/true)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'units-'));
    try {
      for (const unit of readdirSync(join(ROOT, 'packaging/systemd'))) {
        const text = read(`packaging/systemd/${unit}`).replaceAll('/usr/bin/vfs-relay', '/bin/true');
        writeFileSync(join(dir, unit.replace('@.', '@test.')), text);
      }
      const run = spawnSync('systemd-analyze', ['verify', '--man=no', ...readdirSync(dir).map((u) => join(dir, u))], {
        encoding: 'utf8',
      });
      expect(`${run.stdout}${run.stderr}`).toBe('');
      expect(run.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
