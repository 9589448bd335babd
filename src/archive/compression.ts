import { spawn } from 'node:child_process';
import { Duplex, PassThrough, type Readable, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { WharfError } from '../errors.js';
import type { Compression } from '../oci/media-types.js';
import { ParallelGzip, parallelGzipAvailable } from './pgzip.js';

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** What the first bytes of a blob say it is; used instead of trusting media types, which can lie (docker-archive). */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1]) return 'gzip';
  if (head.length >= 4 && ZSTD_MAGIC.every((b, i) => head[i] === b)) return 'zstd';
  return 'none';
}

/**
 * Read just enough of a stream to tell its compression, and give back a stream that still yields every byte.
 * Nothing is lost: the head is pushed back in front of the rest.
 */
export async function sniffCompression(stream: Readable): Promise<{ compression: Compression; stream: Readable }> {
  const head = await readHead(stream, 4);
  const out = new PassThrough();
  if (head.length > 0) out.write(head);
  stream.on('error', (err) => out.destroy(err));
  stream.pipe(out);
  return { compression: detectCompression(head), stream: out };
}

function readHead(stream: Readable, want: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const cleanup = (): void => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (got < want && (chunk = stream.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        got += chunk.length;
      }
      if (got >= want) {
        cleanup();
        resolve(Buffer.concat(chunks));
      }
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}

/** Node 22.15+ has zstd in zlib; on older Nodes the zstd program does the work. */
type ZlibWithZstd = typeof zlib & {
  createZstdCompress?: (opts?: object) => Transform;
  createZstdDecompress?: (opts?: object) => Transform;
};

export function decompressor(compression: Compression): Duplex | undefined {
  switch (compression) {
    case 'none':
      return undefined;
    case 'gzip':
      // 1 MiB of output per call: fewer trips between the thread pool and the main thread (about 5% of a
      // gunzip-bound copy).
      return zlib.createGunzip({ chunkSize: 1 << 20 });
    case 'zstd': {
      const z = zlib as ZlibWithZstd;
      return z.createZstdDecompress ? z.createZstdDecompress() : externalFilter('zstd', ['-d', '-c', '-q']);
    }
  }
}

/**
 * wharf's default gzip level. zlib's own default (6) is 2x slower than level 4 on layer data and saves about
 * 1.5%; level 4 gives layers within ~1.5% of the size skopeo's default compressor writes. See docs/BENCHMARKS.md.
 */
export const DEFAULT_GZIP_LEVEL = 4;

export function compressor(compression: Compression, level?: number): Duplex | undefined {
  switch (compression) {
    case 'none':
      return undefined;
    case 'gzip':
      if (parallelGzipAvailable()) return new ParallelGzip({ level: level ?? DEFAULT_GZIP_LEVEL });
      return zlib.createGzip({ level: level ?? DEFAULT_GZIP_LEVEL, chunkSize: 1 << 18 });
    case 'zstd': {
      const z = zlib as ZlibWithZstd;
      if (z.createZstdCompress) return z.createZstdCompress();
      return externalFilter('zstd', ['-c', '-q', '-T0', `-${Math.min(Math.max(level ?? 3, 1), 19)}`]);
    }
  }
}

/**
 * A well-kept external filter program (zstd) as a Duplex: bytes in on stdin, out on stdout. A non-zero exit
 * or a missing program fails the stream with a WharfError that says how to install it.
 */
function externalFilter(command: string, args: string[]): Duplex {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout });
  child.on('error', (err: NodeJS.ErrnoException) => {
    duplex.destroy(
      err.code === 'ENOENT'
        ? new WharfError('COMPRESSION_UNAVAILABLE', `${command} compression needs the ${command} program, which is not installed`, {
            hint: `apt-get install -y ${command} (or use Node 22.15+, which has it built in)`,
          })
        : err,
    );
  });
  child.on('close', (code) => {
    if (code !== 0 && code !== null) {
      duplex.destroy(new WharfError('IO_ERROR', `${command} exited with ${code}: ${stderr.trim().slice(0, 300)}`));
    }
  });
  duplex.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return duplex;
}
