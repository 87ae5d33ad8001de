import { RemovalPolicy } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { FUNCTION_DEFAULTS } from './relay-function.js';

export interface RelayApiProps {
  handler: lambda.IFunction;
  /** Steady-state requests per second and burst for the whole stage. */
  throttlingRateLimit: number;
  throttlingBurstLimit: number;
}

/**
 * The relay's HTTP API: an API Gateway HTTP API with one catch-all route to the api function (payload format 2.0,
 * which hono/aws-lambda reads like a Function URL event). Authorization NONE at the gateway: every route but
 * /healthz and /openapi.json checks the bearer token in the app (node tokens, admin token), the same code as the
 * embedded relay.
 *
 * Why an HTTP API rather than a Lambda Function URL (both cost little; bodies go to S3 through presigned URLs,
 * so neither's 6 MB/10 MB payload limit matters):
 * - throttling: stage-wide rate and burst limits keep a misbehaving node from exhausting the account's Lambda
 *   concurrency (a Function URL has only reserved concurrency, which rejects with 429 from Lambda and takes
 *   capacity away from the account as soon as it is set);
 * - access logs: one JSON line per request (status, latency, caller IP) for troubleshooting, without touching
 *   the app; a Function URL has none;
 * - custom domains: an HTTP API maps an ACM certificate and domain natively; a Function URL needs CloudFront;
 * - the 29 s integration limit suits the API (every request is short: bodies never pass through it).
 * What neither gives directly: AWS WAF (REST APIs, CloudFront and ALB only). Put CloudFront with WAF in front
 * of either when that is needed. A REST API would add WAF and usage plans at several times the cost per request.
 */
export class RelayApi extends Construct {
  readonly httpApi: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: RelayApiProps) {
    super(scope, id);
    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'vfs-relay API',
      defaultIntegration: new HttpLambdaIntegration('Relay', props.handler, {
        payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
      }),
      createDefaultStage: false,
    });
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: FUNCTION_DEFAULTS.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttlingRateLimit, burstLimit: props.throttlingBurstLimit },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
        format: apigateway.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            method: '$context.httpMethod',
            path: '$context.path',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationLatencyMs: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
            userAgent: '$context.identity.userAgent',
          }),
        ),
      },
    });
  }

  /** The API's base URL (`https://<id>.execute-api.<region>.amazonaws.com/`). */
  get url(): string {
    return this.stage.url;
  }
}
