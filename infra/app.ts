import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RelayStack } from './relay-stack.js';
import { CONTEXT_KEY, settingsFromContext } from './settings.js';

/**
 * `npx cdk synth|deploy`: one relay stack from the `vfsRelay` context (cdk.json, or `-c vfsRelay='{…}'`).
 * Environment-agnostic unless CDK_DEFAULT_ACCOUNT/REGION are set (the CLI sets them from the credentials in
 * use), so `cdk synth` works offline. cdk-nag's AwsSolutions pack runs on every synth: a finding fails it.
 */
const app = new App();
const settings = settingsFromContext(app.node.tryGetContext(CONTEXT_KEY));
const stackName = (app.node.tryGetContext('stackName') as string | undefined) ?? 'VfsRelay';
const account = process.env.CDK_DEFAULT_ACCOUNT;
const region = process.env.CDK_DEFAULT_REGION;

new RelayStack(app, stackName, {
  settings,
  description: 'vfs-relay: journaled replication relay (S3 journal, SQS FIFO doorbell, Lambda, HTTP API)',
  ...(account && region ? { env: { account, region } } : {}),
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
