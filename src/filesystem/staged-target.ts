/**
 * The target folder of an unpack or an extract: it must be new or empty, everything is written into a hidden
 * sibling (`.NAME.wharf-JOB-XXXXXXXX`) and renamed into place at the end, so an interrupted run leaves the
 * target as it was; the next run removes what such a run left.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { WharfError, asWharfError } from '../errors.js';

/** `job` names the operation in staging folders and messages ("unpack", "extract"). */
export type StagingJob = 'unpack' | 'extract';

function stagingPrefix(target: string, job: StagingJob): string {
  return `.${basename(target)}.wharf-${job}-`;
}

/** A fresh staging folder's path next to `target` (not created). */
export function stagingPath(target: string, job: StagingJob): string {
  return join(dirname(target), `${stagingPrefix(target, job)}${randomBytes(4).toString('hex')}`);
}

/** Refuse a target that exists and is not an empty directory. */
export async function mustBeFreshTarget(target: string, hint: string): Promise<void> {
  const st = await fsp.lstat(target).catch(() => undefined);
  if (!st) return;
  if (st.isDirectory() && (await fsp.readdir(target)).length === 0) return;
  throw new WharfError('DESTINATION_EXISTS', `${target} already exists${st.isDirectory() ? ' and is not empty' : ''}`, { hint });
}

/** Remove the staging folders an interrupted run of `job` into the same target left behind. */
export async function removeLeftovers(target: string, job: StagingJob): Promise<void> {
  const prefix = stagingPrefix(target, job);
  for (const name of await fsp.readdir(dirname(target)).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    await fsp.rm(join(dirname(target), name), { recursive: true, force: true }).catch((err: unknown) => {
      throw asWharfError(err, 'IO_ERROR', `removing ${name}, left by an interrupted ${job}`);
    });
  }
}
