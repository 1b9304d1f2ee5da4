import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSettings, type SettingSpec } from '../../src/core/config.js';
import { ConfigError } from '../../src/core/errors.js';

const specs: SettingSpec[] = [
  { name: 'cache.port', type: 'int', default: 11211, min: 0, max: 65535, help: '' },
  { name: 'cache.memory', type: 'size', default: 64 * 1024 * 1024, min: 1024, help: '' },
  { name: 'cache.enabled', type: 'bool', default: true, help: '' },
  { name: 'log-level', type: 'enum', default: 'info', values: ['info', 'debug'], help: '' },
];

test('defaults, then config file, then environment, then flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-config-'));
  const file = join(dir, 'strata.json');
  writeFileSync(file, JSON.stringify({ cache: { port: 1000, memory: '128m' } }));
  assert.equal(resolveSettings(specs, {})['cache.port'], 11211);
  const s = resolveSettings(specs, { configFile: file, env: { STRATA_CACHE_PORT: '2000' }, flags: { 'cache.memory': '1g' } });
  assert.equal(s['cache.port'], 2000);
  assert.equal(s['cache.memory'], 1024 ** 3);
  assert.equal(resolveSettings(specs, { configFile: file })['cache.memory'], 128 * 1024 * 1024);
  assert.equal(resolveSettings(specs, { env: { STRATA_CACHE_ENABLED: 'off' } })['cache.enabled'], false);
});

test('a bad value is rejected with the setting name and its source', () => {
  const bad = (input: Parameters<typeof resolveSettings>[1], pattern: RegExp) =>
    assert.throws(() => resolveSettings(specs, input), (err: unknown) => err instanceof ConfigError && pattern.test(err.message));
  bad({ flags: { 'cache.port': 'eleven' } }, /cache\.port.*flag --cache-port.*integer/);
  bad({ flags: { 'cache.port': '70000' } }, /cache\.port.*at most 65535/);
  bad({ env: { STRATA_CACHE_MEMORY: '12 parsecs' } }, /cache\.memory.*environment STRATA_CACHE_MEMORY/);
  bad({ env: { STRATA_LOG_LEVEL: 'loud' } }, /log-level.*one of info, debug/);
  bad({ flags: { 'cache.nope': '1' } }, /unknown setting cache\.nope/);
  const dir = mkdtempSync(join(tmpdir(), 'strata-config-'));
  writeFileSync(join(dir, 'bad.json'), '{ not json');
  bad({ configFile: join(dir, 'bad.json') }, /cannot read config file/);
  writeFileSync(join(dir, 'unknown.json'), '{"cache": {"colour": "blue"}}');
  bad({ configFile: join(dir, 'unknown.json') }, /unknown setting cache\.colour/);
});
