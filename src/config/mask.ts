import type { z } from 'zod';
import { secret } from './schema.js';

/** What masking needs of a zod schema's definition (zod 4 `schema.def`). */
interface Def {
  type: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  valueType?: z.ZodType;
  in?: z.ZodType;
}

/**
 * A parsed config with every secret masked, for printing (`vfs-relay config check`): a secret named by an
 * environment variable stays `{ "env": "NAME" }`, one written inline becomes `"***"`. Secrets are found by walking
 * the schema to every use of `secret`, so a key added with `secret` later is masked with no change here.
 */
export function maskSecrets(schema: z.ZodType, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  if (schema === secret) return typeof value === 'string' ? '***' : value;
  const def = schema.def as unknown as Def;
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'nonoptional':
    case 'catch':
      return maskSecrets(def.innerType!, value);
    case 'pipe':
      return maskSecrets(def.in!, value);
    case 'object': {
      if (typeof value !== 'object') return value;
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        const field = def.shape![key];
        out[key] = field ? maskSecrets(field, item) : item;
      }
      return out;
    }
    case 'array':
      return Array.isArray(value) ? value.map((item) => maskSecrets(def.element!, item)) : value;
    case 'record':
      return typeof value === 'object'
        ? Object.fromEntries(Object.entries(value).map(([key, item]) => [key, maskSecrets(def.valueType!, item)]))
        : value;
    default:
      return value;
  }
}
