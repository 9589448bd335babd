import { WharfError } from '../errors.js';
import type { Descriptor, ImageIndex, Platform } from './types.js';

/** The platform of the machine wharf runs on, in OCI terms (skopeo's default choice from an index). */
export function hostPlatform(nodeArch: string = process.arch): Platform {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const p: Platform = { os: 'linux', architecture: arch[nodeArch] ?? nodeArch };
  if (p.architecture === 'arm64') p.variant = 'v8';
  return p;
}

/** Parse `os/arch[/variant]`. */
export function parsePlatform(spec: string): Platform {
  const parts = spec.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/i.test(p))) {
    throw new WharfError('USAGE', `invalid platform "${spec}"`, { hint: 'write it as os/arch or os/arch/variant, e.g. linux/arm64/v8' });
  }
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2]) p.variant = parts[2];
  return p;
}

export function formatPlatform(p: Platform | undefined): string {
  if (!p) return 'unknown';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

function normVariant(p: Platform): string {
  if (p.architecture === 'arm64' && (!p.variant || p.variant === 'v8')) return 'v8';
  if (p.architecture === 'arm' && !p.variant) return 'v7';
  return p.variant ?? '';
}

export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have || have.os !== want.os || have.architecture !== want.architecture) return false;
  if (want.variant === undefined && want.architecture !== 'arm64') return true;
  return normVariant(want) === normVariant(have);
}

/** Pick the instance of an index for a platform, the way skopeo does; throws PLATFORM_NOT_FOUND listing what exists. */
export function chooseInstance(index: ImageIndex, want: Platform): Descriptor {
  const found = index.manifests.find((d) => platformMatches(want, d.platform));
  if (found) return found;
  const have = index.manifests.map((d) => formatPlatform(d.platform)).join(', ') || 'none';
  throw new WharfError('PLATFORM_NOT_FOUND', `no image for ${formatPlatform(want)} in the index (it has: ${have})`, {
    hint: 'pick one with --platform os/arch[/variant], or copy them all with --all',
  });
}
