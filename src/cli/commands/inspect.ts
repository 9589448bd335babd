import type { InspectOutput, InspectResult } from '../../inspect/types.js';
import { formatPlatform, parsePlatform } from '../../oci/platform.js';
import type { ImageConfig, Platform } from '../../oci/types.js';
import { usageError } from '../args.js';
import { humanAge, humanSize, keyValueTable, shellWords } from '../format.js';
import { goMap, goMarshalIndent, goTime } from '../../util/go-json.js';
import { REGISTRY_HELP, RETRY_TIMES_FLAG, RegistrySetup, isDockerReference, registryFlags } from '../registry-access.js';
import type { Command } from '../types.js';

/** `skopeo inspect` output: Go's MarshalIndent of the InspectOutput struct (Labels and annotations are Go maps). */
export function inspectJson(output: InspectOutput): string {
  const view: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(output)) {
    if (key === 'Labels') view[key] = goMap(value as Record<string, string> | null);
    else if (key === 'Created' && typeof value === 'string') view[key] = goTime(value);
    else if (key === 'LayersData' && Array.isArray(value)) {
      view[key] = value.map((l: Record<string, unknown>) => ({ ...l, Annotations: goMap(l.Annotations as Record<string, string> | null) }));
    } else view[key] = value;
  }
  return goMarshalIndent(view) + '\n';
}

/** Go `omitempty`: leave out "", false, 0-length lists and maps, null. */
function omitEmpty<T>(value: T): T | undefined {
  if (value === null || value === undefined || value === '' || value === false) return undefined;
  if (Array.isArray(value) && value.length === 0) return undefined;
  if (value instanceof Map && value.size === 0) return undefined;
  return value;
}

/** A Go `map[string]struct{}` (ExposedPorts, Volumes): the keys, each with `{}`. */
function goSet(record: unknown): Map<string, object> | undefined {
  if (!record || typeof record !== 'object') return undefined;
  return new Map(Object.keys(record).map((k) => [k, {}]));
}

/**
 * The config the way `skopeo inspect --config` prints it: decoded into the OCI image-spec `v1.Image` Go struct and
 * encoded again, so fields come in the struct's order, unknown fields (container_config, Healthcheck, …) are dropped,
 * empty optional fields are left out, maps are sorted and timestamps are in Go's form.
 */
export function configView(cfg: ImageConfig): Record<string, unknown> {
  const c = cfg.config ?? {};
  const str = (v: unknown): string | undefined => omitEmpty(typeof v === 'string' ? v : undefined);
  const list = (v: unknown): unknown[] | undefined => omitEmpty(Array.isArray(v) ? v : undefined);
  const time = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? goTime(v) : undefined);
  return {
    created: time(cfg.created),
    author: str(cfg.author),
    architecture: cfg.architecture ?? '',
    variant: str(cfg.variant),
    os: cfg.os ?? '',
    'os.version': str(cfg['os.version']),
    'os.features': list(cfg['os.features']),
    config: {
      User: str(c.User),
      ExposedPorts: omitEmpty(goSet(c.ExposedPorts)),
      Env: list(c.Env),
      Entrypoint: list(c.Entrypoint),
      Cmd: list(c.Cmd),
      Volumes: omitEmpty(goSet(c.Volumes)),
      WorkingDir: str(c.WorkingDir),
      Labels: omitEmpty(goMap(c.Labels ?? undefined)),
      StopSignal: str(c.StopSignal),
      ArgsEscaped: c.ArgsEscaped === true ? true : undefined,
    },
    rootfs: { type: cfg.rootfs?.type ?? '', diff_ids: cfg.rootfs?.diff_ids ?? null },
    history: list(
      (cfg.history ?? []).map((h) => ({
        created: time(h.created),
        created_by: str(h.created_by),
        author: str(h.author),
        comment: str(h.comment),
        empty_layer: h.empty_layer === true ? true : undefined,
      })),
    ),
  };
}

export function configJson(cfg: ImageConfig): string {
  return goMarshalIndent(configView(cfg)) + '\n';
}

function samePlatform(p: Platform | undefined, out: InspectOutput): boolean {
  if (!p || p.os !== out.Os || p.architecture !== out.Architecture) return false;
  return !out.Variant || !p.variant || p.variant === out.Variant;
}

