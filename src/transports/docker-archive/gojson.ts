/**
 * The bits of Go's encoding/json output that docker-archive files depend on, so that what wharf writes and
 * synthesizes is byte-for-byte what containers/image (skopeo, podman) produces: the manifest digest of an
 * archive, and the legacy layer IDs of `docker save` archives.
 */
import { createHash } from 'node:crypto';
import { digestHex, type Digest } from '../../digest/index.js';
import { MediaType } from '../../oci/media-types.js';
import { goQuote } from '../../util/go-json.js';

/** A JSON string the way Go's json.Marshal writes it (HTML-safe: <, > and & escaped, as are U+2028/U+2029). */
export const goString = goQuote;

/**
 * What Go's json.Marshal emits for a json.RawMessage: the raw JSON with insignificant whitespace removed and
 * the HTML-unsafe characters in strings escaped. `raw` must be valid JSON.
 */
export function goCompact(raw: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (inString) {
      if (c === '\\') {
        out += c + (raw[i + 1] ?? '');
        i++;
      } else if (c === '"') {
        inString = false;
        out += c;
      } else if (c === '<' || c === '>' || c === '&' || c === '\u2028' || c === '\u2029') {
        out += `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
      } else {
        out += c;
      }
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') {
      out += c;
    }
  }
  return out;
}

/**
 * The raw text of each top-level member of a JSON object (the last one wins for duplicate keys, as when Go
 * unmarshals into a map). `text` must already be known to be a valid JSON object.
 */
export function topLevelRawMembers(text: string): Map<string, string> {
  const members = new Map<string, string>();
  let i = 0;
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const skipString = (): void => {
    i++; // opening quote
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++; // closing quote
  };
  const skipValue = (): void => {
    const c = text[i];
    if (c === '"') return skipString();
    if (c === '{' || c === '[') {
      let depth = 0;
      while (i < text.length) {
        const d = text[i]!;
        if (d === '"') {
          skipString();
          continue;
        }
        if (d === '{' || d === '[') depth++;
        else if (d === '}' || d === ']') depth--;
        i++;
        if (depth === 0) return;
      }
      return;
    }
    while (i < text.length && !',}] \t\n\r'.includes(text[i]!)) i++;
  };
  ws();
  if (text[i] !== '{') return members;
  i++;
  for (;;) {
    ws();
    if (i >= text.length || text[i] === '}') break;
    const keyStart = i;
    skipString();
    const key = JSON.parse(text.slice(keyStart, i)) as string;
    ws();
    i++; // colon
    ws();
    const valueStart = i;
    skipValue();
    members.set(key, text.slice(valueStart, i));
    ws();
    if (text[i] === ',') i++;
  }
  return members;
}

/** A Go map[string]… marshalled: keys sorted, values already encoded. */
function goObject(entries: Record<string, string>): string {
  const keys = Object.keys(entries).sort();
  return `{${keys.map((k) => `${goString(k)}:${entries[k]}`).join(',')}}`;
}

export interface DescriptorLike {
  digest: Digest;
  size: number;
}

/** The Docker schema 2 manifest containers/image synthesizes for an archive (json.Marshal of manifest.Schema2). */
export function synthesizeSchema2Manifest(config: DescriptorLike, layers: DescriptorLike[]): Buffer {
  const desc = (mediaType: string, d: DescriptorLike): string =>
    `{"mediaType":${goString(mediaType)},"size":${d.size},"digest":${goString(d.digest)}}`;
  const json =
    `{"schemaVersion":2,"mediaType":${goString(MediaType.DockerManifest)},` +
    `"config":${desc(MediaType.DockerConfig, config)},` +
    `"layers":[${layers.map((l) => desc(MediaType.DockerLayerGzip, l)).join(',')}]}`;
  return Buffer.from(json, 'utf8');
}

export interface LegacyLayer {
  /** The legacy image ID: the name of the `<id>/` folder. */
  id: string;
  /** The layer (descriptor digest) whose file `<id>/layer.tar` links to. */
  digest: Digest;
  /** The `<id>/json` file. */
  json: Buffer;
}

/** The attributes of the image config copied into the top legacy layer's json, as containers/image does. */
const TOP_LAYER_ATTRIBUTES = ['architecture', 'config', 'container', 'container_config', 'created', 'docker_version', 'os'];

/**
 * The legacy (`docker save` v1) per-layer metadata containers/image writes beside the layers: one folder per
 * layer, named by an ID derived from the layer chain and (for the top layer) parts of the config.
 */
export function legacyLayers(layerDigests: Digest[], configBytes: Buffer): LegacyLayer[] {
  const out: LegacyLayer[] = [];
  let chainID: string | undefined;
  let parent: string | undefined;
  let configMembers: Map<string, string> | undefined;
  layerDigests.forEach((digest, i) => {
    const fields: Record<string, string> = {};
    if (parent !== undefined) fields.parent = goString(parent);
    if (i === layerDigests.length - 1) {
      configMembers ??= topLevelRawMembers(configBytes.toString('utf8'));
      for (const attr of TOP_LAYER_ATTRIBUTES) {
        const raw = configMembers.get(attr);
        fields[attr] = raw === undefined ? 'null' : goCompact(raw);
      }
    }
    chainID = chainID === undefined ? digest : `sha256:${sha256Hex(`${chainID} ${digest}`)}`;
    const id = sha256Hex(goObject({ ...fields, layer_id: goString(chainID) }));
    const json = Buffer.from(goObject({ ...fields, id: goString(id) }), 'utf8');
    out.push({ id, digest, json });
    parent = id;
  });
  return out;
}

/** `manifest.json` of a docker-archive (json.Marshal of []ManifestItem). */
export function manifestJson(items: { config: string; repoTags: string[]; layers: string[] }[]): Buffer {
  const list = (xs: string[]): string => `[${xs.map(goString).join(',')}]`;
  const json = `[${items
    .map((it) => `{"Config":${goString(it.config)},"RepoTags":${list(it.repoTags)},"Layers":${list(it.layers)}}`)
    .join(',')}]`;
  return Buffer.from(json, 'utf8');
}

/** The legacy `repositories` file: {"name": {"tag": "<top legacy layer id>"}}, keys sorted as Go does. */
export function repositoriesJson(repositories: Map<string, Map<string, string>>): Buffer {
  const inner: Record<string, string> = {};
  for (const [name, tags] of repositories) {
    const t: Record<string, string> = {};
    for (const [tag, id] of tags) t[tag] = goString(id);
    inner[name] = goObject(t);
  }
  return Buffer.from(goObject(inner), 'utf8');
}

export function layerFileName(digest: Digest): string {
  return `${digestHex(digest)}.tar`;
}

export function configFileName(digest: Digest): string {
  return `${digestHex(digest)}.json`;
}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}
