import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { WharfError } from '../errors.js';
import type { ImageConfig } from '../oci/types.js';

export interface RuntimeConfigOptions {
  /** Map the container's root to the calling user (a user namespace), as `runc spec --rootless` does. */
  rootless?: boolean;
  /** The calling user's uid and gid, for the rootless mapping (default 0). */
  hostUid?: number;
  hostGid?: number;
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/**
 * The OCI runtime config (config.json) for an image, by the rules of image-spec conversion.md: args are
 * Entrypoint + Cmd, env and working directory from the config, the user resolved against the image's own
 * /etc/passwd and /etc/group (read without following symlinks out of the rootfs), the usual mounts, namespaces
 * and masked paths of `runc spec`, and the image's facts as `org.opencontainers.image.*` annotations.
 */
export async function runtimeConfig(image: ImageConfig, rootfs: string, options: RuntimeConfigOptions = {}): Promise<Record<string, unknown>> {
  const c = image.config ?? {};
  const args = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  if (args.length === 0) {
    throw new WharfError('CONFIG_INVALID', 'the image has neither Entrypoint nor Cmd: the bundle would have nothing to run', {
      hint: 'set process.args in the bundle\'s config.json by hand, or unpack without --bundle',
    });
  }
  const env = [...(c.Env ?? [])];
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH);
  const user = await resolveUser(c.User ?? '', rootfs);
  const annotations: Record<string, string> = {};
  if (image.os) annotations['org.opencontainers.image.os'] = image.os;
  if (image.architecture) annotations['org.opencontainers.image.architecture'] = image.architecture;
  if (image.variant) annotations['org.opencontainers.image.variant'] = image.variant;
  if (image.created) annotations['org.opencontainers.image.created'] = image.created;
  if (image.author) annotations['org.opencontainers.image.author'] = image.author;
  if (c.StopSignal) annotations['org.opencontainers.image.stopSignal'] = c.StopSignal;
  if (c.ExposedPorts) annotations['org.opencontainers.image.exposedPorts'] = Object.keys(c.ExposedPorts).join(',');
  const rootless = options.rootless === true;
  const linux: Record<string, unknown> = {
    namespaces: [{ type: 'pid' }, ...(rootless ? [] : [{ type: 'network' }]), { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, ...(rootless ? [{ type: 'user' }] : [])],
    maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
    readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
  };
  if (rootless) {
    linux.uidMappings = [{ containerID: 0, hostID: options.hostUid ?? 0, size: 1 }];
    linux.gidMappings = [{ containerID: 0, hostID: options.hostGid ?? 0, size: 1 }];
  } else {
    linux.resources = { devices: [{ allow: false, access: 'rwm' }] };
  }
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user,
      args,
      env,
      cwd: c.WorkingDir || '/',
      capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS, ambient: CAPS },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: 'wharf',
    mounts: mounts(rootless),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    linux,
  };
}

function mounts(rootless: boolean): unknown[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(rootless ? [] : ['gid=5'])] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    rootless
      ? { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  ];
}

/** `User` as the image config writes it: `uid`, `uid:gid`, `name`, `name:group` (names from the image's files). */
export async function resolveUser(spec: string, rootfs: string): Promise<{ uid: number; gid: number; additionalGids?: number[] }> {
  if (spec === '') return { uid: 0, gid: 0 };
  const [userPart, groupPart] = spec.split(':', 2) as [string, string | undefined];
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    const entry = (await readDb(rootfs, 'passwd')).find((f) => f[2] === userPart);
    if (entry && /^\d+$/.test(entry[3] ?? '')) gid = Number(entry[3]);
  } else {
    const entry = (await readDb(rootfs, 'passwd')).find((f) => f[0] === userPart);
    if (!entry) throw new WharfError('CONFIG_INVALID', `the image's User "${spec.slice(0, 60)}" is not in its /etc/passwd`, { hint: 'use a numeric uid[:gid], or add the user to the image' });
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const group = (await readDb(rootfs, 'group')).find((f) => f[0] === groupPart);
      if (!group) throw new WharfError('CONFIG_INVALID', `the image's group "${groupPart.slice(0, 60)}" is not in its /etc/group`, { hint: 'use a numeric gid' });
      gid = Number(group[2]);
    }
  }
  if (!Number.isSafeInteger(uid) || uid < 0 || (gid !== undefined && (!Number.isSafeInteger(gid) || gid < 0))) {
    throw new WharfError('CONFIG_INVALID', `the image's User "${spec.slice(0, 60)}" does not give a valid uid and gid`);
  }
  return { uid, gid: gid ?? 0 };
}

/**
 * The lines of the image's /etc/passwd or /etc/group, split on ':'. The file is the image's, so it is read only
 * if it is a regular file inside the rootfs (a symlink in the image could name the host's /etc/passwd), capped.
 */
async function readDb(rootfs: string, name: 'passwd' | 'group'): Promise<string[][]> {
  const path = join(rootfs, 'etc', name);
  const etc = await fsp.lstat(join(rootfs, 'etc')).catch(() => undefined);
  const st = await fsp.lstat(path).catch(() => undefined);
  if (!etc?.isDirectory() || !st?.isFile() || st.size > 4 << 20) return [];
  return (await fsp.readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'));
}
