import { goMarshalIndent } from '../../util/go-json.js';
import { usageError } from '../args.js';
import { REGISTRY_HELP, RETRY_TIMES_FLAG, RegistrySetup, registryFlags } from '../registry-access.js';
import { dockerOperand, openRepository } from '../registry-ops.js';
import type { Command } from '../types.js';

/** skopeo's output: `{"Repository": …, "Tags": […]}`, Go's MarshalIndent with 4 spaces. */
export function listTagsJson(repository: string, tags: readonly string[]): string {
  return goMarshalIndent({ Repository: repository, Tags: tags }) + '\n';
}

export const listTagsCommand: Command = {
  name: 'list-tags',
  summary: 'List the tags of a repository in a registry, as JSON like skopeo list-tags',
  usage: '[registry flags] docker://REGISTRY/REPOSITORY',
  description: `
Print every tag of the repository, following the registry's pagination, as 'skopeo list-tags' prints them:
  {
      "Repository": "registry.example.com/team/app",
      "Tags": [
          "1.0",
          "latest"
      ]
  }
The reference names a repository: no tag, no digest. Tags come in the registry's order.

${REGISTRY_HELP}`,
  flags: [...registryFlags(''), RETRY_TIMES_FLAG],
  operands: { min: 1, max: 1, names: 'a repository (docker://REGISTRY/REPOSITORY)' },
  examples: [
    'wharf list-tags docker://quay.io/podman/stable',
    'wharf list-tags --tls-verify=false docker://localhost:5000/team/app | jq -r \'.Tags[]\'',
  ],
  takesReferences: false,
  async run(ctx) {
    const { args, io, lib } = ctx;
    const operand = args.operands[0]!;
    const reference = dockerOperand(lib.parseReference(operand), 'list-tags', 'docker://quay.io/podman/stable');
    if (reference.ref.tag !== undefined || reference.ref.digest !== undefined) {
      throw usageError(`"${operand}" names an image, but list-tags takes a repository: no tag or digest allowed`, `write docker://${reference.ref.name()}`);
    }
    const access = await new RegistrySetup(io, ctx.signal, `wharf/${lib.VERSION}`).access(args, '');
    const repo = await openRepository(reference, access, ctx.logger, ctx.signal);
    try {
      const tags: string[] = [];
      for await (const tag of repo.client.listTags(repo.repo, ctx.signal)) tags.push(tag);
      io.stdout.write(listTagsJson(repo.name, tags));
    } finally {
      repo.client.close();
    }
    return 0;
  },
};
