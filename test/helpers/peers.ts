import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';

const execFileP = promisify(execFile);

/** Whether a peer tool (skopeo, umoci, runc) is on PATH. */
export function hasPeer(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Skip the test when a peer is missing, with a message that says how to get it; in CI
 * (WHARF_REQUIRE_PEERS=1) a missing peer fails the test instead, so a green run always means it ran.
 */
export function requirePeer(t: TestContext, name: string, debianPackage = name): boolean {
  if (hasPeer(name)) return true;
  const msg = `${name} is not installed (apt-get install -y ${debianPackage})`;
  if (process.env.WHARF_REQUIRE_PEERS === '1') throw new Error(`${msg}; WHARF_REQUIRE_PEERS=1 makes this a failure`);
  t.skip(msg);
  return false;
}

/** Run a peer tool; resolves with stdout, rejects with its stderr in the message. */
export async function runPeer(cmd: string, args: string[], options: { maxBuffer?: number } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { maxBuffer: options.maxBuffer ?? 64 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

/** A fresh temporary directory removed after the test. */
export async function tempDir(t: TestContext, prefix = 'wharf-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
