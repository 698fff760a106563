/* global module */
// Merged by @jupyter/builder into its rspack config: compiles the TypeScript sources (ours and the kernel's output
// contract) with rspack's built-in SWC, so the extension builds from the same .ts files Node and tsc read.
module.exports = {
  module: {
    rules: [
      {
        test: /\.ts$/,
        loader: 'builtin:swc-loader',
        options: { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' } },
        type: 'javascript/auto',
      },
    ],
  },
};
