import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { WharfError } from '../../errors.js';
import { parsePlatform } from '../../oci/platform.js';
import type { ScanOptions } from '../../scan/scan.js';
import { usageError } from '../args.js';
import { sanitizeForTerminal } from '../format.js';
import { REGISTRY_HELP, RETRY_TIMES_FLAG, RegistrySetup, registryFlags } from '../registry-access.js';
import type { Command } from '../types.js';

const FORMATS = ['cyclonedx', 'spdx-json'] as const;

export const sbomCommand: Command = {
  name: 'sbom',
  summary: "An image's package inventory as a CycloneDX or SPDX document",
  usage: '--format cyclonedx|spdx-json [--output FILE] [--platform os/arch[/variant]] [registry flags] IMAGE',
  description: `
The packages 'wharf scan' finds (dpkg, apk, rpm, npm, Python), each with its purl, as CycloneDX 1.5 JSON or
SPDX 2.3 JSON; no vulnerability data and no secrets. One pass over the layers; nothing is unpacked.

${REGISTRY_HELP}`,
  flags: [
    { name: 'format', type: 'string', placeholder: 'cyclonedx|spdx-json', help: 'the document format (default cyclonedx)' },
    { name: 'output', short: 'o', type: 'string', placeholder: 'FILE', help: 'write the document to FILE instead of stdout' },
    { name: 'platform', type: 'string', placeholder: 'OS/ARCH[/VARIANT]', help: 'the image of an index (default: this machine\'s)' },
    ...registryFlags(''),
    RETRY_TIMES_FLAG,
  ],
  operands: { min: 1, max: 1, names: 'an image' },
  examples: ['wharf sbom --format spdx-json oci:./layout:latest > sbom.spdx.json'],
  takesReferences: true,
  async run(ctx) {
    const { args, io, lib } = ctx;
    const format = args.str('format') ?? 'cyclonedx';
    if (!(FORMATS as readonly string[]).includes(format)) throw usageError(`--format: unknown format "${sanitizeForTerminal(format)}"`, `use one of ${FORMATS.join(', ')}`);
    const [{ scanImage }, { toCycloneDx, toSpdx }] = await Promise.all([import('../../scan/scan.js'), import('../../scan/report-formats.js')]);
    const ref = lib.parseReference(args.operands[0]!);
    const registry = await new RegistrySetup(io, ctx.signal, `wharf/${lib.VERSION}`).access(args, '');
    const options: ScanOptions = { signal: ctx.signal, registry, logger: ctx.logger, secrets: false, onWarning: (m) => ctx.logger.warn(m) };
    if (ctx.tmpDir) options.tmpDir = ctx.tmpDir;
    const platform = args.str('platform');
    if (platform !== undefined) options.platform = parsePlatform(platform);
    const report = await scanImage(ref, options);
    const doc = format === 'spdx-json' ? toSpdx(report, { version: lib.VERSION }) : toCycloneDx(report, { version: lib.VERSION }, false);
    const text = `${JSON.stringify(doc, null, 2)}\n`;
    const output = args.str('output');
    if (output === undefined) io.stdout.write(text);
    else {
      await writeFile(resolve(io.cwd, output), text).catch((err: unknown) => {
        throw new WharfError('IO_ERROR', `writing the SBOM to ${output}: ${(err as Error).message}`, { cause: err });
      });
    }
    return 0;
  },
};
