import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/**
 * Object tag that marks the objects of an entry parked in CONFLICT or FAILED (the S3 journal store sets it on
 * config.XML and the body when it parks an entry, and removes it on retry: PARKED_TAG_KEY there). The optional
 * retention rule expires only tagged objects, so a PENDING entry (a peer down for weeks) is never expired.
 */
export const PARKED_TAG = { key: 'vfs-relay-parked', value: 'true' } as const;

/** Where the cloud runtime keeps applied-replica records, below the journal prefix (S3ReplicaRecords). */
export const ECHO_RECORDS_DIR = 'echo/replicas/';

/**
 * SQS makes a message visible again after this long without a delete; AWS asks for at least 6x the consuming
 * function's timeout, so a batch that is still being retried by Lambda is not handed out twice.
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
 */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

export interface JournalStorageProps {
  /** Key prefix of the journal (`<prefix>/multi_journal/…`), no leading or trailing slash. */
  journalPrefix: string;
  /** Timeout of the function consuming the doorbell; the visibility timeout is 6x it. */
  consumerTimeout: Duration;
  /** Expire parked entries after this many days. Off when absent. */
  parkedRetentionDays?: number;
  /** Import this secret (complete ARN) instead of creating one. */
  secretArn?: string;
}

/**
 * The stateful half of the relay: the journal bucket (source of truth), the FIFO doorbell with its dead-letter
 * queue, and the secret with tokens and peer passwords. Everything here outlives a redeploy of the functions.
 */
export class JournalStorage extends Construct {
  readonly journalBucket: s3.Bucket;
  readonly doorbell: sqs.Queue;
  readonly deadLetters: sqs.Queue;
  readonly secret: secretsmanager.ISecret;
  readonly journalPrefix: string;

  constructor(scope: Construct, id: string, props: JournalStorageProps) {
    super(scope, id);
    this.journalPrefix = props.journalPrefix;

    this.journalBucket = new s3.Bucket(this, 'JournalBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Entries are written once, rewritten on status change and purged once replayed: old versions would only
      // keep deleted bodies (and their cost) around.
      versioned: false,
      lifecycleRules: [
        // Large bodies are copied between lanes with multipart copies; a crash mid-copy leaves parts behind.
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        // Applied-replica records for echo suppression (src/runtime/cloud/echo-records.ts) stop counting after
        // echoWindowSeconds (at most a day) and are ignored from then on; lifecycle rules count whole days from
        // creation, rounded up to midnight UTC, so two days never removes a record still in use.
        {
          id: 'expire-echo-records',
          prefix: `${props.journalPrefix}/${ECHO_RECORDS_DIR}`,
          expiration: Duration.days(2),
        },
        ...(props.parkedRetentionDays === undefined
          ? []
          : [
              {
                id: 'expire-parked-entries',
                prefix: `${props.journalPrefix}/multi_journal/`,
                tagFilters: { [PARKED_TAG.key]: PARKED_TAG.value },
                expiration: Duration.days(props.parkedRetentionDays),
              },
            ]),
      ],
      // The journal holds acknowledged changes not yet replayed: never deleted with the stack.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // High-throughput FIFO: ordering and deduplication per message group (= lane). One change is rung in every
    // lane with the same entry id; with queue-wide deduplication the second lane's ring would be dropped.
    const fifo = {
      fifo: true,
      contentBasedDeduplication: false,
      deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    };
    this.deadLetters = new sqs.Queue(this, 'DoorbellDeadLetters', { ...fifo, retentionPeriod: Duration.days(14) });
    this.doorbell = new sqs.Queue(this, 'Doorbell', {
      ...fifo,
      visibilityTimeout: Duration.seconds(props.consumerTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR),
      // Replay parks what the peer refuses and leaves PENDING what waits for a ping, deleting the message either
      // way: a message fails only on an unexpected error. After 5 such failures it goes to the DLQ (the journal
      // still holds the entry; the ping's sweep rings it again).
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: 5 },
    });

    this.secret = props.secretArn
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'RelaySecrets', props.secretArn)
      : new secretsmanager.Secret(this, 'RelaySecrets', {
          description: 'vfs-relay: admin token, node tokens and peer passwords (JSON)',
          generateSecretString: {
            // One generated value per secret: the admin token. Node tokens and peer passwords are set by the
            // operator (aws secretsmanager put-secret-value), see the deploy guide.
            secretStringTemplate: JSON.stringify({ nodeTokens: {}, peerPasswords: {} }),
            generateStringKey: 'adminToken',
            excludePunctuation: true,
            passwordLength: 48,
          },
          removalPolicy: RemovalPolicy.RETAIN,
        });
  }

  /** ARN pattern of every object under the journal prefix (IAM resource). */
  get journalObjectsArn(): string {
    return this.journalBucket.arnForObjects(`${this.journalPrefix}/*`);
  }
}
