// `%npm install PKG...`: sugar over `npm.install` from "petal".
import type { LineMagic } from './registry.ts';

export const npmMagic: LineMagic = {
  name: 'npm',
  summary: 'npm packages for this notebook',
  subcommands: {
    install: {
      summary: "install packages into the notebook folder's node_modules (install scripts off)",
      positionals: { name: 'PKG...', min: 1, max: Number.POSITIVE_INFINITY },
    },
  },
  run(call, api) {
    return api.npm.install(...call.positionals);
  },
};
