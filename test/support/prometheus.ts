import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';

// The text exposition format, version 0.0.4: https://prometheus.io/docs/instrumenting/exposition_formats/
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:\\\\[\\\\"n]|[^"\\\\\\n])*"';
// Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case (prom-client writes "Nan").
const VALUE = '(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[nN][aA][nN]|[+-]?[iI][nN][fF])';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(?:${LABEL}(?:,${LABEL})*,?)?\\})? ${VALUE}(?: -?\\d+)?$`);
const HELP = new RegExp(`^# HELP (${NAME}) .*$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);

export interface Exposition {
  families: ParsedFamily[];
  /** The sample of `name` whose labels are exactly `labels`; undefined when there is none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

/**
 * Parses a scrape as Prometheus would: every line must be a HELP, a TYPE, a sample of a declared family or blank
 * (checked strictly, line by line), then parse-prometheus-text-format reads the values.
 */
export function parseExposition(text: string): Exposition {
  const typed = new Map<string, string>();
  text.split('\n').forEach((line, i) => {
    if (line === '' || HELP.test(line)) return;
    const type = TYPE.exec(line);
    if (type) {
      if (typed.has(type[1]!)) throw new Error(`line ${i + 1}: second TYPE for ${type[1]}`);
      typed.set(type[1]!, type[2]!);
      return;
    }
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`line ${i + 1} is not valid exposition text: ${JSON.stringify(line)}`);
    const family = sample[1]!.replace(/_(bucket|sum|count)$/, '');
    if (!typed.has(sample[1]!) && !typed.has(family)) throw new Error(`line ${i + 1}: ${sample[1]} has no TYPE`);
  });
  const families = parsePrometheusTextFormat(text);
  return {
    families,
    value(name, labels = {}) {
      const family = families.find((f) => f.name === name);
      const sample = family?.metrics.find((m) => sameLabels(m.labels ?? {}, labels));
      return sample?.value === undefined ? undefined : Number(sample.value);
    },
  };
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
