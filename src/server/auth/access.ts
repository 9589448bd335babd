/**
 * Who may do what to which repository: the `access:` rules of the server configuration.
 *
 * A rule names repositories (globs), the users and groups it is for, and the actions they get; `anonymous`
 * actions go to everyone, logged in or not. The actions an identity has on a repository are the union of every
 * rule that matches: rules only ever add, so their order does not matter and no rule can take away what another
 * gave. With auth configured, nothing is allowed unless some rule allows it.
 */
import { WharfError } from '../../errors.js';

export type Action = 'pull' | 'push' | 'delete';

/** Every action, in the order tokens and messages list them. */
export const ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

export interface AccessRule {
  /** Globs over repository names: `*` within one component, `**` across components (see matchRepository). */
  repositories: string[];
  users?: string[];
  groups?: string[];
  /** What `users` and `groups` get. */
  actions?: Action[];
  /** What everyone gets, logged in or not. */
  anonymous?: Action[];
}

/** `user` undefined is the anonymous client. */
export interface Identity {
  user?: string;
  groups: string[];
}

/** `groups: { ci: [carol, dave] }` in the configuration. */
export type GroupMap = Readonly<Record<string, readonly string[]>>;

const RULE_KEYS = new Set(['repositories', 'users', 'groups', 'actions', 'anonymous']);

/*
 * Repository names are lowercase `[a-z0-9._-]` components joined by `/` (OCI distribution spec); a pattern
 * character outside that set could never match, so it is a typo worth refusing rather than a rule that silently
 * grants nothing (`Team-A/**`).
 */
const PATTERN_COMPONENT = /^[a-z0-9._*-]+$/;

/** Longest repository name the policy will try to match; longer names (never valid) match nothing. */
const MAX_NAME_LENGTH = 4096;

// ---------------------------------------------------------------------------------------------------------
// Globs

type Token =
  | { kind: 'literal'; text: string }
  | { kind: 'glob'; text: string }
  /** `**` that may match no component at all (leading or in the middle). */
  | { kind: 'any0' }
  /** `**` that must match at least one component (trailing after a prefix, or the whole pattern). */
  | { kind: 'any1' };

/** Why a pattern is not acceptable, or undefined when it is. */
function patternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'is empty';
  if (pattern.length > 1024) return 'is longer than 1024 characters';
  const components = pattern.split('/');
  for (let i = 0; i < components.length; i++) {
    const c = components[i]!;
    if (c === '') return 'has an empty path component (a leading, trailing or doubled "/")';
    if (!PATTERN_COMPONENT.test(c)) {
      return 'has a character that cannot appear in a repository name (names are lowercase a-z, 0-9, ".", "_", "-", "/")';
    }
    if (c.includes('**') && c !== '**') return 'uses "**" inside a component; "**" must be a whole component ("a/**/b")';
    if (c === '**' && components[i - 1] === '**') return 'has "**/**"; one "**" already matches any number of components';
  }
  return undefined;
}

function compilePattern(pattern: string): Token[] {
  const components = pattern.split('/');
  return components.map((c, i): Token => {
    if (c === '**') {
      // A trailing `/**` means "everything below", never the prefix itself: `team-a/**` must not hand out
      // `team-a`, which an admin may have meant for someone else. A lone `**` is every repository.
      const last = i === components.length - 1;
      return last ? { kind: 'any1' } : { kind: 'any0' };
    }
    return c.includes('*') ? { kind: 'glob', text: c } : { kind: 'literal', text: c };
  });
}

/**
 * `*` within one component, by the two-pointer wildcard walk: linear backtracking only, so a pattern with many
 * stars cannot be turned into a slow regular expression by a long repository name from a client.
 */
