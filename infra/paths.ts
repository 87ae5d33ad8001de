import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (where package.json, package-lock.json and functions/ are). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The Lambda entry points written in functions/ (each exports `handler`). */
export const FUNCTION_ENTRIES = {
  api: join(REPO_ROOT, 'functions', 'api.ts'),
  replay: join(REPO_ROOT, 'functions', 'replay.ts'),
  ping: join(REPO_ROOT, 'functions', 'ping.ts'),
} as const;

export type FunctionName = keyof typeof FUNCTION_ENTRIES;
