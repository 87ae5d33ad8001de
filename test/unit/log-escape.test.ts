import { describe, expect, it } from 'vitest';
import { JsonLogger } from '../../src/adapters/log/json-logger.js';
import { escapeLogText } from '../../src/core/log-escape.js';

const HOSTILE = 'invoice\u202etxt.exe \u200b\u2066x\u2069 line\u2028sep \u0085 \u007f tag\u{e0041} nul\u0000';

describe('log escaping', () => {
  it('writes format characters, controls and line separators as \\u escapes', () => {
    expect(escapeLogText('a\u202eb')).toBe('a\\u202eb');
    expect(escapeLogText('tag\u{e0041}')).toBe('tag\\udb40\\udc41');
    expect(escapeLogText('plain ünïcødé 日本語')).toBe('plain ünïcødé 日本語');
  });

  it('escapes each unsafe character of the first 256 even in otherwise plain text, and nothing else', () => {
    for (let code = 0; code < 256; code++) {
      const char = String.fromCharCode(code);
      const unsafe = code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0xad; // 0xad: soft hyphen (Cf)
      const escaped = `\\u${code.toString(16).padStart(4, '0')}`;
      expect(escapeLogText(`plain ${char} text`)).toBe(`plain ${unsafe ? escaped : char} text`);
    }
  });

  it('keeps JSON log lines free of raw unsafe characters, and still decodable to what was logged', () => {
    const lines: string[] = [];
    const logger = new JsonLogger((line) => lines.push(line), 'debug');
    logger.warn(`client sent ${HOSTILE}`, { path: HOSTILE, nested: { user: HOSTILE } });
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]|\p{Cf}/u);
    const record = JSON.parse(line) as { message: string; path: string; nested: { user: string } };
    expect(record.path).toBe(HOSTILE);
    expect(record.nested.user).toBe(HOSTILE);
    expect(record.message).toBe(`client sent ${HOSTILE}`);
  });
});
