import type { PortableCase } from './suite.ts';
import { assertClose } from './suite.ts';
import { randn, rng } from '../helpers/random.ts';
import { embeddingBackward, embeddingForward } from '../../src/ops/embedding.ts';
import { embeddingBackwardRef, embeddingForwardRef } from '../reference/embedding.ts';

export const embeddingCases: PortableCase[] = [
  {
    name: 'embedding forward and backward (N 200, V 50, C 6, repeated and out-of-range ids)',
    async run(rt) {
      const [tokens, vocab, cols] = [200, 50, 6];
      const r = rng(91);
      const ids = Uint32Array.from({ length: tokens }, () => Math.floor(vocab * r() ** 2));
      ids[3] = vocab;
      ids[4] = 0xffffffff;
      const table = randn(vocab * cols, 92), dOut = randn(tokens * cols, 93), initial = randn(vocab * cols, 94);
      const tIds = rt.upload(ids, [tokens], 'u32');
      assertClose(await embeddingForward(rt, tIds, rt.upload(table, [vocab, cols])).read(), embeddingForwardRef(ids, table, vocab, cols), 0, 0, 'rows');
      const dTable = embeddingBackward(rt, rt.upload(dOut, [tokens, cols]), tIds, rt.upload(initial, [vocab, cols]));
      assertClose(await dTable.read(), embeddingBackwardRef(dOut, ids, vocab, cols, initial), 1e-5, 1e-5, 'dtable');
    },
  },
];
