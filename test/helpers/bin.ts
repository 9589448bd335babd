import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * The `wharf` bin as users run it: the bundle `npm run build` writes (dist/bin/wharf.js, see scripts/bundle.mjs),
 * not the separate modules under dist/src, so the tests that spawn the CLI test what ships.
 */
export const WHARF_BIN = fileURLToPath(new URL('../../bin/wharf.js', import.meta.url));

export interface BinRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface BinOptions {
  /** The child's whole environment (default: this process's). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Written to the child's stdin, which is then closed (default: an empty stdin). */
  input?: string;
}

/** Run the bin to its end; its output as text. */
export function runBin(args: string[], options: BinOptions = {}): Promise<BinRun> {
  return new Promise((resolve, reject) => {
    const env = Object.fromEntries(Object.entries(options.env ?? process.env).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv;
    const child = spawn(process.execPath, [WHARF_BIN, ...args], { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: out, stderr: err }));
    child.stdin.end(options.input ?? '');
  });
}
