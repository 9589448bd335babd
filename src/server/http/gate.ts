import type { IncomingMessage } from 'node:http';

export type Action = 'pull' | 'push' | 'delete';

/** Who is asking: a user (Basic or Bearer) or nobody; a Bearer caller carries the access its token grants. */
export interface Caller {
  user?: string;
  /** Present when the caller came with a token: repository → actions the token grants (nothing else counts). */
  granted?: Map<string, Set<string>>;
  /** The token grants `registry:catalog:*`. */
  catalog?: boolean;
}

/**
 * The registry's access control, as the HTTP layer sees it. `identify` reads the credentials of a request
 * (throwing a 401 RegistryApiError for wrong ones), `allows` decides one action on one repository, and
 * `challenge` is the WWW-Authenticate header to send with a 401 so that clients know how to log in.
 */
export interface Gate {
  /** False for a registry without auth: anyone may do anything. */
  readonly enabled: boolean;
  identify(req: IncomingMessage): Promise<Caller>;
  allows(caller: Caller, repository: string, action: Action): boolean;
  canListCatalog(caller: Caller): boolean;
  /**
   * Whether the catalog shows the caller this repository: whether their user (the token's subject, for a token)
   * may pull it. A catalog token grants listing, not each repository, so this asks the policy itself.
   */
  canSee(caller: Caller, repository: string): boolean;
  /** `scope` in the token spec's grammar: `repository:team/app:pull,push`, `registry:catalog:*`. */
  challenge(req: IncomingMessage, scope?: string, error?: 'insufficient_scope' | 'invalid_token'): string;
}

/** No auth configured: anonymous read and write. */
export const openGate: Gate = {
  enabled: false,
  identify: () => Promise.resolve({}),
  allows: () => true,
  canListCatalog: () => true,
  canSee: () => true,
  challenge: () => '',
};
