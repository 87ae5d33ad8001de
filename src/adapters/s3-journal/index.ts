export { JournalKeys, parseS3Url, type S3Location } from './keys.js';
export { DEFAULT_UPLOAD_URL_SECONDS, type PresignedUpload, presignPut } from './presign.js';
export { type S3JournalOptions, S3JournalStore, type S3JournalWarning } from './store.js';
