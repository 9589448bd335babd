import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { WharfError } from '../../errors.js';
import { parsePlatform } from '../../oci/platform.js';
import type { ScanOptions, Severity } from '../../scan/scan.js';
import { usageError } from '../args.js';
import { sanitizeForTerminal } from '../format.js';
import { REGISTRY_HELP, RETRY_TIMES_FLAG, RegistrySetup, registryFlags } from '../registry-access.js';
import type { Command } from '../types.js';
import { defaultDbDir } from './db.js';

const FORMATS = ['table', 'json', 'sarif', 'cyclonedx', 'spdx-json'] as const;
/** As scan.ts's SEVERITIES, lowest first (a test checks they agree); here so that flag checks need not load the scanners. */
export const CLI_SEVERITIES: readonly Severity[] = ['unknown', 'low', 'medium', 'high', 'critical'];

export const scanCommand: Command = {
  name: 'scan',
  summary: 'What is in an image and what is wrong with it: packages, secrets, setuid files, config',
  usage: '[--format table|json|sarif|cyclonedx|spdx-json] [--output FILE] [--fail-on SEVERITY] [--ignore-unfixed] [--ignorefile FILE] [--db-dir DIR] [--show-secrets] [--skip-secrets] [--platform os/arch[/variant]] [registry flags] IMAGE',
  description: `
Read every layer once (nothing is unpacked) and report, each with the layer that holds it:
  - packages: dpkg (var/lib/dpkg/status, status.d/), apk, rpm (sqlite, Berkeley DB and ndb databases, read
    natively), npm (package-lock.json, node_modules/*/package.json), Python (dist-info, egg-info);
  - secrets: private keys, cloud and forge tokens, passwords in configuration files — in every layer, so a file
    a later layer deleted is reported too (it is still in the image for anyone who pulls it); redacted unless
    --show-secrets;
  - setuid and setgid files with their owner, world-writable files and directories (sticky directories like
    /tmp are fine), files with capabilities;
  - config: runs as root, secrets in Env/Labels/history, privileged ports, no HEALTHCHECK, ADD from a URL;
  - vulnerabilities of those packages, from the local OSV database ('wharf db import'; --db-dir, else
    $WHARF_DB_DIR, else $XDG_CACHE_HOME/wharf/db): matched by ecosystem and release as OSV names them (Debian:12,
    Alpine:v3.20, …, from the image's os-release), by source package, with each package manager's own version
    ordering; severity from the data (CVSS where given), 'unknown' otherwise. Without a database they are not
    checked, and the report says so.
.wharfignore in the current directory (or --ignorefile FILE), in .trivyignore's format, lists ids to leave
out: vulnerability ids or aliases, secret and config rule ids; 'ID exp:YYYY-MM-DD' holds until that day.
--format json prints the whole report (secrets redacted unless --show-secrets); sarif, cyclonedx (1.5, packages and
vulnerabilities) and spdx-json (2.3, packages) are for other tools, secrets always redacted. --fail-on SEVERITY (unknown,
low, medium, high, critical) exits 1 when a vulnerability at or above it is found; secrets count as high.

${REGISTRY_HELP}`,
  flags: [
    { name: 'format', type: 'string', placeholder: 'FORMAT', help: 'table (default), json, sarif, cyclonedx (with vulnerabilities) or spdx-json (packages)' },
    { name: 'output', short: 'o', type: 'string', placeholder: 'FILE', help: 'write the report to FILE instead of stdout' },
    { name: 'fail-on', type: 'string', placeholder: 'SEVERITY', help: 'exit 1 when a finding at or above SEVERITY is found' },
    { name: 'ignore-unfixed', type: 'boolean', help: 'leave out vulnerabilities that have no fixed version' },
    { name: 'ignorefile', type: 'string', placeholder: 'FILE', help: 'ids to leave out (default ./.wharfignore when it exists)' },
    { name: 'db-dir', type: 'string', placeholder: 'DIR', help: 'the vulnerability database (default $WHARF_DB_DIR, else $XDG_CACHE_HOME/wharf/db)' },
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
    // Loaded here, not at startup: every other command would pay for parsing the scanners.
    const [{ lookup, status }, { applyIgnores, parseIgnoreFile }, { OsvMatcher }, { reportJson, reportText }, { failsAt, scanImage }] = await Promise.all([
      import('../../scan/db/index.js'),
      import('../../scan/ignore.js'),
      import('../../scan/match.js'),
      import('../../scan/report-text.js'),
      import('../../scan/scan.js'),
    ]);
    const formats = await import('../../scan/report-formats.js');
    const format = args.str('format') ?? 'table';
    if (!(FORMATS as readonly string[]).includes(format)) throw usageError(`--format: unknown format "${sanitizeForTerminal(format)}"`, `use one of ${FORMATS.join(', ')}`);
    const failOn = args.str('fail-on');
    if (failOn !== undefined && !(CLI_SEVERITIES as readonly string[]).includes(failOn)) throw usageError(`--fail-on: unknown severity "${sanitizeForTerminal(failOn)}"`, `use one of ${CLI_SEVERITIES.join(', ')}`);
    const ref = lib.parseReference(args.operands[0]!);
    const registry = await new RegistrySetup(io, ctx.signal, `wharf/${lib.VERSION}`).access(args, '');
    const options: ScanOptions = { signal: ctx.signal, registry, logger: ctx.logger, secrets: !args.bool('skip-secrets'), onWarning: (m) => ctx.logger.warn(m) };
    if (ctx.tmpDir) options.tmpDir = ctx.tmpDir;
    const platform = args.str('platform');
    if (platform !== undefined) options.platform = parsePlatform(platform);
    const dbDir = args.str('db-dir') === undefined ? defaultDbDir(io) : resolve(io.cwd, args.str('db-dir')!);
    if ((await status(dbDir, { signal: ctx.signal })).exists) {
      options.matcher = new OsvMatcher((ecosystem, name) => lookup(dbDir, ecosystem, name, { signal: ctx.signal }), { ignoreUnfixed: args.bool('ignore-unfixed') });
    } else {
      ctx.logger.warn(`no vulnerability database in ${dbDir}: vulnerabilities are not checked (load one with 'wharf db import https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip')`);
    }
    const ignorePath = args.str('ignorefile');
    const ignoreFile = resolve(io.cwd, ignorePath ?? '.wharfignore');
    const ignoreText = await readFile(ignoreFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' && ignorePath === undefined) return undefined;
      throw new WharfError('IO_ERROR', `reading the ignore file ${ignoreFile}: ${err.message}`, { cause: err });
    });
    const rules = ignoreText === undefined ? [] : parseIgnoreFile(ignoreText, ignoreFile);
    const { report, ignored } = applyIgnores(await scanImage(ref, options), rules);
    if (ignored > 0) ctx.logger.warn(`${ignored} findings left out by ${ignoreFile}`);
    const showSecrets = args.bool('show-secrets');
    const output = args.str('output');
    const doc = { version: lib.VERSION };
    const text =
      format === 'json'
        ? `${JSON.stringify(reportJson(report, showSecrets), null, 2)}\n`
        : format === 'sarif'
          ? `${JSON.stringify(formats.toSarif(report, doc), null, 2)}\n`
          : format === 'cyclonedx'
            ? `${JSON.stringify(formats.toCycloneDx(report, doc), null, 2)}\n`
            : format === 'spdx-json'
              ? `${JSON.stringify(formats.toSpdx(report, doc), null, 2)}\n`
              : reportText(report, { showSecrets, colour: output === undefined && io.stdout.isTTY === true && io.env.NO_COLOR === undefined, clean: sanitizeForTerminal });
    if (output !== undefined) {
      await writeFile(resolve(io.cwd, output), text).catch((err: unknown) => {
        throw new WharfError('IO_ERROR', `writing the report to ${output}: ${(err as Error).message}`, { cause: err });
      });
    } else {
      io.stdout.write(text);
    }
    if (failOn !== undefined) {
      const secretsFail = CLI_SEVERITIES.indexOf(failOn as Severity) <= CLI_SEVERITIES.indexOf('high') && (report.secrets.length > 0 || report.config.some((c) => c.secret));
      if (failsAt(report, failOn as Severity) || secretsFail) return 1;
    }
    return 0;
  },
};
