import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { JournalStorage, PARKED_TAG } from '../../infra/constructs/journal-storage.js';
import { baseEnvironment } from '../../infra/constructs/relay-function.js';
import { REPO_ROOT } from '../../infra/paths.js';
import { environmentBytes, LAMBDA_ENVIRONMENT_BYTES } from '../../infra/relay-config.js';
import { RelayStack } from '../../infra/relay-stack.js';
import {
  CONTEXT_KEY,
  DEFAULT_SETTINGS,
  pingRateMinutes,
  RelaySettingsError,
  settingsFromContext,
} from '../../infra/settings.js';

const peer = { name: 'server2', url: 'https://server2.example.com/', username: 'replication' };

describe('deployment settings from context', () => {
  it('reads the documented example in cdk.json', () => {
    const { context } = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8'));
    const settings = settingsFromContext(context[CONTEXT_KEY]);
    expect(settings.peers.map((p) => p.name)).toEqual(['server2']);
    expect(settings.alarmEmail).toBe('ops@example.com');
    expect(settings.parkedRetentionDays).toBeUndefined();
  });

  it('fills defaults and accepts a JSON string (cdk -c vfsRelay=…)', () => {
    const settings = settingsFromContext(JSON.stringify({ peers: [peer], alarms: { offlinePings: 5 } }));
    expect(settings).toMatchObject({
      ...DEFAULT_SETTINGS,
      peers: [peer],
      alarms: { offlinePings: 5, oldestPendingMinutes: 60 },
    });
  });

  it('refuses a missing context, no peers, and bad values with the key named', () => {
    expect(() => settingsFromContext(undefined)).toThrow(/context vfsRelay is missing/);
    expect(() => settingsFromContext({})).toThrow(/vfsRelay.peers: name at least one peer/);
    expect(() => settingsFromContext({ peers: [peer], alarmEmial: 'x' })).toThrow(
      /context vfsRelay: Unrecognized key: "alarmEmial"/,
    );
    expect(() => settingsFromContext('{nope')).toThrow(RelaySettingsError);
    expect(() => settingsFromContext({ peers: [{ ...peer, url: 'ftp://x' }] })).toThrow(/vfsRelay\.peers\[0\]\.url/);
    expect(() => settingsFromContext({ peers: [{ ...peer, setModifiedTime: 'no' }] })).toThrow(
      /vfsRelay\.peers\[0\]\.setModifiedTime/,
    );
    expect(() => settingsFromContext({ peers: [peer, peer] })).toThrow(/peer names must be unique/);
    expect(() => settingsFromContext({ peers: [peer], vfs: [{ path: '/a/../b' }] })).toThrow(
      /vfsRelay\.vfs\[0\]\.path/,
    );
    expect(() => settingsFromContext({ peers: [peer], pingIntervalSeconds: 0.5 })).toThrow(
      /vfsRelay\.pingIntervalSeconds: /,
    );
    expect(() => settingsFromContext({ peers: [peer], alarmEmail: 'ops' })).toThrow(/vfsRelay\.alarmEmail: /);
    expect(() => settingsFromContext({ peers: [peer], journalPrefix: '/x/' })).toThrow(/vfsRelay\.journalPrefix: /);
    expect(() => settingsFromContext({ peers: [peer], journalPrefix: 'a/../b' })).toThrow(/vfsRelay\.journalPrefix: /);
    expect(() => settingsFromContext({ peers: [peer], parkedRetentionDays: 0 })).toThrow(
      /vfsRelay\.parkedRetentionDays: /,
    );
    expect(() => settingsFromContext({ peers: [peer], alarms: { offlinePings: 0 } })).toThrow(
      /vfsRelay\.alarms\.offlinePings: /,
    );
    expect(() => settingsFromContext({ peers: [{ ...peer, password: 'pw' }] })).toThrow(
      /vfsRelay\.peers\[0\]: Unrecognized key: "password"/,
    );
    expect(() => settingsFromContext([peer])).toThrow(/context vfsRelay: /);
    expect(() => settingsFromContext({ peers: [peer], secretArn: 'my-secret' })).toThrow(
      /vfsRelay\.secretArn: must be a Secrets Manager secret ARN/,
    );
    expect(() => settingsFromContext({ peers: [peer], sources: [{ name: peer.name, url: 'https://p/' }] })).toThrow(
      /vfsRelay\.sources\[0\]\.name: .* unique across both/,
    );
    expect(settingsFromContext({ peers: [peer], sources: [{ name: 'primary', url: 'https://p/' }] }).sources).toEqual([
      { name: 'primary', url: 'https://p/' },
    ]);
  });

  it('maps ping intervals to whole-minute EventBridge rates, never later than asked', () => {
    const rate = (pingIntervalSeconds: number, own?: number) =>
      pingRateMinutes({ pingIntervalSeconds, peers: [{ ...peer, pingIntervalSeconds: own }] });
    expect(rate(10)).toBe(1); // sub-minute: EventBridge's smallest rate
    expect(rate(60)).toBe(1);
    expect(rate(90)).toBe(1);
    expect(rate(120)).toBe(2);
    expect(rate(60, 600)).toBe(10); // a peer's own interval wins over the default
    expect(pingRateMinutes({ pingIntervalSeconds: 600, peers: [peer, { ...peer, pingIntervalSeconds: 180 }] })).toBe(3);
  });
});

