import { LogFormatter, LogItem } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';

/**
 * The Lambda functions' log lines in the shape every other vfs-relay process writes (src/adapters/log/): `level`
 * in lower case, `time` (ISO 8601), `service`, `message`, the core's fields at top level — plus the Lambda
 * context Powertools adds (cold start, function, request id, X-Ray trace). Errors keep Powertools' form
 * (name, location, message, stack, cause).
 */
export class RelayLogFormatter extends LogFormatter {
  override formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const context = attributes.lambdaContext;
    return new LogItem({
      attributes: {
        level: attributes.logLevel.toLowerCase(),
        time: this.formatTimestamp(attributes.timestamp),
        service: attributes.serviceName,
        message: attributes.message,
        cold_start: context?.coldStart,
        function_name: context?.functionName,
        function_arn: context?.invokedFunctionArn,
        function_memory_size: context?.memoryLimitInMB,
        function_request_id: context?.awsRequestId,
        sampling_rate: attributes.sampleRateValue,
        xray_trace_id: attributes.xRayTraceId,
      },
    }).addAttributes(additional);
  }
}
