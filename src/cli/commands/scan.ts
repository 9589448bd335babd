import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { WharfError } from '../../errors.js';
import { parsePlatform } from '../../oci/platform.js';
import { reportJson, reportText } from '../../scan/report-text.js';
import { SEVERITIES, failsAt, scanImage, type ScanOptions, type Severity } from '../../scan/scan.js';
import { usageError } from '../args.js';
import { sanitizeForTerminal } from '../format.js';
import { REGISTRY_HELP, RETRY_TIMES_FLAG, RegistrySetup, registryFlags } from '../registry-access.js';
import type { Command } from '../types.js';

const FORMATS = ['table', 'json'] as const;

export const scanCommand: Command = {
  name: 'scan',
  summary: 'What is in an image and what is wrong with it: packages, secrets, setuid files, config',
  usage: '[--format table|json] [--output FILE] [--fail-on SEVERITY] [--show-secrets] [--skip-secrets] [--platform os/arch[/variant]] [registry flags] IMAGE',
  description: `
Read every layer once (nothing is unpacked) and report, each with the layer that holds it:
  - packages: dpkg (var/lib/dpkg/status, status.d/), apk, rpm (sqlite, Berkeley DB and ndb databases, read
    natively), npm (package-lock.json, node_modules/*/package.json), Python (dist-info, egg-info);
  - secrets: private keys, cloud and forge tokens, passwords in configuration files — in every layer, so a file
    a later layer deleted is reported too (it is still in the image for anyone who pulls it); redacted unless
    --show-secrets;
  - setuid and setgid files with their owner, world-writable files and directories (sticky directories like
    /tmp are fine), files with capabilities;
  - config: runs as root, secrets in Env/Labels/history, privileged ports, no HEALTHCHECK, ADD from a URL.
--format json prints the whole report (secrets redacted unless --show-secrets). --fail-on SEVERITY (unknown,
low, medium, high, critical) exits 1 when a vulnerability at or above it is found; secrets count as high.

${REGISTRY_HELP}`,
  flags: [
    { name: 'format', type: 'string', placeholder: 'table|json', help: 'output format (default table)' },
    { name: 'output', short: 'o', type: 'string', placeholder: 'FILE', help: 'write the report to FILE instead of stdout' },
    { name: 'fail-on', type: 'string', placeholder: 'SEVERITY', help: 'exit 1 when a finding at or above SEVERITY is found' },
    { name: 'show-secrets', type: 'boolean', help: 'print secrets as found, not redacted' },
    { name: 'skip-secrets', type: 'boolean', help: 'do not look for secrets in files' },
    { name: 'platform', type: 'string', placeholder: 'OS/ARCH[/VARIANT]', help: 'the image of an index to scan (default: this machine\'s)' },
    ...registryFlags(''),
    RETRY_TIMES_FLAG,
  ],
  operands: { min: 1, max: 1, names: 'an image' },
  examples: ['wharf scan oci:./layout:latest', 'wharf scan --format json --fail-on high docker://docker.io/library/debian:12 > report.json'],
  takesReferences: true,
  async run(ctx) {
    const { args, io, lib } = ctx;
    const format = args.str('format') ?? 'table';
    if (!(FORMATS as readonly string[]).includes(format)) throw usageError(`--format: unknown format "${sanitizeForTerminal(format)}"`, `use one of ${FORMATS.join(', ')}`);
    const failOn = args.str('fail-on');
    if (failOn !== undefined && !(SEVERITIES as readonly string[]).includes(failOn)) throw usageError(`--fail-on: unknown severity "${sanitizeForTerminal(failOn)}"`, `use one of ${SEVERITIES.join(', ')}`);
    const ref = lib.parseReference(args.operands[0]!);
    const registry = await new RegistrySetup(io, ctx.signal, `wharf/${lib.VERSION}`).access(args, '');
    const options: ScanOptions = { signal: ctx.signal, registry, logger: ctx.logger, secrets: !args.bool('skip-secrets'), onWarning: (m) => ctx.logger.warn(m) };
    if (ctx.tmpDir) options.tmpDir = ctx.tmpDir;
    const platform = args.str('platform');
    if (platform !== undefined) options.platform = parsePlatform(platform);
    const report = await scanImage(ref, options);
    const showSecrets = args.bool('show-secrets');
    const output = args.str('output');
    const text =
      format === 'json'
        ? `${JSON.stringify(reportJson(report, showSecrets), null, 2)}\n`
        : reportText(report, { showSecrets, colour: output === undefined && io.stdout.isTTY === true && io.env.NO_COLOR === undefined, clean: sanitizeForTerminal });
    if (output !== undefined) {
      await writeFile(resolve(io.cwd, output), text).catch((err: unknown) => {
        throw new WharfError('IO_ERROR', `writing the report to ${output}: ${(err as Error).message}`, { cause: err });
      });
    } else {
      io.stdout.write(text);
    }
    if (failOn !== undefined) {
      const secretsFail = SEVERITIES.indexOf(failOn as Severity) <= SEVERITIES.indexOf('high') && (report.secrets.length > 0 || report.config.some((c) => c.secret));
      if (failsAt(report, failOn as Severity) || secretsFail) return 1;
    }
    return 0;
  },
};
