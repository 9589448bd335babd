import { fileURLToPath } from 'node:url';

/**
 * The `wharf` bin as users run it: the bundle `npm run build` writes (dist/bin/wharf.js, see scripts/bundle.mjs),
 * not the separate modules under dist/src, so the tests that spawn the CLI test what ships.
 */
export const WHARF_BIN = fileURLToPath(new URL('../../bin/wharf.js', import.meta.url));
