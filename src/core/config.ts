import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';

/**
 * Typed settings resolved from, in rising precedence: defaults, a JSON config file,
 * STRATA_* environment variables, command-line flags. Every value is validated up front
 * and a bad one is reported with the name of the setting and where it came from.
 */
export type SettingType = 'int' | 'size' | 'string' | 'bool' | 'enum';

export interface SettingSpec {
  /** Dotted name, e.g. `cache.port`; env var is STRATA_CACHE_PORT, flag is --cache-port. */
  name: string;
  type: SettingType;
  default: string | number | boolean;
  help: string;
  min?: number;
  max?: number;
  values?: readonly string[];
}

export type SettingValue = string | number | boolean;
export type Settings = Record<string, SettingValue>;

export const envName = (name: string) => 'STRATA_' + name.replace(/[.-]/g, '_').toUpperCase();
export const flagName = (name: string) => name.replace(/\./g, '-');

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

export function parseSetting(spec: SettingSpec, raw: unknown, source: string): SettingValue {
  const bad = (why: string) =>
    new ConfigError(`invalid setting ${spec.name} = ${JSON.stringify(raw)} (from ${source}): ${why}`);
  let value: SettingValue;
  switch (spec.type) {
    case 'int': {
      const n = typeof raw === 'number' ? raw : /^-?\d+$/.test(String(raw).trim()) ? Number(String(raw).trim()) : NaN;
      if (!Number.isSafeInteger(n)) throw bad('expected an integer');
      value = n;
      break;
    }
    case 'size': {
      const m = typeof raw === 'number' ? ['', String(raw), ''] : /^(\d+)\s*([a-zA-Z]*)$/.exec(String(raw).trim());
      const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
      if (!m || unit === undefined) throw bad('expected a size like 1048576, 512k, 64m or 1g');
      value = Number(m[1]) * unit;
      break;
    }
    case 'bool': {
      const s = String(raw).toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(s)) value = true;
      else if (['false', '0', 'no', 'off'].includes(s)) value = false;
      else throw bad('expected true or false');
      break;
    }
    case 'enum': {
      const s = String(raw);
      if (!spec.values?.includes(s)) throw bad(`expected one of ${spec.values?.join(', ')}`);
      value = s;
      break;
    }
    default:
      value = String(raw);
  }
  if (typeof value === 'number') {
    if (spec.min !== undefined && value < spec.min) throw bad(`must be at least ${spec.min}`);
    if (spec.max !== undefined && value > spec.max) throw bad(`must be at most ${spec.max}`);
  }
  return value;
}

function flatten(obj: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out[prefix] = obj;
  }
  return out;
}

export interface ResolveInput {
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  configFile?: string;
}

export function resolveSettings(specs: readonly SettingSpec[], input: ResolveInput): Settings {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const settings: Settings = {};
  for (const s of specs) settings[s.name] = s.default;

  if (input.configFile) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(input.configFile, 'utf8'));
    } catch (err) {
      throw new ConfigError(`cannot read config file ${input.configFile}: ${(err as Error).message}`);
    }
    for (const [name, raw] of Object.entries(flatten(parsed))) {
      const spec = byName.get(name);
      if (!spec) throw new ConfigError(`unknown setting ${name} in config file ${input.configFile}`);
      settings[name] = parseSetting(spec, raw, `config file ${input.configFile}`);
    }
  }
  const env = input.env ?? {};
  for (const spec of specs) {
    const raw = env[envName(spec.name)];
    if (raw !== undefined && raw !== '') settings[spec.name] = parseSetting(spec, raw, `environment ${envName(spec.name)}`);
  }
  for (const [name, raw] of Object.entries(input.flags ?? {})) {
    if (raw === undefined) continue;
    const spec = byName.get(name);
    if (!spec) throw new ConfigError(`unknown setting ${name}`);
    settings[name] = parseSetting(spec, raw, `flag --${flagName(name)}`);
  }
  return settings;
}