/** A view for people, like `oc image info`. */
export function inspectTable(name: string, result: InspectResult, now: number, imageDigest?: string): string {
  const out = result.output;
  const c = result.config.config ?? {};
  const layers = out.LayersData ?? [];
  const total = layers.reduce((n, l) => n + (l.Size >= 0 ? l.Size : 0), 0);
  const sizeWidth = Math.max(0, ...layers.map((l) => humanSize(l.Size).length));
  const created = out.Created ?? result.config.created;
  const age = created ? humanAge(created, now) : '';
  const chosen = (p: { platform: Platform | undefined; digest: string }): boolean =>
    imageDigest !== undefined ? p.digest === imageDigest : samePlatform(p.platform, out);
  const platforms = result.platforms?.map((p) => [formatPlatform(p.platform), p.digest, chosen(p)] as const);
  const isIndex = result.platforms !== undefined;
  const platWidth = Math.max(0, ...(platforms ?? []).map(([p]) => p.length));
  const sortedKeys = (r: unknown): string[] => (r && typeof r === 'object' ? Object.keys(r).sort() : []);
  const words = (v: unknown): string | undefined => (Array.isArray(v) && v.length > 0 ? shellWords(v.map(String)) : undefined);
  const labels = c.Labels ?? out.Labels ?? {};
  const osVersion = result.config['os.version'];
  return keyValueTable([
    ['Name', out.Name ?? name],
    ['Digest', out.Digest],
    ['Media Type', result.rawMediaType],
    ['Platforms', platforms?.map(([p, d, shown]) => `${p.padEnd(platWidth)}  ${d}${shown ? '  (shown below)' : ''}`)],
    ['Image Digest', isIndex ? imageDigest : undefined],
    ['Image Type', isIndex && result.imageMediaType !== result.rawMediaType ? result.imageMediaType : undefined],
    ['Created', created ? `${created}${age ? ` (${age})` : ''}` : undefined],
    ['Image Size', `${humanSize(total)} in ${layers.length} layer${layers.length === 1 ? '' : 's'}`],
    ['Layers', layers.map((l) => `${humanSize(l.Size).padStart(sizeWidth)}  ${l.Digest}`)],
    ['OS', `${out.Os}${osVersion ? ` ${osVersion}` : ''}`],
    ['Arch', `${out.Architecture}${out.Variant ?? result.config.variant ? `/${out.Variant ?? result.config.variant}` : ''}`],
    ['User', c.User || undefined],
    ['Env', c.Env ?? []],
    ['Entrypoint', words(c.Entrypoint)],
    ['Cmd', words(c.Cmd)],
    ['Working Dir', c.WorkingDir || undefined],
    ['Exposed Ports', sortedKeys(c.ExposedPorts).join(', ') || undefined],
    ['Volumes', sortedKeys(c.Volumes)],
    ['Labels', sortedKeys(labels).map((k) => `${k}=${(labels as Record<string, string>)[k]}`)],
  ]);
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Show an image: a summary like skopeo inspect, its manifest, its config, or a table',
  usage: '[--raw] [--config] [--format json|table] [--platform OS/ARCH[/VARIANT]] [--no-tags] [registry flags] REFERENCE',
  description: `
Print what is known about the image at REFERENCE. By default the output is the JSON of 'skopeo inspect'
(same fields, order, indentation and escaping), so scripts written for skopeo keep working.

  --raw               the manifest exactly as stored (for an index: the index), byte for byte
  --config            the image configuration, formatted as 'skopeo inspect --config' does
  --config --raw      the configuration bytes exactly as stored
  --format table      a summary for people: digest, size, layers, platform, user, env, entrypoint, labels…

When REFERENCE names an index (multi-platform image), the image for this machine's platform is described,
or the one chosen with --platform; --format table also lists every platform of the index.

For docker:// references only the manifest and the config are fetched, never a layer; RepoTags lists every
tag of the repository (all pages), unless --no-tags.

${REGISTRY_HELP}`,
  flags: [
    { name: 'raw', type: 'boolean', help: 'print the raw manifest (or config, with --config), unchanged' },
    { name: 'config', type: 'boolean', help: 'print the image configuration instead of the summary' },
    { name: 'format', type: 'string', placeholder: 'FORMAT', choices: ['json', 'table'], help: 'output format (default json)' },
    { name: 'platform', type: 'string', placeholder: 'OS/ARCH[/VARIANT]', help: 'which image of an index to describe (default: this machine\'s)' },
    { name: 'no-tags', short: 'n', type: 'boolean', help: 'do not list the repository\'s tags in RepoTags (saves requests on large repositories)' },
    ...registryFlags(''),
    RETRY_TIMES_FLAG,
  ],
  operands: { min: 1, max: 1, names: 'REFERENCE' },
  takesReferences: true,
  examples: [
    'wharf inspect oci:./layout:latest',
    'wharf inspect --format table docker-archive:app.tar',
    'wharf inspect --config oci-archive:image.tar | jq .config.Env',
    'wharf inspect --raw --platform linux/arm64 oci:./layout:multi',
    'wharf inspect --no-tags docker://quay.io/podman/stable:latest',
    'wharf inspect --tls-verify=false --creds alice docker://localhost:5000/team/app:1.4',
  ],
  async run(ctx) {
    const { args, io, lib } = ctx;
    const format = args.str('format') ?? 'json';
    const raw = args.bool('raw');
    const config = args.bool('config');
    if (format === 'table' && (raw || config)) {
      throw usageError(`--format table cannot be combined with ${raw ? '--raw' : '--config'}`, 'the table already shows the config; drop one of the flags');
    }
    const platformSpec = args.str('platform');
    const platform = platformSpec === undefined ? undefined : parsePlatform(platformSpec);
    const ref = lib.parseReference(args.operands[0]!);
    const registry = isDockerReference(ref) ? await new RegistrySetup(io, ctx.signal, `wharf/${lib.VERSION}`).access(args, '') : undefined;
    const result = await lib.inspect(ref, {
      signal: ctx.signal,
      logger: ctx.logger,
      ...(platform ? { platform } : {}),
      ...(ctx.tmpDir ? { tmpDir: ctx.tmpDir } : {}),
      ...(registry ? { registry } : {}),
      ...(args.bool('no-tags') ? { noTags: true } : {}),
    });
    if (config && raw) {
      // rawConfig is absent only for schema 1 images, which have no config blob: print the synthesized one.
      io.stdout.write(result.rawConfig ?? JSON.stringify(result.config));
    } else if (raw) {
      io.stdout.write(result.rawManifest);
    } else if (config) {
      io.stdout.write(configJson(result.config));
    } else if (format === 'table') {
      const imageDigest = result.platforms ? lib.manifestDigest(result.imageManifest) : undefined;
      io.stdout.write(inspectTable(ref.toString(), result, ctx.now(), imageDigest));
    } else {
      io.stdout.write(inspectJson(result.output));
    }
    return 0;
  },
};
