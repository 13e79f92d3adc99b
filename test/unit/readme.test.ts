import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SETTINGS } from '../../src/config/settings';

describe('README', () => {
  const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');

  it('gives the two-command quick start', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm ci && npm test');
  });

  it.each(SETTINGS.map((s) => [s.name, s.default]))('documents %s with its default', (name, def) => {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
    expect(row).toBeDefined();
    if (def !== undefined) expect(row).toContain(`\`${def}\``);
  });
});
