/** Help texts: `wharf --help` and `wharf COMMAND --help`. */
import type { FlagSpec } from './args.js';
import { EXIT_CODES_HELP } from './exit-codes.js';
import type { Command } from './types.js';

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'help', short: 'h', type: 'boolean', help: 'show help (for a command: wharf COMMAND --help)' },
  { name: 'version', short: 'v', type: 'boolean', help: 'print the version' },
  { name: 'debug', type: 'boolean', help: 'show stack traces and debug messages (also WHARF_DEBUG=1)' },
  { name: 'tmpdir', type: 'string', placeholder: 'DIR', help: 'directory for temporary files (default: $TMPDIR or /tmp)' },
];

export const REFERENCES_HELP = `Image references:
  docker://[REGISTRY/]REPOSITORY[:TAG|@DIGEST]
                                        an image in a registry; without REGISTRY, registries.conf's
                                        unqualified-search-registries are tried in order (docker.io if none)
  oci:DIR[:TAG]                         an OCI image layout directory
  dir:DIR                               a directory of manifest and blobs (as skopeo's dir:)
  docker-archive:FILE[:NAME:TAG|:@N]    a tarball from 'docker save'
  oci-archive:FILE[:TAG]                a tar of an OCI image layout`;

export const ERRORS_HELP = `Errors are printed on stderr as "wharf: error: MESSAGE" and "  hint: WHAT TO DO", without a stack
trace (unless --debug). With --json, an error is one line of JSON on stderr instead:
  {"error":{"code":"IMAGE_NOT_FOUND","message":"…","hint":"…"}}
stdout then stays empty, so it never holds half a result.`;

export function flagsTable(flags: readonly FlagSpec[]): string {
  const rows = flags.map((f) => {
    const names = `${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.type === 'boolean' ? '' : ` ${f.placeholder ?? (f.type === 'int' ? 'N' : 'VALUE')}`}`;
    const choices = f.choices ? ` (${f.choices.join('|')})` : '';
    const repeat = f.repeatable ? ' (repeatable)' : '';
    return [names, f.help + choices + repeat] as const;
  });
  const width = Math.max(...rows.map(([n]) => n.length)) + 2;
  return rows.map(([n, h]) => `  ${n.padEnd(width)}${h}`).join('\n');
}

export function mainHelp(version: string, commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return `wharf ${version}: inspect, copy and sync container images, without a daemon

Usage:
  wharf [global flags] COMMAND [flags] OPERANDS…

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}
  ${'help'.padEnd(width)}Show help for a command: wharf help COMMAND

Global flags (before or after the command):
${flagsTable(GLOBAL_FLAGS)}

${REFERENCES_HELP}

${ERRORS_HELP}

${EXIT_CODES_HELP}

Examples:
  wharf inspect oci:./layout:latest
  wharf inspect docker://quay.io/podman/stable:latest
  wharf copy docker-archive:app.tar oci:./layout:app
  wharf copy --dest-tls-verify=false oci:./layout:app docker://localhost:5000/app:1
  wharf copy --help
`;
}

export function commandHelp(cmd: Command): string {
  return `Usage:
  wharf ${cmd.name} ${cmd.usage}

${cmd.description.trim()}

${cmd.flags.length > 0 ? `Flags:\n${flagsTable(cmd.flags)}\n\n` : ''}Global flags:
${flagsTable(GLOBAL_FLAGS)}
${cmd.takesReferences ? `\n${REFERENCES_HELP}\n` : ''}
Examples:
${cmd.examples.map((e) => `  ${e}`).join('\n')}

${EXIT_CODES_HELP}
`;
}
