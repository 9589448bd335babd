import type { Digest } from '../../digest/index.js';
import { NotFoundError } from '../../errors.js';
import { MANIFEST_ACCEPT } from '../../transports/docker/index.js';
import { REGISTRY_HELP, RETRY_TIMES_FLAG, RegistrySetup, registryFlags } from '../registry-access.js';
import { dockerOperand, openRepository } from '../registry-ops.js';
import type { Command } from '../types.js';

export const deleteCommand: Command = {
  name: 'delete',
  summary: 'Delete an image\'s manifest from a registry (by digest, or by tag resolved to its digest)',
  usage: '[registry flags] docker://REGISTRY/REPOSITORY@DIGEST|:TAG',
  description: `
Delete the manifest at REFERENCE from the registry, as 'skopeo delete' does.

Registries delete manifests by digest only. With a digest, that manifest is deleted. With a tag (or neither:
"latest"), the tag is first resolved to the digest it points at (a HEAD request), and that manifest is deleted
by digest. Either way this deletes the manifest AND EVERY TAG THAT POINTS AT IT in the repository, not only the
tag you named. The blobs stay until the registry's garbage collection runs (for distribution:
'registry garbage-collect CONFIG'); the registry must allow deletes (distribution: storage.delete.enabled).

On success nothing is printed on stdout; stderr says which manifest was deleted.

${REGISTRY_HELP}`,
  flags: [...registryFlags(''), RETRY_TIMES_FLAG],
  operands: { min: 1, max: 1, names: 'an image (docker://REGISTRY/REPOSITORY@DIGEST or :TAG)' },
  examples: [
    'wharf delete docker://registry.example.com/team/app@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae',
    'wharf delete --tls-verify=false --creds admin docker://localhost:5000/team/app:old',
  ],
  takesReferences: false,
  async run(ctx) {
    const { args, io, lib } = ctx;
    const reference = dockerOperand(lib.parseReference(args.operands[0]!), 'delete', 'docker://registry.example.com/app@sha256:…');
    const access = await new RegistrySetup(io, ctx.signal, `wharf/${lib.VERSION}`).access(args, '');
    const repo = await openRepository(reference, access, ctx.logger, ctx.signal);
    try {
      let digest: Digest | undefined = reference.ref.digest;
      const tag = reference.ref.tag ?? 'latest';
      if (digest === undefined) {
        const head = await repo.client.headManifest(repo.repo, tag, MANIFEST_ACCEPT, ctx.signal);
        if (!head) {
          throw new NotFoundError('MANIFEST_UNKNOWN', `${repo.name}:${tag} was not found`, { hint: `list the tags with 'wharf list-tags docker://${repo.name}'` });
        }
        digest = head.digest;
        ctx.logger.debug?.(`${repo.name}:${tag} is ${digest}`);
      }
      await repo.client.deleteManifest(repo.repo, digest, ctx.signal);
      io.stderr.write(`Deleted ${repo.name}@${digest}${reference.ref.digest === undefined ? ` (was ${tag})` : ''}\n`);
    } finally {
      repo.client.close();
    }
    return 0;
  },
};