// The first synthesis in a process loads most of aws-cdk-lib: a few seconds, more on a busy machine.
describe('journal storage', { timeout: 60_000 }, () => {
  function synth(props: Partial<ConstructorParameters<typeof JournalStorage>[2]> = {}): Template {
    const stack = new Stack(new App(), 'Storage');
    new JournalStorage(stack, 'Storage', {
      journalPrefix: 'relay/one',
      consumerTimeout: Duration.minutes(15),
      ...props,
    });
    return Template.fromStack(stack);
  }

  it('expires only parked (tagged) entries under the prefix when retention is asked for', () => {
    synth({ parkedRetentionDays: 30 }).hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: [
          Match.objectLike({ Id: 'abort-incomplete-multipart-uploads' }),
          { Id: 'expire-echo-records', Prefix: 'relay/one/echo/replicas/', ExpirationInDays: 2, Status: 'Enabled' },
          {
            Id: 'expire-parked-entries',
            Prefix: 'relay/one/multi_journal/',
            TagFilters: [{ Key: PARKED_TAG.key, Value: PARKED_TAG.value }],
            ExpirationInDays: 30,
            Status: 'Enabled',
          },
        ],
      },
    });
  });

  it('sets the visibility timeout to 6x the consumer timeout', () => {
    synth({ consumerTimeout: Duration.minutes(2) }).hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 720,
      RedrivePolicy: Match.anyValue(),
    });
  });

  it('uses an existing secret instead of creating one', () => {
    const template = synth({
      secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:vfs-relay-AbCdEf',
    });
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
  });
});

describe("the functions' environment (Lambda takes 4 KB of it)", () => {
  // The relay's config travels in an environment variable: past 4 KB CloudFormation rolled the deployment back, long
  // after a synth that passed (found by a review). The synth now refuses such settings.
  const many = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ ...peer, name: `peer-${i}`, url: `https://dav-${i}.example.com/webdav/` }));

  it('fits for a few peers, and is refused at synth with what takes the room when it would not', () => {
    const fixed = baseEnvironment('vfs-relay', 'VfsRelay');
    const small = settingsFromContext({ peers: many(3) });
    expect(environmentBytes(small, fixed)).toBeLessThan(LAMBDA_ENVIRONMENT_BYTES);
    const large = settingsFromContext({ peers: many(40) });
    expect(environmentBytes(large, fixed)).toBeGreaterThan(LAMBDA_ENVIRONMENT_BYTES);
    expect(() => new RelayStack(new App(), 'TooLarge', { settings: large })).toThrow(
      /context vfsRelay: the functions would carry up to \d+ bytes of environment, more than Lambda's 4096 \(the relay's config: 40 peers, 0 sources, 1 locations\)/,
    );
  });
});