function matchComponent(pattern: string, s: string): boolean {
  let p = 0;
  let i = 0;
  let star = -1;
  let mark = 0;
  while (i < s.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === s[i]) {
      p++;
      i++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = i;
    } else if (star !== -1) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Components against tokens, by dynamic programming over (token, component): O(tokens × components). */
function matchTokens(tokens: readonly Token[], parts: readonly string[]): boolean {
  // ok[j]: tokens[t..] match parts[j..]; computed from the last token backwards.
  let next = new Array<boolean>(parts.length + 1).fill(false);
  next[parts.length] = true;
  for (let t = tokens.length - 1; t >= 0; t--) {
    const token = tokens[t]!;
    const cur = new Array<boolean>(parts.length + 1).fill(false);
    for (let j = parts.length; j >= 0; j--) {
      switch (token.kind) {
        case 'literal':
          cur[j] = j < parts.length && parts[j] === token.text && next[j + 1]!;
          break;
        case 'glob':
          cur[j] = j < parts.length && matchComponent(token.text, parts[j]!) && next[j + 1]!;
          break;
        case 'any0':
          // Match nothing here, or swallow one component and stay on this token.
          cur[j] = next[j]! || (j < parts.length && cur[j + 1]!);
          break;
        case 'any1':
          // At least one component, then behave as any0 for the rest.
          cur[j] = j < parts.length && (next[j + 1]! || cur[j + 1]!);
          break;
      }
    }
    next = cur;
  }
  return next[0]!;
}

/**
 * Whether a repository name matches a pattern: `*` matches within one path component (never `/`), `**` any
 * number of components including none in the middle (`a/**\/b` matches `a/b`), a trailing `/**` everything
 * below the prefix but not the prefix itself; everything else is literal. Throws for an invalid pattern.
 */
export function matchRepository(pattern: string, repository: string): boolean {
  const problem = patternProblem(pattern);
  if (problem) throw invalidPattern(pattern, problem, 'the pattern');
  return matchCompiled(compilePattern(pattern), repository);
}

function matchCompiled(tokens: readonly Token[], repository: string): boolean {
  if (repository.length === 0 || repository.length > MAX_NAME_LENGTH) return false;
  const parts = repository.split('/');
  // `a/` or `a//b` is no repository; without this, `a/**` would take the empty component for one below `a`.
  if (parts.includes('')) return false;
  return matchTokens(tokens, parts);
}

function invalidPattern(pattern: string, problem: string, where: string): WharfError {
  return new WharfError('SERVER_CONFIG_INVALID', `${where}: repository pattern ${JSON.stringify(pattern)} ${problem}`, {
    hint: 'write repository patterns as lowercase names with "*" for one component and "**" for any depth, e.g. "team-a/**"',
  });
}

// ---------------------------------------------------------------------------------------------------------
// Configuration input

function ruleError(where: string, index: number, key: string, problem: string, hint: string): WharfError {
  return new WharfError('SERVER_CONFIG_INVALID', `${where}[${index}].${key}: ${problem}`, {
    hint: `fix rule ${index} (counting from 0), key "${key}", of ${where}: ${hint}`,
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A user or group name as it can come through Basic auth and appear in an htpasswd file. */
function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > 256) return 'is longer than 256 characters';
  if (name.includes(':')) return 'contains ":", which no user name can (Basic auth and htpasswd split on it)';
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'contains a control character';
  return undefined;
}

function stringList(
  value: unknown,
  where: string,
  index: number,
  key: string,
  check: (s: string) => string | undefined,
  hint: string,
): string[] {
  if (!Array.isArray(value)) throw ruleError(where, index, key, 'must be a list', hint);
  if (value.length === 0) throw ruleError(where, index, key, 'is an empty list', `${hint}, or leave the key out`);
  return value.map((item, k) => {
    if (typeof item !== 'string') {
      throw ruleError(where, index, key, `item ${k} is a ${item === null ? 'null' : typeof item}, not a string`, `${hint}; quote values such as numbers`);
    }
    const problem = check(item);
    if (problem) throw ruleError(where, index, key, `item ${k} (${JSON.stringify(item)}) ${problem}`, hint);
    return item;
  });
}

function actionList(value: unknown, where: string, index: number, key: string): Action[] {
  const hint = 'actions are pull, push and delete';
  const list = stringList(value, where, index, key, (s) => ((ACTIONS as readonly string[]).includes(s) ? undefined : 'is not an action'), hint);
  return ACTIONS.filter((a) => list.includes(a));
}

/**
 * Check the `access:` list of the configuration strictly: an unknown key, an unknown action or a misspelt
 * pattern is an error with a hint naming the rule and key, never a rule that quietly grants nothing (or more).
 */
export function validateAccessRules(value: unknown, where: string): AccessRule[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    throw new WharfError('SERVER_CONFIG_INVALID', `${where}: must be a list of rules`, {
      hint: `write ${where} as a list: "- repositories: [...]" with users/groups/actions or anonymous`,
    });
  }
  return value.map((raw, index): AccessRule => {
    if (!isPlainObject(raw)) {
      throw new WharfError('SERVER_CONFIG_INVALID', `${where}[${index}]: a rule must be a mapping`, {
        hint: `fix rule ${index} (counting from 0) of ${where}: give it "repositories" and "users"/"groups" with "actions", or "anonymous"`,
      });
    }
    for (const key of Object.keys(raw)) {
      if (!RULE_KEYS.has(key)) {
        throw ruleError(where, index, key, 'is not a known key', `the keys of a rule are ${[...RULE_KEYS].join(', ')}`);
      }
    }
    if (raw.repositories === undefined) {
      throw ruleError(where, index, 'repositories', 'is missing', 'list the repository patterns the rule is for, e.g. ["team-a/**"]');
    }
    const repositories = stringList(raw.repositories, where, index, 'repositories', patternProblem, 'list repository patterns such as "team-a/**" or "**"');
    const rule: AccessRule = { repositories };
    if (raw.users !== undefined) rule.users = stringList(raw.users, where, index, 'users', nameProblem, 'list user names from the htpasswd file');
    if (raw.groups !== undefined) rule.groups = stringList(raw.groups, where, index, 'groups', nameProblem, 'list group names defined under "groups:"');
    if (raw.actions !== undefined) rule.actions = actionList(raw.actions, where, index, 'actions');
    if (raw.anonymous !== undefined) rule.anonymous = actionList(raw.anonymous, where, index, 'anonymous');
    const hasMembers = rule.users !== undefined || rule.groups !== undefined;
    if (hasMembers && rule.actions === undefined) {
      throw ruleError(where, index, 'actions', 'is missing', 'say what the users and groups of this rule may do, e.g. [pull]');
    }
    if (!hasMembers && rule.actions !== undefined) {
      throw ruleError(where, index, 'users', 'is missing: "actions" is for no one', 'add "users" or "groups"; for everyone use "anonymous" instead of "actions"');
    }
    if (!hasMembers && rule.anonymous === undefined) {
      throw ruleError(where, index, 'actions', 'is missing: the rule grants nothing', 'add "users"/"groups" with "actions", or "anonymous"');
    }
    return rule;
  });
}

/** Check the `groups:` mapping of the configuration: group name → list of user names. */
export function validateGroups(value: unknown, where: string): Record<string, string[]> {
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) {
    throw new WharfError('SERVER_CONFIG_INVALID', `${where}: must be a mapping of group name to a list of users`, {
      hint: `write ${where} as "ci: [carol, dave]"`,
    });
  }
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [group, members] of Object.entries(value)) {
    const gp = nameProblem(group);
    if (gp) {
      throw new WharfError('SERVER_CONFIG_INVALID', `${where}: group name ${JSON.stringify(group)} ${gp}`, {
        hint: `rename the group under ${where}`,
      });
    }
    const fail = (problem: string) =>
      new WharfError('SERVER_CONFIG_INVALID', `${where}.${group}: ${problem}`, {
        hint: `write ${where}.${group} as a list of user names, e.g. [carol, dave]`,
      });
    if (!Array.isArray(members)) throw fail('must be a list of user names');
    out[group] = members.map((m, k) => {
      if (typeof m !== 'string') throw fail(`item ${k} is a ${m === null ? 'null' : typeof m}, not a string`);
      const p = nameProblem(m);
      if (p) throw fail(`item ${k} (${JSON.stringify(m)}) ${p}`);
      return m;
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The policy

interface CompiledRule {
  patterns: Token[][];
  users: ReadonlySet<string>;
  groups: ReadonlySet<string>;
  actions: readonly Action[];
  anonymous: readonly Action[];
}

export class AccessPolicy {
  readonly #rules: CompiledRule[];
  readonly #groupsOf = new Map<string, Set<string>>();

  /**
   * `rules` as validateAccessRules returns them; `groups` maps a group to its users. A rule that names a
   * group the map does not define is a configuration error: it is almost always a typo.
   */
  constructor(rules: readonly AccessRule[], groups: GroupMap = {}, where = 'access') {
    for (const [group, members] of Object.entries(groups)) {
      for (const user of members) {
        let set = this.#groupsOf.get(user);
        if (!set) this.#groupsOf.set(user, (set = new Set()));
        set.add(group);
      }
    }
    this.#rules = rules.map((rule, index) => {
      for (const group of rule.groups ?? []) {
        if (!Object.prototype.hasOwnProperty.call(groups, group)) {
          throw ruleError(where, index, 'groups', `group ${JSON.stringify(group)} is not defined`, 'define it under "groups:" or fix its spelling');
        }
      }
      return {
        patterns: rule.repositories.map((p) => {
          const problem = patternProblem(p);
          if (problem) throw invalidPattern(p, problem, `${where}[${index}].repositories`);
          return compilePattern(p);
        }),
        users: new Set(rule.users ?? []),
        groups: new Set(rule.groups ?? []),
        actions: rule.actions ?? [],
        anonymous: rule.anonymous ?? [],
      };
    });
  }

  /** The identity of a user (with the groups the configuration puts them in), or of the anonymous client. */
  identity(user?: string): Identity {
    if (user === undefined) return { groups: [] };
    return { user, groups: [...(this.#groupsOf.get(user) ?? [])].sort() };
  }

  /**
   * Every action `identity` has on `repository`: the union of all matching rules. Groups count both from
   * `identity.groups` and from the configuration's map, so an identity built by hand still gets its groups;
   * an anonymous identity never has groups.
   */
  actions(identity: Identity, repository: string): Set<Action> {
    const granted = new Set<Action>();
    const user = identity.user;
    const groups = user === undefined ? new Set<string>() : new Set([...identity.groups, ...(this.#groupsOf.get(user) ?? [])]);
    for (const rule of this.#rules) {
      const member = user !== undefined && (rule.users.has(user) || [...rule.groups].some((g) => groups.has(g)));
      if (rule.anonymous.length === 0 && !member) continue;
      if (!rule.patterns.some((tokens) => matchCompiled(tokens, repository))) continue;
      for (const a of rule.anonymous) granted.add(a);
      if (member) for (const a of rule.actions) granted.add(a);
    }
    return granted;
  }

  can(identity: Identity, repository: string, action: Action): boolean {
    return this.actions(identity, repository).has(action);
  }
}
