/**
 * A child process for the kill tests: imports SOURCE into DB and, on reaching PHASE (write: the records are
 * spooled, no shard written yet; switch: the new generation is complete, CURRENT not yet replaced), says so on
 * stdout and waits there forever, so the parent can SIGKILL it at exactly that point.
 *
 *   node osv-import-child.js SOURCE DB PHASE
 */
import { importOsv } from '../../src/scan/db/index.js';

const [source, dbDir, phase] = process.argv.slice(2) as [string, string, string];
await importOsv(source, {
  dbDir,
  onProgress: async (p) => {
    if (p.phase !== phase) return;
    process.stdout.write(`at ${phase}\n`);
    await new Promise(() => setInterval(() => {}, 1000));
  },
});
process.stdout.write('done\n');
