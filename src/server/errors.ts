import { WharfError } from '../errors.js';

/**
 * The error codes of the OCI distribution spec ("Error Codes" table), plus the few distribution adds that
 * clients know (TOOMANYREQUESTS). Every error the server answers with is one of these, in the spec's JSON.
 */
export type SpecErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS';

/**
 * A failure the registry reports to its client: the HTTP status, the spec's code and a message. Storage throws
 * these too, so that a missing blob found deep in a handler still reaches the client as BLOB_UNKNOWN.
 */
export class RegistryApiError extends WharfError {
  override readonly name = 'RegistryApiError';
  /** Headers the answer needs besides the error body (a 401's WWW-Authenticate). */
  headers: Record<string, string> | undefined;
  constructor(
    readonly status: number,
    readonly specCode: SpecErrorCode,
    message: string,
    readonly detail?: unknown,
  ) {
    super('REGISTRY_ERROR', message);
  }
}

export const apiError = {
  blobUnknown: (digest: string) => new RegistryApiError(404, 'BLOB_UNKNOWN', 'blob unknown to registry', { digest }),
  manifestUnknown: (reference: string) => new RegistryApiError(404, 'MANIFEST_UNKNOWN', 'manifest unknown', { reference }),
  nameUnknown: (name: string) => new RegistryApiError(404, 'NAME_UNKNOWN', 'repository name not known to registry', { name }),
  nameInvalid: (why: string) => new RegistryApiError(400, 'NAME_INVALID', `invalid repository name: ${why}`),
  uploadUnknown: () => new RegistryApiError(404, 'BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry'),
  uploadInvalid: (why: string) => new RegistryApiError(400, 'BLOB_UPLOAD_INVALID', `blob upload invalid: ${why}`),
  digestInvalid: (why: string) => new RegistryApiError(400, 'DIGEST_INVALID', `provided digest did not match uploaded content: ${why}`),
  manifestInvalid: (why: string) => new RegistryApiError(400, 'MANIFEST_INVALID', `manifest invalid: ${why}`),
  manifestBlobUnknown: (digest: string) => new RegistryApiError(400, 'MANIFEST_BLOB_UNKNOWN', `manifest references an unknown blob or manifest ${digest}`, { digest }),
  sizeInvalid: (why: string) => new RegistryApiError(400, 'SIZE_INVALID', `provided length did not match content length: ${why}`),
  unsupported: (why: string, status = 405) => new RegistryApiError(status, 'UNSUPPORTED', `the operation is unsupported: ${why}`),
  tooLarge: (what: string, limit: number) => new RegistryApiError(413, 'SIZE_INVALID', `${what} is larger than the ${limit}-byte limit`),
};
